//! The server's defences, over real HTTP: raw requests on a TCP socket, as a hostile web
//! page or client would send them (points of trust and of bounds).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

struct Server {
    id: i32,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(key: Option<&str>) -> Server {
        Server::start_with(key, crate::Limits::default())
    }

    fn start_with(key: Option<&str>, limits: crate::Limits) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "cometr-safety-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        let (id, port) =
            crate::start_with(dir.clone(), "127.0.0.1", 0, key.map(String::from), limits).unwrap();
        Server { id, port, dir }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).unwrap()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Send `head` (request line and headers, without the blank line) and `body`; the
    /// answer's status, headers (lower-case names) and body.
    fn send(&self, head: &str, body: &[u8]) -> Answer {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut msg = format!("{head}\r\nConnection: close\r\n");
        if !body.is_empty() {
            msg.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        msg.push_str("\r\n");
        s.write_all(msg.as_bytes()).unwrap();
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Answer::parse(&raw)
    }

    /// A request from a well-behaved client: the server's own `Host`, a key.
    fn call(&self, method: &str, target: &str, headers: &str, body: &[u8]) -> Answer {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: k",
            self.host()
        );
        if !headers.is_empty() {
            head.push_str("\r\n");
            head.push_str(headers);
        }
        self.send(&head, body)
    }

    fn experiment(&self) -> String {
        let a = self.call(
            "POST",
            "/api/rest/v2/write/experiment/create",
            "Content-Type: application/json",
            br#"{"workspaceName":"local","projectName":"p"}"#,
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let v = a.text();
        let at = v.find("\"experimentKey\":\"").unwrap() + 17;
        v[at..at + v[at..].find('"').unwrap()].to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::stop(self.id);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t}-{}", N.fetch_add(1, Ordering::Relaxed))
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let body = raw.get(end + 4..).unwrap_or_default().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[test]
fn answers_only_for_its_own_host() {
    let srv = Server::start(None);
    let get = |host: &str| {
        srv.send(
            &format!("GET /api/rest/v2/workspaces HTTP/1.1\r\nHost: {host}\r\nAuthorization: k"),
            b"",
        )
        .status
    };
    assert_eq!(get(&srv.host()), 200);
    assert_eq!(get(&format!("localhost:{}", srv.port)), 200);
    assert_eq!(get(&format!("[::1]:{}", srv.port)), 200);
    // DNS rebinding: a web page's own name pointed at this machine.
    assert_eq!(get(&format!("evil.example:{}", srv.port)), 421);
    assert_eq!(get("127.0.0.1:1"), 421);
}

#[test]
fn refuses_cross_origin_browser_requests() {
    let srv = Server::start(None);
    let own = format!("Origin: http://{}", srv.host());
    assert_eq!(
        srv.call("GET", "/api/rest/v2/workspaces", &own, b"").status,
        200
    );
    for h in [
        "Origin: https://evil.example",
        "Origin: null",
        "Sec-Fetch-Site: cross-site",
    ] {
        let a = srv.call("GET", "/api/rest/v2/workspaces", h, b"");
        assert_eq!(a.status, 403, "{h}");
    }
    // A form a page posts to the server, as a browser sends it.
    let a = srv.call(
        "POST",
        "/api/rest/v2/write/experiment/create",
        "Origin: https://evil.example\r\nContent-Type: text/plain",
        br#"{"workspaceName":"local","projectName":"p"}"#,
    );
    assert_eq!(a.status, 403);
}

#[test]
fn writes_need_post_and_json() {
    let srv = Server::start(None);
    let key = srv.experiment();
    // A write by GET, as an <img> or a link on a web page would send it.
    let a = srv.call(
        "GET",
        &format!("/api/rest/v2/write/experiment/log-other?experimentKey={key}&key=a&value=1"),
        "",
        b"",
    );
    assert_eq!(a.status, 405, "{}", a.text());
    let delete = format!("/api/rest/v2/write/experiment/delete?experimentKey={key}");
    let a = srv.send(
        &format!("GET {delete}&apiKey=k HTTP/1.1\r\nHost: {}", srv.host()),
        b"",
    );
    assert_eq!(a.status, 405, "{}", a.text());
    // The body of a "simple" cross-origin POST.
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let a = srv.call(
            "POST",
            "/api/rest/v2/write/experiment/create",
            &format!("Content-Type: {ct}"),
            br#"{"workspaceName":"local","projectName":"p"}"#,
        );
        assert_eq!(a.status, 415, "{ct}");
    }
    // Comet's own GET writes keep working with the key in the header.
    let a = srv.call("GET", &delete, "", b"");
    assert_eq!(a.status, 200, "{}", a.text());
}

#[test]
fn keys_stay_out_of_the_request_log() {
    let srv = Server::start(Some("s3cret-key"));
    let a = srv.send(
        &format!(
            "GET /api/rest/v2/workspaces?apiKey=s3cret-key HTTP/1.1\r\nHost: {}",
            srv.host()
        ),
        b"",
    );
    assert_eq!(a.status, 200);
    let a = srv.send(
        &format!(
            "GET /api/rest/v2/workspaces?apiKey=wrong HTTP/1.1\r\nHost: {}",
            srv.host()
        ),
        b"",
    );
    assert_eq!(a.status, 401);
    let log = crate::recent_requests(srv.id).join("\n");
    assert!(log.contains("apiKey=REDACTED"), "{log}");
    assert!(!log.contains("s3cret") && !log.contains("wrong"), "{log}");
}

#[test]
fn html_assets_are_not_sniffed() {
    let srv = Server::start(None);
    let key = srv.experiment();
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"page.html\"\r\n\
                Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n--XyZ--\r\n";
    let a = srv.call(
        "POST",
        &format!("/api/rest/v2/write/experiment/upload-asset?experimentKey={key}&assetId=page01"),
        "Content-Type: multipart/form-data; boundary=XyZ",
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = srv.call(
        "GET",
        &format!("/api/rest/v2/experiment/asset/get-asset?experimentKey={key}&assetId=page01"),
        "",
        b"",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "<script>alert(1)</script>");
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
}

fn limits() -> crate::Limits {
    crate::Limits {
        json_body: 1 << 20,
        upload_body: 2 << 20,
        form_parts: 8,
        idle_timeout: Duration::from_millis(1000),
        ..crate::Limits::default()
    }
}

#[test]
fn large_bodies_are_refused() {
    let srv = Server::start_with(None, limits());
    let key = srv.experiment();
    // Declared too large: refused before a byte of it is read.
    let big = |target: &str, ct: &str, len: u64| {
        srv.send(
            &format!(
                "POST {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: k\r\n\
                 Content-Type: {ct}\r\nContent-Length: {len}",
                srv.host()
            ),
            b"",
        )
        .status
    };
    let json = "/api/rest/v2/write/experiment/log-other";
    assert_eq!(big(json, "application/json", 2 << 20), 413);
    let upload = format!("/api/rest/v2/write/experiment/upload-asset?experimentKey={key}");
    let form = "multipart/form-data; boundary=XyZ";
    assert_eq!(big(&upload, form, 3 << 20), 413);
    // A body as large as allowed is read (and then judged on its content).
    let a = srv.call(
        "POST",
        json,
        "Content-Type: application/json",
        &vec![b' '; 1 << 20],
    );
    assert_eq!(a.status, 400, "{}", a.text());
    // A form of many small parts.
    let parts: String = (0..20)
        .map(|i| format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n"))
        .collect();
    let a = srv.call(
        "POST",
        &upload,
        &format!("Content-Type: {form}"),
        format!("{parts}--XyZ--\r\n").as_bytes(),
    );
    assert_eq!(a.status, 413, "{}", a.text());
}

/// Whether the server closed `s` (or answered and closed) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_clients_are_cut_off() {
    let srv = Server::start_with(None, limits());
    let started = std::time::Instant::now();
    // Connected, silent.
    let mut idle = srv.connect();
    // Slowloris: a request head sent a header at a time, never finished.
    let mut slow = srv.connect();
    slow.write_all(
        format!(
            "GET /api/rest/v2/workspaces HTTP/1.1\r\nHost: {}\r\n",
            srv.host()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut cut = false;
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(200));
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .is_err()
            || closed_within(&mut slow, Duration::from_millis(1))
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickled request head kept its connection");
    assert!(started.elapsed() < Duration::from_millis(3000));
    assert!(closed_within(&mut idle, Duration::from_millis(2000)));
    // A body that stops arriving is answered 408.
    let mut stalled = srv.connect();
    stalled
        .write_all(
            format!(
                "POST /api/rest/v2/write/experiment/log-other HTTP/1.1\r\nHost: {}\r\n\
                 Authorization: k\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
                srv.host()
            )
            .as_bytes(),
        )
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = stalled.read_to_end(&mut raw);
    assert_eq!(Answer::parse(&raw).status, 408);
}

#[test]
fn a_flood_of_idle_connections_does_not_stop_it() {
    raise_fd_limit();
    let idle = Duration::from_millis(1000);
    let srv = Server::start_with(
        None,
        crate::Limits {
            idle_timeout: idle,
            ..crate::Limits::default()
        },
    );
    // (Opening them can take seconds: the kernel's accept queue overflows.)
    let mut flood: Vec<TcpStream> = (0..1100).map(|_| srv.connect()).collect();
    // The server lets go of every one of them: beyond the cap at once, the others
    // when they have been idle too long.
    let deadline = std::time::Instant::now() + idle + Duration::from_millis(2500);
    let mut open = 0;
    for s in flood.iter_mut() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !closed_within(s, left.max(Duration::from_millis(1))) {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} idle connections still open");
    // And a new client is answered at once.
    let asked = std::time::Instant::now();
    assert_eq!(
        srv.call("GET", "/api/rest/v2/workspaces", "", b"").status,
        200
    );
    assert!(asked.elapsed() < Duration::from_secs(2));
}

#[test]
fn connections_beyond_the_cap_are_refused() {
    let srv = Server::start_with(
        None,
        crate::Limits {
            connections: 8,
            idle_timeout: Duration::from_secs(20),
            ..crate::Limits::default()
        },
    );
    let mut held: Vec<TcpStream> = (0..8).map(|_| srv.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = srv.connect();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = extra.read_to_end(&mut raw);
    let busy = Answer::parse(&raw);
    assert_eq!(busy.status, 503, "{}", busy.text());
    // The clients already connected keep being answered.
    let mut first = held.remove(0);
    first
        .write_all(
            format!(
                "GET /api/rest/v2/workspaces HTTP/1.1\r\nHost: {}\r\nAuthorization: k\r\n\
                 Connection: close\r\n\r\n",
                srv.host()
            )
            .as_bytes(),
        )
        .unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = first.read_to_end(&mut raw);
    assert_eq!(Answer::parse(&raw).status, 200);
    // A connection that ends frees its place.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        srv.call("GET", "/api/rest/v2/workspaces", "", b"").status,
        200
    );
}

/// 1,100 connections, both ends in this process, need more descriptors than some
/// systems allow by default.
fn raise_fd_limit() {
    // SAFETY: reading and setting this process's own limit with a valid struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < 4096 {
            lim.rlim_cur = lim.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The process's peak resident memory, in KiB (Linux).
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A gzip bomb (a small body that gunzips to a huge one) is refused with 413 and does
/// not grow the server's memory (measured as the process's peak, which the other tests
/// here raise by far less than the bomb would).
#[test]
fn a_gzip_bomb_is_refused_in_bounded_memory() {
    let dir = std::env::temp_dir().join(format!("cometr-bomb-{}", std::process::id()));
    let limits = crate::Limits {
        json_body: 8 << 20,
        ..crate::Limits::default()
    };
    let (id, port) = crate::start_with(dir.clone(), "127.0.0.1", 0, None, limits).unwrap();
    // 256 MiB of spaces (valid JSON whitespace), gzipped to about 250 KB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&chunk).unwrap();
    }
    let bomb = gz.finish().unwrap();
    drop(chunk);
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let before = peak_kib();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /api/rest/v2/write/experiment/log-other HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: k\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        bomb.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&bomb).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if let (Some(before), Some(after)) = (before, peak_kib()) {
        let grown_mib = (after.saturating_sub(before)) / 1024;
        assert!(grown_mib < 48, "peak memory grew by {grown_mib} MiB");
    }
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    crate::stop(id);
    let _ = std::fs::remove_dir_all(dir);
}
