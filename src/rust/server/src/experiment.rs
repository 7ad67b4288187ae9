//! One experiment's records: metrics, parameters, others, tags, HTML, graph, code, git
//! metadata, system details, output, times and status, over both REST v2 and the
//! clientlib endpoints the streaming SDKs use. Assets live in `assets.rs`.

use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::general::{not_found_experiment, poisoned};
use super::store::{new_id, now_ms, Store};
use super::{assets, db_error, error, ok, truthy, Ctx, State};

pub fn route(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    let path = ctx.path.as_str();
    // The heartbeat interval the server asks clients for.
    let beat_millis = state
        .heartbeat_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    if let Some(key) = path
        .strip_prefix("write/experiment/")
        .and_then(|p| p.strip_suffix("/mark-not-throttled"))
    {
        return Some(with_key(state, key, |_, _| Ok(ok(json!({})))));
    }
    let r = match (family, path) {
        // Writes.
        ("rest", "write/experiment/metric") => write(state, ctx, |s, k, b| {
            insert_metrics(s, k, std::slice::from_ref(b))?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/parameter") => write(state, ctx, |s, k, b| {
            insert_parameters(s, k, std::slice::from_ref(b))?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/log-other") => write(state, ctx, log_other),
        ("rest", "write/experiment/tags") | ("clientlib", "tags/add-tags-to-experiment") => {
            write(state, ctx, add_tags)
        }
        ("rest", "write/experiment/tags/delete") => write(state, ctx, delete_tags),
        ("rest", "write/experiment/html") => write(state, ctx, log_html),
        ("rest", "write/experiment/graph") => write(state, ctx, |s, k, b| {
            set_doc(s, k, "graph", &text_of(b.get("graph")).unwrap_or_default())?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/code") => write(state, ctx, |s, k, b| {
            set_doc(s, k, "code", &code_text(b.get("code")))?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/git/metadata") => write(state, ctx, |s, k, b| {
            merge_doc(s, k, "git_metadata", b)?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/system-details") => write(state, ctx, |s, k, b| {
            merge_doc(s, k, "system_details", b)?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/set-start-end-time") => write(state, ctx, |s, k, b| {
            set_times(
                s,
                k,
                int_of(b.get("startTimeMillis")),
                int_of(b.get("endTimeMillis")),
            )?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/experiment/output") => write(state, ctx, log_output),
        ("rest", "write/experiment/file-path") => write(state, ctx, file_path),
        ("rest", "write/experiment/archive") => write(state, ctx, |s, k, _| {
            set_archived(s, k, true)?;
            Ok(ok(json!({"msg": "Archived"})))
        }),
        ("rest", "write/experiment/restore") => write(state, ctx, |s, k, _| {
            set_archived(s, k, false)?;
            Ok(ok(json!({"msg": "Restored"})))
        }),
        ("rest", "write/experiment/delete") => write(state, ctx, |s, k, _| {
            s.delete_experiment(k)?;
            Ok(ok(json!({"msg": "Experiment deleted", "experimentKey": k})))
        }),
        ("rest", "write/experiment/set-status") => write(state, ctx, |s, k, _| {
            beat(s, k, true)?;
            Ok(ok(json!({ "isAliveBeatDurationMillis": beat_millis })))
        }),
        ("rest", "write/experiment/stop") => write(state, ctx, stop),
        ("rest", "write/experiment/update-status") => write(state, ctx, |s, k, b| {
            let alive = b.get("isAlive").and_then(|v| v.as_bool()).unwrap_or(true);
            beat(s, k, alive)?;
            let status = json!({
                "isAlive": alive,
                "error": b.get("error").cloned().unwrap_or(Value::Null),
                "hasCrashed": b.get("hasCrashed").cloned().unwrap_or(json!(false)),
            });
            set_doc(s, k, "status", &status.to_string())?;
            Ok(ok(json!({})))
        }),
        ("rest", "write/project/symlink") | ("clientlib", "symlink/new") => {
            write(state, ctx, |s, k, _| symlink(state, s, k, ctx))
        }
        // Reads.
        ("rest", "experiment/metrics/get-metric") => write(state, ctx, |s, k, _| {
            let Some(name) = ctx.q("metricName") else {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "metricName is required",
                    None,
                ));
            };
            Ok(ok(json!({ "metrics": metric_points(s, k, Some(name))? })))
        }),
        ("rest", "experiment/metrics/get-all") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "metrics": metric_points(s, k, None)? })))
        }),
        ("rest", "experiment/metrics/summary") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "values": summaries(s, "metrics", k)? })))
        }),
        ("rest", "experiment/parameters") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "values": summaries(s, "parameters", k)? })))
        }),
        ("rest", "experiment/log-other") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "values": summaries(s, "others", k)? })))
        }),
        ("rest", "experiment/tags") => {
            write(state, ctx, |s, k, _| Ok(ok(json!({ "tags": tags(s, k)? }))))
        }
        ("rest", "experiment/html") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "html": get_doc(s, k, "html")? })))
        }),
        ("rest", "experiment/graph") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "graph": get_doc(s, k, "graph")? })))
        }),
        ("rest", "experiment/code") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "code": get_doc(s, k, "code")? })))
        }),
        ("rest", "experiment/output") => write(state, ctx, |s, k, _| {
            Ok(ok(json!({ "output": output(s, k)? })))
        }),
        ("rest", "experiment/system-details") => write(state, ctx, system_details),
        ("rest", "experiment/git/metadata") => write(state, ctx, |s, k, _| {
            let doc = get_json_doc(s, k, "git_metadata")?;
            let mut out = Map::new();
            for f in ["user", "root", "branch", "parent", "origin"] {
                out.insert(f.into(), doc.get(f).cloned().unwrap_or(Value::Null));
            }
            Ok(ok(Value::Object(out)))
        }),
        // Clientlib: the streaming SDKs' run lifecycle and batches.
        ("clientlib", "batch/logger/experiment/metric") => write(state, ctx, |s, k, b| {
            let n = insert_metrics(s, k, values_of(b))?;
            Ok(ok(json!({ "msg": format!("{n} metrics stored") })))
        }),
        ("clientlib", "batch/logger/experiment/parameter") => write(state, ctx, |s, k, b| {
            let n = insert_parameters(s, k, values_of(b))?;
            Ok(ok(json!({ "msg": format!("{n} parameters stored") })))
        }),
        ("clientlib", "status-report/update") => write(state, ctx, |s, k, b| {
            let alive = b.get("is_alive").and_then(|v| v.as_bool()).unwrap_or(true);
            beat(s, k, alive)?;
            Ok(ok(json!({
                "is_alive_beat_duration_millis": beat_millis,
                "gpu_monitor_interval_millis": 60_000,
                "cpu_monitor_interval_millis": 68_000,
                "pending_rpcs": get_doc(s, k, "pending_stop")?.is_some(),
            })))
        }),
        ("clientlib", "status-report/offline-metadata") => write(state, ctx, |s, k, b| {
            set_times(
                s,
                k,
                int_of(b.get("startTimestamp")),
                int_of(b.get("endTimestamp")),
            )?;
            Ok(ok(json!({})))
        }),
        ("clientlib", "rpc/get-pending-rpcs") => write(state, ctx, pending_rpcs),
        ("clientlib", "rpc/register-rpc") | ("clientlib", "rpc/save-rpc-result") => {
            write(state, ctx, |_, _, _| Ok(ok(json!({}))))
        }
        ("clientlib", "logger/add/run") => add_run(state, ctx),
        ("clientlib", "logger/get/run") => get_run(state, ctx),
        ("clientlib", "asset/3d-limits") => {
            ok(json!({"maxPoints": 1_000_000, "maxBoxes": 250_000}))
        }
        ("clientlib", "notification/experiment") | ("clientlib", "notify/event") => ok(json!({})),
        _ => return assets::route(state, family, ctx),
    };
    Some(r)
}

/// The experiment a request names, from the query string or the JSON body.
pub fn key_of(ctx: &Ctx, body: &Value) -> Option<String> {
    // The clientlib asset upload names the experiment `experimentId`.
    ctx.q("experimentKey")
        .or_else(|| ctx.q("experimentId"))
        .map(String::from)
        .or_else(|| text_of(body.get("experimentKey")))
        .or_else(|| text_of(body.get("experiment_key")))
        .filter(|k| !k.is_empty())
}

/// Run `f` on an existing experiment, answering Comet's 400 for an unknown one.
pub fn with_key<F>(state: &State, key: &str, f: F) -> Response
where
    F: FnOnce(&Store, &str) -> rusqlite::Result<Response>,
{
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match experiment_exists(&store, key) {
        Ok(true) => {}
        Ok(false) => return not_found_experiment(key),
        Err(e) => return db_error(e),
    }
    f(&store, key).unwrap_or_else(db_error)
}

/// Parse the body, find the experiment and run `f` with both.
pub fn write<F>(state: &State, ctx: &Ctx, f: F) -> Response
where
    F: FnOnce(&Store, &str, &Value) -> rusqlite::Result<Response>,
{
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(key) = key_of(ctx, &body) else {
        return error(StatusCode::BAD_REQUEST, "experimentKey is required", None);
    };
    with_key(state, &key, |s, k| f(s, k, &body))
}

pub fn experiment_exists(store: &Store, key: &str) -> rusqlite::Result<bool> {
    Ok(store
        .conn
        .query_row(
            "SELECT 1 FROM experiments WHERE experiment_key = ?1",
            params![key],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
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

fn values_of(body: &Value) -> &[Value] {
    body.get("values")
        .and_then(|v| v.as_array())
        .map(|a| a.as_slice())
        .unwrap_or(&[])
}

/// Store metric points in one transaction. A point identical to one already stored (same
/// name, step, epoch, context, timestamp and value) is not stored again, so a resent
/// batch is harmless.
fn insert_metrics(store: &Store, key: &str, points: &[Value]) -> rusqlite::Result<usize> {
    let tx = store.conn.unchecked_transaction()?;
    let mut n = 0;
    {
        let mut st = tx.prepare_cached(
            "INSERT OR IGNORE INTO metrics(experiment_key, name, value, step, epoch, context, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let now = now_ms();
        for p in points {
            let Some(name) = text_of(p.get("metricName")) else {
                continue;
            };
            let context = text_of(p.get("context")).or_else(|| text_of(p.get("runContext")));
            n += st.execute(params![
                key,
                name,
                text_of(p.get("metricValue")),
                int_of(p.get("step")),
                int_of(p.get("epoch")),
                context,
                int_of(p.get("timestamp")).unwrap_or(now),
            ])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

fn insert_parameters(store: &Store, key: &str, values: &[Value]) -> rusqlite::Result<usize> {
    let tx = store.conn.unchecked_transaction()?;
    let mut n = 0;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO parameters(experiment_key, name, value, step, ts)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let now = now_ms();
        for p in values {
            let Some(name) = text_of(p.get("parameterName")) else {
                continue;
            };
            n += st.execute(params![
                key,
                name,
                text_of(p.get("parameterValue")),
                int_of(p.get("step")),
                int_of(p.get("timestamp")).unwrap_or(now),
            ])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

fn log_other(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    let Some(name) = text_of(body.get("key")) else {
        return Ok(error(StatusCode::BAD_REQUEST, "key is required", None));
    };
    let value = text_of(body.get("value")).unwrap_or_default();
    let ts = int_of(body.get("timestamp")).unwrap_or_else(now_ms);
    store.log_other(key, &name, &value, ts)?;
    Ok(ok(json!({})))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| text_of(Some(x))).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn add_tags(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    for t in string_list(body.get("addedTags")) {
        if t.is_empty() {
            continue;
        }
        store.conn.execute(
            "INSERT OR IGNORE INTO tags(experiment_key, tag) VALUES (?1, ?2)",
            params![key, t],
        )?;
    }
    Ok(ok(json!({})))
}

fn delete_tags(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    for t in string_list(body.get("tags")) {
        store.conn.execute(
            "DELETE FROM tags WHERE experiment_key = ?1 AND tag = ?2",
            params![key, t],
        )?;
    }
    Ok(ok(json!({})))
}

fn tags(store: &Store, key: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = store
        .conn
        .prepare("SELECT tag FROM tags WHERE experiment_key = ?1 ORDER BY rowid")?;
    let rows = st.query_map(params![key], |r| r.get(0))?;
    rows.collect()
}

pub fn get_doc(store: &Store, key: &str, kind: &str) -> rusqlite::Result<Option<String>> {
    store
        .conn
        .query_row(
            "SELECT body FROM documents WHERE experiment_key = ?1 AND kind = ?2",
            params![key, kind],
            |r| r.get(0),
        )
        .optional()
}

pub fn set_doc(store: &Store, key: &str, kind: &str, body: &str) -> rusqlite::Result<()> {
    store.conn.execute(
        "INSERT OR REPLACE INTO documents(experiment_key, kind, body) VALUES (?1, ?2, ?3)",
        params![key, kind, body],
    )?;
    Ok(())
}

fn get_json_doc(store: &Store, key: &str, kind: &str) -> rusqlite::Result<Map<String, Value>> {
    Ok(get_doc(store, key, kind)?
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default())
}

/// Merge a partial JSON object into a stored one: Comet's clients send system details in
/// several pieces (installed packages, OS packages, the rest).
fn merge_doc(store: &Store, key: &str, kind: &str, body: &Value) -> rusqlite::Result<()> {
    let mut doc = get_json_doc(store, key, kind)?;
    if let Some(fields) = body.as_object() {
        for (k, v) in fields {
            if k == "experimentKey" || k == "apiKey" {
                continue;
            }
            doc.insert(k.clone(), v.clone());
        }
    }
    set_doc(store, key, kind, &Value::Object(doc).to_string())
}

fn log_html(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    let html = text_of(body.get("html")).unwrap_or_default();
    let replace = body
        .get("override")
        .map(|v| v.as_bool().unwrap_or_else(|| truthy(v.as_str())))
        .unwrap_or(false);
    let new = if replace {
        html
    } else {
        get_doc(store, key, "html")?.unwrap_or_default() + &html
    };
    set_doc(store, key, "html", &new)?;
    Ok(ok(json!({})))
}

/// Code arrives as one string, or (from cometr 0.4.0) as an array of lines.
fn code_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| text_of(Some(x)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => text_of(other).unwrap_or_default(),
    }
}

fn log_output(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    let context = text_of(body.get("runContext"));
    let lines = body
        .get("outputLines")
        .and_then(|v| v.as_array())
        .map(|a| a.as_slice())
        .unwrap_or(&[]);
    let tx = store.conn.unchecked_transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO output(experiment_key, line_offset, output, stderr, ts, context)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let now = now_ms();
        for l in lines {
            let stderr = l.get("stderr").and_then(|v| v.as_bool()).unwrap_or(false);
            st.execute(params![
                key,
                int_of(l.get("offset")),
                text_of(l.get("output")).unwrap_or_default(),
                stderr as i64,
                int_of(l.get("localTimestamp")).unwrap_or(now),
                context,
            ])?;
        }
    }
    tx.commit()?;
    Ok(ok(json!({})))
}

fn output(store: &Store, key: &str) -> rusqlite::Result<String> {
    let mut st = store
        .conn
        .prepare("SELECT output FROM output WHERE experiment_key = ?1 ORDER BY line_offset, id")?;
    let rows = st.query_map(params![key], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(join_output(&lines))
}

/// The output as one text. The Python SDK sends each write (its text, then a separate
/// "\n"), cometr sends whole lines without their newline: entries are concatenated, with
/// a newline added between two where neither side has one.
pub fn join_output(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 && !out.ends_with('\n') && !l.starts_with('\n') {
            out.push('\n');
        }
        out.push_str(l);
    }
    out
}

fn next_offset(store: &Store, key: &str) -> rusqlite::Result<i64> {
    store.conn.query_row(
        "SELECT COALESCE(MAX(line_offset) + 1, 0) FROM output WHERE experiment_key = ?1",
        params![key],
        |r| r.get(0),
    )
}

fn file_path(store: &Store, key: &str, body: &Value) -> rusqlite::Result<Response> {
    let path = text_of(body.get("filePath")).unwrap_or_default();
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path.as_str())
        .to_string();
    store.conn.execute(
        "UPDATE experiments SET file_path = ?2, file_name = ?3 WHERE experiment_key = ?1",
        params![key, path, name],
    )?;
    Ok(ok(json!({})))
}

fn set_times(
    store: &Store,
    key: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> rusqlite::Result<()> {
    if let Some(s) = start {
        store.conn.execute(
            "UPDATE experiments SET start_ms = ?2 WHERE experiment_key = ?1",
            params![key, s],
        )?;
    }
    if let Some(e) = end {
        store.conn.execute(
            "UPDATE experiments SET end_ms = ?2, running = 0 WHERE experiment_key = ?1",
            params![key, e],
        )?;
    }
    Ok(())
}

fn set_archived(store: &Store, key: &str, archived: bool) -> rusqlite::Result<()> {
    store.conn.execute(
        "UPDATE experiments SET archived = ?2 WHERE experiment_key = ?1",
        params![key, archived as i64],
    )?;
    Ok(())
}

/// A heartbeat: a live run is running and was last seen now; a run that says it is no
/// longer alive has ended (its end time is kept if one was set explicitly).
fn beat(store: &Store, key: &str, alive: bool) -> rusqlite::Result<()> {
    let now = now_ms();
    if alive {
        store.conn.execute(
            "UPDATE experiments SET running = 1, last_beat_ms = ?2 WHERE experiment_key = ?1",
            params![key, now],
        )?;
    } else {
        store.conn.execute(
            "UPDATE experiments SET running = 0, last_beat_ms = ?2,
             end_ms = COALESCE(end_ms, ?2) WHERE experiment_key = ?1",
            params![key, now],
        )?;
    }
    Ok(())
}

/// Stopping a run asks its SDK to stop (through a pending RPC) and marks it ended.
fn stop(store: &Store, key: &str, _body: &Value) -> rusqlite::Result<Response> {
    set_doc(store, key, "pending_stop", &now_ms().to_string())?;
    beat(store, key, false)?;
    Ok(ok(
        json!({"msg": "Experiment stopped", "experimentKey": key}),
    ))
}

fn pending_rpcs(store: &Store, key: &str, _body: &Value) -> rusqlite::Result<Response> {
    let Some(at) = get_doc(store, key, "pending_stop")? else {
        return Ok(ok(json!({"remoteProcedureCalls": []})));
    };
    store.conn.execute(
        "DELETE FROM documents WHERE experiment_key = ?1 AND kind = 'pending_stop'",
        params![key],
    )?;
    let project: Option<String> = store
        .conn
        .query_row(
            "SELECT project_id FROM experiments WHERE experiment_key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?;
    Ok(ok(json!({"remoteProcedureCalls": [{
        "callId": new_id(), "userName": "local", "functionName": "stop",
        "cometDefined": true, "arguments": [],
        "createdAt": at.parse::<i64>().unwrap_or_else(|_| now_ms()),
        "experimentKey": key, "projectId": project,
    }]})))
}

fn symlink(state: &State, store: &Store, key: &str, ctx: &Ctx) -> rusqlite::Result<Response> {
    let Some(project) = ctx.q("projectName") else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "projectName is required",
            Some(98219),
        ));
    };
    let ws: String = store.conn.query_row(
        "SELECT p.workspace FROM experiments e JOIN projects p ON p.project_id = e.project_id
         WHERE e.experiment_key = ?1",
        params![key],
        |r| r.get(0),
    )?;
    let pid = store.ensure_project(&ws, project)?;
    store.conn.execute(
        "INSERT OR IGNORE INTO symlinks(experiment_key, project_id) VALUES (?1, ?2)",
        params![key, pid],
    )?;
    Ok(ok(json!({
        "link": format!("{}/{}/{}/{}", state.base_url, ws, project, key),
        "projectId": pid, "projectName": project, "workspaceName": ws,
    })))
}

fn system_details(store: &Store, key: &str, _body: &Value) -> rusqlite::Result<Response> {
    let mut doc = get_json_doc(store, key, "system_details")?;
    for f in [
        "user",
        "pythonVersion",
        "pythonVersionVerbose",
        "pid",
        "osType",
        "os",
        "osRelease",
        "ip",
        "hostname",
        "command",
        "executable",
        "gpuStaticInfoList",
        "logAdditionalSystemInfoList",
        "networkInterfaceIps",
        "osPackages",
        "installedPackages",
    ] {
        doc.entry(f).or_insert(Value::Null);
    }
    // Comet answers the process id as a number, whatever the client sent.
    if let Some(pid) = int_of(doc.get("pid")) {
        doc.insert("pid".into(), json!(pid));
    }
    doc.insert("experimentKey".into(), json!(key));
    Ok(ok(Value::Object(doc)))
}

fn metric_points(store: &Store, key: &str, name: Option<&str>) -> rusqlite::Result<Vec<Value>> {
    let sql = format!(
        "SELECT id, name, value, step, epoch, context, ts FROM metrics WHERE experiment_key = ?1 {}
         ORDER BY id",
        if name.is_some() { "AND name = ?2" } else { "" }
    );
    let mut st = store.conn.prepare(&sql)?;
    let map = |r: &rusqlite::Row| {
        Ok(json!({
            "metricName": r.get::<_, String>(1)?,
            "metricValue": r.get::<_, Option<String>>(2)?,
            "timestamp": r.get::<_, Option<i64>>(6)?,
            "step": r.get::<_, Option<i64>>(3)?,
            "epoch": r.get::<_, Option<i64>>(4)?,
            "runContext": r.get::<_, Option<String>>(5)?,
            "offset": r.get::<_, i64>(0)?,
        }))
    };
    let rows = match name {
        Some(n) => st.query_map(params![key, n], map)?.collect(),
        None => st.query_map(params![key], map)?.collect(),
    };
    rows
}

/// One logged value, as the summaries see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub value: Option<String>,
    pub ts: Option<i64>,
    pub step: Option<i64>,
}

/// Comet's summary of one name's values: extremes (numeric when the values are numbers),
/// the current (latest logged) value, and the timestamp and step ranges. Values are
/// strings, as Comet answers them.
pub fn summarize(name: &str, points: &[Point], with_steps: bool) -> Value {
    let numeric: Vec<(f64, &str)> = points
        .iter()
        .filter_map(|p| {
            let s = p.value.as_deref()?;
            let x = s.trim().parse::<f64>().ok().filter(|x| x.is_finite())?;
            Some((x, s))
        })
        .collect();
    let (vmax, vmin) = if !numeric.is_empty() {
        let max = numeric
            .iter()
            .fold(numeric[0], |a, b| if b.0 > a.0 { *b } else { a });
        let min = numeric
            .iter()
            .fold(numeric[0], |a, b| if b.0 < a.0 { *b } else { a });
        (Some(max.1.to_string()), Some(min.1.to_string()))
    } else {
        let texts = points.iter().filter_map(|p| p.value.clone());
        (texts.clone().max(), texts.min())
    };
    // The current value is the one with the latest timestamp; ties go to the later log.
    let current = points
        .iter()
        .enumerate()
        .max_by_key(|(i, p)| (p.ts.unwrap_or(i64::MIN), *i))
        .map(|(_, p)| p);
    let ts: Vec<i64> = points.iter().filter_map(|p| p.ts).collect();
    let mut out = json!({
        "name": name,
        "valueMax": vmax,
        "valueMin": vmin,
        "valueCurrent": current.and_then(|p| p.value.clone()),
        "timestampMax": ts.iter().max(),
        "timestampMin": ts.iter().min(),
        "timestampCurrent": current.and_then(|p| p.ts),
    });
    if with_steps {
        let steps: Vec<i64> = points.iter().filter_map(|p| p.step).collect();
        out["stepMax"] = json!(steps.iter().max());
        out["stepMin"] = json!(steps.iter().min());
        out["stepCurrent"] = json!(current.and_then(|p| p.step));
    }
    out
}

/// Summaries of every name in `table` (metrics, parameters or others), in the order the
/// names were first logged.
fn summaries(store: &Store, table: &str, key: &str) -> rusqlite::Result<Vec<Value>> {
    let step = if table == "others" { "NULL" } else { "step" };
    let mut st = store.conn.prepare(&format!(
        "SELECT name, value, ts, {step} FROM {table} WHERE experiment_key = ?1 ORDER BY id"
    ))?;
    let mut rows = st.query(params![key])?;
    let mut order: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, Vec<Point>> = Default::default();
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let p = Point {
            value: r.get(1)?,
            ts: r.get(2)?,
            step: r.get(3)?,
        };
        groups
            .entry(name.clone())
            .or_insert_with(|| {
                order.push(name);
                Vec::new()
            })
            .push(p);
    }
    Ok(order
        .iter()
        .map(|n| summarize(n, &groups[n], table == "metrics"))
        .collect())
}

fn add_run(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key = text_of(body.get("experimentKey"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(new_id);
    if key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return error(StatusCode::BAD_REQUEST, "Invalid experiment key", None);
    }
    let ws = text_of(body.get("teamName"))
        .or_else(|| text_of(body.get("workspaceName")))
        .unwrap_or_else(|| "local".into());
    let project = text_of(body.get("projectName")).unwrap_or_else(|| "general".into());
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match experiment_exists(&store, &key) {
        Ok(true) if body.get("getOrCreateEnabled").and_then(|v| v.as_bool()) == Some(true) => {
            return run_answer(state, &store, &key)
        }
        Ok(true) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Experiment {key} already exists"),
                Some(90999),
            )
        }
        Ok(false) => {}
        Err(e) => return db_error(e),
    }
    let name = text_of(body.get("experimentName"));
    let res = store
        .ensure_project(&ws, &project)
        .and_then(|pid| store.create_experiment(&key, &pid, name.as_deref()));
    if let Err(e) = res {
        return db_error(e);
    }
    if let Some(ts) = int_of(body.get("local_timestamp")).filter(|_| truthy_json(&body, "offline"))
    {
        let _ = set_times(&store, &key, Some(ts), None);
    }
    run_answer(state, &store, &key)
}

fn truthy_json(body: &Value, k: &str) -> bool {
    match body.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => truthy(Some(s)),
        _ => false,
    }
}

fn get_run(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(key) =
        text_of(body.get("previousExperiment")).or_else(|| text_of(body.get("experimentKey")))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "previousExperiment is required",
            None,
        );
    };
    with_key(state, &key, |s, k| {
        // A resumed run is live again until it says otherwise.
        s.conn.execute(
            "UPDATE experiments SET running = 1, end_ms = NULL, last_beat_ms = ?2
             WHERE experiment_key = ?1",
            params![k, now_ms()],
        )?;
        Ok(run_answer(state, s, k))
    })
}

/// The handshake answer of `logger/add/run` and `logger/get/run`.
fn run_answer(state: &State, store: &Store, key: &str) -> Response {
    let row = store.conn.query_row(
        "SELECT e.project_id, p.workspace, p.name, e.name FROM experiments e
         JOIN projects p ON p.project_id = e.project_id WHERE e.experiment_key = ?1",
        params![key],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    );
    let (pid, ws, project, name) = match row {
        Ok(r) => r,
        Err(e) => return db_error(e),
    };
    let offset = match next_offset(store, key) {
        Ok(o) => o,
        Err(e) => return db_error(e),
    };
    let base = &state.base_url;
    ok(json!({
        "runId": new_id(),
        "project_id": pid,
        "projectName": project,
        "workspaceName": ws,
        "experimentKey": key,
        "focusUrl": format!("{base}/{ws}/{project}/"),
        "lastOffset": offset,
        "name": name,
        "githubEnabled": false,
        "s3DirectAccessEnabled": false,
        "upload_file_size_limit_in_mb": 200,
        "uploadVideoMaxSizeMB": 200,
        "asset_upload_file_size_limit_in_mb": 102_400,
        "artifactNameMaxLength": 100,
        "assetNameMaxLength": 1000,
        "imageNameMaxLength": 1000,
        "featureToggles": [],
        "cometWebAssetUrl": format!("{base}/api/asset/download?"),
        "cometWebImageUrl": format!("{base}/api/image/download?"),
        "cometRestApiAssetUrl": format!("{base}/api/rest/v2/experiment/asset/get-asset?"),
        "cometRestApiImageUrl": format!("{base}/api/rest/v2/experiment/asset/get-asset?"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str, ts: i64, step: i64) -> Point {
        Point {
            value: Some(v.into()),
            ts: Some(ts),
            step: Some(step),
        }
    }

    #[test]
    fn summarizes_numbers_as_strings() {
        let s = summarize(
            "loss",
            &[
                p("0.5", 10, 1),
                p("2", 30, 3),
                p("NaN", 20, 2),
                p("-1.5", 25, 4),
            ],
            true,
        );
        assert_eq!(s["valueMax"], "2");
        assert_eq!(s["valueMin"], "-1.5");
        assert_eq!(s["valueCurrent"], "2");
        assert_eq!(s["timestampMax"], 30);
        assert_eq!(s["timestampMin"], 10);
        assert_eq!(s["timestampCurrent"], 30);
        assert_eq!(s["stepMax"], 4);
        assert_eq!(s["stepMin"], 1);
        assert_eq!(s["stepCurrent"], 3);
    }

    #[test]
    fn summarizes_text_and_ties() {
        let s = summarize("opt", &[p("adam", 5, 0), p("sgd", 5, 0)], false);
        assert_eq!(s["valueCurrent"], "sgd");
        assert_eq!(s["valueMax"], "sgd");
        assert_eq!(s["valueMin"], "adam");
        assert!(s.get("stepMax").is_none());
        let none = summarize(
            "x",
            &[Point {
                value: None,
                ts: None,
                step: None,
            }],
            true,
        );
        assert_eq!(none["valueCurrent"], Value::Null);
        assert_eq!(none["stepMax"], Value::Null);
    }

    #[test]
    fn joins_output_lines() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_output(&v(&["hello", "\n", "b", "\n"])), "hello\nb\n");
        assert_eq!(join_output(&v(&["l1", "l2", "partial"])), "l1\nl2\npartial");
        assert_eq!(join_output(&v(&["a\n", "b\n"])), "a\nb\n");
        assert_eq!(join_output(&[]), "");
    }

    #[test]
    fn converts_json_values() {
        assert_eq!(text_of(Some(&json!(1))), Some("1".into()));
        assert_eq!(text_of(Some(&json!("NaN"))), Some("NaN".into()));
        assert_eq!(text_of(Some(&json!([1, 2]))), Some("[1,2]".into()));
        assert_eq!(text_of(Some(&Value::Null)), None);
        assert_eq!(int_of(Some(&json!(1.7e12))), Some(1_700_000_000_000));
        assert_eq!(int_of(Some(&json!("12"))), Some(12));
        assert_eq!(code_text(Some(&json!(["a", "b"]))), "a\nb");
    }
}
