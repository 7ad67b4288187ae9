//! Who may talk to the server, checked before a request is parsed: the `Host` it was
//! addressed to, browsers' cross-origin requests, the method and content type of writes,
//! the API key (compared in constant time), and the request log with keys blanked out.
//!
//! A server without an API key serves loopback only, so the danger is a web page in the
//! user's browser: it can send requests to `127.0.0.1`, or to a name of its own that it
//! points at `127.0.0.1` (DNS rebinding). Such requests carry a foreign `Host`, an
//! `Origin` or `Sec-Fetch-Site: cross-site`, or are "simple" requests: a GET, or a POST
//! with a `text/plain` or form body. None of these is refused by a browser before it is
//! sent, so the server refuses them.

use axum::http::{HeaderMap, Method};

use crate::error::ApiError;
use crate::request::Api;

/// The names under which the server may be addressed.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// Lower-case host names without port (IPv6 in brackets).
    names: Vec<String>,
    port: u16,
    /// Bound to every address and guarded by a key: clients name it as they please.
    any: bool,
}

impl Hosts {
    /// The loopback names and `extra` (the address the server was asked to serve and
    /// the one it shows), on `port`.
    pub fn new(port: u16, extra: &[&str], any: bool) -> Hosts {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for e in extra {
            let e = e.to_ascii_lowercase();
            let e = if e.contains(':') && !e.starts_with('[') {
                format!("[{e}]")
            } else {
                e
            };
            if !names.contains(&e) {
                names.push(e);
            }
        }
        Hosts { names, port, any }
    }

    /// Whether a `Host` header value names this server.
    fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let host = host.to_ascii_lowercase();
        let (name, port) = split_host(&host);
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(p) => p,
                Err(_) => return false,
            },
        };
        port == self.port && self.names.iter().any(|n| n == name)
    }
}

/// `name:port` into its parts; an IPv6 name keeps its brackets.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Refuse requests addressed to another host (421) and browsers' requests from another
/// origin (403). Requests without `Host` (HTTP/1.0 clients, no browser) pass.
pub fn check_origin(hosts: &Hosts, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = header(headers, "host");
    if headers.contains_key("host") && !host.is_some_and(|h| hosts.allows(h)) {
        return Err(ApiError::new(
            421,
            format!(
                "this server does not answer for host '{}'",
                host.unwrap_or("?")
            ),
            None,
        ));
    }
    let forbidden =
        |why: &str| ApiError::new(403, format!("cross-origin request refused: {why}"), None);
    if let Some(site) = header(headers, "sec-fetch-site") {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Err(forbidden(&format!("Sec-Fetch-Site is {site}")));
        }
    }
    if let Some(origin) = headers.get("origin") {
        let own = host.map(|h| format!("http://{h}"));
        let same = origin
            .to_str()
            .ok()
            .zip(own.as_deref())
            .is_some_and(|(o, own)| o.eq_ignore_ascii_case(own));
        if !same {
            return Err(forbidden("the Origin is not this server"));
        }
    }
    Ok(())
}

/// Comet's writes that its API takes as GET (cometr 0.4.0 and the Python SDK send them
/// so): allowed by GET only with the key in the `Authorization` header, which no web
/// page can set on a request to another origin.
const GET_WRITES: &[(Api, &str)] = &[
    (Api::Rest, "write/experiment/archive"),
    (Api::Rest, "write/experiment/restore"),
    (Api::Rest, "write/experiment/delete"),
    (Api::Rest, "write/experiment/stop"),
    (Api::Rest, "write/experiment/set-status"),
    (Api::Rest, "write/project/symlink"),
    (Api::Clientlib, "symlink/new"),
    (Api::Rest, "write/experiment/asset/delete"),
];

/// Comet's writes that the Python SDK sends by PUT, allowed so with the key in the
/// `Authorization` header as the GET writes are.
const PUT_WRITES: &[(Api, &str)] = &[(Api::Rest, "write/experiment/dependencies")];

/// The streaming SDKs' endpoints that write.
const CLIENTLIB_WRITES: &[&str] = &[
    "logger/add/run",
    "batch/logger/experiment/metric",
    "batch/logger/experiment/parameter",
    "asset/upload",
    "visualizations/upload",
    "git-patch/upload",
    "status-report/update",
    "status-report/offline-metadata",
    "tags/add-tags-to-experiment",
    "rpc/register-rpc",
    "rpc/save-rpc-result",
    "notification/experiment",
    "notify/event",
];

fn is_write(api: Api, path: &str) -> bool {
    match api {
        Api::Rest => path.starts_with("write/"),
        Api::Clientlib => CLIENTLIB_WRITES.contains(&path),
    }
}

/// Writes come by POST (405 otherwise), but for Comet's GET writes sent with the key in
/// the `Authorization` header.
pub fn check_method(
    api: Api,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if *method == Method::POST || !is_write(api, path) {
        return Ok(());
    }
    let keyed = header(headers, "authorization").is_some_and(|k| !k.is_empty());
    if *method == Method::GET && keyed && GET_WRITES.contains(&(api, path)) {
        return Ok(());
    }
    if *method == Method::PUT && keyed && PUT_WRITES.contains(&(api, path)) {
        return Ok(());
    }
    Err(ApiError::new(
        405,
        format!("{method} {path} is a write: send it by POST"),
        None,
    ))
}

/// A POST body must be JSON (possibly gzipped) or a multipart form: a web page can send
/// `text/plain` and form bodies to any address without asking first. A POST with no
/// body and no content type passes.
pub fn check_content_type(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if *method != Method::POST {
        return Ok(());
    }
    let gzipped =
        header(headers, "content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let Some(ct) = header(headers, "content-type") else {
        let empty = header(headers, "content-length").is_none_or(|n| n.trim() == "0")
            && !headers.contains_key("transfer-encoding");
        return if empty || gzipped {
            Ok(())
        } else {
            Err(unsupported("none"))
        };
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json" || essence.ends_with("+json");
    let gzip = essence == "application/gzip" || essence == "application/x-gzip";
    if json || gzip || essence == "multipart/form-data" {
        Ok(())
    } else {
        Err(unsupported(ct))
    }
}

fn unsupported(ct: &str) -> ApiError {
    ApiError::new(
        415,
        format!(
            "content type {ct} is not accepted: send JSON (or gzipped JSON) or a multipart form"
        ),
        None,
    )
}

/// Compare a given key with the expected one in time that depends only on their
/// lengths, so the time of a refusal tells nothing about how much of a guess was right.
pub fn keys_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request line for the log, with the value of any `apiKey` query parameter blanked.
pub fn log_line(method: &Method, uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return format!("{method} {uri}");
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_key_name(k) => format!("{k}=REDACTED"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{method} {}?{}", uri.path(), redacted.join("&"))
}

fn is_key_name(k: &str) -> bool {
    let k = crate::request::percent_decode(k).to_ascii_lowercase();
    k == "apikey" || k == "api_key"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn answers_only_for_its_own_names() {
        let hosts = Hosts::new(8123, &["127.0.0.1"], false);
        let status =
            |h: &[(&'static str, &str)]| check_origin(&hosts, &headers(h)).err().map(|e| e.status);
        for ok in [
            "127.0.0.1:8123",
            "localhost:8123",
            "LOCALHOST:8123",
            "[::1]:8123",
        ] {
            assert_eq!(status(&[("host", ok)]), None, "{ok}");
        }
        for bad in [
            "evil.example:8123",
            "127.0.0.1:9999",
            "127.0.0.1",
            "localhost:x",
            "",
        ] {
            assert_eq!(status(&[("host", bad)]), Some(421), "{bad}");
        }
        assert_eq!(status(&[]), None);
        let any = Hosts::new(8123, &["0.0.0.0"], true);
        assert!(check_origin(&any, &headers(&[("host", "box.lan:8123")])).is_ok());
    }

    #[test]
    fn refuses_other_origins() {
        let hosts = Hosts::new(8123, &[], false);
        let status =
            |h: &[(&'static str, &str)]| check_origin(&hosts, &headers(h)).err().map(|e| e.status);
        let host = ("host", "127.0.0.1:8123");
        assert_eq!(status(&[host, ("origin", "http://127.0.0.1:8123")]), None);
        assert_eq!(
            status(&[host, ("origin", "https://evil.example")]),
            Some(403)
        );
        assert_eq!(status(&[host, ("origin", "null")]), Some(403));
        assert_eq!(
            status(&[host, ("origin", "http://localhost:8123")]),
            Some(403)
        );
        assert_eq!(status(&[host, ("sec-fetch-site", "cross-site")]), Some(403));
        assert_eq!(status(&[host, ("sec-fetch-site", "same-site")]), Some(403));
        assert_eq!(status(&[host, ("sec-fetch-site", "same-origin")]), None);
        assert_eq!(status(&[host, ("sec-fetch-site", "none")]), None);
    }

    #[test]
    fn writes_come_by_post() {
        let none = HeaderMap::new();
        let keyed = headers(&[("authorization", "k")]);
        let m = |api, path, method: Method, h: &HeaderMap| {
            check_method(api, path, &method, h).err().map(|e| e.status)
        };
        assert_eq!(
            m(Api::Rest, "write/experiment/metric", Method::GET, &keyed),
            Some(405)
        );
        assert_eq!(
            m(Api::Rest, "write/experiment/metric", Method::POST, &none),
            None
        );
        assert_eq!(
            m(Api::Rest, "write/experiment/delete", Method::GET, &none),
            Some(405)
        );
        assert_eq!(
            m(Api::Rest, "write/experiment/delete", Method::GET, &keyed),
            None
        );
        assert_eq!(
            m(Api::Rest, "write/experiment/delete", Method::PUT, &keyed),
            Some(405)
        );
        // comet_ml's dependencies come by PUT, with the key.
        let deps = "write/experiment/dependencies";
        assert_eq!(m(Api::Rest, deps, Method::PUT, &keyed), None);
        assert_eq!(m(Api::Rest, deps, Method::PUT, &none), Some(405));
        assert_eq!(m(Api::Rest, deps, Method::GET, &keyed), Some(405));
        assert_eq!(
            m(Api::Clientlib, "logger/add/run", Method::GET, &keyed),
            Some(405)
        );
        assert_eq!(m(Api::Clientlib, "symlink/new", Method::GET, &keyed), None);
        assert_eq!(m(Api::Rest, "experiments", Method::GET, &none), None);
    }

    #[test]
    fn post_bodies_are_json_or_forms() {
        let c = |h: &[(&'static str, &str)]| {
            check_content_type(&Method::POST, &headers(h))
                .err()
                .map(|e| e.status)
        };
        assert_eq!(
            c(&[("content-type", "application/json;charset=utf-8")]),
            None
        );
        assert_eq!(
            c(&[
                ("content-type", "application/json"),
                ("content-encoding", "gzip")
            ]),
            None
        );
        assert_eq!(
            c(&[("content-type", "multipart/form-data; boundary=x")]),
            None
        );
        assert_eq!(c(&[("content-type", "text/plain")]), Some(415));
        assert_eq!(
            c(&[("content-type", "application/x-www-form-urlencoded")]),
            Some(415)
        );
        assert_eq!(c(&[("content-length", "5")]), Some(415));
        assert_eq!(c(&[("content-length", "0")]), None);
        assert_eq!(c(&[]), None);
        assert!(
            check_content_type(&Method::GET, &headers(&[("content-type", "text/plain")])).is_ok()
        );
    }

    #[test]
    fn compares_keys() {
        assert!(keys_match("secret", "secret"));
        assert!(!keys_match("secret", "secreT"));
        assert!(!keys_match("secret", "secret2"));
        assert!(!keys_match("secret", ""));
    }

    #[test]
    fn blanks_keys_in_the_log() {
        let uri: axum::http::Uri =
            "/api/rest/v2/experiments?apiKey=s3cret&projectName=p&api%4Bey=x"
                .parse()
                .unwrap();
        let line = log_line(&Method::GET, &uri);
        assert_eq!(
            line,
            "GET /api/rest/v2/experiments?apiKey=REDACTED&projectName=p&api%4Bey=REDACTED"
        );
        let plain: axum::http::Uri = "/clientlib/isAlive/ver".parse().unwrap();
        assert_eq!(log_line(&Method::GET, &plain), "GET /clientlib/isAlive/ver");
    }
}
