//! Workspaces, projects, experiment listing and creation, columns and charts.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::store::new_id;
use super::{db_error, error, ok, truthy, Ctx, State};

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

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty())
}

/// A project named either by id or by workspace and name, as the listing endpoints take it.
fn resolve_project(state: &State, ctx: &Ctx) -> Result<String, Response> {
    let store = state.store.lock().map_err(|_| poisoned())?;
    if let Some(id) = ctx.q("projectId") {
        return match store.project_exists(id) {
            Ok(true) => Ok(id.to_string()),
            Ok(false) => Err(error(StatusCode::BAD_REQUEST, "Project not found", None)),
            Err(e) => Err(db_error(e)),
        };
    }
    let (Some(ws), Some(name)) = (ctx.q("workspaceName"), ctx.q("projectName")) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "projectId or workspaceName and projectName are required",
            Some(98219),
        ));
    };
    match store.project_id(ws, name) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("Project {ws}/{name} not found"),
            None,
        )),
        Err(e) => Err(db_error(e)),
    }
}

pub fn poisoned() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "local server storage is unavailable",
        None,
    )
}

pub fn route(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    let m = &ctx.method;
    let r = match (family, m, ctx.path.as_str()) {
        ("clientlib", _, "isAlive/ver") => ok(json!({"version": "3.0.0"})),
        ("clientlib", _, "health/ping") => ok(json!({"msg": "OK"})),
        ("rest", &Method::GET, "workspaces") => workspaces(state),
        ("rest", &Method::GET, "account-details") => ok(json!({
            "userName": "local", "defaultWorkspaceName": "local"
        })),
        ("rest", &Method::GET, "projects") => projects(state, ctx),
        ("rest", &Method::GET, "experiments") => experiments(state, ctx),
        ("rest", &Method::GET, "project/column-names") => columns(state, ctx),
        ("rest", &Method::POST, "write/project/create") => create_project(state, ctx),
        ("rest", &Method::POST, "write/project/delete") => delete_project(state, ctx),
        ("rest", &Method::POST, "experiments/multi-metric-chart") => chart(state, ctx),
        ("rest", &Method::POST, "write/experiment/create") => create_experiment(state, ctx),
        ("rest", &Method::GET, "experiment/metadata") => metadata(state, ctx),
        _ => return None,
    };
    Some(r)
}

fn workspaces(state: &State) -> Response {
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match store.workspaces() {
        Ok(w) => ok(json!({ "workspaceNames": w })),
        Err(e) => db_error(e),
    }
}

fn projects(state: &State, ctx: &Ctx) -> Response {
    let Some(ws) = ctx.q("workspaceName") else {
        return error(StatusCode::BAD_REQUEST, "workspaceName is required", None);
    };
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match store.projects(ws) {
        Ok(p) => ok(json!({ "projects": p })),
        Err(e) => db_error(e),
    }
}

fn experiments(state: &State, ctx: &Ctx) -> Response {
    let id = match resolve_project(state, ctx) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match store.experiments(&id, truthy(ctx.q("archived"))) {
        Ok(mut list) => {
            // Comet's listing has no `running` field; the metadata answer does.
            for e in list.iter_mut() {
                if let Some(o) = e.as_object_mut() {
                    o.remove("running");
                }
            }
            ok(json!({ "experiments": list }))
        }
        Err(e) => db_error(e),
    }
}

fn columns(state: &State, ctx: &Ctx) -> Response {
    let id = match resolve_project(state, ctx) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    let mut cols: Vec<Value> = BASE_COLUMNS
        .iter()
        .map(|(n, t, s)| json!({"name": n, "id": format!("{n}--{s}"), "type": t, "source": s}))
        .collect();
    match store.column_names(&id) {
        Ok(extra) => {
            for (name, source) in extra {
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
            ok(json!({ "columns": cols }))
        }
        Err(e) => db_error(e),
    }
}

fn create_project(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (Some(ws), Some(name)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "workspaceName and projectName are required",
            Some(98219),
        );
    };
    let description = body
        .get("projectDescription")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let public = body
        .get("isPublic")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match store.create_project(ws, name, description, public) {
        Ok(Some(id)) => ok(json!({
            "projectId": id, "projectName": name, "workspaceName": ws,
            "projectDescription": description, "isPublic": public
        })),
        Ok(None) => error(
            StatusCode::BAD_REQUEST,
            &format!("Project {name} already exists in workspace {ws}"),
            None,
        ),
        Err(e) => db_error(e),
    }
}

fn delete_project(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let with_experiments = body
        .get("deleteAllExperiments")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    let id = if let Some(id) = str_field(&body, "projectId") {
        Some(id.to_string())
    } else if let (Some(ws), Some(name)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) {
        match store.project_id(ws, name) {
            Ok(id) => id,
            Err(e) => return db_error(e),
        }
    } else {
        return error(
            StatusCode::BAD_REQUEST,
            "projectId or workspaceName and projectName are required",
            Some(98219),
        );
    };
    let Some(id) = id else {
        return error(StatusCode::BAD_REQUEST, "Project not found", None);
    };
    match store.delete_project(&id, with_experiments) {
        Ok(()) => ok(json!({"msg": "Project deleted", "projectId": id})),
        Err(e) => db_error(e),
    }
}

fn chart(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let keys: Vec<String> = body
        .get("targetedExperiments")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
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
    let metrics = names("metrics");
    let params = names("params");
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    let mut out = serde_json::Map::new();
    for key in &keys {
        let mut mlist = Vec::new();
        for name in &metrics {
            match store.metric_series(key, name) {
                Ok(Some(s)) => mlist.push(s),
                Ok(None) => {}
                Err(e) => return db_error(e),
            }
        }
        let mut pmap = serde_json::Map::new();
        for name in &params {
            match store.latest_parameter(key, name) {
                Ok(Some(v)) => {
                    pmap.insert(name.clone(), json!(v));
                }
                Ok(None) => {}
                Err(e) => return db_error(e),
            }
        }
        if !mlist.is_empty() || !pmap.is_empty() {
            out.insert(key.clone(), json!({"metrics": mlist, "params": pmap}));
        }
    }
    let empty = out.is_empty();
    ok(json!({"experiments": out, "empty": empty}))
}

fn create_experiment(state: &State, ctx: &Ctx) -> Response {
    let body = match ctx.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (Some(ws), Some(project)) = (
        str_field(&body, "workspaceName"),
        str_field(&body, "projectName"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "workspaceName and projectName are required",
            Some(98219),
        );
    };
    let name = str_field(&body, "experimentName");
    let key = new_id();
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    let res = store
        .ensure_project(ws, project)
        .and_then(|pid| store.create_experiment(&key, &pid, name));
    if let Err(e) = res {
        return db_error(e);
    }
    if let Some(n) = name {
        let _ = store.log_other(&key, "Name", n, super::store::now_ms());
    }
    ok(json!({
        "experimentKey": key,
        "workspaceName": ws,
        "projectName": project,
        "link": format!("{}/{}/{}/{}", state.base_url, ws, project, key),
    }))
}

fn metadata(state: &State, ctx: &Ctx) -> Response {
    let Some(key) = ctx.q("experimentKey") else {
        return error(StatusCode::BAD_REQUEST, "experimentKey is required", None);
    };
    let Ok(store) = state.store.lock() else {
        return poisoned();
    };
    match store.experiment(key) {
        Ok(Some(mut e)) => {
            e["throttle"] = json!(false);
            e["throttleMessage"] = Value::Null;
            e["throttleReasons"] = json!([]);
            ok(e)
        }
        Ok(None) => not_found_experiment(key),
        Err(e) => db_error(e),
    }
}

pub fn not_found_experiment(key: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("Experiment {key} not found"),
        Some(90210),
    )
}
