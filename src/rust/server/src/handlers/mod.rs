//! Handlers: one function per endpoint, taking the parsed request and returning data
//! (`Reply`) or an `ApiError`, never an HTTP response. They read and write through the
//! `Store` and run no SQL.
//!
//! - `general.rs`: workspaces, projects, experiment creation and listing, columns, charts;
//! - `experiment.rs`: one experiment's records and run lifecycle (REST and clientlib);
//! - `assets.rs`: asset uploads, listing, download and deletion;
//! - `artifacts.rs`: artifacts and their versions;
//! - `offline.rs`: the replay of offline archives, around the experiment and asset
//!   handlers.

pub mod artifacts;
pub mod assets;
pub mod experiment;
pub mod general;
pub mod offline;

use serde_json::Value;

use crate::error::ApiError;
use crate::reply::Handled;
use crate::request::Request;
use crate::store::Store;

/// What a handler works with besides the request.
pub struct Env<'a> {
    pub store: &'a Store,
    /// `http://host:port`, for the links in answers.
    pub base_url: &'a str,
    /// The heartbeat interval clients are asked to keep, in milliseconds.
    pub heartbeat_ms: i64,
}

impl Env<'_> {
    /// Run `f` on an existing experiment, answering Comet's 400 for an unknown one.
    pub fn with_experiment(&self, key: &str, f: impl FnOnce(&str) -> Handled) -> Handled {
        if !self.store.experiment_exists(key)? {
            return Err(ApiError::unknown_experiment(key));
        }
        f(key)
    }

    /// Parse the body, find the experiment the request names (in its query or body) and
    /// run `f` with both; most endpoints, reads and writes, take their experiment so.
    pub fn on_experiment(&self, req: &Request, f: impl FnOnce(&str, &Value) -> Handled) -> Handled {
        let body = req.json()?;
        self.on_experiment_body(req, &body, f)
    }

    /// As `on_experiment`, with a body already parsed (and perhaps changed).
    pub fn on_experiment_body(
        &self,
        req: &Request,
        body: &Value,
        f: impl FnOnce(&str, &Value) -> Handled,
    ) -> Handled {
        let key = req
            .experiment_key(body)
            .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
        self.with_experiment(&key, |k| f(k, body))
    }
}
