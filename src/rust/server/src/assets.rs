//! An experiment's assets: uploads (files streamed to disk, remote links), git patches,
//! listing, download by id or name, and deletion.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::experiment::{int_of, key_of, text_of, with_key, write};
use super::store::{new_id, now_ms, Store};
use super::{error, ok, truthy, Ctx, State};

/// A multipart body: its small fields in memory, its file part on disk.
#[derive(Default)]
pub struct Form {
    pub fields: HashMap<String, String>,
    pub file: Option<UploadedFile>,
}

pub struct UploadedFile {
    /// A temporary file in the assets folder; removed with the form unless kept.
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

/// Fields other than the file are small (a link, JSON metadata); cap them anyway.
const MAX_FIELD_BYTES: usize = 16 * 1024 * 1024;

/// Read a multipart body, writing its file part to `dir` chunk by chunk while counting
/// its size and SHA-1, so that memory stays constant whatever the file's size.
pub async fn read_multipart(dir: PathBuf, content_type: &str, body: Body) -> Result<Form, String> {
    use sha1::Digest;
    use tokio::io::AsyncWriteExt;
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| format!("bad multipart body: {e}"))?;
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut form = Form::default();
    let bad = |e: multer::Error| format!("bad multipart body: {e}");
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(String::from);
        // The Python SDK sends a remote asset's `link` as a part with a file name.
        let text_field = name == "link" || name == "metadata";
        if (file_name.is_some() || name == "file") && !text_field && form.file.is_none() {
            let path = dir.join(format!("upload-{}.part", new_id()));
            let mut out = tokio::fs::File::create(&path)
                .await
                .map_err(|e| format!("cannot store the upload: {e}"))?;
            form.file = Some(UploadedFile {
                path,
                size: 0,
                sha1: String::new(),
                file_name,
            });
            let mut hasher = sha1::Sha1::new();
            let mut size = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| format!("cannot store the upload: {e}"))?;
            }
            out.flush()
                .await
                .map_err(|e| format!("cannot store the upload: {e}"))?;
            if let Some(f) = form.file.as_mut() {
                f.size = size;
                f.sha1 = hex(&hasher.finalize());
            }
        } else {
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                if buf.len() + chunk.len() > MAX_FIELD_BYTES {
                    return Err(format!("multipart field '{name}' is too large"));
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

pub fn route(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    let r = match (family, ctx.path.as_str()) {
        ("rest", "write/experiment/upload-asset") | ("clientlib", "asset/upload") => {
            upload(state, ctx, "asset")
        }
        ("clientlib", "visualizations/upload") => upload(state, ctx, "image"),
        ("rest", "write/experiment/git/patch") | ("clientlib", "git-patch/upload") => {
            upload(state, ctx, "git-patch")
        }
        ("rest", "experiment/git/patch") => write(state, ctx, |s, k, _| {
            let id: Option<String> = s
                .conn
                .query_row(
                    "SELECT asset_id FROM assets WHERE experiment_key = ?1 AND type = 'git-patch'
                     ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                    params![k],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(match id {
                Some(id) => send_file(s, &id, "git_diff.patch", Some("application/octet-stream")),
                None => error(
                    StatusCode::BAD_REQUEST,
                    "No patch for this experiment",
                    None,
                ),
            })
        }),
        ("rest", "experiment/asset/list") => write(state, ctx, |s, k, _| {
            let ty = ctx.q("type").unwrap_or("all");
            Ok(ok(json!({ "assets": list(state, s, k, ty)? })))
        }),
        ("rest", "experiment/asset/get-asset") => get_asset(state, ctx),
        ("rest", "experiment/asset/get-by-name") => write(state, ctx, |s, k, b| {
            let name = ctx
                .q("fileName")
                .or_else(|| ctx.q("assetName"))
                .map(String::from)
                .or_else(|| text_of(b.get("fileName")));
            let Some(name) = name else {
                return Ok(error(StatusCode::BAD_REQUEST, "fileName is required", None));
            };
            let found: Option<(String, i64)> = s
                .conn
                .query_row(
                    "SELECT asset_id, remote FROM assets WHERE experiment_key = ?1 AND file_name = ?2
                     ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                    params![k, name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(match found {
                None => error(
                    StatusCode::BAD_REQUEST,
                    &format!("Asset {name} not found"),
                    None,
                ),
                Some((_, 1)) => remote_error(),
                Some((id, _)) => send_file(s, &id, &name, None),
            })
        }),
        ("rest", "write/experiment/asset/delete") => write(state, ctx, |s, k, b| {
            let id = ctx
                .q("assetId")
                .map(String::from)
                .or_else(|| text_of(b.get("assetId")));
            let Some(id) = id else {
                return Ok(error(StatusCode::BAD_REQUEST, "assetId is required", None));
            };
            let n = s.conn.execute(
                "DELETE FROM assets WHERE experiment_key = ?1 AND asset_id = ?2",
                params![k, id],
            )?;
            if n == 0 {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    &format!("Asset {id} not found"),
                    None,
                ));
            }
            let _ = std::fs::remove_file(s.assets_dir().join(&id));
            Ok(ok(json!({"msg": "Asset deleted", "assetId": id})))
        }),
        _ => return None,
    };
    Some(r)
}

/// Asset ids name files on disk, so a client-chosen id must be a plain token.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The last part of a path or URI (`s3://b/dir/` gives `dir`).
pub fn base_name(s: &str) -> String {
    let s = s.split(['?', '#']).next().unwrap_or(s);
    s.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|b| !b.is_empty() && !b.ends_with(':'))
        .unwrap_or("remote")
        .to_string()
}

fn upload(state: &State, ctx: &Ctx, default_type: &str) -> Response {
    let fields = ctx.form.as_ref().map(|f| &f.fields);
    let field = |k: &str| fields.and_then(|f| f.get(k)).filter(|s| !s.is_empty());
    let file = ctx.form.as_ref().and_then(|f| f.file.as_ref());
    let link = field("link").cloned();
    let remote = file.is_none() && (link.is_some() || truthy(ctx.q("isRemote")));
    if file.is_none() && link.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "The upload has neither a file nor a link",
            None,
        );
    }
    let body = json!({});
    let Some(key) = key_of(ctx, &body).or_else(|| field("experimentKey").cloned()) else {
        return error(StatusCode::BAD_REQUEST, "experimentKey is required", None);
    };
    let q = |k: &str| ctx.q(k).map(String::from).or_else(|| field(k).cloned());
    let ty = q("type").unwrap_or_else(|| default_type.to_string());
    let file_name = q("fileName")
        .or_else(|| q("figName"))
        .or_else(|| q("imageName"))
        .or_else(|| file.and_then(|f| f.file_name.as_deref().map(base_name)))
        .or_else(|| link.as_deref().map(base_name))
        .unwrap_or_else(|| {
            if ty == "git-patch" {
                "git_diff.patch".into()
            } else {
                "asset".into()
            }
        });
    let metadata = match q("metadata") {
        Some(m) if serde_json::from_str::<Value>(&m).is_err() => {
            return error(
                StatusCode::BAD_REQUEST,
                "metadata must be a JSON object",
                None,
            )
        }
        Some(m) if m == "{}" => None,
        other => other,
    };
    let overwrite = truthy(q("overwrite").as_deref());
    let step = int_of(q("step").map(Value::String).as_ref());
    let context = q("context");
    let version = q("artifactVersionId");
    let asset_id = q("assetId")
        .filter(|id| valid_id(id))
        .unwrap_or_else(new_id);
    with_key(state, &key, |s, k| {
        // A retried upload with the same id, or an overwrite of the same name, replaces.
        let mut old: Vec<String> = vec![asset_id.clone()];
        if overwrite || ty == "git-patch" {
            let mut st = s.conn.prepare(
                "SELECT asset_id FROM assets WHERE experiment_key = ?1 AND file_name = ?2
                 AND artifact_version_id IS ?3 AND (?4 = 1 OR type = 'git-patch')",
            )?;
            let rows = st.query_map(params![k, file_name, version, overwrite as i64], |r| {
                r.get(0)
            })?;
            for r in rows {
                old.push(r?);
            }
        }
        for id in &old {
            s.conn
                .execute("DELETE FROM assets WHERE asset_id = ?1", params![id])?;
            let _ = std::fs::remove_file(s.assets_dir().join(id));
        }
        let (size, sha1) = match file {
            Some(f) => {
                if let Err(e) = std::fs::rename(&f.path, s.assets_dir().join(&asset_id)) {
                    return Ok(error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("cannot store the upload: {e}"),
                        None,
                    ));
                }
                (f.size as i64, Some(f.sha1.clone()))
            }
            None => (0, None),
        };
        s.conn.execute(
            "INSERT INTO assets(asset_id, experiment_key, file_name, file_size, type, metadata,
               remote, link, step, context, artifact_version_id, created_ms, sha1)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                asset_id,
                k,
                file_name,
                size,
                ty,
                metadata,
                remote as i64,
                if remote { link.clone() } else { None },
                step,
                context,
                version,
                now_ms(),
                sha1
            ],
        )?;
        let link = if remote {
            link.clone().unwrap_or_default()
        } else {
            download_link(state, k, &asset_id)
        };
        Ok(ok(json!({
            "assetId": asset_id, "fileName": file_name, "fileSize": size,
            "remote": remote, "link": link, "web": link, "api": link,
            "experimentKey": k,
        })))
    })
}

fn download_link(state: &State, key: &str, id: &str) -> String {
    format!(
        "{}/api/rest/v2/experiment/asset/get-asset?experimentKey={key}&assetId={id}",
        state.base_url
    )
}

/// The folder Comet files an asset type under.
fn asset_dir(ty: &str) -> &'static str {
    match ty {
        "image" => "images",
        "audio" => "audio",
        "video" => "videos",
        "histogram_combined_3d" => "histograms",
        "source_code" | "git-patch" => "code",
        "model-element" => "models",
        _ => "assets",
    }
}

fn list(state: &State, store: &Store, key: &str, ty: &str) -> rusqlite::Result<Vec<Value>> {
    let mut st = store.conn.prepare(
        "SELECT asset_id, file_name, file_size, type, metadata, remote, link, step, context,
                created_ms
         FROM assets WHERE experiment_key = ?1 AND artifact_version_id IS NULL
           AND (?2 = 'all' OR type = ?2)
         ORDER BY created_ms, rowid",
    )?;
    let rows = st.query_map(params![key, ty], |r| {
        let id: String = r.get(0)?;
        let name: String = r.get(1)?;
        let ty: String = r.get(3)?;
        let remote = r.get::<_, i64>(5)? != 0;
        let link = if remote {
            r.get::<_, Option<String>>(6)?.unwrap_or_default()
        } else {
            download_link(state, key, &id)
        };
        let curl = if remote {
            Value::Null
        } else {
            json!(format!(
                "curl \"{link}\" -H \"Authorization: <Your Api Key>\" -o \"{name}\""
            ))
        };
        Ok(json!({
            "fileName": name,
            "fileSize": r.get::<_, i64>(2)?,
            "runContext": r.get::<_, Option<String>>(8)?,
            "step": r.get::<_, Option<i64>>(7)?,
            "remote": remote,
            "link": link,
            "compressedAssetLink": link,
            "s3Link": link,
            "createdAt": r.get::<_, i64>(9)?,
            "dir": asset_dir(&ty),
            "canView": ty == "image",
            "audio": ty == "audio",
            "video": ty == "video",
            "histogram": ty == "histogram_combined_3d",
            "image": ty == "image",
            "type": ty,
            "metadata": r.get::<_, Option<String>>(4)?,
            "assetId": id,
            "tags": [],
            "curlDownload": curl,
            "experimentKey": key,
        }))
    })?;
    rows.collect()
}

fn remote_error() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "This asset is remote: download it from its link",
        None,
    )
}

/// Download by id. The experiment named may be the consumer of an artifact rather than
/// the asset's owner, so the id alone finds the asset.
fn get_asset(state: &State, ctx: &Ctx) -> Response {
    let Some(id) = ctx.q("assetId").map(String::from) else {
        return error(StatusCode::BAD_REQUEST, "assetId is required", None);
    };
    let Ok(store) = state.store.lock() else {
        return super::general::poisoned();
    };
    let found = store
        .conn
        .query_row(
            "SELECT file_name, remote FROM assets WHERE asset_id = ?1",
            params![id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )
        .optional();
    match found {
        Ok(Some((_, 1))) => remote_error(),
        Ok(Some((name, _))) => send_file(&store, &id, &name, None),
        Ok(None) => error(
            StatusCode::BAD_REQUEST,
            &format!("Asset {id} not found"),
            None,
        ),
        Err(e) => super::db_error(e),
    }
}

/// The content type an asset is served with, from its file name's extension.
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "r" | "py" | "md" | "json" | "yaml" | "yml" | "toml" | "ini" | "cfg"
        | "sh" | "rmd" | "qmd" | "patch" | "diff" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "xml" => "text/xml; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Stream an asset's file from disk.
fn send_file(store: &Store, id: &str, name: &str, content_type: Option<&str>) -> Response {
    let path = store.assets_dir().join(id);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("asset {id} is missing from the server's storage: {e}"),
                None,
            )
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(tokio::fs::File::from_std(file), |mut f| async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let disposition = format!("attachment; filename=\"{}\"", name.replace('"', ""));
    (
        StatusCode::OK,
        [
            (
                "content-type",
                content_type.unwrap_or(content_type_for(name)).to_string(),
            ),
            ("content-length", len.to_string()),
            ("content-disposition", disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_paths_and_uris() {
        assert_eq!(base_name("s3://bucket/dataset.dat"), "dataset.dat");
        assert_eq!(base_name("https://comet.com/dataset"), "dataset");
        assert_eq!(base_name("s3://b/path/"), "path");
        assert_eq!(base_name("file.dat"), "file.dat");
        assert_eq!(base_name("C:\\x\\y.txt"), "y.txt");
        assert_eq!(base_name("s3://"), "remote");
        assert_eq!(base_name("https://x.org/a.csv?v=1"), "a.csv");
    }

    #[test]
    fn guesses_content_types() {
        assert!(content_type_for("a.txt").starts_with("text/"));
        assert!(content_type_for("model.R").starts_with("text/"));
        assert!(content_type_for("d.CSV").starts_with("text/csv"));
        assert_eq!(content_type_for("m.bin"), "application/octet-stream");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        assert_eq!(content_type_for("p.png"), "image/png");
    }

    #[test]
    fn checks_client_ids() {
        assert!(valid_id("0123abcd"));
        assert!(!valid_id("../etc"));
        assert!(!valid_id(""));
    }

    #[test]
    fn streams_multipart_to_disk() {
        let dir = std::env::temp_dir().join(format!("cometr-mp-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; \
                    name=\"metadata\"\r\n\r\n{\"a\":1}\r\n--XX--\r\n";
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let form = rt
            .block_on(read_multipart(
                dir.clone(),
                "multipart/form-data; boundary=XX",
                Body::from(body),
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
}
