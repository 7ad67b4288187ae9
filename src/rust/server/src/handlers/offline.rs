//! Uploads of offline experiments (`comet upload`, cometr's `upload_offline()`).
//!
//! They use the ordinary endpoints with `offline: true` in the handshake and heartbeat
//! and end with `status-report/offline-metadata`. Around the experiment and asset
//! handlers, whose answers it reads as data, this module keeps replays idempotent:
//! - an experiment whose upload completed is marked; a later offline handshake for it
//!   (`getOrCreateEnabled`) answers `offlineUploaded: true`, so the client can skip a
//!   replay that would only repeat what is stored;
//! - when an interrupted upload is resumed, items already stored (parameters, output
//!   lines, others, HTML fragments) are not stored again; metrics, tags and assets (by
//!   their id) are idempotent anyway.
//!
//! It also applies what Comet does with two offline conventions: the other `Name` names
//! the experiment, and an uploaded `source_code` asset is the experiment's code.

use serde_json::{json, Value};

use super::{assets, experiment, Env};
use crate::error::ApiError;
use crate::reply::{json, Handled, Reply};
use crate::request::{text_of, Request};
use crate::util::now_ms;

/// Marks, in the documents table.
const UPLOADED: &str = "offline_uploaded";
const RESUMING: &str = "offline_resume";

/// Code larger than this stays an asset only.
const MAX_CODE_BYTES: u64 = 16 * 1024 * 1024;

fn resuming(env: &Env, key: &str) -> bool {
    env.store.doc(key, RESUMING).ok().flatten().is_some()
}

/// An offline handshake: note whether this upload starts afresh, resumes an interrupted
/// one, or repeats a completed one (then say so in the answer).
pub fn add_run(env: &Env, req: &Request) -> Handled {
    let Ok(body) = req.json() else {
        return experiment::add_run(env, req);
    };
    let key = match text_of(body.get("experimentKey")) {
        Some(k) if body.get("offline").and_then(|v| v.as_bool()) == Some(true) => k,
        _ => return experiment::add_run(env, req),
    };
    let exists = env.store.experiment_exists(&key)?;
    let uploaded = env.store.doc(&key, UPLOADED)?.is_some();
    let answer = experiment::add_run(env, req)?;
    if !exists {
        return Ok(answer);
    }
    if !uploaded {
        env.store.set_doc(&key, RESUMING, &now_ms().to_string())?;
        return Ok(answer);
    }
    match answer {
        Reply::Json(mut v) => {
            v["offlineUploaded"] = json!(true);
            json(v)
        }
        other => Ok(other),
    }
}

/// The last call of an upload: once it succeeds, the experiment counts as uploaded.
pub fn offline_metadata(env: &Env, req: &Request) -> Handled {
    let answer = experiment::offline_metadata(env, req)?;
    if let Some(key) = req.json().ok().and_then(|b| req.experiment_key(&b)) {
        env.store.set_doc(&key, UPLOADED, &now_ms().to_string())?;
        env.store.clear_doc(&key, RESUMING)?;
    }
    Ok(answer)
}

pub fn log_other(env: &Env, req: &Request) -> Handled {
    let body = req.json().ok();
    let named = body.as_ref().and_then(|b| {
        let key = req.experiment_key(b)?;
        let name = text_of(b.get("key"))?;
        Some((key, name, text_of(b.get("value")).unwrap_or_default()))
    });
    let Some((key, name, value)) = named else {
        return experiment::log_other(env, req);
    };
    if resuming(env, &key) && env.store.other_stored(&key, &name, &value).unwrap_or(false) {
        return json(json!({}));
    }
    let answer = experiment::log_other(env, req)?;
    if name == "Name" {
        let _ = env.store.rename_experiment(&key, &value);
    }
    Ok(answer)
}

pub fn log_html(env: &Env, req: &Request) -> Handled {
    if let Ok(body) = req.json() {
        let key = req.experiment_key(&body);
        let html = text_of(body.get("html"));
        let append = body.get("override").and_then(|v| v.as_bool()) != Some(true);
        if let (Some(key), Some(html)) = (key, html) {
            if append && !html.is_empty() && resuming(env, &key) {
                if let Ok(Some(stored)) = env.store.doc(&key, "html") {
                    if stored.contains(&html) {
                        return json(json!({}));
                    }
                }
            }
        }
    }
    experiment::log_html(env, req)
}

/// While an upload resumes, the items of a batch (`field`) that are not stored yet;
/// `None` when the request is not part of a resumed upload.
fn fresh_items(
    env: &Env,
    req: &Request,
    field: &str,
    stored: impl Fn(&str, &Value) -> Result<bool, ApiError>,
) -> Result<Option<Value>, ApiError> {
    let Ok(mut body) = req.json() else {
        return Ok(None);
    };
    let Some(key) = req.experiment_key(&body) else {
        return Ok(None);
    };
    if !resuming(env, &key) {
        return Ok(None);
    }
    let Some(items) = body.get(field).and_then(|v| v.as_array()).cloned() else {
        return Ok(None);
    };
    let mut keep = Vec::new();
    for it in items {
        if !stored(&key, &it)? {
            keep.push(it);
        }
    }
    body[field] = Value::Array(keep);
    Ok(Some(body))
}

pub fn batch_parameters(env: &Env, req: &Request) -> Handled {
    let fresh = fresh_items(env, req, "values", |k, p| {
        Ok(match experiment::parameter_value(p) {
            Some(v) => env.store.parameter_stored(k, &v)?,
            None => false,
        })
    })?;
    match fresh {
        Some(body) => experiment::batch_parameters_of(env, req, &body),
        None => experiment::batch_parameters(env, req),
    }
}

pub fn log_output(env: &Env, req: &Request) -> Handled {
    let fresh = fresh_items(env, req, "outputLines", |k, l| {
        Ok(env.store.output_stored(k, &experiment::output_line(l))?)
    })?;
    match fresh {
        Some(body) => experiment::log_output_of(env, req, &body),
        None => experiment::log_output(env, req),
    }
}

/// Code logged offline arrives as a `source_code` asset; it is also the code that
/// `experiment/code` returns.
pub fn upload_asset(env: &Env, req: &Request) -> Handled {
    let field = |k: &str| req.q(k).map(String::from).or_else(|| req.field(k).cloned());
    let code = req
        .form
        .as_ref()
        .and_then(|f| f.file.as_ref())
        .filter(|_| field("type").as_deref() == Some("source_code"))
        .filter(|f| f.size <= MAX_CODE_BYTES)
        .and_then(|f| std::fs::read(&f.path).ok());
    let key = req
        .experiment_key(&json!({}))
        .or_else(|| field("experimentKey"));
    let answer = assets::upload_asset(env, req)?;
    if let (Some(code), Some(key)) = (code, key) {
        let code = String::from_utf8_lossy(&code).into_owned();
        env.store.set_doc(&key, "code", &code)?;
    }
    Ok(answer)
}
