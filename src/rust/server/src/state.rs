//! What a running server holds: its store, its key, and the test controls (scripted
//! faults, random failures, the request log, the heartbeat interval).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use crate::chaos;
use crate::limits::Limits;
use crate::store::Store;

/// Answer requests whose endpoint path contains `path` with `status` and `body`
/// instead of serving them, `remaining` times (negative: forever).
pub struct Fault {
    pub path: String,
    pub status: u16,
    pub body: String,
    pub content_type: String,
    pub remaining: i64,
}

/// How many request lines the log keeps.
pub const REQUEST_LOG: usize = 10_000;

pub struct State {
    pub store: Mutex<Store>,
    /// Where multipart uploads are streamed before a handler keeps them.
    pub upload_dir: PathBuf,
    pub api_key: Option<String>,
    /// `http://host:port`, used to build experiment links.
    pub base_url: String,
    /// What one client may ask of the server.
    pub limits: Limits,
    /// The names clients may address the server by.
    pub hosts: crate::trust::Hosts,
    /// Scripted failures for tests of the client's error handling.
    pub faults: Mutex<Vec<Fault>>,
    /// Random failures (error rates, throttling, drops, latency, down periods).
    pub chaos: Mutex<Option<chaos::Settings>>,
    /// The most recent request lines (method, path and query), for tests and debugging.
    pub requests: Mutex<VecDeque<String>>,
    /// The same lines once answered, each after the answer's status ("404 GET ...").
    pub answers: Mutex<VecDeque<String>>,
    /// The heartbeat interval clients are asked to keep, in milliseconds.
    pub heartbeat_ms: AtomicI64,
}

impl State {
    pub fn new(store: Store, api_key: Option<String>, base_url: String) -> State {
        State {
            upload_dir: store.assets_dir(),
            store: Mutex::new(store),
            limits: Limits::default(),
            hosts: crate::trust::Hosts::new(port_of(&base_url), &[host_of(&base_url)], false),
            api_key,
            base_url,
            faults: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            requests: Mutex::new(VecDeque::new()),
            answers: Mutex::new(VecDeque::new()),
            heartbeat_ms: AtomicI64::new(10_000),
        }
    }

    /// Let clients address the server by these names too (or by any, with `any`).
    pub fn with_hosts(mut self, extra: &[&str], any: bool) -> State {
        let mut names = vec![host_of(&self.base_url)];
        names.extend_from_slice(extra);
        self.hosts = crate::trust::Hosts::new(port_of(&self.base_url), &names, any);
        self
    }

    /// Serve within these limits.
    pub fn with_limits(mut self, limits: Limits) -> State {
        self.limits = limits;
        self
    }

    /// Note a request line, forgetting the oldest beyond `REQUEST_LOG`.
    pub fn log_request(&self, line: String) {
        if let Ok(mut q) = self.requests.lock() {
            if q.len() == REQUEST_LOG {
                q.pop_front();
            }
            q.push_back(line);
        }
    }

    /// Note an answered request with its status, forgetting the oldest beyond
    /// `REQUEST_LOG`.
    pub fn log_answer(&self, status: u16, line: &str) {
        if let Ok(mut q) = self.answers.lock() {
            if q.len() == REQUEST_LOG {
                q.pop_front();
            }
            q.push_back(format!("{status} {line}"));
        }
    }

    /// The scripted fault for this endpoint path, if one is left: (status, content
    /// type, body).
    pub fn take_fault(&self, path: &str) -> Option<(u16, String, String)> {
        let mut faults = self.faults.lock().ok()?;
        let f = faults
            .iter_mut()
            .find(|f| path.contains(&f.path) && f.remaining != 0)?;
        if f.remaining > 0 {
            f.remaining -= 1;
        }
        Some((f.status, f.content_type.clone(), f.body.clone()))
    }
}

/// The host of `http://host:port`.
fn host_of(base_url: &str) -> &str {
    let rest = base_url.strip_prefix("http://").unwrap_or(base_url);
    match rest.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => rest,
    }
}

/// The port of `http://host:port` (80 when it names none).
fn port_of(base_url: &str) -> u16 {
    base_url
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80)
}
