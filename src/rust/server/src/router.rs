//! Routing: which handler answers which endpoint. Every endpoint the server knows is
//! listed here, once.

use axum::http::Method;

use crate::dashboard::{self, StaticFile};
use crate::error::ApiError;
use crate::handlers::{artifacts, assets, experiment, general, offline, Env};
use crate::reply::{Handled, Reply};
use crate::request::{Api, Request};

type Handler = fn(&Env, &Request) -> Handled;

/// The header naming a batch (cometr's outbox and offline upload send it).
pub const BATCH_ID_HEADER: &str = "x-comet-batch-id";

/// Longest batch identity accepted.
const MAX_BATCH_ID: usize = 200;

/// The batch identity a request carries, if any.
pub fn batch_id(req: &Request) -> Result<Option<&str>, ApiError> {
    let Some(v) = req.headers.get(BATCH_ID_HEADER) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(id) if !id.is_empty() && id.len() <= MAX_BATCH_ID => Ok(Some(id)),
        _ => Err(ApiError::new(
            400,
            format!("{BATCH_ID_HEADER} must be 1 to {MAX_BATCH_ID} visible characters"),
            None,
        )),
    }
}

/// Answer a request with the handler of its endpoint. A request naming its batch is
/// applied once: the handler's writes and the batch's identity are kept together or
/// not at all, and a batch seen before gets the answer it got then, with nothing
/// applied again. Without an identity every request is applied.
pub fn route(env: &Env, req: &Request) -> Handled {
    let Some(id) = batch_id(req)? else {
        return dispatch(env, req);
    };
    if let Some(reply) = env.store.applied_batch(id)? {
        return Ok(Reply::Json(
            serde_json::from_str(&reply).unwrap_or(serde_json::Value::Null),
        ));
    }
    let unit = env.store.unit()?;
    let reply = dispatch(env, req)?;
    let text = match &reply {
        Reply::Json(v) => v.to_string(),
        _ => "null".to_string(),
    };
    env.store.remember_batch(id, &text)?;
    unit.commit()?;
    Ok(reply)
}

/// The dashboard's file for a path outside the APIs: its script and style, or the page
/// itself for the root, a project and an experiment (the links experiments are given).
/// Served before any key is checked (a browser's navigation carries none); the page
/// reads everything it shows from the endpoints below, with the key.
pub fn dashboard_file(path: &str) -> Option<&'static StaticFile> {
    match path.strip_prefix(dashboard::FILES_PREFIX) {
        Some("app.js") => Some(&dashboard::SCRIPT),
        Some("app.css") => Some(&dashboard::STYLE),
        Some(_) => None,
        None if dashboard::is_page(path) => Some(&dashboard::INDEX),
        None => None,
    }
}

fn dispatch(env: &Env, req: &Request) -> Handled {
    // `write/experiment/{key}/mark-not-throttled`, in either family.
    if let Some(key) = req
        .path
        .strip_prefix("write/experiment/")
        .and_then(|p| p.strip_suffix("/mark-not-throttled"))
    {
        return experiment::mark_not_throttled(env, key);
    }
    match handler(req.api, &req.method, &req.path) {
        Some(h) => h(env, req),
        None => Err(ApiError::new(
            404,
            format!("Unknown endpoint: {} {}", req.method, req.path),
            None,
        )),
    }
}

fn handler(api: Api, method: &Method, path: &str) -> Option<Handler> {
    use Api::{Clientlib, Rest};
    let (get, post) = (method == Method::GET, method == Method::POST);
    let h: Handler = match (api, path) {
        // Service, workspaces and projects.
        (Clientlib, "isAlive/ver") => general::is_alive,
        (Clientlib, "health/ping") => general::ping,
        (Rest, "workspaces") if get => general::workspaces,
        (Rest, "account-details") if get => general::account,
        (Rest, "projects") if get => general::projects,
        (Rest, "experiments") if get => general::experiments,
        (Rest, "project/column-names") if get => general::columns,
        (Rest, "write/project/create") if post => general::create_project,
        (Rest, "write/project/delete") if post => general::delete_project,
        (Rest, "experiments/multi-metric-chart") if post => general::chart,
        (Rest, "write/experiment/create") if post => general::create_experiment,
        (Rest, "experiment/metadata") if get => general::metadata,

        // Writes to an experiment; those an offline upload replays go through `offline`.
        (Rest, "write/experiment/metric") => experiment::log_metric,
        (Rest, "write/experiment/parameter") => experiment::log_parameter,
        (Rest, "write/experiment/log-other") => offline::log_other,
        (Rest, "write/experiment/tags") | (Clientlib, "tags/add-tags-to-experiment") => {
            experiment::add_tags
        }
        (Rest, "write/experiment/tags/delete") => experiment::delete_tags,
        (Rest, "write/experiment/html") => offline::log_html,
        (Rest, "write/experiment/graph") => experiment::set_graph,
        (Rest, "write/experiment/code") => experiment::set_code,
        (Rest, "write/experiment/git/metadata") => experiment::set_git_metadata,
        (Rest, "write/experiment/system-details") => experiment::set_system_details,
        (Rest, "write/experiment/set-start-end-time") => experiment::set_start_end_time,
        (Rest, "write/experiment/output") => offline::log_output,
        (Rest, "write/experiment/file-path") => experiment::set_file_path,
        (Rest, "write/experiment/archive") => experiment::archive,
        (Rest, "write/experiment/restore") => experiment::restore,
        (Rest, "write/experiment/delete") => experiment::delete,
        (Rest, "write/experiment/set-status") => experiment::set_status,
        (Rest, "write/experiment/stop") => experiment::stop,
        (Rest, "write/experiment/update-status") => experiment::update_status,
        (Rest, "write/project/symlink") | (Clientlib, "symlink/new") => experiment::symlink,

        // Reads of an experiment.
        (Rest, "experiment/metrics/get-metric") => experiment::get_metric,
        (Rest, "experiment/metrics/get-all") => experiment::get_all_metrics,
        (Rest, "experiment/metrics/summary") => experiment::metrics_summary,
        (Rest, "experiment/parameters") => experiment::parameters,
        (Rest, "experiment/log-other") => experiment::others,
        (Rest, "experiment/tags") => experiment::tags,
        (Rest, "experiment/html") => experiment::html,
        (Rest, "experiment/graph") => experiment::graph,
        (Rest, "experiment/code") => experiment::code,
        (Rest, "experiment/output") => experiment::output,
        (Rest, "experiment/system-details") => experiment::system_details,
        (Rest, "experiment/git/metadata") => experiment::git_metadata,

        // The streaming SDKs' run lifecycle and batches.
        (Clientlib, "batch/logger/experiment/metric") => experiment::batch_metrics,
        (Clientlib, "batch/logger/experiment/parameter") => offline::batch_parameters,
        (Clientlib, "status-report/update") => experiment::status_report,
        (Clientlib, "status-report/offline-metadata") => offline::offline_metadata,
        (Clientlib, "rpc/get-pending-rpcs") => experiment::pending_rpcs,
        (Clientlib, "rpc/register-rpc") | (Clientlib, "rpc/save-rpc-result") => experiment::rpc_ack,
        (Clientlib, "logger/add/run") => offline::add_run,
        (Clientlib, "logger/get/run") => experiment::get_run,
        (Clientlib, "asset/3d-limits") => experiment::limits_3d,
        (Clientlib, "notification/experiment") | (Clientlib, "notify/event") => experiment::notify,

        // Assets.
        (Rest, "write/experiment/upload-asset") | (Clientlib, "asset/upload") => {
            offline::upload_asset
        }
        (Clientlib, "visualizations/upload") => assets::upload_image,
        (Rest, "write/experiment/git/patch") | (Clientlib, "git-patch/upload") => {
            assets::upload_git_patch
        }
        (Rest, "experiment/git/patch") => assets::git_patch,
        (Rest, "experiment/asset/list") => assets::list,
        (Rest, "experiment/asset/get-asset") => assets::get_asset,
        (Rest, "experiment/asset/get-by-name") => assets::get_by_name,
        (Rest, "write/experiment/asset/delete") => assets::delete,

        // Artifacts.
        (Rest, "write/artifacts/upsert") if post => artifacts::upsert,
        (Rest, "artifacts/version") if get => artifacts::version,
        (Rest, "artifacts/version/files") if get => artifacts::files,
        (Rest, "write/artifacts/state") if post => artifacts::set_state,
        (Rest, "write/artifacts/version/labels") if post => artifacts::labels,
        (Rest, "write/artifacts/details") if post => artifacts::details,
        (Rest, "artifacts/get-all") if get => artifacts::get_all,
        (Rest, "artifacts/get") if get => artifacts::get_one,

        // Artifacts from comet_ml: remote files in batches, lineage.
        (Rest, "write/artifact/assets/remote/batch") if post => artifacts::remote_batch,
        (Rest, "get/artifacts") if get => artifacts::lineage,
        _ => return protocol_handler(api, get, post, path),
    };
    Some(h)
}

/// The rest of comet_ml 3.58.8's protocol (see ENDPOINTS.md): the reads of its `API`
/// and the calls its backend-version gates open.
fn protocol_handler(api: Api, get: bool, post: bool, path: &str) -> Option<Handler> {
    use Api::{Clientlib, Rest};
    let h: Handler = match (api, path) {
        (Rest, "project") if get => general::project,
        (Rest, "project/notes") if get => general::project_notes,
        (Rest, "project/query") if post => general::query,
        (Rest, "write/project/notes") if post => general::set_project_notes,
        (Rest, "write/project/update") if post => general::update_project,
        (Rest, "views/get-all") | (Rest, "views/chart-templates") if get => general::views,
        (Rest, "experiment/model") if get => assets::models,
        (Rest, "experiment/model/asset/list") if get => assets::model_assets,
        (Rest, "experiment/model/download") if get => assets::model_download,
        (Clientlib, "asset/log-remote-model") if post => assets::log_remote_model,
        (Rest, "write/experiment/parameter/delete") if post => experiment::delete_parameter,
        (Rest, "write/experiments/parameters/delete") if post => experiment::delete_parameters,
        (Rest, "write/experiment/cpu-metrics")
        | (Rest, "write/experiment/gpu-metrics")
        | (Rest, "write/experiment/ram-metrics")
        | (Rest, "write/experiment/load-metrics")
            if post =>
        {
            experiment::system_metrics
        }
        (Rest, "write/experiment/cloud-details") if post => experiment::set_cloud_details,
        // comet_ml sends its dependencies by PUT.
        (Rest, "write/experiment/dependencies") if !get && !post => experiment::log_dependencies,
        (Rest, "write/experiment/move") if post => experiment::move_experiments,
        _ => return refused(api, path),
    };
    Some(h)
}

/// What comet_ml 3.58.8 can call and the local server deliberately does not do: each
/// answered 501 with the reason (`ENDPOINTS.md` lists them). Entries ending in `/` cover
/// every path below.
const REFUSED: &[(Api, &str, &str)] = &[
    (Api::Rest, "registry-model", NO_REGISTRY),
    (Api::Rest, "registry-model/", NO_REGISTRY),
    (Api::Rest, "write/registry-model", NO_REGISTRY),
    (Api::Rest, "write/registry-model/", NO_REGISTRY),
    (Api::Rest, "experiments/search", NO_QUERY),
    (Api::Rest, "project/get-project-share-links", NO_SHARING),
    (Api::Rest, "write/project/add-share-link", NO_SHARING),
    (Api::Rest, "write/project/delete-project-share-link", NO_SHARING),
    (Api::Rest, "write/project/update-owner", "the local server has one user, who owns every project"),
    (Api::Rest, "write/views/upsert", NO_VIEWS),
    (Api::Rest, "write/chart-templates/upsert", NO_VIEWS),
    (Api::Rest, "anonymous-user", NO_ACCOUNTS),
    (Api::Rest, "anonymous/is-active", NO_ACCOUNTS),
    (Api::Rest, "write/experiment/upload-asset-start", NO_S3),
    (Api::Rest, "write/experiment/upload-asset-complete", NO_S3),
    (Api::Clientlib, "asset/upload-start", NO_S3),
    (Api::Clientlib, "asset/upload-complete", NO_S3),
    (Api::Clientlib, "visualizations/upload-start", NO_S3),
    (Api::Clientlib, "visualizations/upload-complete", NO_S3),
    (Api::Clientlib, "asset", NO_POINTS),
    (Api::Clientlib, "asset/asset-item", NO_POINTS),
    (Api::Clientlib, "asset/", NO_POINTS),
    (Api::Clientlib, "logger/copy-steps-from-experiment", "the local server does not copy steps between experiments: log the steps to the new experiment"),
];

const NO_REGISTRY: &str = "the local server has no model registry: log models with log_model and read them with experiment/model";
const NO_QUERY: &str = "the local server does not evaluate the search API's rule trees: use API.query (project/query), or list a project's experiments and filter them in the client";
const NO_SHARING: &str = "the local server has no share links: it serves its own machine";
const NO_VIEWS: &str = "the local server does not save views: its dashboard lays pages out itself";
const NO_ACCOUNTS: &str = "the local server has no accounts to sign up for: any API key (or, without one, none) is accepted";
const NO_S3: &str = "the local server stores uploads itself: its run handshake turns direct S3 uploads off, so send the file to the ordinary upload endpoint";
const NO_POINTS: &str = "the local server does not store 3D point clouds (log_points_3d)";

/// Services of Comet that are not this API, by URL path prefix: answered 501.
const OTHER_SERVICES: &[(&str, &str)] = &[
    ("/optimizer/", "the local server has no optimizer service: run comet_ml's Optimizer against Comet, or choose parameters in the script"),
    ("/api/auth/", NO_ACCOUNTS),
];

fn refused(api: Api, path: &str) -> Option<Handler> {
    REFUSED
        .iter()
        .any(|(a, p, _)| *a == api && refusal_covers(p, path))
        .then_some(refuse as Handler)
}

fn refusal_covers(entry: &str, path: &str) -> bool {
    match entry.strip_suffix('/') {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('/')),
        None => path == entry,
    }
}

fn refuse(_: &Env, req: &Request) -> Handled {
    let reason = REFUSED
        .iter()
        .find(|(a, p, _)| *a == req.api && refusal_covers(p, &req.path))
        .map_or("not supported", |(_, _, r)| r);
    Err(not_implemented(&req.path, reason))
}

fn not_implemented(what: &str, reason: &str) -> ApiError {
    ApiError::new(501, format!("{what} is not implemented: {reason}"), None)
}

/// The 501 for a path under another of Comet's services (optimizer, accounts).
pub fn other_service(path: &str) -> Option<ApiError> {
    OTHER_SERVICES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map(|(_, reason)| not_implemented(path, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Reply;
    use crate::testing::{get, json_of, post, Fixture};
    use serde_json::json;

    #[test]
    fn unknown_endpoints_and_methods_are_404() {
        let f = Fixture::new();
        let e = route(&f.env(), &get(Api::Rest, "no/such/thing")).unwrap_err();
        assert_eq!(e.status, 404);
        assert_eq!(e.message, "Unknown endpoint: GET no/such/thing");
        // Listing is a GET; Comet has no POST there.
        let e = route(&f.env(), &post(Api::Rest, "experiments")).unwrap_err();
        assert_eq!(e.status, 404);
        // REST paths are not clientlib paths.
        let e = route(&f.env(), &get(Api::Clientlib, "workspaces")).unwrap_err();
        assert_eq!(e.status, 404);
    }

    #[test]
    fn a_streaming_run_logs_and_reads_back() {
        let f = Fixture::new();
        let env = f.env();
        let run = json_of(route(
            &env,
            &post(Api::Clientlib, "logger/add/run")
                .with_json(&json!({"projectName": "pyproj", "experimentName": "r1"})),
        ));
        let key = run["experimentKey"].as_str().unwrap().to_string();
        assert_eq!(run["lastOffset"], 0);
        let batch = json!({"experimentKey": key, "values": [
            {"metricName": "loss", "metricValue": 0.5, "step": 1, "timestamp": 10},
            {"metricName": "loss", "metricValue": 0.25, "step": 2, "timestamp": 20},
        ]});
        let stored = json_of(route(
            &env,
            &post(Api::Clientlib, "batch/logger/experiment/metric").with_json(&batch),
        ));
        assert_eq!(stored["msg"], "2 metrics stored");
        // A batch resent under the same identity is applied once (and answered as
        // before); without an identity, equal points are stored as often as sent.
        let named = |id: &str| {
            post(Api::Clientlib, "batch/logger/experiment/metric")
                .with_json(&batch)
                .with_header(BATCH_ID_HEADER, id)
        };
        assert_eq!(
            json_of(route(&env, &named("b1")))["msg"],
            "2 metrics stored"
        );
        assert_eq!(
            json_of(route(&env, &named("b1")))["msg"],
            "2 metrics stored"
        );
        assert_eq!(
            f.store.metric_values(&key, "loss").unwrap().len(),
            4,
            "the first batch and b1 once"
        );
        json_of(route(
            &env,
            &post(Api::Clientlib, "batch/logger/experiment/metric").with_json(&batch),
        ));
        assert_eq!(f.store.metric_values(&key, "loss").unwrap().len(), 6);
        // A batch whose handler fails is not remembered, and none of it is kept.
        let bad = json!({"experimentKey": "nope", "values": [{"metricName": "x"}]});
        let failing = post(Api::Clientlib, "batch/logger/experiment/metric")
            .with_json(&bad)
            .with_header(BATCH_ID_HEADER, "b2");
        assert!(route(&env, &failing).is_err());
        assert!(f.store.applied_batch("b2").unwrap().is_none());
        let summary = json_of(route(
            &env,
            &get(Api::Rest, "experiment/metrics/summary").with_query("experimentKey", &key),
        ));
        assert_eq!(summary["values"][0]["valueMin"], "0.25");
        assert_eq!(summary["values"][0]["stepCurrent"], 2);
        let lines = json!({"experimentKey": key, "outputLines": [
            {"output": "hello", "offset": 0}, {"output": "\n", "offset": 1}]});
        assert!(route(
            &env,
            &post(Api::Rest, "write/experiment/output").with_json(&lines)
        )
        .is_ok());
        let out = json_of(route(
            &env,
            &get(Api::Rest, "experiment/output").with_query("experimentKey", &key),
        ));
        assert_eq!(out["output"], "hello\n");
        let ended = json!({"experimentKey": key, "is_alive": false});
        let beat = json_of(route(
            &env,
            &post(Api::Clientlib, "status-report/update").with_json(&ended),
        ));
        assert_eq!(beat["is_alive_beat_duration_millis"], 10_000);
        let meta = json_of(route(
            &env,
            &get(Api::Rest, "experiment/metadata").with_query("experimentKey", &key),
        ));
        assert_eq!(meta["running"], false);
        assert_eq!(meta["projectName"], "pyproj");
    }

    #[test]
    fn writes_to_an_unknown_experiment_are_refused() {
        let f = Fixture::new();
        let body = json!({"experimentKey": "nope", "key": "a", "value": 1});
        let e = route(
            &f.env(),
            &post(Api::Rest, "write/experiment/log-other").with_json(&body),
        )
        .unwrap_err();
        assert_eq!(e.sdk_error_code, Some(crate::error::code::NO_EXPERIMENT));
        let e = route(
            &f.env(),
            &post(Api::Rest, "write/experiment/nope/mark-not-throttled"),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn an_offline_replay_is_idempotent() {
        let f = Fixture::new();
        let env = f.env();
        let key = "0123456789abcdef0123456789abcdef";
        let hello = post(Api::Clientlib, "logger/add/run").with_json(&json!({
            "experimentKey": key, "offline": true, "getOrCreateEnabled": true,
            "projectName": "p"}));
        let first = json_of(route(&env, &hello));
        assert!(first.get("offlineUploaded").is_none());
        let params = post(Api::Clientlib, "batch/logger/experiment/parameter").with_json(&json!({
            "experimentKey": key,
            "values": [{"parameterName": "lr", "parameterValue": "0.1", "timestamp": 5}]}));
        json_of(route(&env, &params));
        // Interrupted: the handshake again resumes, and the parameter is not stored twice.
        json_of(route(&env, &hello));
        let again = json_of(route(&env, &params));
        assert_eq!(again["msg"], "0 parameters stored");
        let named = post(Api::Rest, "write/experiment/log-other")
            .with_json(&json!({"experimentKey": key, "key": "Name", "value": "run-a"}));
        json_of(route(&env, &named));
        let done = post(Api::Clientlib, "status-report/offline-metadata")
            .with_json(&json!({"experimentKey": key, "startTimestamp": 1, "endTimestamp": 2}));
        json_of(route(&env, &done));
        // Completed: a later handshake says so, so the client can skip the replay.
        let later = json_of(route(&env, &hello));
        assert_eq!(later["offlineUploaded"], true);
        assert_eq!(later["name"], "run-a");
    }

    #[test]
    fn a_git_patch_downloads_as_a_file() {
        let f = Fixture::new();
        let key = f.experiment();
        let e = route(
            &f.env(),
            &get(Api::Rest, "experiment/git/patch").with_query("experimentKey", &key),
        )
        .unwrap_err();
        assert_eq!(e.message, "No patch for this experiment");
        let mut req =
            post(Api::Rest, "write/experiment/git/patch").with_query("experimentKey", &key);
        let path = f.store.assets_dir().join("upload-test.part");
        std::fs::write(&path, "diff").unwrap();
        let mut form = crate::request::Form::default();
        form.file = Some(crate::request::UploadedFile {
            path,
            size: 4,
            sha1: String::new(),
            file_name: None,
        });
        req.form = Some(form);
        json_of(route(&f.env(), &req));
        let got = route(
            &f.env(),
            &get(Api::Rest, "experiment/git/patch").with_query("experimentKey", &key),
        );
        match got {
            Ok(Reply::File {
                name, content_type, ..
            }) => {
                assert_eq!(name, "git_diff.patch");
                assert_eq!(content_type, Some("application/octet-stream"));
            }
            other => panic!("expected a file, got {other:?}"),
        }
    }
}
