//! The dashboard: a page that shows the server's projects and experiments in a browser.
//!
//! Its three files are compiled into the binary, so the server needs nothing on disk
//! and the page fetches nothing from the network. The page is served without a key (a
//! browser's navigation carries no `Authorization` header) and holds no data: its script
//! reads the same REST endpoints Comet's SDKs read, sending the key in the
//! `Authorization` header of same-origin requests. A key the user gives (typed once, or
//! in the URL's fragment, which browsers never send) stays in the browser, out of the
//! request log.
//!
//! Charts are small SVG drawings made by `app.js` itself rather than a vendored charting
//! library: lines over steps, overlays and a heat-map table are all the page needs, and
//! a few hundred lines of our own are smaller than any library and leave no licence or
//! update to track.
//!
//! Every answer carries a Content-Security-Policy that allows scripts, styles and
//! requests to this origin only, and images from it or from `blob:` (assets are fetched
//! with the key and shown from blobs), so nothing the page shows can load or run code
//! from elsewhere, even if some user data were ever put into the page unescaped.

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// One file of the dashboard, as served.
#[derive(Debug, PartialEq, Eq)]
pub struct StaticFile {
    pub body: &'static str,
    pub content_type: &'static str,
}

pub const INDEX: StaticFile = StaticFile {
    body: include_str!("../static/index.html"),
    content_type: "text/html; charset=utf-8",
};

pub const SCRIPT: StaticFile = StaticFile {
    body: include_str!("../static/app.js"),
    content_type: "text/javascript; charset=utf-8",
};

pub const STYLE: StaticFile = StaticFile {
    body: include_str!("../static/app.css"),
    content_type: "text/css; charset=utf-8",
};

/// Where the dashboard's script and style live; below a folder no workspace is likely
/// to be named, and beside the page paths (see `is_page`).
pub const FILES_PREFIX: &str = "/_dashboard/";

/// What the page may load: only this origin's script, style and data, images from this
/// origin or blobs (assets fetched with the key), nothing in frames, no forms, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'; object-src 'none'";

/// Whether `path` is one of the dashboard's pages: the root (projects), a project
/// (`/{workspace}/{project}`) or an experiment (`/{workspace}/{project}/{key}`, and
/// `/{workspace}/{project}/archived/{key}`): the links Comet gives experiments, which
/// the server also gives, open the experiment's page. One-segment paths are not pages,
/// so `/favicon.ico` and the like stay unknown.
pub fn is_page(path: &str) -> bool {
    if path == "/" || path.is_empty() {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty()) || parts[0] == "api" || parts[0] == "clientlib" {
        return false;
    }
    match parts.len() {
        2 | 3 => true,
        4 => parts[2] == "archived",
        _ => false,
    }
}

/// The answer for a dashboard file: its bytes, with headers that keep the browser from
/// guessing types, framing the page, sending referrers or caching an old version.
pub fn respond(method: &Method, file: &'static StaticFile) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            [("allow", "GET, HEAD")],
            "the dashboard's pages are read with GET\n",
        )
            .into_response();
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    (
        StatusCode::OK,
        [
            ("content-type", file.content_type),
            ("content-security-policy", CSP),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-cache"),
        ],
        file.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_the_root_projects_and_experiments() {
        for p in [
            "/",
            "",
            "/local/general",
            "/local/general/",
            "/local/general/0123abcd",
            "/local/general/archived/0123abcd",
        ] {
            assert!(is_page(p), "{p}");
        }
        for p in [
            "/favicon.ico",
            "/local",
            "/a/b/c/d",
            "/a/b/c/d/e",
            "//general",
            "/local//key",
            "/api/rest",
            "/clientlib/x/y",
            "no-slash/x",
        ] {
            assert!(!is_page(p), "{p}");
        }
    }

    #[test]
    fn files_carry_a_policy_that_keeps_out_the_network() {
        let r = respond(&Method::GET, &INDEX);
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("connect-src 'self';"));
        assert!(!csp.contains("unsafe"), "no inline scripts or eval");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let r = respond(&Method::POST, &SCRIPT);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn the_page_loads_only_its_own_files_and_builds_no_html_from_text() {
        // The page names its script and style by absolute paths below FILES_PREFIX
        // (a relative path would resolve below an experiment's path), and has no
        // inline script the policy would block.
        assert!(INDEX
            .body
            .contains(&format!("src=\"{FILES_PREFIX}app.js\"")));
        assert!(INDEX
            .body
            .contains(&format!("href=\"{FILES_PREFIX}app.css\"")));
        assert!(!INDEX.body.contains("<script>"));
        assert!(!INDEX.body.contains("http://") && !INDEX.body.contains("https://"));
        // User data reaches the page as text nodes only: the script never assigns
        // markup, and fetches nothing from another origin (the one address it holds
        // is the SVG namespace, which names, not locates).
        let script = SCRIPT.body.replace("\"http://www.w3.org/2000/svg\"", "");
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "http://",
            "https://",
        ] {
            assert!(!script.contains(banned), "app.js uses {banned}");
        }
        assert!(!STYLE.body.contains("@import") && !STYLE.body.contains("url("));
    }

    #[test]
    fn the_router_names_each_file() {
        use crate::router::dashboard_file;
        assert_eq!(dashboard_file("/"), Some(&INDEX));
        assert_eq!(dashboard_file("/local/general/0123abcd"), Some(&INDEX));
        assert_eq!(dashboard_file("/_dashboard/app.js"), Some(&SCRIPT));
        assert_eq!(dashboard_file("/_dashboard/app.css"), Some(&STYLE));
        assert_eq!(dashboard_file("/_dashboard/other.js"), None);
        assert_eq!(dashboard_file("/_dashboard/"), None);
        assert_eq!(dashboard_file("/favicon.ico"), None);
    }

    /// Through the whole service: pages need no key, the data behind them does, and a
    /// page is refused to another host or site like any endpoint.
    #[test]
    fn pages_are_served_without_a_key_but_only_to_this_server() {
        use std::sync::Arc;
        let dir = std::env::temp_dir().join(format!("cometr-dash-{}", crate::util::new_id()));
        let store = crate::store::Store::open(&dir).unwrap();
        let state = Arc::new(crate::state::State::new(
            store,
            Some("secret".into()),
            "http://127.0.0.1:8123".into(),
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let call = |uri: &str, headers: &[(&str, &str)]| {
            let mut b = axum::http::Request::builder()
                .uri(uri)
                .header("host", "127.0.0.1:8123");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b.body(axum::body::Body::empty()).unwrap();
            rt.block_on(crate::service::handle(state.clone(), req))
        };
        for page in ["/", "/local/general/abc", "/_dashboard/app.js"] {
            let r = call(page, &[]);
            assert_eq!(r.status(), StatusCode::OK, "{page}");
            assert!(r.headers().contains_key("content-security-policy"));
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        }
        assert_eq!(call("/favicon.ico", &[]).status(), StatusCode::NOT_FOUND);
        assert_eq!(
            call("/api/rest/v2/workspaces", &[]).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call("/api/rest/v2/workspaces", &[("authorization", "secret")]).status(),
            StatusCode::OK
        );
        assert_eq!(
            call("/", &[("sec-fetch-site", "cross-site")]).status(),
            StatusCode::FORBIDDEN
        );
        let mut b = axum::http::Request::builder()
            .uri("/")
            .header("host", "evil.example:8123");
        b = b.method("GET");
        let r = rt.block_on(crate::service::handle(
            state.clone(),
            b.body(axum::body::Body::empty()).unwrap(),
        ));
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        let _ = std::fs::remove_dir_all(dir);
    }
}
