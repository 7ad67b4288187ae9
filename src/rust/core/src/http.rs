//! The process-wide HTTP client: one connection pool, rustls with the system's roots,
//! proxies from the environment, gzip, connect and read timeouts (no total timeout, so a
//! large transfer on a slow link is not cut off while bytes still flow).

use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use crate::logging::{self, Level};

static USER_AGENT: RwLock<String> = RwLock::new(String::new());

/// One runtime for the client side (requests, batch senders, heartbeats). The local
/// server has its own, so a busy server never starves the client and vice versa.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cometr-client")
            .on_thread_start(block_sigpipe)
            .enable_all()
            .build()
            .expect("cannot start the cometr client runtime")
    })
}

/// Keep SIGPIPE away from this thread. R handles SIGPIPE by raising an R error from
/// the signal handler, which must never run on a thread of ours (or in the middle of
/// Rust code on R's thread): a write to a connection the peer closed then simply
/// fails with EPIPE.
pub fn block_sigpipe() {
    // SAFETY: manipulating this thread's signal mask with a properly initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Run a future to completion from R's main thread, with SIGPIPE blocked meanwhile
/// (any SIGPIPE raised is consumed before R's own mask is restored).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // SAFETY: saving, changing and restoring this thread's signal mask; sigtimedwait
    // with a zero timeout only takes a pending SIGPIPE.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let out = runtime().block_on(f);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGPIPE {}
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
}

/// What R's main thread lends the client's blocking waits: a check for a pending user
/// interrupt (Ctrl-C) and a way to tell the user what a long wait is for. The core
/// never calls R itself; these run only on the thread that installed them (R's main
/// thread), between slices of a wait.
pub struct WaitHooks {
    /// Whether the user asked to interrupt (the check consumes the request).
    pub interrupted: fn() -> bool,
    /// Say something to the user, once per long wait; `true` when the user's handler
    /// jumped away from it, which ends the wait as an interrupt does.
    pub notice: fn(&str) -> bool,
}

/// Why a wait on R's main thread was broken off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// The user pressed Ctrl-C.
    Interrupt,
    /// A condition handler jumped away from the wait's notice.
    Jump,
}

static WAIT_HOOKS: OnceLock<(std::thread::ThreadId, WaitHooks)> = OnceLock::new();
/// Set when a wait on the hooks' thread was broken off (0: not, 1: interrupt, 2: a
/// handler's jump); the glue turns the next answer into that.
static BROKEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// How often a blocking wait looks for an interrupt: well within half a second.
pub const WAIT_SLICE: Duration = Duration::from_millis(100);
/// A wait longer than this says once what it waits for.
pub const NOTICE_AFTER: Duration = Duration::from_secs(2);

/// Install the hooks for the calling thread (once per process; later calls are ignored).
pub fn set_wait_hooks(hooks: WaitHooks) {
    let _ = WAIT_HOOKS.set((std::thread::current().id(), hooks));
}

/// Whether a wait was broken off since the last call, and why (and clear it).
pub fn take_broken() -> Option<Broken> {
    match BROKEN.swap(0, std::sync::atomic::Ordering::AcqRel) {
        1 => Some(Broken::Interrupt),
        2 => Some(Broken::Jump),
        _ => None,
    }
}

fn hooks_here() -> Option<&'static WaitHooks> {
    WAIT_HOOKS
        .get()
        .filter(|(id, _)| *id == std::thread::current().id())
        .map(|(_, h)| h)
}

/// `block_on` for waits a user may want to end: on R's main thread the future is
/// polled in slices of `WAIT_SLICE`, between which a user interrupt is looked for. An
/// interrupt drops the future (so nothing of it keeps running), records the interrupt
/// for `take_broken()` and returns `on_interrupt()`. After `NOTICE_AFTER`, `what()`
/// is said once. Elsewhere (core tests, background threads) it is plain `block_on`.
pub fn block_on_interruptible<F: std::future::Future>(
    f: F,
    what: impl Fn() -> String,
    on_interrupt: impl FnOnce() -> F::Output,
) -> F::Output {
    let Some(hooks) = hooks_here() else {
        return block_on(f);
    };
    // A wait already broken off in this call to the glue: the rest of the call (a
    // close's end notice after its flush) does not wait either.
    if BROKEN.load(std::sync::atomic::Ordering::Acquire) != 0 {
        return on_interrupt();
    }
    let out = block_on(async {
        let start = std::time::Instant::now();
        let mut told = false;
        let mut f = std::pin::pin!(f);
        loop {
            if let Ok(out) = tokio::time::timeout(WAIT_SLICE, &mut f).await {
                return Ok(out);
            }
            if (hooks.interrupted)() {
                return Err(Broken::Interrupt);
            }
            if !told && start.elapsed() >= NOTICE_AFTER {
                told = true;
                if (hooks.notice)(&logging::redact(&what())) {
                    return Err(Broken::Jump);
                }
            }
        }
    });
    out.unwrap_or_else(|why| {
        let code = if why == Broken::Interrupt { 1 } else { 2 };
        BROKEN.store(code, std::sync::atomic::Ordering::Release);
        on_interrupt()
    })
}

pub fn set_user_agent(ua: &str) {
    if let Ok(mut g) = USER_AGENT.write() {
        *g = ua.to_string();
    }
}

fn user_agent() -> String {
    USER_AGENT
        .read()
        .map(|g| g.clone())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("cometr/{} (R)", env!("CARGO_PKG_VERSION")))
}

static TLS_VERIFY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Certificate checks are on unless R turns them off explicitly (and warns).
pub fn set_tls_verify(verify: bool) {
    TLS_VERIFY.store(verify, std::sync::atomic::Ordering::Release);
}

fn build_client(verify: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .gzip(true)
        .redirect(reqwest::redirect::Policy::custom(redirect_policy))
        .danger_accept_invalid_certs(!verify)
        .build()
        .expect("cannot build the cometr HTTP client")
}

/// Redirects are followed only to the same origin (scheme, host and port), or from
/// http to https on the same host: a request carries the key in its `Authorization`
/// header and often in its body (`apiKey`), which a 307/308 re-sends, so neither may go
/// to another origin or down from https to http. Any other redirect is not followed:
/// the caller gets the 3xx answer, an HTTP error in R (`cometr_http_307`, ...).
fn redirect_policy(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    let Some(prev) = attempt.previous().last() else {
        return attempt.stop();
    };
    let next = attempt.url();
    let same_host = next.host_str() == prev.host_str();
    let same_origin = same_host
        && next.scheme() == prev.scheme()
        && next.port_or_known_default() == prev.port_or_known_default();
    let upgrade = same_host && prev.scheme() == "http" && next.scheme() == "https";
    if attempt.previous().len() > 10 || !(same_origin || upgrade) {
        let _ = logging::write(
            Level::Warning,
            &format!("Not following a redirect from {prev} to another origin ({next})"),
        );
        return attempt.stop();
    }
    attempt.follow()
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    static UNVERIFIED: OnceLock<reqwest::Client> = OnceLock::new();
    if TLS_VERIFY.load(std::sync::atomic::Ordering::Acquire) {
        CLIENT.get_or_init(|| build_client(true))
    } else {
        UNVERIFIED.get_or_init(|| build_client(false))
    }
}

/// What R asks for.
#[derive(Default, Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub api_key: String,
    pub query: Vec<(String, String)>,
    pub json_body: Option<String>,
    /// Multipart form: an optional file part `file`, then plain text fields in order.
    pub file_part: Option<String>,
    /// The SHA-256 (hex) the file part must have: hashed as it is streamed, and the body
    /// broken off at its end if it differs, so a file changed while being sent never
    /// arrives whole.
    pub file_sha256: Option<String>,
    pub form: Vec<(String, String)>,
    pub multipart: bool,
    pub gzip_body: bool,
    /// Extra headers (the identity of a batch, which Comet's service ignores).
    pub headers: Vec<(String, String)>,
    /// The most bytes of answer body `send` reads (0: no bound). An API answer is held
    /// whole in memory, so a server must not be able to send gigabytes into it.
    pub max_answer: u64,
}

/// What comes back: either an HTTP answer (any status) or a transport failure.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum Failure {
    /// Could not reach the server or the connection broke (no HTTP status).
    Transport(String),
    /// A local problem before sending (unreadable file, bad URL).
    Input(String),
    /// The answer's body is larger than the request allows (`Request::max_answer`).
    TooLarge(String),
}

impl Failure {
    pub fn message(&self) -> String {
        match self {
            Failure::Transport(m) | Failure::Input(m) | Failure::TooLarge(m) => logging::redact(m),
        }
    }
}

pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    // reqwest's Display names the URL; its source chain says why. URLs never carry the key.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

async fn build(req: &Request) -> Result<reqwest::RequestBuilder, Failure> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| Failure::Input(format!("unsupported HTTP method '{}'", req.method)))?;
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| Failure::Input(format!("invalid URL '{}': {e}", req.url)))?;
    let mut rb = client()
        .request(method, url)
        .header(reqwest::header::USER_AGENT, user_agent())
        .header(reqwest::header::ACCEPT, "application/json, */*");
    if !req.api_key.is_empty() {
        logging::register_secret(&req.api_key);
        let mut hv = reqwest::header::HeaderValue::from_str(&req.api_key).map_err(|_| {
            Failure::Input("the API key contains characters not allowed in an HTTP header".into())
        })?;
        hv.set_sensitive(true);
        rb = rb.header(reqwest::header::AUTHORIZATION, hv);
    }
    for (name, value) in &req.headers {
        rb = rb.header(name.as_str(), value.as_str());
    }
    if !req.query.is_empty() {
        rb = rb.query(&req.query);
    }
    if req.multipart {
        let mut form = reqwest::multipart::Form::new();
        if let Some(path) = &req.file_part {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| Failure::Input(format!("cannot read file '{path}': {e}")))?;
            let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            let name = std::path::Path::new(path)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            let stream = tokio_util_stream(file, req.file_sha256.clone());
            let part = reqwest::multipart::Part::stream_with_length(stream, len)
                .file_name(name)
                .mime_str("application/octet-stream")
                .map_err(|e| Failure::Input(e.to_string()))?;
            form = form.part("file", part);
        }
        for (k, v) in &req.form {
            form = form.text(k.clone(), v.clone());
        }
        rb = rb.multipart(form);
    } else if let Some(body) = &req.json_body {
        rb = rb.header(
            reqwest::header::CONTENT_TYPE,
            "application/json;charset=utf-8",
        );
        if req.gzip_body {
            rb = rb
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(gzip(body.as_bytes()));
        } else {
            rb = rb.body(body.clone());
        }
    }
    Ok(rb)
}

/// Stream a file in 256 KiB chunks so an upload holds constant memory; with `expected`,
/// hash it on the way and end with an error instead of the last (empty) read when the
/// bytes sent are not those expected.
fn tokio_util_stream(file: tokio::fs::File, expected: Option<String>) -> reqwest::Body {
    use futures_util::stream;
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let hasher = expected.as_ref().map(|_| sha2::Sha256::new());
    let s = stream::unfold(
        (Some(file), hasher, expected),
        |(f, mut hasher, expected)| async move {
            let mut f = f?;
            let mut buf = vec![0u8; 256 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => {
                    let got = hasher.map(|h| crate::hex(&h.finalize()));
                    match (got, expected) {
                        (Some(got), Some(want)) if got != want => Some((
                            Err(std::io::Error::other(
                                "the file changed while it was being sent",
                            )),
                            (None, None, None),
                        )),
                        _ => None,
                    }
                }
                Ok(n) => {
                    buf.truncate(n);
                    if let Some(h) = hasher.as_mut() {
                        h.update(&buf);
                    }
                    Some((
                        Ok::<bytes::Bytes, std::io::Error>(bytes::Bytes::from(buf)),
                        (Some(f), hasher, expected),
                    ))
                }
                Err(e) => Some((Err(e), (None, None, None))),
            }
        },
    );
    reqwest::Body::wrap_stream(s)
}

/// Send one request and read the whole answer.
pub async fn send(req: &Request) -> Result<Response, Failure> {
    if logging::enabled(Level::Info) {
        let _ = logging::write(
            Level::Info,
            &format!("API call: {} {} query={:?}", req.method, req.url, req.query),
        );
    }
    let resp = start(req).await?;
    let status = resp.status().as_u16();
    let content_type = content_type(&resp);
    let headers = header_pairs(&resp);
    let body = read_body(resp, req).await?;
    let _ = logging::write(
        Level::Debug,
        &format!(
            "API response {status} from {} ({} bytes)",
            req.url,
            body.len()
        ),
    );
    Ok(Response {
        status,
        content_type,
        body,
        headers,
    })
}

/// The whole body of an answer, within `req.max_answer` bytes (checked on the declared
/// length first, then on the bytes as they come, since a length can be absent or false).
async fn read_body(mut resp: reqwest::Response, req: &Request) -> Result<Vec<u8>, Failure> {
    let cap = req.max_answer;
    let too_large = || {
        Failure::TooLarge(format!(
            "the answer from {} is larger than {cap} bytes (option `cometr.max_answer_size`)",
            req.url
        ))
    };
    if cap > 0 && resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Failure::Transport(describe_reqwest_error(&e)))?
    {
        if cap > 0 && body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The answer's headers whose values are text, as name/value pairs.
pub fn header_pairs(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect()
}

/// The answer's media type, or "" when it has none.
pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Send a request and return the answer as soon as its headers have arrived, for
/// callers that stream the body.
pub async fn start(req: &Request) -> Result<reqwest::Response, Failure> {
    let rb = build(req).await?;
    rb.send()
        .await
        .map_err(|e| Failure::Transport(describe_reqwest_error(&e)))
}

#[cfg(test)]
mod redirect_tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener that answers every request with `answer(port)` and keeps what it read.
    async fn listener(
        answer: impl Fn(u16, &[u8]) -> String + Send + 'static,
    ) -> (u16, Arc<Mutex<Vec<u8>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = vec![0u8; 65536];
                // Enough for the small requests of this test; a pause ends the read.
                let mut got = Vec::new();
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                keep.lock().unwrap().extend_from_slice(&got);
                let _ = c.write_all(answer(port, &got).as_bytes()).await;
                let _ = c.shutdown().await;
            }
        });
        (port, seen)
    }

    fn redirect_to(url: String) -> String {
        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn no_redirect_carries_the_key_to_another_origin() {
        runtime().block_on(async {
            let (other, other_seen) = listener(|_, _| {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
            })
            .await;
            let (first, first_seen) =
                listener(move |_, _| redirect_to(format!("http://127.0.0.1:{other}/stolen"))).await;
            let req = Request {
                method: "POST".into(),
                url: format!("http://127.0.0.1:{first}/api/rest/v2/write/x"),
                api_key: "RedirectKey0123456789".into(),
                json_body: Some("{\"apiKey\":\"RedirectKey0123456789\"}".into()),
                ..Default::default()
            };
            let resp = send(&req).await.unwrap();
            assert_eq!(resp.status, 307);
            assert!(contains(
                &first_seen.lock().unwrap(),
                "RedirectKey0123456789"
            ));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(other_seen.lock().unwrap().is_empty());
            // Within the same origin a redirect is followed.
            let (same, _) = listener(|port, got| {
                if contains(got, "GET /a ") {
                    redirect_to(format!("http://127.0.0.1:{port}/b"))
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        .to_string()
                }
            })
            .await;
            let req = Request {
                method: "GET".into(),
                url: format!("http://127.0.0.1:{same}/a"),
                ..Default::default()
            };
            let resp = send(&req).await.unwrap();
            assert_eq!((resp.status, resp.body), (200, b"ok".to_vec()));
        });
    }
}
