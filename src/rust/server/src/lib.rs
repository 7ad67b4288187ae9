//! The embedded Comet-compatible server.
//!
//! It answers Comet's REST v2 endpoints (`/api/rest/v2/…`, also under
//! `/clientlib/rest/v2/…`) and the clientlib endpoints (`/clientlib/…`) the way Comet's
//! service does, with the same field names and JSON types, so any Comet client can log
//! to it. Records live in SQLite, asset bytes in plain files.

// Handlers return an early `Response` as their error; it is large, and that is fine.
#![allow(clippy::result_large_err)]

pub mod artifacts;
pub mod assets;
pub mod chaos;
pub mod experiment;
pub mod general;
pub mod offline;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use store::Store;

/// Keep SIGPIPE off this thread: a client that hangs up must never reach the embedding
/// process's handler (R's would end the session).
fn block_sigpipe() {
    // SAFETY: changing this thread's signal mask with a properly initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The server's own runtime, apart from the client's.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cometr-server")
            .on_thread_start(block_sigpipe)
            .enable_all()
            .build()
            .expect("cannot start the cometr server runtime")
    })
}

pub struct State {
    pub store: Mutex<Store>,
    pub api_key: Option<String>,
    /// `http://host:port`, used to build experiment links.
    pub base_url: String,
    /// Scripted failures for tests of the client's error handling.
    pub faults: Mutex<Vec<Fault>>,
    /// Random failures (error rates, throttling, drops, latency, down periods).
    pub chaos: Mutex<Option<chaos::Settings>>,
    /// The most recent request lines (method, path and query), for tests and debugging.
    pub requests: Mutex<std::collections::VecDeque<String>>,
    /// The heartbeat interval clients are asked to keep, in milliseconds.
    pub heartbeat_ms: std::sync::atomic::AtomicI64,
}

/// Change the heartbeat interval a running server asks its clients for.
pub fn set_heartbeat(id: i32, millis: i64) -> bool {
    let Ok(all) = SERVERS.lock() else {
        return false;
    };
    match all.iter().find(|(i, _)| *i == id) {
        Some((_, r)) => {
            r.state
                .heartbeat_ms
                .store(millis, std::sync::atomic::Ordering::Relaxed);
            true
        }
        None => false,
    }
}

impl State {
    pub fn new(store: Store, api_key: Option<String>, base_url: String) -> State {
        State {
            store: Mutex::new(store),
            api_key,
            base_url,
            faults: Mutex::new(Vec::new()),
            chaos: Mutex::new(None),
            requests: Mutex::new(std::collections::VecDeque::new()),
            heartbeat_ms: std::sync::atomic::AtomicI64::new(10_000),
        }
    }
}

const REQUEST_LOG: usize = 10_000;

/// The request lines a running server has seen most recently, oldest first.
pub fn recent_requests(id: i32) -> Vec<String> {
    let Ok(all) = SERVERS.lock() else {
        return Vec::new();
    };
    all.iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, r)| {
            r.state
                .requests
                .lock()
                .ok()
                .map(|q| q.iter().cloned().collect())
        })
        .unwrap_or_default()
}

/// Set (or clear, with `None`) the random failures of a running server.
pub fn set_chaos(id: i32, settings: Option<chaos::Settings>) -> bool {
    let Ok(all) = SERVERS.lock() else {
        return false;
    };
    let Some((_, r)) = all.iter().find(|(i, _)| *i == id) else {
        return false;
    };
    let set = r.state.chaos.lock().map(|mut c| *c = settings).is_ok();
    set
}

/// An answer whose body fails at once: the client sees the connection drop.
fn dropped() -> Response {
    let body = Body::from_stream(futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped by fault injection",
        ))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Apply the random failures around the real handler.
async fn handle(state: Shared, req: axum::extract::Request) -> Response {
    if let Ok(mut q) = state.requests.lock() {
        if q.len() == REQUEST_LOG {
            q.pop_front();
        }
        q.push_back(format!("{} {}", req.method(), req.uri()));
    }
    let settings = state.chaos.lock().ok().and_then(|c| c.clone());
    let Some(settings) = settings.filter(|s| s.applies_to(req.uri().path())) else {
        return serve(state, req).await;
    };
    if !settings.latency.is_zero() {
        tokio::time::sleep(settings.latency).await;
    }
    match settings.decide(std::time::Instant::now(), chaos::unit()) {
        chaos::Decision::Serve => serve(state, req).await,
        chaos::Decision::Error(status) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "injected failure",
            None,
        ),
        chaos::Decision::Throttle => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "throttled (injected)", None);
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{}", settings.retry_after)) {
                r.headers_mut().insert("retry-after-custom", v);
            }
            r
        }
        chaos::Decision::DropBefore => dropped(),
        chaos::Decision::DropAfter => {
            let _ = serve(state, req).await;
            dropped()
        }
    }
}

/// Answer requests whose endpoint path contains `path` with `status` and `body`
/// instead of serving them, `remaining` times (negative: forever).
pub struct Fault {
    pub path: String,
    pub status: u16,
    pub body: String,
    pub content_type: String,
    pub remaining: i64,
}

fn take_fault(state: &State, path: &str) -> Option<Response> {
    let mut faults = state.faults.lock().ok()?;
    let pos = faults
        .iter()
        .position(|f| path.contains(&f.path) && f.remaining != 0)?;
    let f = &mut faults[pos];
    if f.remaining > 0 {
        f.remaining -= 1;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some(
        (
            status,
            [("content-type", f.content_type.clone())],
            f.body.clone(),
        )
            .into_response(),
    )
}

/// Add a scripted failure to a running server.
pub fn add_fault(id: i32, fault: Fault) -> bool {
    let Ok(all) = SERVERS.lock() else {
        return false;
    };
    let Some((_, r)) = all.iter().find(|(i, _)| *i == id) else {
        return false;
    };
    let added = r.state.faults.lock().map(|mut f| f.push(fault)).is_ok();
    added
}

pub type Shared = Arc<State>;

struct Running {
    state: Shared,
    shutdown: tokio::sync::oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
}

static SERVERS: Mutex<Vec<(i32, Running)>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<i32> = Mutex::new(1);

/// An answer in Comet's error shape.
pub fn error(status: StatusCode, msg: &str, sdk_error_code: Option<i64>) -> Response {
    let mut body = json!({"msg": msg, "code": status.as_u16()});
    if let Some(c) = sdk_error_code {
        body["sdk_error_code"] = json!(c);
    }
    (status, axum::Json(body)).into_response()
}

pub fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

pub fn db_error(e: rusqlite::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("local server storage error: {e}"),
        None,
    )
}

/// One parsed request, handed to the endpoint functions.
pub struct Ctx {
    pub method: Method,
    /// The endpoint path below the API prefix, e.g. `write/experiment/create`.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// A multipart body, its file part already on disk (the body is then empty).
    pub form: Option<assets::Form>,
}

impl Ctx {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The JSON body (an empty body reads as `{}`).
    pub fn json(&self) -> Result<Value, Response> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not valid JSON: {e}"),
                None,
            )
        })
    }
}

/// Query-string booleans arrive as `TRUE`, `true` or Python's `True`.
pub fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes")
    )
}

fn decode_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = q {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(percent_decode(k), percent_decode(v));
        }
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid gzip body: {e}"))?;
    Ok(out)
}

/// Check the `Authorization` header the way Comet does: a key must be present, and
/// when the server was started with one, it must be that one.
fn authorize(
    state: &State,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<Response> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string())
        .or_else(|| query.get("apiKey").cloned())
        .filter(|s| !s.is_empty());
    match (&state.api_key, given) {
        (_, None) => Some(error(
            StatusCode::UNAUTHORIZED,
            "No API key was provided with the request",
            Some(90212),
        )),
        (Some(expected), Some(given)) if *expected != given => Some(error(
            StatusCode::UNAUTHORIZED,
            "Invalid API key",
            Some(90212),
        )),
        _ => None,
    }
}

async fn serve(state: Shared, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = decode_query(parts.uri.query());

    let (family, rest) = if let Some(r) = path.strip_prefix("/api/rest/v2/") {
        ("rest", r)
    } else if let Some(r) = path.strip_prefix("/clientlib/rest/v2/") {
        ("rest", r)
    } else if let Some(r) = path.strip_prefix("/clientlib/") {
        ("clientlib", r)
    } else if path == "/" || path.is_empty() {
        return (
            StatusCode::OK,
            [("content-type", "text/plain; charset=utf-8")],
            "cometr local Comet-compatible server\n",
        )
            .into_response();
    } else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no such page: {path}"),
            None,
        );
    };
    let rest = rest.trim_end_matches('/').to_string();
    if let Some(resp) = take_fault(&state, &rest) {
        return resp;
    }

    if !(family == "clientlib" && (rest == "isAlive/ver" || rest == "health/ping")) {
        if let Some(resp) = authorize(&state, &parts.headers, &query) {
            return resp;
        }
    }

    // Multipart bodies (asset uploads) can be large: stream them to disk.
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let Ok(dir) = state.store.lock().map(|s| s.assets_dir()) else {
            return general::poisoned();
        };
        let form = match assets::read_multipart(dir, &content_type, Body::new(body)).await {
            Ok(f) => f,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e, None),
        };
        let ctx = Ctx {
            method: parts.method,
            path: rest,
            query,
            headers: parts.headers,
            body: Bytes::new(),
            form: Some(form),
        };
        return run(state, family, ctx).await;
    }

    let raw = match axum::body::to_bytes(Body::new(body), usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read request body: {e}"),
                None,
            )
        }
    };
    let gz = parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gz {
        match gunzip(&raw) {
            Ok(b) => Bytes::from(b),
            Err(e) => return error(StatusCode::BAD_REQUEST, &e, None),
        }
    } else {
        raw
    };
    let ctx = Ctx {
        method: parts.method,
        path: rest,
        query,
        headers: parts.headers,
        body,
        form: None,
    };
    run(state, family, ctx).await
}

async fn run(state: Shared, family: &'static str, ctx: Ctx) -> Response {
    let st = state.clone();
    // SQLite work is synchronous; keep it off the async workers.
    match tokio::task::spawn_blocking(move || dispatch(&st, family, &ctx)).await {
        Ok(r) => r,
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("local server handler failed: {e}"),
            None,
        ),
    }
}

fn dispatch(state: &State, family: &str, ctx: &Ctx) -> Response {
    if let Some(r) = general::route(state, family, ctx) {
        return r;
    }
    if let Some(r) = offline::route(state, family, ctx) {
        return r;
    }
    if let Some(r) = experiment::route(state, family, ctx) {
        return r;
    }
    if let Some(r) = artifacts::route(state, family, ctx) {
        return r;
    }
    error(
        StatusCode::NOT_FOUND,
        &format!("Unknown endpoint: {} {}", ctx.method, ctx.path),
        None,
    )
}

/// Start a server; returns its id and bound port.
pub fn start(
    dir: PathBuf,
    host: &str,
    port: u16,
    api_key: Option<String>,
) -> Result<(i32, u16), String> {
    let store = Store::open(&dir)?;
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            format!("{host}:{port}")
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| format!("cannot resolve host '{host}'"))?;
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure the listener: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let shown_host = if bound.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if bound.is_ipv6() {
        format!("[{}]", bound.ip())
    } else {
        bound.ip().to_string()
    };
    let state = Arc::new(State::new(
        store,
        api_key,
        format!("http://{shown_host}:{}", bound.port()),
    ));
    let kept = state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let st = state.clone();
        async move { handle(st, req).await }
    });
    let rt = runtime();
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot register the listener: {e}"))?
    };
    rt.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        let _ = done_tx.send(());
    });
    let id = {
        let mut n = NEXT_ID.lock().map_err(|_| "server registry poisoned")?;
        *n += 1;
        *n - 1
    };
    SERVERS
        .lock()
        .map_err(|_| "server registry poisoned")?
        .push((
            id,
            Running {
                state: kept,
                shutdown: tx,
                done: done_rx,
            },
        ));
    Ok((id, bound.port()))
}

/// Block until the process is asked to end (SIGINT or SIGTERM); used by the
/// `cometr-server` binary, which has no R session to keep it alive.
pub fn wait_for_shutdown_signal() {
    runtime().block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
}

/// Stop a server and wait (briefly) until it has let go of its port.
pub fn stop(id: i32) -> bool {
    let running = {
        let Ok(mut all) = SERVERS.lock() else {
            return false;
        };
        match all.iter().position(|(i, _)| *i == id) {
            Some(pos) => all.remove(pos).1,
            None => return false,
        }
    };
    let _ = running.shutdown.send(());
    let _ = running.done.recv_timeout(std::time::Duration::from_secs(5));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Request parsing never panics, whatever a client sends.
        #[test]
        fn any_query_decodes(q in "\\PC*") {
            let _ = decode_query(Some(&q));
            let _ = percent_decode(&q);
        }

        #[test]
        fn any_bytes_gunzip_or_error(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = gunzip(&b);
        }

        #[test]
        fn any_fault_settings_parse_or_error(t in "\\PC*") {
            let _ = chaos::Settings::from_json(&t);
        }

        #[test]
        fn encoded_pairs_round_trip(k in "[a-zA-Z0-9]{1,10}", v in "\\PC{0,30}") {
            let enc: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
            let q = decode_query(Some(&format!("{k}={enc}")));
            proptest::prop_assert_eq!(q.get(&k).cloned(), Some(v));
        }
    }

    #[test]
    fn decodes_queries() {
        let q = decode_query(Some("a=1&b=x%20y&c=a+b&d=%zz&e"));
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x y");
        assert_eq!(q["c"], "a b");
        assert_eq!(q["d"], "%zz");
        assert_eq!(q["e"], "");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
