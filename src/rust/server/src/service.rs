//! The HTTP front: for each request, note it, apply injected failures, check the API
//! key, parse the request, route it to its handler (off the async workers) and format
//! the reply.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;

use crate::chaos;
use crate::error::{code, ApiError};
use crate::handlers::Env;
use crate::reply;
use crate::request::{decode_query, target, Api, Request, Target};
use crate::router;
use crate::state::State;
use crate::trust;

/// Answer one request. Every answer tells browsers not to guess content types, so an
/// uploaded HTML or text asset is never run as a page.
pub async fn handle(state: Arc<State>, req: axum::extract::Request) -> Response {
    let line = trust::log_line(req.method(), req.uri());
    let mut r = handle_logged(state.clone(), req).await;
    state.log_answer(r.status().as_u16(), &line);
    r.headers_mut().insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// Apply the random failures around the real service.
async fn handle_logged(state: Arc<State>, req: axum::extract::Request) -> Response {
    // A named batch is logged with its identity, so a test can tell a resent batch
    // from a new one.
    let batch = req
        .headers()
        .get(crate::router::BATCH_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|id| format!(" batch={id}"))
        .unwrap_or_default();
    state.log_request(format!(
        "{}{batch}",
        trust::log_line(req.method(), req.uri())
    ));
    let settings = state.chaos.lock().ok().and_then(|c| c.clone());
    let Some(settings) = settings.filter(|s| s.applies_to(req.uri().path())) else {
        return serve(state, req).await;
    };
    if !settings.latency.is_zero() {
        tokio::time::sleep(settings.latency).await;
    }
    match settings.decide(std::time::Instant::now(), chaos::unit()) {
        chaos::Decision::Serve => serve(state, req).await,
        chaos::Decision::Error(status) => {
            reply::error(&ApiError::new(status, "injected failure", None))
        }
        chaos::Decision::Throttle => reply::throttled(settings.retry_after),
        chaos::Decision::DropBefore => reply::dropped(),
        chaos::Decision::DropAfter => {
            let _ = serve(state, req).await;
            reply::dropped()
        }
    }
}

/// Check the API key the way Comet does: a key must be present, and when the server
/// was started with one, it must be that one.
fn authorize(state: &State, req: &Request) -> Result<(), ApiError> {
    let unauthorized = |msg: &str| ApiError::new(401, msg, Some(code::BAD_API_KEY));
    match (&state.api_key, req.api_key()) {
        (_, None) => Err(unauthorized("No API key was provided with the request")),
        (Some(expected), Some(given)) if !trust::keys_match(expected, &given) => {
            Err(unauthorized("Invalid API key"))
        }
        _ => Ok(()),
    }
}

async fn serve(state: Arc<State>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(e) = trust::check_origin(&state.hosts, &parts.headers) {
        return reply::error(&e);
    }
    let (api, path) = match target(parts.uri.path()) {
        Target::Root | Target::Unknown => {
            // Comet's other services (optimizer, accounts) are refused with 501, before
            // the dashboard reads `/optimizer/x` as a workspace's page.
            if let Some(e) = router::other_service(parts.uri.path()) {
                return reply::error(&e);
            }
            return match router::dashboard_file(parts.uri.path()) {
                Some(file) => crate::dashboard::respond(&parts.method, file),
                None => {
                    let msg = format!("no such page: {}", parts.uri.path());
                    reply::error(&ApiError::new(404, msg, None))
                }
            };
        }
        Target::Endpoint(api, path) => (api, path),
    };
    let checked = trust::check_method(api, &path, &parts.method, &parts.headers)
        .and_then(|_| trust::check_content_type(&parts.method, &parts.headers));
    if let Err(e) = checked {
        return reply::error(&e);
    }
    if let Some((status, content_type, body)) = state.take_fault(&path) {
        return reply::raw(status, &content_type, body);
    }
    let mut request = Request::new(parts.method, api, &path);
    request.query = decode_query(parts.uri.query());
    request.headers = parts.headers;
    let open = api == Api::Clientlib && (path == "isAlive/ver" || path == "health/ping");
    if !open {
        if let Err(e) = authorize(&state, &request) {
            return reply::error(&e);
        }
    }
    if let Err(e) = request
        .read_body(Body::new(body), state.upload_dir.clone(), &state.limits)
        .await
    {
        return reply::error(&e);
    }
    // SQLite work is synchronous; keep it off the async workers.
    let handled = tokio::task::spawn_blocking(move || {
        let store = state
            .store
            .lock()
            .map_err(|_| ApiError::storage_unavailable())?;
        let env = Env {
            store: &store,
            base_url: &state.base_url,
            heartbeat_ms: state.heartbeat_ms.load(Ordering::Relaxed),
        };
        router::route(&env, &request)
    })
    .await;
    match handled {
        Ok(h) => reply::respond(h),
        Err(e) => reply::error(&ApiError::internal(format!(
            "local server handler failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use axum::http::StatusCode;

    fn state(key: Option<&str>) -> (Arc<State>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cometr-svc-{}", crate::util::new_id()));
        let store = Store::open(&dir).unwrap();
        (
            Arc::new(State::new(store, key.map(String::from), "http://x".into())),
            dir,
        )
    }

    fn call(state: &Arc<State>, req: axum::http::Request<Body>) -> Response {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(handle(state.clone(), req))
    }

    fn request(uri: &str, key: Option<&str>) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(k) = key {
            b = b.header("authorization", k);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn keys_faults_and_pages() {
        let (st, dir) = state(Some("secret"));
        assert_eq!(call(&st, request("/", None)).status(), StatusCode::OK);
        assert_eq!(
            call(&st, request("/clientlib/isAlive/ver", None)).status(),
            StatusCode::OK
        );
        assert_eq!(
            call(&st, request("/api/rest/v2/workspaces", None)).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&st, request("/api/rest/v2/workspaces", Some("other"))).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&st, request("/api/rest/v2/workspaces", Some("secret"))).status(),
            StatusCode::OK
        );
        assert_eq!(
            call(&st, request("/favicon.ico", None)).status(),
            StatusCode::NOT_FOUND
        );
        st.faults.lock().unwrap().push(crate::state::Fault {
            path: "workspaces".into(),
            status: 503,
            body: "{}".into(),
            content_type: "application/json".into(),
            remaining: 1,
        });
        let r = call(&st, request("/api/rest/v2/workspaces", Some("secret")));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r = call(&st, request("/api/rest/v2/workspaces", Some("secret")));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(st.requests.lock().unwrap().len(), 8);
        let _ = std::fs::remove_dir_all(dir);
    }
}
