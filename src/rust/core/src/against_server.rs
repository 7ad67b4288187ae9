//! The client core against the local server, over real HTTP: the one retry loop as R's
//! calls use it, and an experiment's outbox delivering through the online sender (logged
//! files included).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::item::MetricPoint;
use crate::{experiment, outbox, retry};

/// Any key will do: a server started without one accepts every key, but like Comet it
/// refuses requests that carry none.
const KEY: &str = "core-test-key";

struct Server {
    id: i32,
    root: String,
    dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("cometr-core-server-{}", crate::new_id()));
        let (id, port) = cometr_server::start(dir.clone(), "127.0.0.1", 0, None).unwrap();
        Server {
            id,
            root: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Answer the next `times` requests whose path contains `path` with `status`.
    fn fault(&self, path: &str, status: u16, times: i64) {
        assert!(cometr_server::add_fault(
            self.id,
            cometr_server::Fault {
                path: path.into(),
                status,
                body: "{\"msg\":\"scripted\"}".into(),
                content_type: "application/json".into(),
                remaining: times,
            },
        ));
    }

    /// How many requests the server has seen whose line contains `part`.
    fn seen(&self, part: &str) -> usize {
        cometr_server::recent_requests(self.id)
            .iter()
            .filter(|l| l.contains(part))
            .count()
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            url: format!("{}/api/rest/v2/{endpoint}", self.root),
            api_key: KEY.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn new_experiment(&self) -> String {
        let req = Request {
            method: "POST".into(),
            url: format!("{}/api/rest/v2/write/experiment/create", self.root),
            api_key: KEY.into(),
            json_body: Some(json!({"workspaceName": "w", "projectName": "p"}).to_string()),
            ..Default::default()
        };
        let r = retry::send_blocking(&req, Duration::ZERO).unwrap();
        assert_eq!(r.status, 200);
        body(&r)["experimentKey"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        cometr_server::stop(self.id);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

#[test]
fn transient_answers_are_retried_until_one_succeeds() {
    let srv = Server::start();
    srv.fault("workspaces", 503, 1);
    srv.fault("workspaces", 501, 1);
    let r = retry::send_blocking(&srv.get("workspaces", &[]), Duration::from_secs(30)).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(srv.seen("/workspaces"), 3);
}

#[test]
fn final_answers_are_not_retried() {
    let srv = Server::start();
    srv.fault("workspaces", 404, 5);
    let r = retry::send_blocking(&srv.get("workspaces", &[]), Duration::from_secs(30)).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(srv.seen("/workspaces"), 1);
}

#[test]
fn the_budget_ends_the_retries_with_the_last_answer() {
    let srv = Server::start();
    srv.fault("workspaces", 503, -1);
    let started = Instant::now();
    let r = retry::send_blocking(&srv.get("workspaces", &[]), Duration::from_millis(800)).unwrap();
    assert_eq!(r.status, 503);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(srv.seen("/workspaces") >= 2);
    // No budget: one attempt.
    let before = srv.seen("/workspaces");
    let r = retry::send_blocking(&srv.get("workspaces", &[]), Duration::ZERO).unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(srv.seen("/workspaces"), before + 1);
}

#[test]
fn no_answer_is_a_transport_failure() {
    // A port nothing listens on (the server is stopped at once).
    let root = {
        let srv = Server::start();
        srv.root.clone()
    };
    let req = Request {
        method: "GET".into(),
        url: format!("{root}/api/rest/v2/workspaces"),
        ..Default::default()
    };
    let r = retry::send_blocking(&req, Duration::from_millis(300));
    assert!(
        matches!(r, Err(crate::http::Failure::Transport(_))),
        "{r:?}"
    );
}

fn read_metric(srv: &Server, key: &str, name: &str) -> Vec<Value> {
    let r = retry::send_blocking(
        &srv.get(
            "experiment/metrics/get-metric",
            &[("experimentKey", key), ("metricName", name)],
        ),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    body(&r)["metrics"].as_array().cloned().unwrap_or_default()
}

fn metric(name: &str, value: f64, step: i64) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        value: crate::item::number(value),
        step: Some(step),
        epoch: None,
        context: None,
        timestamp: crate::now_ms(),
    }
}

#[test]
fn the_outbox_delivers_through_the_sender_across_server_failures() {
    let srv = Server::start();
    let key = srv.new_experiment();
    let id = experiment::open_online(&key, KEY, &srv.root, outbox::Settings::default());
    let s = outbox::get(id).unwrap();
    // The batch endpoint fails twice before it takes the batch: the sender retries.
    srv.fault("batch/logger/experiment/metric", 500, 2);
    for i in 1..=50 {
        s.push_metric(metric("loss", 1.0 / i as f64, i));
    }
    s.push_rest(crate::item::RestWrite {
        endpoint: "write/experiment/log-other".into(),
        body: json!({"experimentKey": key, "key": "k", "value": "v"}).to_string(),
    });
    let r = experiment::flush(id, Duration::from_secs(30));
    assert!(r.ok && r.pending == 0, "{r:?}");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(srv.seen("batch/logger/experiment/metric"), 3);
    assert_eq!(read_metric(&srv, &key, "loss").len(), 50);

    // Refused data is reported, not retried, and not kept.
    srv.fault("batch/logger/experiment/metric", 400, 1);
    s.push_metric(metric("acc", 0.5, 1));
    let r = experiment::flush(id, Duration::from_secs(30));
    assert!(r.ok && r.pending == 0, "{r:?}");
    assert_eq!(r.problems.len(), 1);
    assert!(
        r.problems[0].message.contains("Comet refused data"),
        "{:?}",
        r.problems
    );

    // Data the server cannot take in time stays queued and is reported at close.
    srv.fault("batch/logger/experiment/metric", 503, -1);
    s.push_metric(metric("late", 1.0, 1));
    let r = experiment::close(id, Duration::from_millis(500), true);
    assert!(!r.ok);
    assert_eq!(r.pending, 1);
    assert!(
        r.problems.iter().any(|p| p.message.contains("will retry")),
        "{r:?}"
    );
    assert!(r.archive.is_none());
    assert!(outbox::get(id).is_none());
}

#[test]
fn an_offline_run_replays_into_the_server() {
    let srv = Server::start();
    let base = srv.dir.join("offline");
    let o = experiment::open_offline(&base, "", Some("p".into()), None).unwrap();
    let s = outbox::get(o.id).unwrap();
    for i in 1..=3 {
        s.push_metric(metric("loss", i as f64, i));
    }
    s.push_parameter(json!({"parameterName": "lr", "parameterValue": 0.1}));
    s.push_rest(crate::item::RestWrite {
        endpoint: "write/experiment/html".into(),
        body: json!({"experimentKey": o.key, "html": "<b>once</b>", "override": false}).to_string(),
    });
    s.push_output("one line\n", false);
    let r = experiment::close(o.id, Duration::from_secs(5), true);
    assert!(r.ok, "{r:?}");
    let archive = r.archive.unwrap().unwrap();
    let unpacked = srv.dir.join("unpacked");
    crate::offline::extract(&archive, &unpacked).unwrap();
    let key = srv.new_experiment();
    // The first metric batch meets a failure: replay goes through the retry loop too.
    srv.fault("batch/logger/experiment/metric", 502, 1);
    let target = crate::offline::Target {
        root: srv.root.clone(),
        api_key: KEY.into(),
        key: key.clone(),
        run_id: String::new(),
        sampling_size: 15_000,
    };
    let sent = crate::offline::replay(&unpacked, &target);
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.metrics, 3);
    let steps: Vec<i64> = read_metric(&srv, &key, "loss")
        .iter()
        .filter_map(|m| m["step"].as_i64())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    // The same archive again, as after an upload cut short: every request names its
    // batch after the archive's lines, so the server applies none of them twice.
    let again = crate::offline::replay(&unpacked, &target);
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    assert_eq!(read_metric(&srv, &key, "loss").len(), 3);
    let log = cometr_server::recent_requests(srv.id);
    let posts: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("POST") && !l.contains("experiment/create"))
        .collect();
    assert!(posts.len() >= 8, "{posts:?}");
    assert!(posts.iter().all(|l| l.contains(" batch=")), "{posts:?}");
    let html = retry::send_blocking(
        &srv.get("experiment/html", &[("experimentKey", &key)]),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(body(&html)["html"], "<b>once</b>");
    let output = retry::send_blocking(
        &srv.get("experiment/output", &[("experimentKey", &key)]),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(body(&output)["output"], "one line\n");
}

/// The assets of an experiment, by file name, with their bytes as the server stores them.
fn assets(srv: &Server, key: &str) -> Vec<(String, Vec<u8>)> {
    let r = retry::send_blocking(
        &srv.get("experiment/asset/list", &[("experimentKey", key)]),
        Duration::ZERO,
    )
    .unwrap();
    let list = body(&r)["assets"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|a| {
            let id = a["assetId"].as_str().unwrap_or("");
            let got = retry::send_blocking(
                &srv.get(
                    "experiment/asset/get-asset",
                    &[("experimentKey", key), ("assetId", id)],
                ),
                Duration::ZERO,
            )
            .unwrap();
            (a["fileName"].as_str().unwrap_or("").to_string(), got.body)
        })
        .collect()
}

#[test]
fn a_logged_file_reaches_the_server_through_the_outbox_byte_for_byte() {
    let srv = Server::start();
    let key = srv.new_experiment();
    let id = experiment::open_online(&key, KEY, &srv.root, outbox::Settings::default());
    let s = outbox::get(id).unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = srv.dir.join("data.bin");
    std::fs::write(&file, &bytes).unwrap();
    let up = crate::item::FileUpload::local(
        file.to_str().unwrap(),
        "asset",
        json!({"fileName": "data.bin"}),
        "",
        &s.copy_dir(),
        false,
    )
    .unwrap();
    let copy = up.source.clone();
    s.push_file(up);
    // The upload endpoint fails twice: the same retry loop as every write.
    srv.fault("write/experiment/upload-asset", 503, 2);
    let r = experiment::flush(id, Duration::from_secs(30));
    assert!(r.ok && r.pending == 0 && r.problems.is_empty(), "{r:?}");
    assert_eq!(srv.seen("upload-asset"), 3);
    assert_eq!(assets(&srv, &key), vec![("data.bin".to_string(), bytes)]);
    // The copy made when it was logged is gone once sent.
    assert!(!std::path::Path::new(&copy).exists());
    experiment::close(id, Duration::from_secs(5), true);
}

#[test]
fn a_file_that_is_not_the_one_logged_never_arrives_whole() {
    let srv = Server::start();
    let key = srv.new_experiment();
    let file = srv.dir.join("changed.bin");
    std::fs::write(&file, vec![1u8; 1_000_000]).unwrap();
    // As if it changed after its hash was taken: the stream ends in an error instead.
    let req = Request {
        method: "POST".into(),
        url: format!("{}/api/rest/v2/write/experiment/upload-asset", srv.root),
        api_key: KEY.into(),
        query: vec![
            ("experimentKey".into(), key.clone()),
            ("fileName".into(), "changed.bin".into()),
        ],
        multipart: true,
        file_part: Some(file.display().to_string()),
        file_sha256: Some("0".repeat(64)),
        ..Default::default()
    };
    let r = retry::send_blocking(&req, Duration::ZERO);
    assert!(
        matches!(r, Err(crate::http::Failure::Transport(_))),
        "{r:?}"
    );
    assert!(assets(&srv, &key).is_empty());
}
