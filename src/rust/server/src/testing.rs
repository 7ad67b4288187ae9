//! For unit tests: a store in a temporary folder, removed afterwards, and the handler
//! environment over it.

use axum::http::Method;
use serde_json::{json, Value};

use crate::handlers::{general, Env};
use crate::reply::{Handled, Reply};
use crate::request::{Api, Request};
use crate::store::Store;

pub struct Fixture {
    dir: std::path::PathBuf,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = std::env::temp_dir().join(format!("cometr-test-{}", crate::util::new_id()));
        let store = Store::open(&dir).unwrap();
        Fixture { dir, store }
    }

    pub fn env(&self) -> Env<'_> {
        Env {
            store: &self.store,
            base_url: "http://127.0.0.1:1",
            heartbeat_ms: 10_000,
        }
    }

    /// A new experiment in workspace `local`, project `p`.
    pub fn experiment(&self) -> String {
        let req = post(Api::Rest, "write/experiment/create")
            .with_json(&json!({"workspaceName": "local", "projectName": "p"}));
        json_of(general::create_experiment(&self.env(), &req))["experimentKey"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn get(api: Api, path: &str) -> Request {
    Request::new(Method::GET, api, path)
}

pub fn post(api: Api, path: &str) -> Request {
    Request::new(Method::POST, api, path)
}

/// The JSON of a successful answer (panics on anything else).
pub fn json_of(h: Handled) -> Value {
    match h {
        Ok(Reply::Json(v)) => v,
        other => panic!("expected a JSON answer, got {other:?}"),
    }
}
