//! The endpoints comet_ml 3.58.8 calls beyond cometr's own (ENDPOINTS.md), each driven
//! through the router as a client sends it.

use serde_json::{json, Value};

use crate::reply::{Handled, Reply};
use crate::request::{Api, Form, Request, UploadedFile};
use crate::router::route;
use crate::testing::{get, json_of, post, Fixture};

/// A file upload as comet_ml's clientlib `asset/upload` sends it: the experiment and the
/// asset's details in the query, the bytes as the form's file.
fn upload(f: &Fixture, key: &str, name: &str, bytes: &str, query: &[(&str, &str)]) -> Value {
    let path = f
        .store
        .assets_dir()
        .join(format!("up-{}.part", crate::util::new_id()));
    std::fs::write(&path, bytes).unwrap();
    let mut req = post(Api::Clientlib, "asset/upload")
        .with_query("experimentId", key)
        .with_query("fileName", name);
    for (k, v) in query {
        req = req.with_query(k, v);
    }
    let mut form = Form::default();
    form.file = Some(UploadedFile {
        path,
        size: bytes.len() as u64,
        sha1: String::new(),
        file_name: Some(name.into()),
    });
    req.form = Some(form);
    json_of(route(&f.env(), &req))
}

fn rest_get(path: &str, query: &[(&str, &str)]) -> Request {
    query
        .iter()
        .fold(get(Api::Rest, path), |r, (k, v)| r.with_query(k, v))
}

/// One text field of each object of a JSON list.
fn texts(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o[field].as_str().unwrap().to_string())
        .collect()
}

fn status_of(h: Handled) -> u16 {
    match h {
        Ok(_) => 200,
        Err(e) => e.status,
    }
}

#[test]
fn models_logged_as_assets_are_listed_by_name() {
    let f = Fixture::new();
    let key = f.experiment();
    let model = [("type", "model-element"), ("groupingName", "net")];
    upload(&f, &key, "weights.bin", "w", &model);
    upload(&f, &key, "config.json", "{}", &model);
    upload(&f, &key, "other.txt", "x", &[]);
    let other = [("type", "model-element"), ("groupingName", "tree")];
    upload(&f, &key, "tree.bin", "t", &other);
    let env = f.env();
    let models = json_of(route(
        &env,
        &rest_get("experiment/model", &[("experimentKey", &key)]),
    ));
    assert_eq!(texts(&models["models"], "modelName"), ["net", "tree"]);
    assert_eq!(models["models"][0]["experimentKey"], key.as_str());
    assert!(models["models"][0]["experimentModelId"].is_string());
    let assets = json_of(route(
        &env,
        &rest_get(
            "experiment/model/asset/list",
            &[("experimentKey", &key), ("modelName", "net")],
        ),
    ));
    assert_eq!(
        texts(&assets["assets"], "fileName"),
        ["weights.bin", "config.json"]
    );
    assert_eq!(assets["assets"][0]["type"], "model-element");
    assert_eq!(assets["assets"][0]["dir"], "models");
    // No such model: an empty list; no model name: refused.
    let none = json_of(route(
        &env,
        &rest_get(
            "experiment/model/asset/list",
            &[("experimentKey", &key), ("modelName", "nope")],
        ),
    ));
    assert_eq!(none["assets"], json!([]));
    let e = route(
        &env,
        &rest_get("experiment/model/asset/list", &[("experimentKey", &key)]),
    )
    .unwrap_err();
    assert_eq!(e.status, 400);
}

#[test]
fn a_model_downloads_as_a_zip_of_its_files() {
    let f = Fixture::new();
    let key = f.experiment();
    let model = [("type", "model-element"), ("groupingName", "net")];
    upload(&f, &key, "dir/weights.bin", "www", &model);
    upload(&f, &key, "dir/config.json", "{}", &model);
    upload(&f, &key, "other.txt", "x", &[]);
    let env = f.env();
    let got = route(
        &env,
        &rest_get(
            "experiment/model/download",
            &[("experimentKey", &key), ("modelName", "net")],
        ),
    );
    let Ok(Reply::File { path, name, .. }) = got else {
        panic!("expected a zip, got {got:?}");
    };
    assert_eq!(name, "net.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["dir/config.json", "dir/weights.bin"]);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("dir/weights.bin").unwrap(), &mut text).unwrap();
    assert_eq!(text, "www");
    let none = route(
        &env,
        &rest_get(
            "experiment/model/download",
            &[("experimentKey", &key), ("modelName", "nope")],
        ),
    );
    assert_eq!(status_of(none), 400);
}

#[test]
fn a_project_reads_by_name_or_id_and_an_unknown_one_is_404() {
    let f = Fixture::new();
    let key = f.experiment();
    let env = f.env();
    let p = json_of(route(
        &env,
        &rest_get(
            "project",
            &[("workspaceName", "local"), ("projectName", "p")],
        ),
    ));
    assert_eq!(p["projectName"], "p");
    assert_eq!(p["workspaceName"], "local");
    assert_eq!(p["numberOfExperiments"], 1);
    let id = p["projectId"].as_str().unwrap().to_string();
    let by_id = json_of(route(&env, &rest_get("project", &[("projectId", &id)])));
    assert_eq!(by_id, p);
    // The listing and the single read agree.
    let list = json_of(route(
        &env,
        &rest_get("projects", &[("workspaceName", "local")]),
    ));
    assert_eq!(list["projects"][0], p);
    // comet_ml's `API.get_project` reads a 404 as "no such project".
    let missing = route(
        &env,
        &rest_get(
            "project",
            &[("workspaceName", "local"), ("projectName", "q")],
        ),
    );
    assert_eq!(status_of(missing), 404);
    assert_eq!(
        status_of(route(&env, &rest_get("project", &[("projectId", "nope")]))),
        404
    );
    assert_eq!(status_of(route(&env, &rest_get("project", &[]))), 400);
    drop(key);
}

#[test]
fn the_backend_version_opens_comet_mls_gated_calls() {
    let f = Fixture::new();
    let env = f.env();
    let v = json_of(route(&env, &get(Api::Clientlib, "isAlive/ver")));
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap()).collect() };
    let version = parse(v["version"].as_str().unwrap());
    // comet_ml 3.58.8's gates this server answers (get_state and set_state 3.7.91,
    // remote-asset batch 3.12.26, parameter deletion 3.29.724, raw throttling messages
    // 3.62.294, get-by-name 4.3.385, mark-not-throttled 4.7.416) are open; the model
    // registry's newer calls (4.18.133) stay closed.
    for gate in [
        "3.7.91", "3.12.26", "3.29.724", "3.62.294", "4.3.385", "4.7.416",
    ] {
        assert!(version >= parse(gate), "{gate}");
    }
    assert!(version < parse("4.18.133"));
}

#[test]
fn get_state_reads_running_finished_and_crashed() {
    let f = Fixture::new();
    let env = f.env();
    let state = |key: &str| -> (bool, bool) {
        let m = json_of(route(
            &env,
            &rest_get("experiment/metadata", &[("experimentKey", key)]),
        ));
        (
            m["running"].as_bool().unwrap(),
            m["hasCrashed"].as_bool().unwrap(),
        )
    };
    // set_state("finished"|"crashed"|"running") is update-status with these flags.
    let set = |key: &str, alive: bool, crashed: bool| {
        json_of(route(
            &env,
            &post(Api::Rest, "write/experiment/update-status").with_json(&json!({
                "experimentKey": key, "isAlive": alive, "error": null, "hasCrashed": crashed
            })),
        ));
    };
    let key = f.experiment();
    assert_eq!(state(&key), (true, false));
    set(&key, false, false);
    assert_eq!(state(&key), (false, false));
    set(&key, false, true);
    assert_eq!(state(&key), (false, true));
    set(&key, true, false);
    assert_eq!(state(&key), (true, false));
}

#[test]
fn a_run_silent_for_a_few_heartbeats_ends_at_its_last_beat() {
    let f = Fixture::new();
    let env = f.env();
    let meta = |key: &str| {
        json_of(route(
            &env,
            &rest_get("experiment/metadata", &[("experimentKey", key)]),
        ))
    };
    let quiet = f.experiment();
    let beating = f.experiment();
    let now = crate::util::now_ms();
    let limit = crate::handlers::general::silence_limit_ms(env.heartbeat_ms);
    assert_eq!(limit, 3 * env.heartbeat_ms);
    f.store.set_last_beat(&quiet, now - limit - 1_000).unwrap();
    f.store
        .set_last_beat(&beating, now - limit + 5_000)
        .unwrap();
    let m = meta(&quiet);
    assert_eq!(m["running"], false);
    assert_eq!(m["endTimeMillis"], now - limit - 1_000);
    assert_eq!(meta(&beating)["running"], true);
    // The project's listing shows the same end.
    let list = json_of(route(
        &env,
        &rest_get(
            "experiments",
            &[("workspaceName", "local"), ("projectName", "p")],
        ),
    ));
    let row = list["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["experimentKey"] == quiet.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["endTimeMillis"], now - limit - 1_000);
    // A run that beats again is running again, its end not yet known.
    json_of(route(
        &env,
        &post(Api::Clientlib, "status-report/update")
            .with_json(&json!({"experimentKey": quiet, "is_alive": true})),
    ));
    let m = meta(&quiet);
    assert_eq!(m["running"], true);
    // A run ended by its silence that then says it has ended (cometr's stop() without
    // keep_active) ends when it says so, not at its last beat.
    let stopped = f.experiment();
    f.store
        .set_last_beat(&stopped, now - limit - 1_000)
        .unwrap();
    assert_eq!(meta(&stopped)["running"], false);
    json_of(route(
        &env,
        &post(Api::Clientlib, "status-report/update")
            .with_json(&json!({"experimentKey": stopped, "is_alive": false})),
    ));
    let m = meta(&stopped);
    assert_eq!(m["running"], false);
    assert!(m["endTimeMillis"].as_i64().unwrap() >= now, "{m}");
    // A short interval does not end runs whose beat is merely late.
    assert_eq!(crate::handlers::general::silence_limit_ms(300), 2_000);
}

#[test]
fn downloads_are_bytes_unless_plain_text() {
    let f = Fixture::new();
    let key = f.experiment();
    let env = f.env();
    for (name, want) in [
        ("table.csv", "application/octet-stream"),
        ("plot.png", "application/octet-stream"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("confusion-matrix.json", "application/octet-stream"),
    ] {
        let a = upload(&f, &key, name, "a,b\n1,2\n", &[]);
        let id = a["assetId"].as_str().unwrap();
        let got = route(
            &env,
            &rest_get(
                "experiment/asset/get-asset",
                &[("experimentKey", &key), ("assetId", id)],
            ),
        );
        let Ok(Reply::File {
            name: served,
            content_type,
            ..
        }) = got
        else {
            panic!("expected a file for {name}");
        };
        assert_eq!(served, name);
        let ct = content_type.unwrap_or(crate::reply::content_type_for(&served));
        assert_eq!(ct, want, "{name}");
    }
}

#[test]
fn assets_by_name_list_for_comet_ml_and_download_for_cometr() {
    let f = Fixture::new();
    let key = f.experiment();
    let env = f.env();
    upload(&f, &key, "a.txt", "one", &[]);
    upload(&f, &key, "a.txt", "two", &[]);
    upload(&f, &key, "b.txt", "three", &[]);
    let list = json_of(route(
        &env,
        &rest_get(
            "experiment/asset/get-by-name",
            &[("experimentKey", &key), ("assetName", "a.txt")],
        ),
    ));
    assert_eq!(list["assets"].as_array().unwrap().len(), 2);
    assert_eq!(list["assets"][0]["fileName"], "a.txt");
    let none = json_of(route(
        &env,
        &rest_get(
            "experiment/asset/get-by-name",
            &[
                ("experimentKey", &key),
                ("assetName", "a.txt"),
                ("type", "image"),
            ],
        ),
    ));
    assert_eq!(none["assets"], json!([]));
    let file = route(
        &env,
        &rest_get(
            "experiment/asset/get-by-name",
            &[("experimentKey", &key), ("fileName", "b.txt")],
        ),
    );
    assert!(matches!(file, Ok(Reply::File { .. })));
}

#[test]
fn parameters_delete_one_or_several() {
    let f = Fixture::new();
    let env = f.env();
    let key = f.experiment();
    for (name, value) in [("lr", "0.1"), ("layers", "3"), ("opt", "adam")] {
        json_of(route(
            &env,
            &post(Api::Rest, "write/experiment/parameter").with_json(&json!({
                "experimentKey": key, "parameterName": name, "parameterValue": value
            })),
        ));
    }
    let names = || -> Vec<String> {
        let v = json_of(route(
            &env,
            &rest_get("experiment/parameters", &[("experimentKey", &key)]),
        ));
        let mut n = texts(&v["values"], "name");
        n.sort();
        n
    };
    json_of(route(
        &env,
        &post(Api::Rest, "write/experiment/parameter/delete")
            .with_json(&json!({"experimentKey": key, "parameterName": "lr"})),
    ));
    assert_eq!(names(), ["layers", "opt"]);
    // A list naming an unknown experiment deletes nothing.
    let bad = post(Api::Rest, "write/experiments/parameters/delete").with_json(&json!([
        {"experimentKey": key, "parameterName": "layers"},
        {"experimentKey": "nope", "parameterName": "opt"},
    ]));
    assert_eq!(status_of(route(&env, &bad)), 400);
    assert_eq!(names(), ["layers", "opt"]);
    let both = post(Api::Rest, "write/experiments/parameters/delete").with_json(&json!([
        {"experimentKey": key, "parameterName": "layers"},
        {"experimentKey": key, "parameterName": "opt"},
    ]));
    json_of(route(&env, &both));
    assert!(names().is_empty());
}

// ---------------------------------------------------------------------------------
// ENDPOINTS.md, row by row

const TABLE: &str = include_str!("../ENDPOINTS.md");

/// A row of ENDPOINTS.md: method, family, path, and whether it is implemented.
fn table_rows() -> Vec<(String, String, String, bool)> {
    TABLE
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "| GET | rest | `path` | implemented | what |" splits into 7 cells.
            if cells.len() < 6 || !["GET", "POST", "PUT", "DELETE"].contains(&cells[1]) {
                return None;
            }
            let path = cells[3].trim_matches('`').to_string();
            Some((
                cells[1].into(),
                cells[2].into(),
                path,
                cells[4] == "implemented",
            ))
        })
        .collect()
}

/// A request for every implemented row, as comet_ml sends it, in an order where what a
/// row reads was written before and deletions come last: (method, family, path, query
/// as `k=v&...`, JSON body or `FILE` for a multipart upload). `{key}` is the run the
/// rows work on, `{key2}` one they delete; `{asset}`, `{asset2}`, `{project}`,
/// `{artifact}` and `{version}` are ids made before the rows run.
const CALLS: &[(&str, &str, &str, &str, &str)] = &[
    ("GET", "clientlib", "isAlive/ver", "", ""),
    ("GET", "clientlib", "health/ping", "", ""),
    (
        "POST",
        "clientlib",
        "logger/add/run",
        "",
        r#"{"projectName":"p","workspaceName":"local","experimentName":"run2"}"#,
    ),
    (
        "POST",
        "clientlib",
        "logger/get/run",
        "",
        r#"{"previousExperiment":"{key}"}"#,
    ),
    (
        "POST",
        "clientlib",
        "status-report/update",
        "",
        r#"{"experimentKey":"{key}","is_alive":true}"#,
    ),
    (
        "POST",
        "clientlib",
        "batch/logger/experiment/metric",
        "",
        r#"{"experimentKey":"{key}","values":[{"metricName":"loss","metricValue":0.5,"step":1}]}"#,
    ),
    (
        "POST",
        "clientlib",
        "batch/logger/experiment/parameter",
        "",
        r#"{"experimentKey":"{key}","values":[{"parameterName":"lr","parameterValue":"0.1"}]}"#,
    ),
    (
        "POST",
        "clientlib",
        "visualizations/upload",
        "experimentKey={key}&figName=fig.png",
        "FILE",
    ),
    (
        "POST",
        "clientlib",
        "git-patch/upload",
        "experimentKey={key}",
        "FILE",
    ),
    (
        "POST",
        "clientlib",
        "asset/3d-limits",
        "",
        r#"{"experimentKey":"{key}"}"#,
    ),
    (
        "POST",
        "clientlib",
        "asset/log-remote-model",
        "",
        r#"{"experimentKey":"{key}","modelName":"remote","remoteEntities":[{"assetId":"r1","remoteUrl":"s3://b/m.pt","fileName":"m.pt"}]}"#,
    ),
    (
        "POST",
        "clientlib",
        "tags/add-tags-to-experiment",
        "",
        r#"{"experimentKey":"{key}","addedTags":["t1"]}"#,
    ),
    (
        "GET",
        "clientlib",
        "symlink/new",
        "experimentKey={key}&projectName=other",
        "",
    ),
    (
        "POST",
        "clientlib",
        "rpc/register-rpc",
        "",
        r#"{"experimentKey":"{key}","functionName":"f"}"#,
    ),
    (
        "POST",
        "clientlib",
        "rpc/save-rpc-result",
        "",
        r#"{"experimentKey":"{key}","callId":"c","result":"ok"}"#,
    ),
    (
        "POST",
        "clientlib",
        "notification/experiment",
        "",
        r#"{"experimentKey":"{key}","status":"finished"}"#,
    ),
    (
        "POST",
        "clientlib",
        "notify/event",
        "",
        r#"{"event_name":"x"}"#,
    ),
    (
        "POST",
        "clientlib",
        "status-report/offline-metadata",
        "",
        r#"{"experimentKey":"{key2}","startTimestamp":1,"endTimestamp":2}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/create",
        "",
        r#"{"workspaceName":"local","projectName":"p","experimentName":"made"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/metric",
        "",
        r#"{"experimentKey":"{key}","metricName":"acc","metricValue":0.9,"step":2}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/parameter",
        "",
        r#"{"experimentKey":"{key}","parameterName":"layers","parameterValue":"3"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/log-other",
        "",
        r#"{"experimentKey":"{key}","key":"note","value":"hi"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/tags",
        "",
        r#"{"experimentKey":"{key}","addedTags":["t2","t3"]}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/tags/delete",
        "",
        r#"{"experimentKey":"{key}","tags":["t3"]}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/html",
        "",
        r#"{"experimentKey":"{key}","html":"<b>x</b>","override":false}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/graph",
        "",
        r#"{"experimentKey":"{key}","graph":"g"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/code",
        "",
        r#"{"experimentKey":"{key}","code":"print(1)"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/output",
        "",
        r#"{"experimentKey":"{key}","outputLines":[{"output":"hello\n","offset":0}]}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/system-details",
        "",
        r#"{"experimentKey":"{key}","os":"Linux","pid":1}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/git/metadata",
        "",
        r#"{"experimentKey":"{key}","branch":"main","user":"u"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/git/patch",
        "experimentKey={key}",
        "FILE",
    ),
    (
        "POST",
        "rest",
        "write/experiment/file-path",
        "",
        r#"{"experimentKey":"{key}","filePath":"/x/run.py","fileName":"run.py"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/set-start-end-time",
        "",
        r#"{"experimentKey":"{key2}","startTimeMillis":1,"endTimeMillis":5}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/update-status",
        "",
        r#"{"experimentKey":"{key}","isAlive":true,"error":null,"hasCrashed":false}"#,
    ),
    (
        "GET",
        "rest",
        "write/experiment/set-status",
        "experimentKey={key}",
        "",
    ),
    (
        "POST",
        "rest",
        "write/experiment/upload-asset",
        "experimentKey={key}&fileName=table.csv",
        "FILE",
    ),
    (
        "POST",
        "rest",
        "write/experiment/cpu-metrics",
        "",
        r#"{"experimentKey":"{key}","cpuPercentUtilization":[10.5,20],"step":1}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/gpu-metrics",
        "",
        r#"{"experimentKey":"{key}","gpus":[{"gpuId":0,"gpuUtilization":50,"usedMemory":100}]}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/ram-metrics",
        "",
        r#"{"experimentKey":"{key}","totalRam":1000,"usedRam":400}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/load-metrics",
        "",
        r#"{"experimentKey":"{key}","loadAverage":1.5}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/cloud-details",
        "",
        r#"{"experimentKey":"{key}","provider":"aws","metadata":{"region":"x"}}"#,
    ),
    (
        "PUT",
        "rest",
        "write/experiment/dependencies",
        "",
        r#"{"experimentKey":"{key}","timestamp":1,"logDependencies":[{"name":"numpy","version":"2.0"}]}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiment/{experiment_key}/mark-not-throttled",
        "",
        "{}",
    ),
    (
        "POST",
        "rest",
        "write/project/create",
        "",
        r#"{"workspaceName":"local","projectName":"fresh","projectDescription":"d"}"#,
    ),
    (
        "POST",
        "rest",
        "write/project/update",
        "",
        r#"{"workspaceName":"local","projectName":"fresh","newProjectDescription":"new"}"#,
    ),
    (
        "POST",
        "rest",
        "write/project/notes",
        "",
        r#"{"projectId":"{project}","notes":"some notes"}"#,
    ),
    (
        "GET",
        "rest",
        "write/project/symlink",
        "experimentKey={key}&projectName=third",
        "",
    ),
    (
        "POST",
        "rest",
        "write/artifacts/upsert",
        "",
        r#"{"artifactName":"ds2","artifactType":"dataset","experimentKey":"{key}"}"#,
    ),
    (
        "POST",
        "rest",
        "write/artifacts/version/labels",
        "",
        r#"{"artifactVersionId":"{version}","alias":["best"],"versionTags":["v"]}"#,
    ),
    (
        "POST",
        "rest",
        "write/artifacts/details",
        "",
        r#"{"artifactId":"{artifact}","artifactType":"dataset","tags":["a"]}"#,
    ),
    (
        "POST",
        "rest",
        "write/artifact/assets/remote/batch",
        "experimentKey={key}",
        r#"{"remoteArtifactAssetRequests":[{"link":"s3://b/r.csv","type":"asset","fileName":"r.csv","artifactVersionId":"{version}"}]}"#,
    ),
    (
        "POST",
        "rest",
        "write/artifacts/state",
        "",
        r#"{"artifactVersionId":"{version}","experimentKey":"{key}","state":"CLOSED"}"#,
    ),
    // Reads.
    ("GET", "rest", "account-details", "", ""),
    ("GET", "rest", "workspaces", "", ""),
    ("GET", "rest", "projects", "workspaceName=local", ""),
    (
        "GET",
        "rest",
        "project",
        "workspaceName=local&projectName=p",
        "",
    ),
    (
        "GET",
        "rest",
        "project/column-names",
        "workspaceName=local&projectName=p",
        "",
    ),
    ("GET", "rest", "project/notes", "projectId={project}", ""),
    ("GET", "rest", "views/get-all", "projectId={project}", ""),
    (
        "GET",
        "rest",
        "views/chart-templates",
        "projectId={project}&experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiments",
        "workspaceName=local&projectName=p",
        "",
    ),
    (
        "POST",
        "rest",
        "experiments/multi-metric-chart",
        "",
        r#"{"targetedExperiments":["{key}"],"metrics":["loss"],"params":["lr"]}"#,
    ),
    (
        "GET",
        "rest",
        "experiment/metadata",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/metrics/get-metric",
        "experimentKey={key}&metricName=loss",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/metrics/get-all",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/metrics/summary",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/parameters",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/log-other",
        "experimentKey={key}",
        "",
    ),
    ("GET", "rest", "experiment/tags", "experimentKey={key}", ""),
    ("GET", "rest", "experiment/html", "experimentKey={key}", ""),
    ("GET", "rest", "experiment/graph", "experimentKey={key}", ""),
    ("GET", "rest", "experiment/code", "experimentKey={key}", ""),
    (
        "GET",
        "rest",
        "experiment/output",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/system-details",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/git/metadata",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/git/patch",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/asset/list",
        "experimentKey={key}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/asset/get-asset",
        "experimentKey={key}&assetId={asset}",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/asset/get-by-name",
        "experimentKey={key}&assetName=table.csv",
        "",
    ),
    ("GET", "rest", "experiment/model", "experimentKey={key}", ""),
    (
        "GET",
        "rest",
        "experiment/model/asset/list",
        "experimentKey={key}&modelName=remote",
        "",
    ),
    (
        "GET",
        "rest",
        "experiment/model/download",
        "experimentKey={key}&modelName=net",
        "",
    ),
    (
        "POST",
        "rest",
        "project/query",
        "",
        r#"{"workspaceName":"local","projectName":"p","predicates":[],"archived":false}"#,
    ),
    ("GET", "rest", "artifacts/get-all", "workspace=local", ""),
    (
        "GET",
        "rest",
        "artifacts/get",
        "workspace=local&artifactName=ds",
        "",
    ),
    (
        "GET",
        "rest",
        "artifacts/version",
        "artifactId={artifact}&versionId={version}",
        "",
    ),
    (
        "GET",
        "rest",
        "get/artifacts",
        "experimentKey={key}&filter=all",
        "",
    ),
    (
        "GET",
        "rest",
        "artifacts/version/files",
        "workspace=local&artifactName=ds&version=1.0.0",
        "",
    ),
    (
        "GET",
        "clientlib",
        "rpc/get-pending-rpcs",
        "experimentKey={key}",
        "",
    ),
    // Changes and deletions last.
    (
        "POST",
        "rest",
        "write/experiment/parameter/delete",
        "",
        r#"{"experimentKey":"{key}","parameterName":"layers"}"#,
    ),
    (
        "POST",
        "rest",
        "write/experiments/parameters/delete",
        "",
        r#"[{"experimentKey":"{key}","parameterName":"lr"}]"#,
    ),
    (
        "GET",
        "rest",
        "write/experiment/asset/delete",
        "experimentKey={key}&assetId={asset2}",
        "",
    ),
    (
        "GET",
        "rest",
        "write/experiment/archive",
        "experimentKey={key2}",
        "",
    ),
    (
        "GET",
        "rest",
        "write/experiment/restore",
        "experimentKey={key2}",
        "",
    ),
    (
        "POST",
        "rest",
        "write/experiment/move",
        "",
        r#"{"targetWorkspaceName":"local","targetProjectName":"moved","experimentKeys":["{key2}"],"symlink":false}"#,
    ),
    (
        "GET",
        "rest",
        "write/experiment/stop",
        "experimentKey={key2}",
        "",
    ),
    (
        "GET",
        "rest",
        "write/experiment/delete",
        "experimentKey={key2}",
        "",
    ),
    (
        "POST",
        "rest",
        "write/project/delete",
        "",
        r#"{"workspaceName":"local","projectName":"fresh","deleteAllExperiments":true}"#,
    ),
];

fn api_of(family: &str) -> Api {
    match family {
        "clientlib" => Api::Clientlib,
        _ => Api::Rest,
    }
}

#[test]
fn every_implemented_row_is_driven_and_answered() {
    let f = Fixture::new();
    let env = f.env();
    let key = f.experiment();
    let key2 = f.experiment();
    let asset = upload(&f, &key, "data.txt", "hello", &[])["assetId"]
        .as_str()
        .unwrap()
        .to_string();
    let asset2 = upload(&f, &key, "old.txt", "bye", &[])["assetId"]
        .as_str()
        .unwrap()
        .to_string();
    upload(
        &f,
        &key,
        "w.bin",
        "w",
        &[("type", "model-element"), ("groupingName", "net")],
    );
    let project = f.store.project_id("local", "p").unwrap().unwrap();
    let made = json_of(route(
        &env,
        &post(Api::Rest, "write/artifacts/upsert").with_json(&json!({
            "artifactName": "ds", "artifactType": "dataset", "experimentKey": key})),
    ));
    let ids = [
        ("{key2}", key2.as_str()),
        ("{key}", key.as_str()),
        ("{asset2}", asset2.as_str()),
        ("{asset}", asset.as_str()),
        ("{project}", project.as_str()),
        ("{artifact}", made["artifactId"].as_str().unwrap()),
        ("{version}", made["artifactVersionId"].as_str().unwrap()),
        ("{experiment_key}", key.as_str()),
    ];
    let fill = |s: &str| ids.iter().fold(s.to_string(), |t, (k, v)| t.replace(k, v));
    let keyed: axum::http::HeaderMap = [(axum::http::header::AUTHORIZATION, "k".parse().unwrap())]
        .into_iter()
        .collect();
    for (method, family, path, query, body) in CALLS {
        let api = api_of(family);
        let path = fill(path);
        // The trust layer lets comet_ml's method through (GET and PUT writes with the key).
        let m: axum::http::Method = method.parse().unwrap();
        crate::trust::check_method(api, &path, &m, &keyed)
            .unwrap_or_else(|e| panic!("{method} {path}: {}", e.message));
        let mut req = Request::new(m, api, &path);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            req = req.with_query(k, &fill(v));
        }
        if *body == "FILE" {
            let file = f
                .store
                .assets_dir()
                .join(format!("t-{}.part", crate::util::new_id()));
            std::fs::write(&file, "a,b\n1,2\n").unwrap();
            let mut form = Form::default();
            form.file = Some(UploadedFile {
                path: file,
                size: 8,
                sha1: String::new(),
                file_name: Some("upload.csv".into()),
            });
            req.form = Some(form);
        } else if !body.is_empty() {
            let v: Value = serde_json::from_str(&fill(body)).unwrap();
            req = req.with_json(&v);
        }
        if let Err(e) = route(&env, &req) {
            panic!("{method} {family} {path}: {} {}", e.status, e.message);
        }
    }
    // Every implemented row of ENDPOINTS.md is among those driven, and every row driven
    // is one.
    let driven: std::collections::BTreeSet<(String, String, String)> = CALLS
        .iter()
        .map(|(m, fam, p, _, _)| (m.to_string(), fam.to_string(), p.to_string()))
        .collect();
    let implemented: std::collections::BTreeSet<(String, String, String)> = table_rows()
        .into_iter()
        .filter(|r| r.3)
        .map(|(m, fam, p, _)| (m, fam, p))
        .collect();
    let undriven: Vec<_> = implemented.difference(&driven).collect();
    assert!(
        undriven.is_empty(),
        "implemented but not driven here: {undriven:?}"
    );
    let unlisted: Vec<_> = driven.difference(&implemented).collect();
    assert!(
        unlisted.is_empty(),
        "driven here but not implemented in ENDPOINTS.md: {unlisted:?}"
    );
}

#[test]
fn every_refused_row_is_answered_501_with_its_reason() {
    let f = Fixture::new();
    let env = f.env();
    let rows: Vec<_> = table_rows().into_iter().filter(|r| !r.3).collect();
    assert!(rows.len() > 40);
    for (method, family, path, _) in rows {
        let path = path
            .replace("{model_item_id}", "m1")
            .replace("{value}", "a1");
        let e = match family.as_str() {
            "optimizer" => crate::router::other_service(&format!("/optimizer/{path}")),
            "auth" => crate::router::other_service(&format!("/api/auth/{path}")),
            _ => {
                let m: axum::http::Method = method.parse().unwrap();
                route(&env, &Request::new(m, api_of(&family), &path)).err()
            }
        };
        let e = e.unwrap_or_else(|| {
            panic!(
                "{method} {family} {path} is answered: mark it implemented in ENDPOINTS.md \
                 and drive it in CALLS"
            )
        });
        assert_eq!(e.status, 501, "{method} {family} {path}: {}", e.message);
        assert!(e.message.contains(" is not implemented: "), "{}", e.message);
        assert!(
            e.message.len() > 40,
            "a reason, not just a refusal: {}",
            e.message
        );
    }
}

#[test]
fn api_query_finds_experiments_by_metric_parameter_tag_and_metadata() {
    let f = Fixture::new();
    let env = f.env();
    let log = |key: &str, metrics: &[f64], params: &[(&str, &str)], tags: &[&str]| {
        for (i, m) in metrics.iter().enumerate() {
            json_of(route(
                &env,
                &post(Api::Rest, "write/experiment/metric").with_json(&json!({
                    "experimentKey": key, "metricName": "loss", "metricValue": m, "step": i})),
            ));
        }
        for (name, value) in params {
            json_of(route(
                &env,
                &post(Api::Rest, "write/experiment/parameter").with_json(&json!({
                    "experimentKey": key, "parameterName": name, "parameterValue": value})),
            ));
        }
        json_of(route(
            &env,
            &post(Api::Rest, "write/experiment/tags")
                .with_json(&json!({"experimentKey": key, "addedTags": tags})),
        ));
    };
    let a = f.experiment();
    let b = f.experiment();
    let c = f.experiment();
    log(
        &a,
        &[0.9, 0.3],
        &[("opt", "adam"), ("lr", "0.1")],
        &["good"],
    );
    log(&b, &[0.55], &[("opt", "sgd"), ("lr", "0.01")], &[]);
    log(&c, &[0.05], &[("opt", "rmsprop")], &[]);
    // The tag is a column, as comet_ml's Tag("good") needs it to be.
    let cols = json_of(route(
        &env,
        &rest_get(
            "project/column-names",
            &[("workspaceName", "local"), ("projectName", "p")],
        ),
    ));
    assert!(cols["columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "good" && c["source"] == "tag"));
    // Predicates as comet_ml 3.58.8's query builder writes them.
    let rule = |source: &str, field: &str, ty: &str, op: &str, value: Value| {
        json!({"source": source, "query": {"condition": "AND", "rules": [
            {"id": field, "field": field, "type": ty, "operator": op, "value": value}],
            "valid": true}})
    };
    let found = |predicates: Value| -> Vec<String> {
        let v = json_of(route(
            &env,
            &post(Api::Rest, "project/query").with_json(&json!({
                "workspaceName": "local", "projectName": "p",
                "predicates": predicates, "archived": false})),
        ));
        texts_of(&v["experimentKeys"])
    };
    // Metric("loss") < 0.5 & Tag("good"): the latest loss counts.
    assert_eq!(
        found(json!([
            rule("metrics", "loss", "double", "less", json!(0.5)),
            rule("tag", "good", "string", "equal", json!("good")),
        ])),
        [a.as_str()]
    );
    // Parameter("opt").startswith("ad") & (Metric("loss") >= 0.1)
    assert_eq!(
        found(json!([
            rule("params", "opt", "string", "begins_with", json!("ad")),
            rule("metrics", "loss", "double", "greater_or_equal", json!(0.1)),
        ])),
        [a.as_str()]
    );
    // ~(Parameter("lr") == "0.1"): numbers compare as numbers; no lr, no match.
    let mut not = rule("params", "lr", "string", "not_equal", json!("0.1"));
    not["negated"] = json!(true);
    assert_eq!(found(json!([not])), [b.as_str()]);
    // Metric("loss").between(0.2, 0.6)
    assert_eq!(
        found(json!([rule(
            "metrics",
            "loss",
            "double",
            "between",
            json!(["0.2", "0.6"])
        )])),
        [a.as_str(), b.as_str()]
    );
    // (Parameter("opt") == "adam") | (Parameter("opt") == "sgd")
    let either = json!([{"source": "params", "query": {"condition": "OR", "rules": [
        {"id": "opt", "field": "opt", "type": "string", "operator": "equal", "value": "adam",
         "source": "params"},
        {"id": "opt", "field": "opt", "type": "string", "operator": "equal", "value": "sgd",
         "source": "params"}], "valid": true}}]);
    assert_eq!(found(either), [a.as_str(), b.as_str()]);
    // Metadata, and nothing asked: every experiment.
    assert_eq!(
        found(json!([rule(
            "metadata",
            "experimentKey",
            "string",
            "equal",
            json!(c)
        )])),
        [c.as_str()]
    );
    assert_eq!(found(json!([])), [a, b, c]);
}

/// The strings of a JSON list.
fn texts_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}
