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
