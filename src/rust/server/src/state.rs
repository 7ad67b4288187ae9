//! What a running server holds: its store, its key, and the test controls (scripted
//! faults, random failures, the request log, the heartbeat interval).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use crate::chaos;
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
    /// Scripted failures for tests of the client's error handling.
    pub faults: Mutex<Vec<Fault>>,
    /// Random failures (error rates, throttling, drops, latency, down periods).
    pub chaos: Mutex<Option<chaos::Settings>>,
    /// The most recent request lines (method, path and query), for tests and debugging.
    pub requests: Mutex<VecDeque<String>>,
    /// The heartbeat interval clients are asked to keep, in milliseconds.
    pub heartbeat_ms: AtomicI64,
}

impl State {
    pub fn new(store: Store, api_key: Option<String>, base_url: String) -> State {
        State {
            upload_dir: store.assets_dir(),
            store: Mutex::new(store),
            api_key,
            base_url,
            faults: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            requests: Mutex::new(VecDeque::new()),
            heartbeat_ms: AtomicI64::new(10_000),
        }
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
