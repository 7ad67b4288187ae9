//! Workspaces, projects, experiment listing and creation, columns and charts.

use serde_json::{json, Value};

use super::Env;
use crate::error::{code, ApiError};
use crate::reply::{json, Handled};
use crate::request::{str_field, truthy, Request};
use crate::store::{ExperimentRow, ProjectRow};
use crate::util::{new_id, now_ms};

/// The metadata columns Comet lists for every project, in Comet's order.
const BASE_COLUMNS: &[(&str, &str, &str)] = &[
    ("runId", "string", "metadata"),
    ("hasNotes", "boolean", "metadata"),
    ("duration", "timenumber", "metadata"),
    ("Name", "string", "log_other"),
    ("throttled", "string", "log_other"),
    ("codeSHA", "string", "metadata"),
    ("file_name", "string", "metadata"),
    ("hasHtml", "boolean", "metadata"),
    ("experimentKey", "string", "metadata"),
    ("optimizationId", "string", "metadata"),
    ("end_server_timestamp", "datetime", "metadata"),
    ("installed_packages", "string", "metadata"),
    ("file_path", "string", "metadata"),
    ("last_message_time", "datetime", "metadata"),
    ("runActive", "boolean", "metadata"),
    ("hasImages", "boolean", "metadata"),
    ("user_name", "string", "metadata"),
    ("start_server_timestamp", "datetime", "metadata"),
];

fn names_required() -> ApiError {
    ApiError::bad_request_code(
        "workspaceName and projectName are required",
        code::NO_PROJECT_NAME,
    )
}

fn id_or_names_required() -> ApiError {
    ApiError::bad_request_code(
        "projectId or workspaceName and projectName are required",
        code::NO_PROJECT_NAME,
    )
}

/// A project named either by id or by workspace and name, as the listing endpoints take it.
fn resolve_project(env: &Env, req: &Request) -> Result<String, ApiError> {
    if let Some(id) = req.q("projectId") {
        return match env.store.project_exists(id)? {
            true => Ok(id.to_string()),
            false => Err(ApiError::bad_request("Project not found")),
        };
    }
    let (Some(ws), Some(name)) = (req.q("workspaceName"), req.q("projectName")) else {
        return Err(id_or_names_required());
    };
    env.store
        .project_id(ws, name)?
        .ok_or_else(|| ApiError::bad_request(format!("Project {ws}/{name} not found")))
}

fn project_json(p: &ProjectRow) -> Value {
    json!({
        "projectId": p.id,
        "projectName": p.name,
        "ownerUserName": p.owner,
        "projectDescription": p.description,
        "workspaceName": p.workspace,
        "numberOfExperiments": p.experiments,
        "lastUpdated": p.last_updated_ms,
        "public": p.public,
    })
}

/// An experiment in the shape of Comet's `experiments[]` and metadata answers.
fn experiment_json(e: &ExperimentRow) -> Value {
    // While a run is alive its duration grows with its heartbeats.
    let last = e.end_ms.or(if e.running {
        e.last_beat_ms
    } else {
        e.start_ms
    });
    let duration = match (e.start_ms, last) {
        (Some(s), Some(end)) if end >= s => end - s,
        _ => 0,
    };
    json!({
        "experimentKey": e.key,
        "experimentName": e.name,
        "optimizationId": Value::Null,
        "projectId": e.project_id,
        "projectName": e.project_name,
        "workspaceName": e.workspace,
        "filePath": e.file_path,
        "fileName": e.file_name,
        "durationMillis": duration,
        "startTimeMillis": e.start_ms,
        "endTimeMillis": last,
        "archived": e.archived,
        "running": e.running,
    })
}

/// The backend version the server reports. comet_ml enables calls by the version it
/// reads here (its gates in 3.58.8: offline fallback 3.3.11, the model registry
/// 3.5.42, `get_state`/`set_state` 3.7.91, tag deletion and the remote-asset batch
/// 3.12.26, all-metrics reads 3.20.60, parameter deletion 3.29.724, raw throttling
/// messages 3.62.294, `get_asset_by_name` through `get-by-name` 4.3.385, marking a run
/// not throttled 4.7.416); each call those gates open is answered (see ENDPOINTS.md).
/// It stays below 4.18.133, from which comet_ml sends the model registry's newer
/// metadata and status calls, and below 4.35.0 (project owner transfer).
pub const BACKEND_VERSION: &str = "4.7.416";

pub fn is_alive(_: &Env, _: &Request) -> Handled {
    json(json!({ "version": BACKEND_VERSION }))
}

pub fn ping(_: &Env, _: &Request) -> Handled {
    json(json!({"msg": "OK"}))
}

pub fn account(_: &Env, _: &Request) -> Handled {
    json(json!({"userName": "local", "defaultWorkspaceName": "local"}))
}

pub fn workspaces(env: &Env, _: &Request) -> Handled {
    json(json!({ "workspaceNames": env.store.workspaces()? }))
}

pub fn projects(env: &Env, req: &Request) -> Handled {
    let ws = req
        .q("workspaceName")
        .ok_or_else(|| ApiError::bad_request("workspaceName is required"))?;
    let list: Vec<Value> = env.store.projects(ws)?.iter().map(project_json).collect();
    json(json!({ "projects": list }))
}

/// One project's details (`GET project`), by id or by workspace and name; 404 for an
/// unknown one, which comet_ml's `API.get_project` reads as "no such project".
pub fn project(env: &Env, req: &Request) -> Handled {
    let id = match req.q("projectId") {
        Some(id) => Some(id.to_string()),
        None => {
            let (Some(ws), Some(name)) = (req.q("workspaceName"), req.q("projectName")) else {
                return Err(id_or_names_required());
            };
            env.store.project_id(ws, name)?
        }
    };
    match id.map(|id| env.store.project(&id)).transpose()?.flatten() {
        Some(p) => json(project_json(&p)),
        None => Err(ApiError::new(404, "Project not found", None)),
    }
}

/// A project named in a body, by `projectId` or by workspace and name.
fn body_project(env: &Env, body: &Value) -> Result<String, ApiError> {
    let id = match str_field(body, "projectId") {
        Some(id) => env.store.project_exists(id)?.then(|| id.to_string()),
        None => {
            let (Some(ws), Some(name)) = (
                str_field(body, "workspaceName"),
                str_field(body, "projectName"),
            ) else {
                return Err(id_or_names_required());
            };
            env.store.project_id(ws, name)?
        }
    };
    id.ok_or_else(|| ApiError::bad_request("Project not found"))
}

/// `write/project/update`: a new name (not one its workspace has), description or
/// visibility.
pub fn update_project(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let id = body_project(env, &body)?;
    let name = str_field(&body, "newProjectName");
    if let (Some(new), Some(p)) = (name, env.store.project(&id)?) {
        if new != p.name && env.store.project_id(&p.workspace, new)?.is_some() {
            return Err(ApiError::bad_request(format!(
                "Project {new} already exists in workspace {}",
                p.workspace
            )));
        }
    }
    let public = body.get("isPublic").and_then(|v| v.as_bool());
    env.store
        .update_project(&id, name, str_field(&body, "newProjectDescription"), public)?;
    match env.store.project(&id)? {
        Some(p) => json(project_json(&p)),
        None => Err(ApiError::bad_request("Project not found")),
    }
}

/// `project/notes`: a project's notes (empty when none were written).
pub fn project_notes(env: &Env, req: &Request) -> Handled {
    let id = resolve_project(env, req)?;
    json(json!({ "notes": env.store.project_notes(&id)?.unwrap_or_default() }))
}

/// `write/project/notes`: replace a project's notes.
pub fn set_project_notes(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let id = body_project(env, &body)?;
    let notes = str_field(&body, "notes").unwrap_or("");
    env.store.set_project_notes(&id, notes)?;
    json(json!({ "notes": notes, "projectId": id }))
}

/// `views/get-all` and `views/chart-templates`: the saved panel layouts of a project's
/// pages. The local server's dashboard keeps none, so there are none to list.
pub fn views(env: &Env, req: &Request) -> Handled {
    resolve_project(env, req)?;
    json(json!({ "views": [] }))
}

/// What a query can ask of one experiment: the latest value of each metric, parameter
/// and other, its tags, and its metadata columns.
struct Facts {
    values: std::collections::HashMap<(&'static str, String), String>,
    tags: Vec<String>,
}

impl Facts {
    fn load(env: &Env, e: &ExperimentRow) -> Result<Facts, ApiError> {
        use crate::store::records::Series;
        let mut values = std::collections::HashMap::new();
        for (series, source) in [
            (Series::Metrics, "metrics"),
            (Series::Parameters, "params"),
            (Series::Others, "log_other"),
        ] {
            // In logging order, so the last value kept is the latest.
            for (name, p) in env.store.series_points(series, &e.key)? {
                if let Some(v) = p.value {
                    values.insert((source, name), v);
                }
            }
        }
        let meta = [
            ("experimentKey", Some(e.key.clone())),
            ("experimentName", e.name.clone()),
            ("file_name", e.file_name.clone()),
            ("file_path", e.file_path.clone()),
            ("start_server_timestamp", e.start_ms.map(|t| t.to_string())),
            ("end_server_timestamp", e.end_ms.map(|t| t.to_string())),
            ("runActive", Some(e.running.to_string())),
            ("user_name", Some("local".to_string())),
        ];
        for (name, v) in meta {
            if let Some(v) = v {
                values.insert(("metadata", name.to_string()), v);
            }
        }
        Ok(Facts {
            values,
            tags: env.store.tags(&e.key)?,
        })
    }

    fn value(&self, source: &str, field: &str) -> Option<&str> {
        let source = match source {
            "metrics" => "metrics",
            "params" => "params",
            "log_other" => "log_other",
            "metadata" => "metadata",
            _ => return None,
        };
        self.values
            .get(&(source, field.to_string()))
            .map(String::as_str)
    }
}

/// A query value as text (numbers as JSON writes them, `true`/`false`).
fn rule_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Compare numerically when both are numbers, else as text (booleans ignoring case).
fn compare(actual: &str, wanted: &str) -> std::cmp::Ordering {
    match (actual.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ if ["true", "false"].contains(&wanted.to_ascii_lowercase().as_str()) => actual
            .to_ascii_lowercase()
            .cmp(&wanted.to_ascii_lowercase()),
        _ => actual.cmp(wanted),
    }
}

/// Whether one experiment meets a rule (a comparison, or a group of rules joined by
/// `condition`) of comet_ml's query builder.
fn rule_matches(rule: &Value, source: &str, facts: &Facts) -> bool {
    if let Some(rules) = rule.get("rules").and_then(|r| r.as_array()) {
        let any = rule.get("condition").and_then(|c| c.as_str()) == Some("OR");
        let mut each = rules.iter().map(|r| rule_matches(r, source, facts));
        return if any {
            each.any(|m| m)
        } else {
            each.all(|m| m)
        };
    }
    let source = rule
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or(source);
    let field = rule.get("field").and_then(|f| f.as_str()).unwrap_or("");
    let op = rule.get("operator").and_then(|o| o.as_str()).unwrap_or("");
    let wanted = rule.get("value").and_then(rule_text);
    let actual: Option<String> = if source == "tag" {
        facts.tags.iter().find(|t| t.as_str() == field).cloned()
    } else {
        facts.value(source, field).map(String::from)
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        "is_null" => return actual.is_none(),
        "is_not_null" => return actual.is_some(),
        "between" | "not_between" => return between(actual.as_deref(), rule, op),
        _ => {}
    }
    let (Some(a), Some(w)) = (actual.as_deref(), wanted.as_deref()) else {
        return false;
    };
    match op {
        "equal" => compare(a, w) == Equal,
        "not_equal" => compare(a, w) != Equal,
        "less" => compare(a, w) == Less,
        "less_or_equal" => compare(a, w) != Greater,
        "greater" => compare(a, w) == Greater,
        "greater_or_equal" => compare(a, w) != Less,
        "contains" => a.contains(w),
        "not_contains" => !a.contains(w),
        "begins_with" => a.starts_with(w),
        "not_begins_with" => !a.starts_with(w),
        "ends_with" => a.ends_with(w),
        "not_ends_with" => !a.ends_with(w),
        _ => false,
    }
}

/// `between [low, high]` (inclusive) and its negation.
fn between(actual: Option<&str>, rule: &Value, op: &str) -> bool {
    let bounds: Vec<String> = rule
        .get("value")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(rule_text).collect())
        .unwrap_or_default();
    let (Some(a), [low, high]) = (actual, bounds.as_slice()) else {
        return false;
    };
    let inside = compare(a, low) != std::cmp::Ordering::Less
        && compare(a, high) != std::cmp::Ordering::Greater;
    inside == (op == "between")
}

/// `project/query` (comet_ml's `API.query`): the keys of a project's experiments (archived
/// ones when asked) that meet every predicate; each predicate is a group of rules over
/// one source (metrics, params, log_other, metadata, tag).
pub fn query(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let id = body_project(env, &body)?;
    let predicates = body
        .get("predicates")
        .and_then(|p| p.as_array())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("predicates must be a list"))?;
    end_silent_runs(env)?;
    let archived = body.get("archived").and_then(|v| v.as_bool()) == Some(true);
    let mut keys = Vec::new();
    for e in env.store.experiments(&id, archived)? {
        let facts = Facts::load(env, &e)?;
        let meets = predicates.iter().all(|p| {
            let source = p.get("source").and_then(|s| s.as_str()).unwrap_or("");
            p.get("query")
                .is_some_and(|q| rule_matches(q, source, &facts))
        });
        if meets {
            keys.push(e.key);
        }
    }
    json(json!({ "experimentKeys": keys }))
}

/// How long a run may go without a heartbeat before it is ended: a few intervals, as
/// Comet ends runs whose process has gone. Not less than `MIN_SILENCE_MS`, so a short
/// interval (tests set 0.3 s) does not end runs whose beat is merely late.
pub fn silence_limit_ms(heartbeat_ms: i64) -> i64 {
    (SILENT_BEATS * heartbeat_ms).max(MIN_SILENCE_MS)
}

const SILENT_BEATS: i64 = 3;
const MIN_SILENCE_MS: i64 = 2_000;

/// End the runs that have been silent too long, before answering about any run.
fn end_silent_runs(env: &Env) -> Result<(), ApiError> {
    env.store
        .end_silent_runs(now_ms() - silence_limit_ms(env.heartbeat_ms))?;
    Ok(())
}

pub fn experiments(env: &Env, req: &Request) -> Handled {
    let id = resolve_project(env, req)?;
    end_silent_runs(env)?;
    let rows = env.store.experiments(&id, truthy(req.q("archived")))?;
    let list: Vec<Value> = rows
        .iter()
        .map(|e| {
            let mut v = experiment_json(e);
            // Comet's listing has no `running` field; the metadata answer does.
            if let Some(o) = v.as_object_mut() {
                o.remove("running");
            }
            v
        })
        .collect();
    json(json!({ "experiments": list }))
}

pub fn columns(env: &Env, req: &Request) -> Handled {
    let id = resolve_project(env, req)?;
    let mut cols: Vec<Value> = BASE_COLUMNS
        .iter()
        .map(|(n, t, s)| json!({"name": n, "id": format!("{n}--{s}"), "type": t, "source": s}))
        .collect();
    for (name, source) in env.store.column_names(&id)? {
        let id = format!("{name}--{source}");
        if cols.iter().any(|c| c["id"] == id.as_str()) {
            continue;
        }
        let ty = if source == "metrics" {
            "double"
        } else {
            "string"
        };
        cols.push(json!({"name": name, "id": id, "type": ty, "source": source}));
    }
    json(json!({ "columns": cols }))
}

pub fn create_project(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let (Some(ws), Some(name)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) else {
        return Err(names_required());
    };
    let description = body
        .get("projectDescription")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let public = body
        .get("isPublic")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    match env.store.create_project(ws, name, description, public)? {
        Some(id) => json(json!({
            "projectId": id, "projectName": name, "workspaceName": ws,
            "projectDescription": description, "isPublic": public
        })),
        None => Err(ApiError::bad_request(format!(
            "Project {name} already exists in workspace {ws}"
        ))),
    }
}

pub fn delete_project(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let with_experiments = body
        .get("deleteAllExperiments")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let id = if let Some(id) = str_field(&body, "projectId") {
        Some(id.to_string())
    } else if let (Some(ws), Some(name)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) {
        env.store.project_id(ws, name)?
    } else {
        return Err(id_or_names_required());
    };
    let id = id.ok_or_else(|| ApiError::bad_request("Project not found"))?;
    env.store.delete_project(&id, with_experiments)?;
    json(json!({"msg": "Project deleted", "projectId": id}))
}

/// A metric's points as one chart series: parallel arrays of values, steps, epochs and
/// timestamps, in logging order.
fn metric_series(env: &Env, key: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let rows = env.store.metric_values(key, name)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut values = Vec::new();
    let mut steps = Vec::new();
    let mut epochs = Vec::new();
    let mut stamps = Vec::new();
    for (v, step, epoch, ts) in rows {
        values.push(
            v.as_deref()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|x| x.is_finite())
                .map(Value::from)
                .unwrap_or_else(|| v.map(Value::from).unwrap_or(Value::Null)),
        );
        steps.push(step);
        epochs.push(epoch);
        stamps.push(ts);
    }
    Ok(Some(json!({
        "metricName": name, "values": values, "steps": steps,
        "epochs": epochs, "timestamps": stamps
    })))
}

pub fn chart(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let names = |k: &str| -> Vec<String> {
        body.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let keys = names("targetedExperiments");
    let metrics = names("metrics");
    let params = names("params");
    let mut out = serde_json::Map::new();
    for key in &keys {
        let mut mlist = Vec::new();
        for name in &metrics {
            if let Some(s) = metric_series(env, key, name)? {
                mlist.push(s);
            }
        }
        let mut pmap = serde_json::Map::new();
        for name in &params {
            if let Some(v) = env.store.latest_parameter(key, name)? {
                pmap.insert(name.clone(), json!(v));
            }
        }
        if !mlist.is_empty() || !pmap.is_empty() {
            out.insert(key.clone(), json!({"metrics": mlist, "params": pmap}));
        }
    }
    let empty = out.is_empty();
    json(json!({"experiments": out, "empty": empty}))
}

pub fn create_experiment(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let (Some(ws), Some(project)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) else {
        return Err(names_required());
    };
    let name = str_field(&body, "experimentName");
    let key = new_id();
    let pid = env.store.ensure_project(ws, project)?;
    env.store.create_experiment(&key, &pid, name)?;
    if let Some(n) = name {
        let _ = env.store.log_other(&key, "Name", n, now_ms());
    }
    json(json!({
        "experimentKey": key,
        "workspaceName": ws,
        "projectName": project,
        "link": format!("{}/{}/{}/{}", env.base_url, ws, project, key),
    }))
}

pub fn metadata(env: &Env, req: &Request) -> Handled {
    let key = req
        .q("experimentKey")
        .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
    end_silent_runs(env)?;
    let row = env
        .store
        .experiment(key)?
        .ok_or_else(|| ApiError::unknown_experiment(key))?;
    let mut e = experiment_json(&row);
    // comet_ml's `get_state` reads `running` and `hasCrashed`; a crash is reported
    // through `write/experiment/update-status`.
    let status = env
        .store
        .doc(key, "status")?
        .and_then(|s| serde_json::from_str::<Value>(&s).ok());
    e["hasCrashed"] = json!(
        !row.running
            && status
                .as_ref()
                .and_then(|s| s.get("hasCrashed"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
    );
    // The error message the run reported with it, kept beside it.
    e["error"] = status
        .as_ref()
        .and_then(|s| s.get("error"))
        .cloned()
        .unwrap_or(Value::Null);
    e["throttle"] = json!(false);
    e["throttleMessage"] = Value::Null;
    e["throttleReasons"] = json!([]);
    json(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Api;
    use crate::testing::{get, json_of, post, Fixture};

    #[test]
    fn creates_and_lists_projects_and_experiments() {
        let f = Fixture::new();
        let env = f.env();
        let created = json_of(create_project(
            &env,
            &post(Api::Rest, "write/project/create")
                .with_json(&json!({"workspaceName": "local", "projectName": "q"})),
        ));
        assert_eq!(created["projectName"], "q");
        let again = create_project(
            &env,
            &post(Api::Rest, "write/project/create")
                .with_json(&json!({"workspaceName": "local", "projectName": "q"})),
        );
        assert_eq!(again.unwrap_err().status, 400);
        let key = f.experiment();
        let list = json_of(experiments(
            &env,
            &get(Api::Rest, "experiments")
                .with_query("workspaceName", "local")
                .with_query("projectName", "p"),
        ));
        assert_eq!(list["experiments"][0]["experimentKey"], key.as_str());
        assert!(list["experiments"][0].get("running").is_none());
        let meta = json_of(metadata(
            &env,
            &get(Api::Rest, "experiment/metadata").with_query("experimentKey", &key),
        ));
        assert_eq!(meta["running"], true);
        assert_eq!(meta["projectName"], "p");
    }

    #[test]
    fn a_run_reported_crashed_shows_so_in_its_metadata() {
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let meta = |env: &Env| {
            json_of(metadata(
                env,
                &get(Api::Rest, "experiment/metadata").with_query("experimentKey", &key),
            ))
        };
        assert_eq!(meta(&env)["hasCrashed"], false);
        assert_eq!(meta(&env)["error"], Value::Null);
        let crashed = json!({"experimentKey": key, "isAlive": false,
                             "error": "Error: boom", "hasCrashed": true});
        assert!(super::super::experiment::update_status(
            &env,
            &post(Api::Rest, "write/experiment/update-status").with_json(&crashed),
        )
        .is_ok());
        let m = meta(&env);
        assert_eq!(
            (&m["running"], &m["hasCrashed"], &m["error"]),
            (&json!(false), &json!(true), &json!("Error: boom"))
        );
    }

    #[test]
    fn unknown_things_are_comets_errors() {
        let f = Fixture::new();
        let env = f.env();
        let e = metadata(
            &env,
            &get(Api::Rest, "experiment/metadata").with_query("experimentKey", "nope"),
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.sdk_error_code),
            (400, Some(code::NO_EXPERIMENT))
        );
        let e = experiments(&env, &get(Api::Rest, "experiments")).unwrap_err();
        assert_eq!(e.sdk_error_code, Some(code::NO_PROJECT_NAME));
        let e = projects(&env, &get(Api::Rest, "projects")).unwrap_err();
        assert_eq!(e.status, 400);
    }
}
