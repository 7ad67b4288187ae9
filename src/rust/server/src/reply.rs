//! Reply formatting: the one place that turns what handlers return into HTTP answers.

use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::ApiError;

/// What a handler answers when it succeeds.
#[derive(Debug)]
pub enum Reply {
    /// A JSON body.
    Json(Value),
    /// A stored file, sent as a download named `name`; its content type is guessed from
    /// the name unless given.
    File {
        path: PathBuf,
        name: String,
        content_type: Option<&'static str>,
    },
}

pub type Handled = Result<Reply, ApiError>;

/// A JSON answer, the common case.
pub fn json(v: Value) -> Handled {
    Ok(Reply::Json(v))
}

pub fn respond(handled: Handled) -> Response {
    match handled {
        Ok(Reply::Json(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        Ok(Reply::File {
            path,
            name,
            content_type,
        }) => send_file(path, &name, content_type).unwrap_or_else(|e| error(&e)),
        Err(e) => error(&e),
    }
}

/// An answer in Comet's error shape.
pub fn error(e: &ApiError) -> Response {
    let mut body = json!({"msg": e.message, "code": e.status});
    if let Some(c) = e.sdk_error_code {
        body["sdk_error_code"] = json!(c);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// A 429 that asks the client to wait `seconds` (Comet's header name).
pub fn throttled(seconds: f64) -> Response {
    let mut r = error(&ApiError::new(429, "throttled (injected)", None));
    if let Ok(v) = HeaderValue::from_str(&format!("{seconds}")) {
        r.headers_mut().insert("retry-after-custom", v);
    }
    r
}

/// A scripted answer, exactly as a test asked for it.
pub fn raw(status: u16, content_type: &str, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", content_type.to_string())], body).into_response()
}

/// An answer whose body fails at once: the client sees the connection drop.
pub fn dropped() -> Response {
    let body = Body::from_stream(futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped by fault injection",
        ))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The content type a file is served with, from its name's extension: plain text as
/// `text/plain`, everything else as Comet serves downloads, `application/octet-stream`.
/// Clients that parse by content type (cometr 0.4.0 through httr) then get the bytes
/// (or, for plain text, one string): a type such as `text/csv`, `text/html` or
/// `image/png` would send them to an optional parser package (readr, xml2, png).
/// JSON is bytes too: comet_ml's `get_asset(return_type = "json")` accepts only
/// `application/json` or `application/octet-stream`, and httr would parse the former.
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "r" | "py" | "md" | "yaml" | "yml" | "toml" | "ini" | "cfg" | "sh"
        | "rmd" | "qmd" | "patch" | "diff" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Stream a file from disk in chunks, so memory stays flat whatever its size.
fn send_file(
    path: PathBuf,
    name: &str,
    content_type: Option<&'static str>,
) -> Result<Response, ApiError> {
    let file = std::fs::File::open(&path).map_err(|e| {
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ApiError::internal(format!(
            "asset {id} is missing from the server's storage: {e}"
        ))
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(tokio::fs::File::from_std(file), |mut f| async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let disposition = format!("attachment; filename=\"{}\"", name.replace('"', ""));
    Ok((
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
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_content_types() {
        assert!(content_type_for("a.txt").starts_with("text/"));
        assert!(content_type_for("model.R").starts_with("text/"));
        assert_eq!(content_type_for("m.bin"), "application/octet-stream");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        // What would need a parser package in httr is served as bytes.
        for name in [
            "d.CSV", "t.tsv", "p.png", "j.jpeg", "i.svg", "h.html", "x.xml",
        ] {
            assert_eq!(content_type_for(name), "application/octet-stream", "{name}");
        }
    }

    #[test]
    fn errors_have_comets_shape() {
        let r = error(&ApiError::bad_request_code("nope", 90210));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = respond(Err(ApiError::new(1000, "odd", None)));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
