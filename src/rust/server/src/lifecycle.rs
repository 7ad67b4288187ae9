//! Starting and stopping servers, and the registry through which the embedding process
//! (R, or the `cometr-server` binary) reaches a running one by its id.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use crate::chaos;
use crate::limits::Limits;
use crate::service;
use crate::state::{Fault, State};
use crate::store::Store;

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

/// The server's own runtime, apart from any the embedding process has.
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

struct Running {
    state: Arc<State>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
}

static SERVERS: Mutex<Vec<(i32, Running)>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<i32> = Mutex::new(1);

/// Run `f` on the state of running server `id`; `None` when there is no such server.
fn with_server<T>(id: i32, f: impl FnOnce(&State) -> T) -> Option<T> {
    let all = SERVERS.lock().ok()?;
    all.iter().find(|(i, _)| *i == id).map(|(_, r)| f(&r.state))
}

/// Change the heartbeat interval a running server asks its clients for.
pub fn set_heartbeat(id: i32, millis: i64) -> bool {
    with_server(id, |s| s.heartbeat_ms.store(millis, Ordering::Relaxed)).is_some()
}

/// The request lines a running server has seen most recently, oldest first.
pub fn recent_requests(id: i32) -> Vec<String> {
    with_server(id, |s| {
        s.requests
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// The request lines a running server has answered most recently, oldest first, each
/// after its status ("200 GET /api/rest/v2/...").
pub fn recent_answers(id: i32) -> Vec<String> {
    with_server(id, |s| {
        s.answers
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Set (or clear, with `None`) the random failures of a running server.
pub fn set_chaos(id: i32, settings: Option<chaos::Settings>) -> bool {
    with_server(id, |s| s.chaos.lock().map(|mut c| *c = settings).is_ok()).unwrap_or(false)
}

/// Add a scripted failure to a running server.
pub fn add_fault(id: i32, fault: Fault) -> bool {
    with_server(id, |s| s.faults.lock().map(|mut f| f.push(fault)).is_ok()).unwrap_or(false)
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    format!("{host}:{port}")
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            format!("{host}:{port}")
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| format!("cannot resolve host '{host}'"))
}

/// Start a server on `host:port` (port 0: a free one) keeping its data in `dir`;
/// returns its id and bound port. Without an API key it serves loopback addresses
/// only: anyone who can reach it could otherwise read and write its experiments.
pub fn start(
    dir: PathBuf,
    host: &str,
    port: u16,
    api_key: Option<String>,
) -> Result<(i32, u16), String> {
    start_with(dir, host, port, api_key, Limits::default())
}

/// [`start`] with other limits than the defaults (tests use short timeouts).
pub fn start_with(
    dir: PathBuf,
    host: &str,
    port: u16,
    api_key: Option<String>,
    limits: Limits,
) -> Result<(i32, u16), String> {
    let addr = resolve(host, port)?;
    if api_key.is_none() && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to serve {} without an API key: without one only this machine \
             (127.0.0.1, ::1, localhost) may be served",
            addr.ip()
        ));
    }
    let store = Store::open(&dir)?;
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
    // A server bound to every address has a key (see above); its clients may know the
    // machine by any name.
    let any_host = bound.ip().is_unspecified();
    let state = Arc::new(
        State::new(
            store,
            api_key,
            format!("http://{shown_host}:{}", bound.port()),
        )
        .with_hosts(&[host], any_host)
        .with_limits(limits),
    );
    let kept = state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let rt = runtime();
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot register the listener: {e}"))?
    };
    rt.spawn(async move {
        serve_connections(listener, state, rx).await;
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

/// What a connection beyond the cap is told before it is closed: busy, try again.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Content-Type: application/json\r\nContent-Length: 61\r\n\r\n\
{\"msg\":\"too many connections to the local server\",\"code\":503}";

/// Accept connections until `shutdown`, serving each over HTTP/1.1 within the state's
/// limits: at most `connections` at once (more are answered 503 and closed), and each
/// closed when its request head takes longer than `idle_timeout` or it stays idle that
/// long between requests. On shutdown, requests in progress finish first.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let cap = state.limits.connections.max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's head timer runs from when it waits for a request's head, so it bounds
    // both a slow head (slowloris) and an idle kept-alive connection.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(state.limits.idle_timeout);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors, or a connection reset while queued:
                    // pause rather than spin, and keep serving.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Beyond the cap: say so and close, without waiting on the client.
            // (A plain write: the reactor has not seen this socket become writable yet.)
            if let Ok(stream) = stream.into_std() {
                use std::io::Write;
                let _ = (&stream).write(BUSY);
            }
            continue;
        };
        let st = state.clone();
        let http = http.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let st = st.clone();
                async move {
                    let req = req.map(axum::body::Body::new);
                    Ok::<_, std::convert::Infallible>(service::handle(st, req).await)
                }
            });
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // Let go of the port at once; connections still open finish on their own.
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(cap as u32).await;
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

/// How long stopping waits for requests in progress to finish and the port to be let go.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Tell server `id` to stop; `None` when there is no such server. The server stops
/// whether or not anyone waits for it.
fn signal_stop(id: i32) -> Option<std::sync::mpsc::Receiver<()>> {
    let running = {
        let mut all = SERVERS.lock().ok()?;
        let pos = all.iter().position(|(i, _)| *i == id)?;
        all.remove(pos).1
    };
    let _ = running.shutdown.send(());
    Some(running.done)
}

/// [`stop`] for a caller that waits in its own way (R, in slices that give way to
/// Ctrl-C): the future ends once the server has let go of its port (`true`), or after
/// `STOP_WAIT`; it needs a Tokio runtime with timers, and may be dropped at any time.
pub fn begin_stop(id: i32) -> Option<impl std::future::Future<Output = bool>> {
    let done = signal_stop(id)?;
    Some(async move {
        let deadline = std::time::Instant::now() + STOP_WAIT;
        loop {
            match done.try_recv() {
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    if std::time::Instant::now() >= deadline {
                        return false;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                _ => return true,
            }
        }
    })
}

/// Stop a server and wait (at most `STOP_WAIT`) until it has let go of its port.
pub fn stop(id: i32) -> bool {
    match signal_stop(id) {
        Some(done) => {
            let _ = done.recv_timeout(STOP_WAIT);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("cometr-life-{}", crate::util::new_id()))
    }

    #[test]
    fn serves_loopback_and_stops() {
        let dir = temp_dir();
        let (id, port) = start(dir.clone(), "127.0.0.1", 0, None).unwrap();
        assert!(port > 0);
        assert!(set_heartbeat(id, 500));
        assert!(stop(id));
        assert!(!stop(id));
        assert!(!set_heartbeat(id, 500));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn lets_go_of_its_port_while_a_request_lingers() {
        use std::io::Write;
        let dir = temp_dir();
        let (id, port) = start(dir.clone(), "127.0.0.1", 0, None).unwrap();
        // A request whose body never comes: it holds its connection for the idle timeout.
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST /api/rest/v2/write/experiment/log-other HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: k\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(stop(id));
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn refuses_other_addresses_without_a_key() {
        let dir = temp_dir();
        let e = start(dir.clone(), "0.0.0.0", 0, None).unwrap_err();
        assert!(e.contains("without an API key"), "{e}");
        assert!(!dir.exists());
        let (id, _) = start(dir.clone(), "0.0.0.0", 0, Some("k".into())).unwrap();
        assert!(stop(id));
        let _ = std::fs::remove_dir_all(dir);
    }
}
