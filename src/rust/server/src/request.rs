//! Request parsing: an HTTP request becomes a plain [`Request`] (method, endpoint path,
//! query, headers, body or multipart form), and the helpers handlers use to read it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::limits::Limits;
use crate::util::new_id;

/// The two families of endpoints Comet serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// REST v2, under `/api/rest/v2/` (and `/clientlib/rest/v2/`).
    Rest,
    /// The streaming SDKs' endpoints under `/clientlib/`.
    Clientlib,
}

/// What a URL path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// `/`: the server's greeting.
    Root,
    /// An endpoint: its family and its path below the family's prefix, without a
    /// trailing slash (e.g. `write/experiment/create`).
    Endpoint(Api, String),
    /// Anything else.
    Unknown,
}

pub fn target(path: &str) -> Target {
    let (api, rest) = if let Some(r) = path.strip_prefix("/api/rest/v2/") {
        (Api::Rest, r)
    } else if let Some(r) = path.strip_prefix("/clientlib/rest/v2/") {
        (Api::Rest, r)
    } else if let Some(r) = path.strip_prefix("/clientlib/") {
        (Api::Clientlib, r)
    } else if path == "/" || path.is_empty() {
        return Target::Root;
    } else {
        return Target::Unknown;
    };
    Target::Endpoint(api, rest.trim_end_matches('/').to_string())
}

/// One parsed request, handed to the handlers.
pub struct Request {
    pub method: Method,
    pub api: Api,
    /// The endpoint path below the API prefix, e.g. `write/experiment/create`.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    /// The body, gunzipped; empty when the body was a multipart form.
    pub body: Bytes,
    /// A multipart body, its file part already on disk.
    pub form: Option<Form>,
}

impl Request {
    /// A request with no headers and no body yet.
    pub fn new(method: Method, api: Api, path: &str) -> Request {
        Request {
            method,
            api,
            path: path.to_string(),
            query: HashMap::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            form: None,
        }
    }

    /// Add a query parameter.
    #[cfg(test)]
    pub fn with_query(mut self, k: &str, v: &str) -> Request {
        self.query.insert(k.to_string(), v.to_string());
        self
    }

    /// Set a header.
    #[cfg(test)]
    pub fn with_header(mut self, name: &'static str, value: &str) -> Request {
        if let Ok(v) = axum::http::HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// Set a JSON body.
    #[cfg(test)]
    pub fn with_json(mut self, body: &Value) -> Request {
        self.body = Bytes::from(body.to_string());
        self
    }

    /// A query parameter; an empty one counts as absent.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The JSON body (an empty body reads as `{}`).
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
    }

    /// The experiment a request names, from the query string or the JSON body.
    pub fn experiment_key(&self, body: &Value) -> Option<String> {
        // The clientlib asset upload names the experiment `experimentId`.
        self.q("experimentKey")
            .or_else(|| self.q("experimentId"))
            .map(String::from)
            .or_else(|| text_of(body.get("experimentKey")))
            .or_else(|| text_of(body.get("experiment_key")))
            .filter(|k| !k.is_empty())
    }

    /// A multipart form field, if non-empty.
    pub fn field(&self, k: &str) -> Option<&String> {
        self.form
            .as_ref()
            .and_then(|f| f.fields.get(k))
            .filter(|s| !s.is_empty())
    }

    /// The API key sent in the `Authorization` header (or, from old clients, the query).
    pub fn api_key(&self) -> Option<String> {
        self.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
            .or_else(|| self.query.get("apiKey").cloned())
            .filter(|s| !s.is_empty())
    }

    /// Read the body within `limits`: a multipart form is streamed to files in
    /// `upload_dir`, anything else is read whole and gunzipped when it says it is gzip.
    pub async fn read_body(
        &mut self,
        body: Body,
        upload_dir: PathBuf,
        limits: &Limits,
    ) -> Result<(), ApiError> {
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let multipart = content_type
            .to_ascii_lowercase()
            .starts_with("multipart/form-data");
        let max = if multipart {
            limits.upload_body
        } else {
            limits.json_body
        };
        // Refuse at once what says it is too large, before reading any of it.
        let declared = self
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large(max));
        }
        if multipart {
            let form = read_multipart(upload_dir, &content_type, body, limits).await?;
            self.form = Some(form);
            return Ok(());
        }
        let raw = read_limited(body, limits.json_body, limits.idle_timeout).await?;
        let gz = self
            .headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        self.body = if gz {
            Bytes::from(gunzip(&raw, limits.json_body)?)
        } else {
            raw
        };
        Ok(())
    }
}

/// A 413 naming the limit.
fn too_large(max: u64) -> ApiError {
    ApiError::new(
        413,
        format!("request body too large: this server takes at most {max} bytes here"),
        None,
    )
}

/// A 408: the client stopped sending.
fn too_slow(idle: Duration) -> ApiError {
    ApiError::new(
        408,
        format!(
            "request body stalled: nothing arrived for {} ms",
            idle.as_millis()
        ),
        None,
    )
}

/// Wait for `next` at most `idle`.
async fn within<T>(
    idle: Duration,
    next: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(idle, next)
        .await
        .map_err(|_| too_slow(idle))
}

/// Read a whole body of at most `max` bytes, each piece within `idle` of the last.
async fn read_limited(body: Body, max: u64, idle: Duration) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = within(idle, stream.next()).await? {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > max {
            return Err(too_large(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

pub fn decode_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(percent_decode(k), percent_decode(v));
        }
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Gunzip at most `max` bytes: a small body can expand a thousandfold (a gzip bomb), so
/// decompression stops, with a 413, past what a plain body may hold.
fn gunzip(data: &[u8], max: u64) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("invalid gzip body: {e}")))?;
    if out.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Reading JSON values the way Comet's clients send them

/// Query-string booleans arrive as `TRUE`, `true` or Python's `True`.
pub fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes")
    )
}

/// A JSON field that is `true`, or a string that reads as true.
pub fn truthy_json(body: &Value, k: &str) -> bool {
    match body.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => truthy(Some(s)),
        _ => false,
    }
}

/// A JSON value as the text Comet stores: strings as they are, everything else as JSON.
pub fn text_of(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// A whole number from a JSON number or numeric string (R may send `1e+05`-style doubles).
pub fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// A non-empty string field.
pub fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------
// Multipart bodies

/// A multipart body: its small fields in memory, its file part on disk.
#[derive(Default, Debug)]
pub struct Form {
    pub fields: HashMap<String, String>,
    pub file: Option<UploadedFile>,
}

#[derive(Debug)]
pub struct UploadedFile {
    /// A temporary file in the upload folder; removed with the form unless kept.
    pub path: PathBuf,
    pub size: u64,
    pub sha1: String,
    pub file_name: Option<String>,
}

impl Drop for Form {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            // Already renamed into place when the upload was kept.
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

/// Read a multipart body within `limits`, writing its file part to `dir` chunk by
/// chunk while counting its size and SHA-1, so that memory stays constant whatever the
/// file's size; the other parts (a link, JSON metadata) are small and kept in memory.
pub async fn read_multipart(
    dir: PathBuf,
    content_type: &str,
    body: Body,
    limits: &Limits,
) -> Result<Form, ApiError> {
    use sha1::Digest;
    use tokio::io::AsyncWriteExt;
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::bad_request(format!("bad multipart body: {e}")))?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limits.upload_body));
    let mut mp =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut form = Form::default();
    let bad = |e: multer::Error| match e {
        multer::Error::StreamSizeExceeded { .. } => too_large(limits.upload_body),
        e => ApiError::bad_request(format!("bad multipart body: {e}")),
    };
    let store_error =
        |e: std::io::Error| ApiError::internal(format!("cannot store the upload: {e}"));
    let idle = limits.idle_timeout;
    let (mut parts, mut text) = (0usize, 0usize);
    while let Some(mut field) = within(idle, mp.next_field()).await?.map_err(bad)? {
        parts += 1;
        if parts > limits.form_parts {
            return Err(ApiError::new(
                413,
                format!(
                    "too many parts in the form: this server takes at most {}",
                    limits.form_parts
                ),
                None,
            ));
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(String::from);
        // The Python SDK sends a remote asset's `link` as a part with a file name.
        let text_field = name == "link" || name == "metadata";
        if (file_name.is_some() || name == "file") && !text_field && form.file.is_none() {
            let path = dir.join(format!("upload-{}.part", new_id()));
            let mut out = tokio::fs::File::create(&path).await.map_err(store_error)?;
            form.file = Some(UploadedFile {
                path,
                size: 0,
                sha1: String::new(),
                file_name,
            });
            let mut hasher = sha1::Sha1::new();
            let mut size = 0u64;
            while let Some(chunk) = within(idle, field.chunk()).await?.map_err(bad)? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(store_error)?;
            }
            out.flush().await.map_err(store_error)?;
            if let Some(f) = form.file.as_mut() {
                f.size = size;
                f.sha1 = hex(&hasher.finalize());
            }
        } else {
            let mut buf = Vec::new();
            while let Some(chunk) = within(idle, field.chunk()).await?.map_err(bad)? {
                text += chunk.len();
                if text > limits.form_text {
                    return Err(ApiError::new(
                        413,
                        format!(
                            "the form's text parts are too large: this server takes at most {} bytes",
                            limits.form_text
                        ),
                        None,
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            form.fields
                .insert(name, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    Ok(form)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Request parsing never panics, whatever a client sends.
        #[test]
        fn any_query_decodes(q in "\\PC*") {
            let _ = decode_query(Some(&q));
            let _ = percent_decode(&q);
        }

        #[test]
        fn any_bytes_gunzip_or_error(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = gunzip(&b, 1 << 20);
        }

        #[test]
        fn any_path_has_a_target(p in "\\PC*") {
            let _ = target(&p);
        }

        #[test]
        fn encoded_pairs_round_trip(k in "[a-zA-Z0-9]{1,10}", v in "\\PC{0,30}") {
            let enc: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
            let q = decode_query(Some(&format!("{k}={enc}")));
            proptest::prop_assert_eq!(q.get(&k).cloned(), Some(v));
        }
    }

    #[test]
    fn decodes_queries() {
        let q = decode_query(Some("a=1&b=x%20y&c=a+b&d=%zz&e"));
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x y");
        assert_eq!(q["c"], "a b");
        assert_eq!(q["d"], "%zz");
        assert_eq!(q["e"], "");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn names_targets() {
        assert_eq!(target("/"), Target::Root);
        assert_eq!(target("/favicon.ico"), Target::Unknown);
        assert_eq!(
            target("/api/rest/v2/experiments/"),
            Target::Endpoint(Api::Rest, "experiments".into())
        );
        assert_eq!(
            target("/clientlib/rest/v2/experiments"),
            Target::Endpoint(Api::Rest, "experiments".into())
        );
        assert_eq!(
            target("/clientlib/logger/add/run"),
            Target::Endpoint(Api::Clientlib, "logger/add/run".into())
        );
    }

    #[test]
    fn converts_json_values() {
        assert_eq!(text_of(Some(&json!(1))), Some("1".into()));
        assert_eq!(text_of(Some(&json!("NaN"))), Some("NaN".into()));
        assert_eq!(text_of(Some(&json!([1, 2]))), Some("[1,2]".into()));
        assert_eq!(text_of(Some(&Value::Null)), None);
        assert_eq!(int_of(Some(&json!(1.7e12))), Some(1_700_000_000_000));
        assert_eq!(int_of(Some(&json!("12"))), Some(12));
        assert!(truthy(Some("True")));
        assert!(!truthy(None));
    }

    #[test]
    fn finds_the_experiment_key() {
        let r = Request::new(Method::GET, Api::Rest, "x").with_query("experimentId", "k1");
        assert_eq!(r.experiment_key(&json!({})), Some("k1".into()));
        let r = Request::new(Method::GET, Api::Rest, "x");
        assert_eq!(
            r.experiment_key(&json!({"experiment_key": "k2"})),
            Some("k2".into())
        );
        assert_eq!(r.experiment_key(&json!({"experimentKey": ""})), None);
    }

    #[test]
    fn bad_json_is_a_400() {
        let mut r = Request::new(Method::POST, Api::Rest, "x");
        r.body = Bytes::from_static(b"{nope");
        assert_eq!(r.json().unwrap_err().status, 400);
        r.body = Bytes::new();
        assert_eq!(r.json().unwrap(), json!({}));
    }

    #[test]
    fn streams_multipart_to_disk() {
        let dir = std::env::temp_dir().join(format!("cometr-mp-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; \
                    name=\"metadata\"\r\n\r\n{\"a\":1}\r\n--XX--\r\n";
        let form = block_on(read_multipart(
            dir.clone(),
            "multipart/form-data; boundary=XX",
            Body::from(body),
            &Limits::default(),
        ))
        .unwrap();
        let f = form.file.as_ref().unwrap();
        assert_eq!(f.size, 5);
        assert_eq!(f.sha1, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
        assert_eq!(f.file_name.as_deref(), Some("a.txt"));
        assert_eq!(std::fs::read_to_string(&f.path).unwrap(), "hello");
        assert_eq!(form.fields["metadata"], "{\"a\":1}");
        let path = f.path.clone();
        drop(form);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzips_within_a_limit() {
        let small = gzip(b"{\"a\":1}");
        assert_eq!(gunzip(&small, 7).unwrap(), b"{\"a\":1}");
        assert_eq!(gunzip(&small, 6).unwrap_err().status, 413);
        // A thousandfold bomb stops at the limit.
        let bomb = gzip(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 20_000);
        assert_eq!(gunzip(&bomb, 1 << 20).unwrap_err().status, 413);
        assert_eq!(gunzip(b"nope", 10).unwrap_err().status, 400);
    }

    #[test]
    fn bodies_stay_within_limits() {
        let limits = Limits {
            json_body: 10,
            ..Limits::default()
        };
        let read = |body: &'static str, headers: &[(&'static str, &str)]| {
            let mut r = Request::new(Method::POST, Api::Rest, "x");
            for (k, v) in headers {
                r.headers.insert(*k, v.parse().unwrap());
            }
            block_on(r.read_body(Body::from(body), std::env::temp_dir(), &limits))
                .err()
                .map(|e| e.status)
        };
        assert_eq!(read("{\"a\":1}", &[]), None);
        assert_eq!(read("{\"a\":12345678}", &[]), Some(413));
        assert_eq!(read("{}", &[("content-length", "999999999")]), Some(413));
    }

    #[test]
    fn multipart_forms_stay_within_limits() {
        let dir = std::env::temp_dir().join(format!("cometr-mp-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let limits = Limits {
            upload_body: 4096,
            form_parts: 3,
            form_text: 100,
            ..Limits::default()
        };
        let part = |name: &str, value: &str| {
            format!("--XX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        };
        let read = |body: String| {
            block_on(read_multipart(
                dir.clone(),
                "multipart/form-data; boundary=XX",
                Body::from(body),
                &limits,
            ))
            .err()
            .map(|e| e.status)
        };
        let ok = format!("{}{}--XX--\r\n", part("a", "1"), part("b", "2"));
        assert_eq!(read(ok), None);
        let many: String = (0..5).map(|i| part(&format!("f{i}"), "x")).collect();
        assert_eq!(read(format!("{many}--XX--\r\n")), Some(413));
        let long = format!("{}--XX--\r\n", part("metadata", &"x".repeat(200)));
        assert_eq!(read(long), Some(413));
        let file = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n{}\r\n--XX--\r\n",
            "x".repeat(8192)
        );
        assert_eq!(read(file), Some(413));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
