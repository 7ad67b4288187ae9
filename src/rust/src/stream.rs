//! Per-experiment queues and the background sender.
//!
//! `log_*` calls push onto an in-memory queue and return at once. A task on the client
//! runtime sends what has accumulated every `interval` (or sooner once `batch_size`
//! metric points are waiting) through Comet's batch endpoints, gzip-compressed. A
//! flush from R's main thread sends everything under the same lock, so reads see the
//! writes before them. Failed sends are retried with backoff; what could not be
//! delivered stays queued and is reported, never silently dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, Request};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A REST write waiting to be sent: its endpoint below `/api/rest/v2/` and JSON body.
#[derive(Clone, Debug)]
pub struct RestWrite {
    pub endpoint: String,
    pub body: String,
}

/// One metric point, kept compact while queued (a million of them must fit in a few
/// tens of MiB) and turned into JSON only when sent.
#[derive(Clone, Debug)]
pub struct MetricPoint {
    pub name: String,
    pub value: Value,
    pub step: Option<i64>,
    pub epoch: Option<i64>,
    pub context: Option<String>,
    pub timestamp: i64,
}

impl MetricPoint {
    fn to_json(&self) -> Value {
        json!({
            "metricName": self.name, "metricValue": self.value, "step": self.step,
            "epoch": self.epoch, "context": self.context, "timestamp": self.timestamp
        })
    }
}

#[derive(Default)]
struct Queues {
    metrics: Vec<MetricPoint>,
    parameters: Vec<Value>,
    output: Vec<Value>,
    rest: VecDeque<RestWrite>,
}

impl Queues {
    fn len(&self) -> usize {
        self.metrics.len() + self.parameters.len() + self.output.len() + self.rest.len()
    }
}

pub struct Settings {
    pub interval: Duration,
    pub batch_size: usize,
    /// Largest number of items in one request.
    pub max_request_items: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(2),
            batch_size: 1000,
            max_request_items: 10_000,
        }
    }
}

pub struct Stream {
    pub key: String,
    api_key: String,
    root: String,
    settings: Settings,
    queues: Mutex<Queues>,
    /// Held while sending, so the background task and a flush never interleave.
    send_lock: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    closed: AtomicBool,
    output_offset: AtomicU64,
    /// Problems to report to R at its next call (drained on the main thread).
    problems: Mutex<Vec<String>>,
    has_problems: AtomicBool,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

static STREAMS: OnceLock<Mutex<HashMap<i32, Arc<Stream>>>> = OnceLock::new();
static NEXT: Mutex<i32> = Mutex::new(1);

fn registry() -> &'static Mutex<HashMap<i32, Arc<Stream>>> {
    STREAMS.get_or_init(|| Mutex::new(HashMap::new()))
}

pub fn get(id: i32) -> Option<Arc<Stream>> {
    registry().lock().ok()?.get(&id).cloned()
}

/// Every open stream, for output capture, which feeds all of them.
pub fn all() -> Vec<Arc<Stream>> {
    registry()
        .lock()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default()
}

/// Create a stream and start its sender.
pub fn open(key: &str, api_key: &str, root: &str, settings: Settings) -> i32 {
    let s = Arc::new(Stream {
        key: key.to_string(),
        api_key: api_key.to_string(),
        root: root.trim_end_matches('/').to_string(),
        settings,
        queues: Mutex::new(Queues::default()),
        send_lock: tokio::sync::Mutex::new(()),
        wake: tokio::sync::Notify::new(),
        closed: AtomicBool::new(false),
        output_offset: AtomicU64::new(0),
        problems: Mutex::new(Vec::new()),
        has_problems: AtomicBool::new(false),
        heartbeat: Mutex::new(None),
        sender: Mutex::new(None),
    });
    let id = {
        let mut n = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n - 1
    };
    if let Ok(mut m) = registry().lock() {
        m.insert(id, s.clone());
    }
    let bg = s.clone();
    let handle = client::runtime().spawn(async move { bg.run().await });
    if let Ok(mut g) = s.sender.lock() {
        *g = Some(handle);
    }
    id
}

/// Remove a stream from the registry (after its final flush).
pub fn forget(id: i32) {
    if let Ok(mut m) = registry().lock() {
        if let Some(s) = m.remove(&id) {
            s.shutdown_tasks();
        }
    }
}

#[derive(Debug)]
pub enum SendError {
    /// Worth retrying: no answer, 5xx, 429. Carries the wait the server asked for.
    Transient(String, Option<Duration>),
    /// The server refused the data; retrying would not help.
    Rejected(String),
}

impl Stream {
    fn note_problem(&self, msg: String) {
        if let Ok(mut p) = self.problems.lock() {
            // Bounded: a long outage must not grow this without limit.
            if p.len() < 100 {
                p.push(msg);
            }
        }
        self.has_problems.store(true, Ordering::Release);
    }

    pub fn has_problems(&self) -> bool {
        self.has_problems.load(Ordering::Acquire)
    }

    pub fn take_problems(&self) -> Vec<String> {
        self.has_problems.store(false, Ordering::Release);
        self.problems
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    pub fn pending(&self) -> usize {
        self.queues.lock().map(|q| q.len()).unwrap_or(0)
    }

    pub fn push_metric(&self, item: MetricPoint) {
        let n = {
            let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            q.metrics.push(item);
            q.metrics.len()
        };
        if n == self.settings.batch_size {
            self.wake.notify_one();
        }
    }

    pub fn push_parameter(&self, item: Value) {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.parameters.push(item);
    }

    pub fn push_rest(&self, w: RestWrite) {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.rest.push_back(w);
    }

    pub fn push_output(&self, line: &str, stderr: bool) {
        let offset = self.output_offset.fetch_add(1, Ordering::AcqRel) + 1;
        let item = json!({
            "stderr": stderr, "output": line, "localTimestamp": now_ms(), "offset": offset
        });
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.output.push(item);
    }

    fn clientlib(&self, endpoint: &str) -> String {
        format!("{}/clientlib/{endpoint}", self.root)
    }

    fn rest(&self, endpoint: &str) -> String {
        format!("{}/api/rest/v2/{endpoint}", self.root)
    }

    async fn post(&self, url: String, body: String, gzip: bool) -> Result<Value, SendError> {
        let req = Request {
            method: "POST".into(),
            url,
            api_key: self.api_key.clone(),
            json_body: Some(body),
            gzip_body: gzip,
            ..Default::default()
        };
        match client::send(&req).await {
            Ok(r) if (200..300).contains(&r.status) => {
                Ok(serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            }
            Ok(r) => {
                let msg = String::from_utf8_lossy(&r.body);
                let what = format!(
                    "HTTP {} from {}: {}",
                    r.status,
                    req.url.split('?').next().unwrap_or(""),
                    msg.chars().take(300).collect::<String>()
                );
                if crate::retry::is_transient_status(r.status) || r.status >= 500 {
                    Err(SendError::Transient(what, retry_after(&r.headers)))
                } else {
                    Err(SendError::Rejected(what))
                }
            }
            Err(e) => Err(SendError::Transient(e.message(), None)),
        }
    }

    /// Send one batch with retries until it is delivered, rejected, or `deadline` passes.
    /// Returns false when it must stay queued.
    async fn deliver(&self, url: String, body: String, gzip: bool, deadline: Instant) -> bool {
        let mut attempt = 0u32;
        loop {
            match self.post(url.clone(), body.clone(), gzip).await {
                Ok(_) => return true,
                Err(SendError::Rejected(m)) => {
                    self.note_problem(format!(
                        "Comet refused data for experiment {}: {m}",
                        self.key
                    ));
                    return true;
                }
                Err(SendError::Transient(m, wait)) => {
                    let pause = wait.unwrap_or_else(|| crate::retry::backoff(attempt));
                    attempt += 1;
                    if Instant::now() + pause >= deadline {
                        self.note_problem(format!(
                            "could not send data for experiment {} yet (will retry): {m}",
                            self.key
                        ));
                        return false;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Send everything queued now. With a deadline, stop retrying at it and keep what is
    /// left queued.
    pub async fn send_all(&self, deadline: Instant) -> bool {
        let _guard = self.send_lock.lock().await;
        let max = self.settings.max_request_items.max(1);
        // Metrics, parameters and output go in batches; REST writes one by one, in order.
        loop {
            let (metrics, params, output, rest) = {
                let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let m = take(&mut q.metrics, max);
                let p = take(&mut q.parameters, max);
                let o = take(&mut q.output, max);
                let r = q.rest.pop_front();
                (m, p, o, r)
            };
            if metrics.is_empty() && params.is_empty() && output.is_empty() && rest.is_none() {
                return true;
            }
            let mut ok = true;
            if !metrics.is_empty() {
                let values: Vec<Value> = metrics.iter().map(MetricPoint::to_json).collect();
                let body = json!({"experimentKey": self.key, "values": values}).to_string();
                drop(values);
                if !self
                    .deliver(
                        self.clientlib("batch/logger/experiment/metric"),
                        body,
                        true,
                        deadline,
                    )
                    .await
                {
                    self.requeue(|q| prepend(&mut q.metrics, metrics));
                    ok = false;
                }
            }
            if !params.is_empty() {
                let body = json!({"experimentKey": self.key, "values": params}).to_string();
                if !self
                    .deliver(
                        self.clientlib("batch/logger/experiment/parameter"),
                        body,
                        true,
                        deadline,
                    )
                    .await
                {
                    self.requeue(|q| prepend(&mut q.parameters, params));
                    ok = false;
                }
            }
            if !output.is_empty() {
                let body = json!({"experimentKey": self.key, "runContext": Value::Null, "outputLines": output})
                    .to_string();
                let url = format!("{}/clientlib/rest/v2/write/experiment/output", self.root);
                if !self.deliver(url, body, true, deadline).await {
                    self.requeue(|q| prepend(&mut q.output, output));
                    ok = false;
                }
            }
            if let Some(w) = rest {
                let url = self.rest(&w.endpoint);
                if !self.deliver(url, w.body.clone(), false, deadline).await {
                    self.requeue(|q| q.rest.push_front(w));
                    ok = false;
                }
            }
            if !ok {
                return false;
            }
        }
    }

    fn requeue(&self, f: impl FnOnce(&mut Queues)) {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut q);
    }

    async fn run(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(self.settings.interval, self.wake.notified()).await;
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            if self.pending() > 0 {
                // In the background, keep retrying for a while; a flush picks up the rest.
                let deadline = Instant::now() + Duration::from_secs(60);
                self.send_all(deadline).await;
            }
        }
    }

    /// Flush from R's main thread, waiting at most `timeout`.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        client::runtime().block_on(async {
            tokio::time::timeout(timeout + Duration::from_millis(50), self.send_all(deadline))
                .await
                .unwrap_or(false)
        })
    }

    /// Keep the experiment marked as running at the interval the server asks for.
    pub fn start_heartbeat(self: &Arc<Self>) {
        let s = self.clone();
        let handle = client::runtime().spawn(async move {
            let mut wait = Duration::from_secs(0);
            loop {
                tokio::time::sleep(wait).await;
                if s.closed.load(Ordering::Acquire) {
                    return;
                }
                let body = json!({
                    "apiKey": s.api_key, "experimentKey": s.key, "is_alive": true,
                    "local_timestamp": now_ms(), "offline": false
                })
                .to_string();
                wait = match s
                    .post(s.clientlib("status-report/update"), body, false)
                    .await
                {
                    Ok(v) => v
                        .get("is_alive_beat_duration_millis")
                        .and_then(|x| x.as_u64())
                        .map(|ms| Duration::from_millis(ms.clamp(500, 600_000)))
                        .unwrap_or(Duration::from_secs(10)),
                    // A missed beat is not fatal: try again a little later.
                    Err(_) => Duration::from_secs(10),
                };
            }
        });
        if let Ok(mut g) = self.heartbeat.lock() {
            *g = Some(handle);
        }
    }

    /// Tell the server the run has ended (best effort, bounded by `timeout`).
    pub fn send_end(&self, timeout: Duration) -> bool {
        let body = json!({
            "apiKey": self.api_key, "experimentKey": self.key, "is_alive": false,
            "local_timestamp": now_ms(), "offline": false
        })
        .to_string();
        let url = self.clientlib("status-report/update");
        client::runtime().block_on(async {
            matches!(
                tokio::time::timeout(timeout, self.post(url, body, false)).await,
                Ok(Ok(_))
            )
        })
    }

    fn shutdown_tasks(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
        for slot in [&self.heartbeat, &self.sender] {
            if let Ok(mut g) = slot.lock() {
                if let Some(h) = g.take() {
                    h.abort();
                }
            }
        }
    }
}

fn take<T>(v: &mut Vec<T>, max: usize) -> Vec<T> {
    let n = v.len().min(max);
    v.drain(..n).collect()
}

fn prepend<T>(v: &mut Vec<T>, mut front: Vec<T>) {
    front.append(v);
    *v = front;
}

/// `Retry-After` (seconds) or Comet's `Retry-After-Custom`.
fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after-custom"))
        .or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        })
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(600.0)))
}

/// Comet's encoding of metric values: numbers as numbers, NaN and infinities as the
/// strings the official SDK sends.
pub fn number(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else if x == x.trunc() && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_numbers() {
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(number(100000.0), json!(100000));
        assert_eq!(number(0.25), json!(0.25));
    }

    #[test]
    fn retry_after_headers() {
        let h = vec![("Retry-After-Custom".to_string(), "3".to_string())];
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let h = vec![("retry-after".to_string(), "0.5".to_string())];
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        assert_eq!(retry_after(&[]), None);
        let h = vec![("retry-after".to_string(), "soon".to_string())];
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn prepend_keeps_order() {
        let mut v = vec![json!(3), json!(4)];
        prepend(&mut v, vec![json!(1), json!(2)]);
        assert_eq!(v, vec![json!(1), json!(2), json!(3), json!(4)]);
    }
}
