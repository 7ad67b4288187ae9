//! Streaming downloads, file hashing and logical-path safety for artifact transfers.
//!
//! A download never exposes a partial file: the body goes to a temporary file beside
//! the target, is checked for completeness (Content-Length, the size the listing
//! announced, an optional SHA-1), and only then renamed into place. Any failure removes
//! the temporary file and the folders the download created.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha1::Digest;

use crate::http::{self, Failure};
use crate::logging::{self, Level};
use crate::retry;

const CHUNK: usize = 1024 * 1024;

/// Why a logical path cannot be used as a relative file name, or `None` when it can.
/// Logical paths come from servers, so they are checked before anything touches disk.
pub fn logical_path_problem(p: &str) -> Option<String> {
    if p.is_empty() {
        return Some("is empty".into());
    }
    if p.contains('\0') {
        return Some("contains a NUL character".into());
    }
    if p.contains('\\') {
        return Some("contains a backslash".into());
    }
    if p.starts_with('/') {
        return Some("is an absolute path".into());
    }
    let b = p.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("starts with a drive letter".into());
    }
    for seg in p.split('/') {
        match seg {
            "" => return Some("has an empty segment".into()),
            "." | ".." => return Some(format!("has a '{seg}' segment")),
            _ => {}
        }
    }
    // Belt and braces: whatever the platform thinks the path is, it must be plain.
    if !Path::new(p)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Some("is not a plain relative path".into());
    }
    None
}

fn hash_file<D: Digest>(path: &str) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
    let mut h = D::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read '{path}': {e}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::hex(&h.finalize()))
}

/// SHA-1 of a file, hex, read in 1 MiB chunks.
pub fn sha1_file(path: &str) -> Result<String, String> {
    hash_file::<sha1::Sha1>(path)
}

/// SHA-256 of a file, hex, read in 1 MiB chunks.
pub fn sha256_file(path: &str) -> Result<String, String> {
    hash_file::<sha2::Sha256>(path)
}

/// A download to make.
#[derive(Debug, Default, Clone)]
pub struct Download {
    pub url: String,
    pub api_key: String,
    pub query: Vec<(String, String)>,
    pub dest_dir: String,
    /// A logical path below `dest_dir` (checked with `logical_path_problem`).
    pub file_name: String,
    pub expected_size: Option<u64>,
    pub expected_sha1: Option<String>,
}

/// The result of a download that reached the server.
#[derive(Debug, Default)]
pub struct Outcome {
    pub status: u16,
    pub content_type: String,
    /// The answer's body when the status was not a success (nothing is written then).
    pub error_body: Vec<u8>,
    pub path: String,
    pub size: u64,
    pub sha1: String,
    /// The answer's headers, as `call_api()` returns them.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum DownloadFailure {
    /// An unusable destination or logical path; nothing was written.
    Input(String),
    /// No answer: the connection failed before the server answered; nothing was written.
    Unreachable(String),
    /// The connection broke mid-body, or the bytes were incomplete or wrong.
    Transfer(String),
}

impl From<Failure> for DownloadFailure {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Input(m) => DownloadFailure::Input(m),
            Failure::Transport(m) => DownloadFailure::Unreachable(m),
            Failure::TooLarge(m) => DownloadFailure::Transfer(m),
        }
    }
}

/// Removes a temporary file and the folders a download created, unless disarmed.
struct Cleanup {
    temp: Option<PathBuf>,
    created_dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            let _ = std::fs::remove_file(t);
        }
        // Deepest first; remove_dir only removes empty folders.
        for d in self.created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        out.push(d.to_path_buf());
        cur = d.parent();
    }
    out.reverse();
    out
}

fn temp_name() -> String {
    format!(".cometr-{}.part", crate::new_id())
}

/// Stream a GET answer into `dest_dir/file_name`, replacing an existing file only once
/// the new bytes are complete.
pub async fn download(d: &Download) -> Result<Outcome, DownloadFailure> {
    if let Some(p) = logical_path_problem(&d.file_name) {
        return Err(DownloadFailure::Input(format!(
            "unsafe file name '{}': it {p}",
            d.file_name
        )));
    }
    if d.dest_dir.is_empty() {
        return Err(DownloadFailure::Input(
            "the destination folder is empty".into(),
        ));
    }
    let target = Path::new(&d.dest_dir).join(&d.file_name);
    if target.is_dir() {
        return Err(DownloadFailure::Input(format!(
            "'{}' is a folder",
            target.display()
        )));
    }
    let parent = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&d.dest_dir));

    let req = http::Request {
        method: "GET".into(),
        url: d.url.clone(),
        api_key: d.api_key.clone(),
        query: d.query.clone(),
        ..Default::default()
    };
    let mut resp = http::start(&req).await?;
    let status = resp.status().as_u16();
    let content_type = http::content_type(&resp);
    let headers = http::header_pairs(&resp);
    if !(200..300).contains(&status) {
        // Error answers are small; keep at most 1 MiB of them for the message.
        let mut body = Vec::new();
        while let Some(c) = resp
            .chunk()
            .await
            .map_err(|e| DownloadFailure::Transfer(http::describe_reqwest_error(&e)))?
        {
            if body.len() < CHUNK {
                body.extend_from_slice(&c);
            }
        }
        return Ok(Outcome {
            status,
            content_type,
            error_body: body,
            headers,
            ..Default::default()
        });
    }
    let announced = resp.content_length();
    if let (Some(a), Some(e)) = (announced, d.expected_size) {
        if a != e {
            return Err(DownloadFailure::Transfer(format!(
                "the server announced {a} bytes for '{}' but the listing says {e}",
                d.file_name
            )));
        }
    }

    let mut cleanup = Cleanup {
        temp: None,
        created_dirs: missing_ancestors(&parent),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        DownloadFailure::Input(format!("cannot create '{}': {e}", parent.display()))
    })?;
    let temp = parent.join(temp_name());
    let file = std::fs::File::create(&temp)
        .map_err(|e| DownloadFailure::Input(format!("cannot create '{}': {e}", temp.display())))?;
    cleanup.temp = Some(temp.clone());
    let mut out = std::io::BufWriter::with_capacity(CHUNK, file);
    let mut hasher = sha1::Sha1::new();
    let mut size: u64 = 0;
    let write_err = |e: std::io::Error| {
        DownloadFailure::Transfer(format!("cannot write '{}': {e}", temp.display()))
    };
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| DownloadFailure::Transfer(http::describe_reqwest_error(&e)))?;
        let Some(c) = chunk else { break };
        size += c.len() as u64;
        if let Some(e) = d.expected_size {
            if size > e {
                return Err(DownloadFailure::Transfer(format!(
                    "the server sent more than the {e} bytes listed for '{}'",
                    d.file_name
                )));
            }
        }
        hasher.update(&c);
        out.write_all(&c).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    let file = out
        .into_inner()
        .map_err(|e| DownloadFailure::Transfer(e.to_string()))?;
    file.sync_all().map_err(write_err)?;
    drop(file);

    if let Some(a) = announced {
        if size != a {
            return Err(DownloadFailure::Transfer(format!(
                "truncated download of '{}': {size} of {a} bytes",
                d.file_name
            )));
        }
    }
    if let Some(e) = d.expected_size {
        if size != e {
            return Err(DownloadFailure::Transfer(format!(
                "truncated download of '{}': {size} of {e} bytes",
                d.file_name
            )));
        }
    }
    let sha1 = crate::hex(&hasher.finalize());
    if let Some(want) = d.expected_sha1.as_deref().filter(|s| !s.is_empty()) {
        if !want.eq_ignore_ascii_case(&sha1) {
            return Err(DownloadFailure::Transfer(format!(
                "checksum mismatch for '{}': expected SHA-1 {want}, received {sha1}",
                d.file_name
            )));
        }
    }
    std::fs::rename(&temp, &target).map_err(|e| {
        DownloadFailure::Transfer(format!(
            "cannot move the download to '{}': {e}",
            target.display()
        ))
    })?;
    cleanup.temp = None;
    cleanup.created_dirs.clear();
    let _ = logging::write(
        Level::Debug,
        &format!("downloaded {size} bytes to {}", target.display()),
    );
    Ok(Outcome {
        status,
        content_type,
        error_body: Vec::new(),
        path: target.to_string_lossy().into_owned(),
        size,
        sha1,
        headers,
    })
}

/// `download`, tried again while the server cannot be reached or answers with a
/// transient status (the one retry policy of `retry`), until the next wait would pass
/// `deadline`. A body that breaks off mid-way is not retried: its bytes are gone and
/// the caller hears why.
pub async fn download_until(
    d: &Download,
    deadline: std::time::Instant,
) -> Result<Outcome, DownloadFailure> {
    let mut attempt = 0u32;
    loop {
        let result = download(d).await;
        let outcome = match &result {
            Ok(o) => retry::Outcome::Answer(o.status, &o.headers),
            Err(DownloadFailure::Unreachable(_)) => retry::Outcome::Unreachable,
            Err(_) => retry::Outcome::Local,
        };
        let Some(wait) = retry::pause_with(outcome, attempt, retry::random_unit()) else {
            return result;
        };
        if !retry::fits(std::time::Instant::now(), wait, deadline) {
            return result;
        }
        attempt += 1;
        tokio::time::sleep(wait).await;
    }
}

/// The blocking form for R's main thread: retries for up to `budget` (zero: one
/// attempt), gives way to Ctrl-C.
pub fn download_blocking(
    d: &Download,
    budget: std::time::Duration,
) -> Result<Outcome, DownloadFailure> {
    let what = || {
        format!(
            "Waiting for the download of {} to finish; it goes on while bytes arrive (Ctrl-C stops).",
            d.url
        )
    };
    let deadline = std::time::Instant::now() + budget;
    http::block_on_interruptible(download_until(d, deadline), what, || {
        Err(DownloadFailure::Transfer("interrupted".to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_paths() {
        for ok in [
            "a.txt",
            "dir/sub/a.txt",
            "a..b",
            ".hidden",
            "x/.y",
            "dir/a b.csv",
        ] {
            assert_eq!(logical_path_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "../a",
            "a/../../b",
            "..",
            "./a",
            "/etc/passwd",
            "C:/x",
            "c:x",
            "a\\b",
            "a//b",
            "a/",
            "a\0b",
        ] {
            assert!(logical_path_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn hashes_known_values() {
        let dir = std::env::temp_dir().join(format!("cometr-hash-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let p = p.to_string_lossy().into_owned();
        assert_eq!(
            sha1_file(&p).unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Larger than one chunk, so the chunked loop is exercised.
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; CHUNK * 2 + 17]).unwrap();
        let big = big.to_string_lossy().into_owned();
        let mut h = sha1::Sha1::new();
        h.update(vec![b'a'; CHUNK * 2 + 17]);
        assert_eq!(sha1_file(&big).unwrap(), crate::hex(&h.finalize()));
        assert!(sha1_file("/no/such/file").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_ancestors_are_listed_top_down() {
        let base = std::env::temp_dir();
        let d = base.join("cometr-none-x").join("y");
        let m = missing_ancestors(&d);
        assert_eq!(m, vec![base.join("cometr-none-x"), d]);
    }
}
