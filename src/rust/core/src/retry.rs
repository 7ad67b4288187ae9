//! The retry policy and the one retry loop every request to Comet goes through: R's
//! direct calls (`comet_http()`), the outbox's sender, and the replay of offline
//! archives. The policy is pure functions: which answers are worth another attempt,
//! how long to wait (the server's `Retry-After-Custom` or `Retry-After`, else
//! exponential backoff with full jitter), and whether that wait still fits the budget.

use std::time::{Duration, Instant};

use crate::http::{self, Failure, Request, Response};
use crate::logging::{self, Level};

pub const BASE: Duration = Duration::from_millis(250);
pub const CAP: Duration = Duration::from_secs(30);
/// The longest wait a server may ask for; a larger one is taken as this.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(600);
/// How long the background sender keeps retrying one batch before it leaves the batch
/// queued for the next round (or the final flush).
pub const BACKGROUND_BUDGET: Duration = Duration::from_secs(60);
/// How long the replay of an offline archive retries one request.
pub const REPLAY_BUDGET: Duration = Duration::from_secs(60);

/// HTTP statuses worth another attempt: timeouts, throttling, and every 5xx.
///
/// Every 5xx counts, not just 500/502/503/504: Comet's own SDK treats 500-599 from the
/// clientlib batch endpoints as transient, and a proxy or load balancer in front of a
/// Comet server answers with the whole range while it restarts or is overloaded. A 5xx
/// that will never succeed (501, 505) costs no more than the budget, and the caller
/// still gets the server's last answer. One rule for the sender and R's direct calls
/// means an outage looks the same whichever way the data goes.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// The wait the server asked for: Comet's `Retry-After-Custom` first, then the
/// standard `Retry-After`, both in (possibly fractional) seconds. An HTTP-date, a
/// negative or non-finite number is ignored; a longer wait than `MAX_SERVER_WAIT` is cut.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| seconds(v))
    };
    find("retry-after-custom").or_else(|| find("retry-after"))
}

fn seconds(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s).min(MAX_SERVER_WAIT))
}

/// The wait before attempt `attempt + 1`, given a uniform random number in [0, 1):
/// a random point in [0, min(cap, base * 2^attempt)].
pub fn backoff_with(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(CAP)
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// A uniform random number in [0, 1) for the jitter, without touching R's RNG.
pub fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The server answered with this status and these headers.
    Answer(u16, &'a [(String, String)]),
    /// No answer: the connection failed or broke.
    Unreachable,
    /// A local problem (unreadable file, bad URL) that another attempt cannot fix.
    Local,
}

impl<'a> Outcome<'a> {
    pub fn of(result: &'a Result<Response, Failure>) -> Outcome<'a> {
        match result {
            Ok(r) => Outcome::Answer(r.status, &r.headers),
            Err(Failure::Transport(_)) => Outcome::Unreachable,
            Err(Failure::Input(_) | Failure::TooLarge(_)) => Outcome::Local,
        }
    }

    /// Whether another attempt could succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Outcome::Answer(status, _) => is_transient_status(*status),
            Outcome::Unreachable => true,
            Outcome::Local => false,
        }
    }
}

/// The wait before the next attempt, given the backoff's random number, or `None` when
/// the outcome is final (success, refusal, local problem).
pub fn pause_with(outcome: Outcome, attempt: u32, unit: f64) -> Option<Duration> {
    if !outcome.is_transient() {
        return None;
    }
    let asked = match outcome {
        Outcome::Answer(_, headers) => retry_after(headers),
        _ => None,
    };
    // Never spin: at least a few milliseconds between attempts.
    Some(asked.unwrap_or_else(|| backoff_with(attempt, unit).max(Duration::from_millis(5))))
}

/// Whether waiting `pause` from `now` still leaves time for an attempt before `deadline`.
pub fn fits(now: Instant, pause: Duration, deadline: Instant) -> bool {
    now.checked_add(pause).is_some_and(|t| t < deadline)
}

/// Since when each server (by origin: scheme, host and port) has given no answer at
/// all: every attempt since failed to connect or broke off. Any answer clears it. The
/// end of a run reads it, to stop waiting for a server that is down (the data stays
/// in the spool).
static UNREACHABLE: std::sync::Mutex<Vec<(String, Instant)>> = std::sync::Mutex::new(Vec::new());

/// The origin of `url` (`scheme://host:port`), the unit of reachability.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Note what an attempt to reach `url` came to.
pub fn note_reachability(url: &str, outcome: &Outcome) {
    let Ok(mut all) = UNREACHABLE.lock() else {
        return;
    };
    let o = origin(url);
    let at = all.iter().position(|(k, _)| k == o);
    match (outcome, at) {
        (Outcome::Unreachable, None) => all.push((o.to_string(), Instant::now())),
        (Outcome::Answer(..), Some(i)) => {
            all.swap_remove(i);
        }
        _ => {}
    }
}

/// Whether the server at `url` accepts a TCP connection within `wait`. Reachability
/// above is only as fresh as the last attempt, and a sender in a long backoff may not
/// have tried since the server came back: before the end of a run gives up on a server,
/// it asks the network directly (a refused or unanswered connection is down).
pub async fn accepts_connections(url: &str, wait: Duration) -> bool {
    let o = origin(url);
    let (scheme, authority) = o.split_once("://").unwrap_or(("http", o));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    // A port is given when the text after the host's last ':' is all digits (IPv6
    // hosts are bracketed, so their colons come before the closing bracket).
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty()
    });
    let target = if has_port {
        authority.to_string()
    } else {
        let port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        format!("{authority}:{port}")
    };
    matches!(
        tokio::time::timeout(wait, tokio::net::TcpStream::connect(target)).await,
        Ok(Ok(_))
    )
}

/// How long the server at `url` has given no answer at all (`None`: it answered last).
pub fn unreachable_for(url: &str) -> Option<Duration> {
    let all = UNREACHABLE.lock().ok()?;
    let o = origin(url);
    all.iter()
        .find(|(k, _)| k == o)
        .map(|(_, since)| since.elapsed())
}

/// Send `req`, retrying transient failures until the next wait would pass `deadline`.
/// The last answer or failure is returned as it came, for the caller to judge.
pub async fn send_until(req: &Request, deadline: Instant) -> Result<Response, Failure> {
    let unchecked = || async { Ok::<(), std::convert::Infallible>(()) };
    match send_until_checked(req, deadline, unchecked).await {
        Ok(result) => result,
        Err(never) => match never {},
    }
}

/// `send_until`, with `check` run before every attempt: its error ends the loop
/// (`Err`) with no request sent. An upload checks that the file is still the one logged,
/// since every attempt reads it again.
pub async fn send_until_checked<F, Fut, E>(
    req: &Request,
    deadline: Instant,
    mut check: F,
) -> Result<Result<Response, Failure>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut attempt = 0u32;
    loop {
        check().await?;
        let result = http::send(req).await;
        note_reachability(&req.url, &Outcome::of(&result));
        let Some(wait) = pause_with(Outcome::of(&result), attempt, random_unit()) else {
            return Ok(result);
        };
        if !fits(Instant::now(), wait, deadline) {
            return Ok(result);
        }
        if logging::enabled(Level::Info) {
            let _ = logging::write(
                Level::Info,
                &format!("retrying {} {} in {:?}", req.method, req.url, wait),
            );
        }
        attempt += 1;
        tokio::time::sleep(wait).await;
    }
}

/// The blocking form for R's main thread, with a budget from now.
pub fn send_blocking(req: &Request, budget: Duration) -> Result<Response, Failure> {
    send_blocking_within(req, budget, None)
}

/// `send_blocking`, given up (as unreachable) once `limit` has passed, even in the middle
/// of an attempt: for a first contact, where a server that accepts connections and never
/// answers must be noticed in seconds, not after a read timeout.
pub fn send_blocking_within(
    req: &Request,
    budget: Duration,
    limit: Option<Duration>,
) -> Result<Response, Failure> {
    let deadline = Instant::now() + budget;
    let send = async {
        match limit {
            None => send_until(req, deadline).await,
            Some(limit) => tokio::time::timeout(limit, send_until(req, deadline))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Transport(format!(
                        "no answer from {} within {} s",
                        req.url,
                        limit.as_secs_f64()
                    )))
                }),
        }
    };
    let what = || {
        format!(
            "Waiting for Comet at {} to answer; retrying for up to {} s in all (option `cometr.retry_timeout` or COMET_RETRY_TIMEOUT changes this; Ctrl-C stops).",
            req.url,
            budget.as_secs()
        )
    };
    http::block_on_interruptible(send, what, || {
        Err(Failure::Transport("interrupted".to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn a_connection_probe_tells_a_listening_server_from_a_closed_port() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = format!("http://{}/clientlib/x", listener.local_addr().unwrap());
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/clientlib/x", l.local_addr().unwrap())
        };
        let wait = Duration::from_secs(1);
        assert!(rt.block_on(accepts_connections(&open, wait)));
        assert!(!rt.block_on(accepts_connections(&closed, wait)));
    }

    #[test]
    fn reachability_is_kept_per_origin_until_an_answer() {
        let url = "http://127.0.0.1:9/clientlib/batch/logger/experiment/metric";
        assert_eq!(origin(url), "http://127.0.0.1:9");
        assert_eq!(origin("http://h:1"), "http://h:1");
        assert!(unreachable_for(url).is_none());
        note_reachability(url, &Outcome::Unreachable);
        std::thread::sleep(Duration::from_millis(20));
        note_reachability("http://127.0.0.1:9/api/rest/v2/x", &Outcome::Unreachable);
        // The same server by another path: still down since the first failure.
        assert!(unreachable_for("http://127.0.0.1:9/other").unwrap() >= Duration::from_millis(20));
        assert!(unreachable_for("http://127.0.0.1:10/x").is_none());
        note_reachability(url, &Outcome::Answer(503, &[]));
        assert!(unreachable_for(url).is_none());
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 501, 502, 503, 504, 505, 599] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [200, 204, 301, 400, 401, 403, 404, 409, 422, 600] {
            assert!(!is_transient_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(
            retry_after(&h("Retry-After-Custom", "3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&h("retry-after", "0.5")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(&[]), None);
        assert_eq!(retry_after(&h("retry-after", "soon")), None);
        assert_eq!(
            retry_after(&h("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after(&h("retry-after", "-1")), None);
        assert_eq!(retry_after(&h("retry-after", "NaN")), None);
        assert_eq!(retry_after(&h("retry-after", "1e9")), Some(MAX_SERVER_WAIT));
        // Comet's own header wins over the standard one.
        let both = vec![
            ("Retry-After".to_string(), "9".to_string()),
            ("Retry-After-Custom".to_string(), "1".to_string()),
        ];
        assert_eq!(retry_after(&both), Some(Duration::from_secs(1)));
        // An unusable custom value falls back to the standard header.
        let both = vec![
            ("Retry-After-Custom".to_string(), "x".to_string()),
            ("Retry-After".to_string(), "2".to_string()),
        ];
        assert_eq!(retry_after(&both), Some(Duration::from_secs(2)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_with(0, 1.0), BASE);
        assert_eq!(backoff_with(2, 1.0), BASE * 4);
        assert_eq!(backoff_with(40, 1.0), CAP);
        assert_eq!(backoff_with(3, 0.0), Duration::ZERO);
        assert_eq!(backoff_with(1, 0.5), BASE);
        for a in 0..50 {
            let p = pause_with(Outcome::Unreachable, a, random_unit()).unwrap();
            assert!(p <= CAP && p >= Duration::from_millis(5));
        }
    }

    #[test]
    fn pauses_follow_the_outcome() {
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(pause_with(Outcome::Answer(200, &none), 0, 1.0), None);
        assert_eq!(pause_with(Outcome::Answer(404, &none), 0, 1.0), None);
        assert_eq!(pause_with(Outcome::Local, 0, 1.0), None);
        assert_eq!(pause_with(Outcome::Unreachable, 1, 1.0), Some(BASE * 2));
        assert_eq!(pause_with(Outcome::Answer(503, &none), 0, 1.0), Some(BASE));
        // Never zero, so a loop cannot spin.
        assert_eq!(
            pause_with(Outcome::Answer(500, &none), 0, 0.0),
            Some(Duration::from_millis(5))
        );
        let asked = h("Retry-After-Custom", "2");
        assert_eq!(
            pause_with(Outcome::Answer(429, &asked), 7, 1.0),
            Some(Duration::from_secs(2))
        );
        // A wait asked with a final answer is no reason to retry.
        assert_eq!(pause_with(Outcome::Answer(400, &asked), 0, 1.0), None);
    }

    #[test]
    fn the_budget_bounds_the_wait() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(1);
        assert!(fits(now, Duration::from_millis(999), deadline));
        assert!(!fits(now, Duration::from_secs(1), deadline));
        assert!(!fits(now, Duration::from_secs(5), deadline));
        assert!(!fits(now, Duration::MAX, deadline));
    }
}
