//! Uploads of offline experiments (`comet upload`, cometr's `upload_offline()`).
//!
//! They use the ordinary endpoints with `offline: true` in the handshake and heartbeat
//! and end with `status-report/offline-metadata`. Around those endpoints this module
//! keeps replays idempotent:
//! - an experiment whose upload completed is marked; a later offline handshake for it
//!   (`getOrCreateEnabled`) answers `offlineUploaded: true`, so the client can skip a
//!   replay that would only repeat what is stored;
//! - when an interrupted upload is resumed, items already stored (parameters, output
//!   lines, others, HTML fragments) are not stored again; metrics, tags and assets (by
//!   their id) are idempotent anyway.
//!
//! It also applies what Comet does with two offline conventions: the other `Name` names
//! the experiment, and an uploaded `source_code` asset is the experiment's code.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::experiment::{self, get_doc, int_of, key_of, set_doc, text_of};
use super::store::{now_ms, Store};
use super::{assets, db_error, ok, Ctx, State};

/// Marks, in the documents table.
const UPLOADED: &str = "offline_uploaded";
const RESUMING: &str = "offline_resume";

pub fn route(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    match (family, ctx.path.as_str()) {
        ("clientlib", "logger/add/run") => handshake(state, ctx),
        ("clientlib", "status-report/offline-metadata") => {
            let body = ctx.json().ok()?;
            let key = key_of(ctx, &body)?;
            let r = experiment::route(state, family, ctx)?;
            if r.status() == StatusCode::OK {
                if let Err(e) = with_store(state, |s| {
                    set_doc(s, &key, UPLOADED, &now_ms().to_string())?;
                    clear(s, &key, RESUMING)
                }) {
                    return Some(db_error(e));
                }
            }
            Some(r)
        }
        ("rest", "write/experiment/log-other") => {
            let body = ctx.json().ok()?;
            let key = key_of(ctx, &body)?;
            let name = text_of(body.get("key"))?;
            let value = text_of(body.get("value")).unwrap_or_default();
            if resuming(state, &key) && other_exists(state, &key, &name, &value) {
                return Some(ok(json!({})));
            }
            let r = experiment::route(state, family, ctx)?;
            if name == "Name" && r.status() == StatusCode::OK {
                let _ = with_store(state, |s| {
                    s.conn.execute(
                        "UPDATE experiments SET name = ?2 WHERE experiment_key = ?1",
                        params![key, value],
                    )
                });
            }
            Some(r)
        }
        ("rest", "write/experiment/html") => {
            let body = ctx.json().ok()?;
            let key = key_of(ctx, &body)?;
            let html = text_of(body.get("html"))?;
            let append = body.get("override").and_then(|v| v.as_bool()) != Some(true);
            if append && !html.is_empty() && resuming(state, &key) {
                let stored = with_store(state, |s| get_doc(s, &key, "html")).ok()??;
                if stored.contains(&html) {
                    return Some(ok(json!({})));
                }
            }
            None
        }
        ("clientlib", "batch/logger/experiment/parameter") => {
            filtered(state, family, ctx, "values", |s, k, p| {
                s.conn
                    .query_row(
                        "SELECT 1 FROM parameters WHERE experiment_key = ?1 AND name = ?2
                         AND value IS ?3 AND step IS ?4 AND ts IS ?5",
                        params![
                            k,
                            text_of(p.get("parameterName")),
                            text_of(p.get("parameterValue")),
                            int_of(p.get("step")),
                            int_of(p.get("timestamp"))
                        ],
                        |_| Ok(()),
                    )
                    .optional()
                    .map(|o| o.is_some())
            })
        }
        ("rest", "write/experiment/output") => {
            filtered(state, family, ctx, "outputLines", |s, k, l| {
                s.conn
                    .query_row(
                        "SELECT 1 FROM output WHERE experiment_key = ?1 AND line_offset IS ?2
                         AND output = ?3 AND ts IS ?4",
                        params![
                            k,
                            int_of(l.get("offset")),
                            text_of(l.get("output")).unwrap_or_default(),
                            int_of(l.get("localTimestamp"))
                        ],
                        |_| Ok(()),
                    )
                    .optional()
                    .map(|o| o.is_some())
            })
        }
        ("clientlib", "asset/upload") | ("rest", "write/experiment/upload-asset") => {
            source_code(state, family, ctx)
        }
        _ => None,
    }
}

fn with_store<T>(
    state: &State,
    f: impl FnOnce(&Store) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let store = state
        .store
        .lock()
        .map_err(|_| rusqlite::Error::InvalidQuery)?;
    f(&store)
}

fn clear(s: &Store, key: &str, kind: &str) -> rusqlite::Result<()> {
    s.conn.execute(
        "DELETE FROM documents WHERE experiment_key = ?1 AND kind = ?2",
        params![key, kind],
    )?;
    Ok(())
}

fn resuming(state: &State, key: &str) -> bool {
    with_store(state, |s| get_doc(s, key, RESUMING))
        .ok()
        .flatten()
        .is_some()
}

fn other_exists(state: &State, key: &str, name: &str, value: &str) -> bool {
    with_store(state, |s| {
        s.conn
            .query_row(
                "SELECT 1 FROM others WHERE experiment_key = ?1 AND name = ?2 AND value IS ?3",
                params![key, name, value],
                |_| Ok(()),
            )
            .optional()
    })
    .ok()
    .flatten()
    .is_some()
}

/// An offline handshake: note whether this upload starts afresh, resumes an interrupted
/// one, or repeats a completed one (then say so in the answer).
fn handshake(state: &State, ctx: &Ctx) -> Option<Response> {
    let body = ctx.json().ok()?;
    if body.get("offline").and_then(|v| v.as_bool()) != Some(true) {
        return None;
    }
    let key = text_of(body.get("experimentKey"))?;
    let (exists, uploaded) = match with_store(state, |s| {
        Ok((
            experiment::experiment_exists(s, &key)?,
            get_doc(s, &key, UPLOADED)?.is_some(),
        ))
    }) {
        Ok(x) => x,
        Err(e) => return Some(db_error(e)),
    };
    let r = experiment::route(state, "clientlib", ctx)?;
    if !exists || r.status() != StatusCode::OK {
        return Some(r);
    }
    if !uploaded {
        if let Err(e) = with_store(state, |s| set_doc(s, &key, RESUMING, &now_ms().to_string())) {
            return Some(db_error(e));
        }
        return Some(r);
    }
    let (parts, body) = r.into_parts();
    let bytes = tokio::runtime::Handle::current()
        .block_on(axum::body::to_bytes(body, usize::MAX))
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
    v["offlineUploaded"] = json!(true);
    let mut resp = ok(v);
    *resp.status_mut() = parts.status;
    Some(resp)
}

/// While an upload resumes, drop the items of a batch that are already stored.
fn filtered(
    state: &State,
    family: &str,
    ctx: &Ctx,
    field: &str,
    stored: impl Fn(&Store, &str, &Value) -> rusqlite::Result<bool>,
) -> Option<Response> {
    let mut body = ctx.json().ok()?;
    let key = key_of(ctx, &body)?;
    if !resuming(state, &key) {
        return None;
    }
    let items = body.get(field)?.as_array()?.clone();
    let fresh = match with_store(state, |s| {
        let mut keep = Vec::new();
        for it in items {
            if !stored(s, &key, &it)? {
                keep.push(it);
            }
        }
        Ok(keep)
    }) {
        Ok(k) => k,
        Err(e) => return Some(db_error(e)),
    };
    body[field] = Value::Array(fresh);
    let again = Ctx {
        method: ctx.method.clone(),
        path: ctx.path.clone(),
        query: ctx.query.clone(),
        headers: ctx.headers.clone(),
        body: Bytes::from(body.to_string()),
        form: None,
    };
    experiment::route(state, family, &again)
}

/// Code logged offline arrives as a `source_code` asset; it is also the code that
/// `experiment/code` returns.
fn source_code(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    let form = ctx.form.as_ref()?;
    let field = |k: &str| {
        ctx.q(k)
            .map(String::from)
            .or_else(|| form.fields.get(k).cloned())
    };
    if field("type").as_deref() != Some("source_code") {
        return None;
    }
    let file = form.file.as_ref()?;
    if file.size > 16 * 1024 * 1024 {
        return None;
    }
    let code = std::fs::read(&file.path).ok()?;
    let key = key_of(ctx, &json!({})).or_else(|| field("experimentKey"))?;
    let r = assets::route(state, family, ctx)?;
    if r.status() == StatusCode::OK {
        let code = String::from_utf8_lossy(&code).into_owned();
        if let Err(e) = with_store(state, |s| set_doc(s, &key, "code", &code)) {
            return Some(db_error(e));
        }
    }
    Some(r)
}
