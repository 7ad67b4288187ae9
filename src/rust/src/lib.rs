//! Thin `.Call` glue between R and the Rust core. Each function converts R values,
//! calls one module, and converts the result back. Failures come back as data
//! (`ok = FALSE`, a kind and a message) that R turns into classed conditions, so no
//! error ever crosses the boundary as a panic.

use extendr_api::prelude::*;

use cometr_core::{config, http, logging, offline, outbox, output, spool, transfer};
use cometr_server as server;

fn pairs(names: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    names.into_iter().zip(values).collect()
}

fn failure(kind: &str, message: &str) -> Robj {
    list!(ok = false, kind = kind, message = logging::redact(message)).into_robj()
}

/// Send one HTTP request and return the whole answer, retrying transient failures
/// for up to `retry_seconds`.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rust_http(
    method: &str,
    url: &str,
    api_key: &str,
    query_names: Vec<String>,
    query_values: Vec<String>,
    json_body: Nullable<String>,
    gzip_body: bool,
    multipart: bool,
    file_part: Nullable<String>,
    form_names: Vec<String>,
    form_values: Vec<String>,
    retry_seconds: f64,
) -> Robj {
    let req = http::Request {
        method: method.to_string(),
        url: url.to_string(),
        api_key: api_key.to_string(),
        query: pairs(query_names, query_values),
        json_body: json_body.into_option(),
        gzip_body,
        multipart,
        file_part: file_part.into_option(),
        form: pairs(form_names, form_values),
    };
    let budget = std::time::Duration::from_secs_f64(retry_seconds.clamp(0.0, 86_400.0));
    match http::send_blocking(&req, budget) {
        Ok(resp) => {
            let (hn, hv): (Vec<String>, Vec<String>) = resp.headers.into_iter().unzip();
            list!(
                ok = true,
                status = resp.status as i32,
                content_type = resp.content_type,
                body = Raw::from_bytes(&resp.body),
                header_names = hn,
                header_values = hv
            )
            .into_robj()
        }
        Err(http::Failure::Transport(m)) => failure("transport", &m),
        Err(http::Failure::Input(m)) => failure("input", &m),
    }
}

/// Set the User-Agent header sent with every request.
/// @noRd
#[extendr]
fn rust_set_user_agent(ua: &str) {
    http::set_user_agent(ua);
}

/// Resolve one configuration key: environment, then `.comet.yml` in `cwd`, then `home`.
/// @noRd
#[extendr]
fn rust_config_lookup(key: &str, cwd: &str, home: &str) -> Robj {
    let l = config::lookup(key, cwd, home);
    let value: Robj = match l.value {
        Some(v) => v.into_robj(),
        None => ().into_robj(),
    };
    list!(value = value, warnings = l.warnings).into_robj()
}

/// Strip `/clientlib` and trailing slashes from a URL override.
/// @noRd
#[extendr]
fn rust_url_root(url: &str) -> String {
    config::url_root(url)
}

/// Point the internal log at a file and level, or turn it off (`path = NULL`).
/// @noRd
#[extendr]
fn rust_log_configure(path: Nullable<String>, level: &str) -> bool {
    match logging::Level::parse(level) {
        Some(l) => {
            logging::configure(path.into_option(), l);
            true
        }
        None => {
            logging::configure(None, logging::Level::Error);
            false
        }
    }
}

/// Write one log line; returns an error message, or "" when written or filtered out.
/// @noRd
#[extendr]
fn rust_log_write(level: &str, msg: &str) -> String {
    let l = logging::Level::parse(level).unwrap_or(logging::Level::Info);
    logging::write(l, msg).err().unwrap_or_default()
}

/// Remember a secret and return `text` with every known secret removed.
/// @noRd
#[extendr]
fn rust_redact(text: &str, secret: &str) -> String {
    if !secret.is_empty() {
        logging::register_secret(secret);
    }
    logging::redact(text)
}

/// Start the local server; returns its id and port, or a failure.
/// @noRd
#[extendr]
fn rust_server_start(dir: &str, host: &str, port: i32, api_key: Nullable<String>) -> Robj {
    if !(0..=65535).contains(&port) {
        return failure(
            "input",
            &format!("port must be between 0 and 65535, not {port}"),
        );
    }
    let key = api_key.into_option().filter(|k| !k.is_empty());
    if let Some(k) = &key {
        logging::register_secret(k);
    }
    match server::start(std::path::PathBuf::from(dir), host, port as u16, key) {
        Ok((id, port)) => list!(ok = true, id = id, port = port as i32).into_robj(),
        Err(m) => failure("server", &m),
    }
}

/// Set random failures on a running local server (`settings` is a JSON object; "" clears).
/// Returns "" or an error message.
/// @noRd
#[extendr]
fn rust_server_chaos(id: i32, settings: &str) -> String {
    let parsed = if settings.is_empty() {
        Ok(None)
    } else {
        server::chaos::Settings::from_json(settings).map(Some)
    };
    match parsed {
        Ok(s) => {
            if server::set_chaos(id, s) {
                String::new()
            } else {
                "the server is not running".into()
            }
        }
        Err(e) => e,
    }
}

/// The request lines a local server has seen most recently.
/// @noRd
#[extendr]
fn rust_server_requests(id: i32) -> Vec<String> {
    server::recent_requests(id)
}

/// Set the heartbeat interval (milliseconds) a local server asks its clients for.
/// @noRd
#[extendr]
fn rust_server_heartbeat(id: i32, millis: f64) -> bool {
    server::set_heartbeat(id, millis.clamp(100.0, 3.6e6) as i64)
}

/// Turn TLS certificate verification off (`FALSE`) or on for every later request.
/// @noRd
#[extendr]
fn rust_set_tls_verify(verify: bool) {
    http::set_tls_verify(verify);
}

/// Stop a local server started by `rust_server_start()`.
/// @noRd
#[extendr]
fn rust_server_stop(id: i32) -> bool {
    server::stop(id)
}

/// Script a failure on a running local server (for tests of error handling).
/// @noRd
#[extendr]
fn rust_server_fault(
    id: i32,
    path: &str,
    status: i32,
    body: &str,
    content_type: &str,
    times: i32,
) -> bool {
    server::add_fault(
        id,
        server::Fault {
            path: path.to_string(),
            status: status.clamp(100, 599) as u16,
            body: body.to_string(),
            content_type: content_type.to_string(),
            remaining: times as i64,
        },
    )
}

/// Convert an R value (NULL, a logical, number or string vector) into JSON. Numbers
/// use Comet's encoding (NaN and infinities as strings), NA becomes null, and vectors
/// longer than one become arrays.
fn robj_json(x: &Robj) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    let items: Vec<Value> = match x.rtype() {
        Rtype::Null => return Ok(Value::Null),
        Rtype::Doubles => x
            .as_real_slice()
            .unwrap_or(&[])
            .iter()
            .map(|&v| {
                if v.is_na() {
                    Value::Null
                } else {
                    outbox::number(v)
                }
            })
            .collect(),
        Rtype::Integers => x
            .as_integer_slice()
            .unwrap_or(&[])
            .iter()
            .map(|&v| {
                if v == i32::MIN {
                    Value::Null
                } else {
                    Value::from(v)
                }
            })
            .collect(),
        Rtype::Logicals => x
            .as_logical_slice()
            .unwrap_or(&[])
            .iter()
            .map(|v| {
                if v.is_na() {
                    Value::Null
                } else {
                    Value::from(v.is_true())
                }
            })
            .collect(),
        Rtype::Strings => x
            .as_str_iter()
            .map(|it| {
                it.map(|s| {
                    if s.is_na() {
                        Value::Null
                    } else {
                        Value::from(s)
                    }
                })
                .collect()
            })
            .unwrap_or_default(),
        _ => return Err("must be a number, string or logical vector".into()),
    };
    Ok(match items.len() {
        0 => Value::Null,
        1 => items.into_iter().next().unwrap_or(Value::Null),
        _ => Value::Array(items),
    })
}

/// An optional whole number (step, epoch) from R: NULL, or a finite number.
fn opt_int(x: &Robj) -> Option<i64> {
    if x.is_null() {
        return None;
    }
    x.as_real()
        .or_else(|| x.as_integer().map(f64::from))
        .filter(|v| v.is_finite())
        .map(|v| v.round() as i64)
}

fn opt_str(x: &Robj) -> Option<String> {
    x.as_str().map(String::from)
}

fn problems_list(s: Option<&outbox::Stream>, ok: bool) -> Robj {
    let (pending, problems) = match s {
        Some(s) => (s.pending() as f64, s.take_problems()),
        None => (0.0, Vec::new()),
    };
    list!(ok = ok, pending = pending, problems = problems, spool = "").into_robj()
}

/// Open a queue and background sender for one experiment; returns its id.
/// @noRd
#[extendr]
fn rust_stream_open(
    key: &str,
    api_key: &str,
    root: &str,
    interval_ms: f64,
    batch_size: i32,
    max_memory_items: f64,
    spool_dir: &str,
) -> i32 {
    logging::register_secret(api_key);
    let settings = outbox::Settings {
        interval: std::time::Duration::from_millis(interval_ms.clamp(10.0, 3.6e6) as u64),
        batch_size: batch_size.max(1) as usize,
        max_memory_items: max_memory_items.clamp(1.0, 1e9) as usize,
        spool_dir: (!spool_dir.is_empty()).then(|| std::path::PathBuf::from(spool_dir)),
        ..Default::default()
    };
    outbox::open(key, api_key, root, settings)
}

/// Queue a metric point. Returns 1 when the sender has problems to report, 0
/// otherwise, -1 when the stream is closed and -2 for a value of the wrong type.
/// @noRd
#[extendr]
fn rust_stream_metric(
    id: i32,
    name: &str,
    value: Robj,
    step: Robj,
    epoch: Robj,
    context: Robj,
) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    let Ok(value) = robj_json(&value) else {
        return -2;
    };
    s.push_metric(outbox::MetricPoint {
        name: name.to_string(),
        value,
        step: opt_int(&step),
        epoch: opt_int(&epoch),
        context: opt_str(&context),
        timestamp: outbox::now_ms(),
    });
    s.has_problems() as i32
}

/// Queue a parameter. Same return codes as `rust_stream_metric()`.
/// @noRd
#[extendr]
fn rust_stream_parameter(id: i32, name: &str, value: Robj, step: Robj) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    let Ok(value) = robj_json(&value) else {
        return -2;
    };
    s.push_parameter(serde_json::json!({
        "parameterName": name, "parameterValue": value, "step": opt_int(&step),
        "source": "manual", "context": serde_json::Value::Null, "timestamp": outbox::now_ms()
    }));
    s.has_problems() as i32
}

/// Queue a REST write (endpoint below /api/rest/v2/, JSON body). Same return codes.
/// @noRd
#[extendr]
fn rust_stream_rest(id: i32, endpoint: &str, body: &str) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    s.push_rest(outbox::RestWrite {
        endpoint: endpoint.trim_start_matches('/').to_string(),
        body: body.to_string(),
    });
    s.has_problems() as i32
}

/// Send everything queued, waiting at most `timeout` seconds.
/// @noRd
#[extendr]
fn rust_stream_flush(id: i32, timeout: f64) -> Robj {
    let Some(s) = outbox::get(id) else {
        return problems_list(None, true);
    };
    output::flush();
    let ok = s.flush_blocking(std::time::Duration::from_secs_f64(
        timeout.clamp(0.0, 86_400.0),
    ));
    problems_list(Some(&s), ok)
}

/// Report (and clear) the sender's problems without flushing.
/// @noRd
#[extendr]
fn rust_stream_problems(id: i32) -> Robj {
    let s = outbox::get(id);
    problems_list(s.as_deref(), true)
}

/// Start the heartbeat of an experiment.
/// @noRd
#[extendr]
fn rust_stream_heartbeat(id: i32) -> bool {
    match outbox::get(id) {
        Some(s) => {
            s.start_heartbeat();
            true
        }
        None => false,
    }
}

/// Final flush, end-of-run notice (when `end`), and release of the stream.
/// @noRd
#[extendr]
fn rust_stream_close(id: i32, timeout: f64, end: bool) -> Robj {
    let Some(s) = outbox::get(id) else {
        return problems_list(None, true);
    };
    output::stop(id);
    let t = std::time::Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
    let ok = s.flush_blocking(t);
    if end && ok {
        s.send_end(
            std::time::Duration::from_secs(5).min(t.max(std::time::Duration::from_millis(500))),
        );
    }
    let pending = s.pending() as f64;
    let problems = s.take_problems();
    let kept = s
        .finish_spool()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    outbox::forget(id);
    list!(
        ok = ok,
        pending = pending,
        problems = problems,
        spool = kept
    )
    .into_robj()
}

/// The spool files left in a folder.
/// @noRd
#[extendr]
fn rust_spool_list(dir: &str) -> Vec<String> {
    spool::list(std::path::Path::new(dir))
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// Deliver what a spool file holds. `root` overrides the server it was meant for.
/// The file is deleted once everything in it has been delivered.
/// @noRd
#[extendr]
fn rust_spool_replay(path: &str, api_key: &str, root: &str, timeout: f64) -> Robj {
    let contents = match spool::read(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(m) => return failure("input", &m),
    };
    let root = if root.is_empty() {
        contents.root.clone()
    } else {
        root.to_string()
    };
    let n = contents.items.len() as f64;
    let id = outbox::open(
        &contents.experiment_key,
        api_key,
        &root,
        outbox::Settings::default(),
    );
    let Some(s) = outbox::get(id) else {
        return failure("internal", "cannot open a stream");
    };
    s.load(contents.items);
    let ok = s.flush_blocking(std::time::Duration::from_secs_f64(
        timeout.clamp(0.0, 86_400.0),
    ));
    let pending = s.pending() as f64;
    let problems = s.take_problems();
    outbox::forget(id);
    if ok && pending == 0.0 {
        let _ = std::fs::remove_file(path);
    }
    list!(
        ok = ok && pending == 0.0,
        experiment_key = contents.experiment_key,
        root = root,
        items = n,
        pending = pending,
        problems = problems
    )
    .into_robj()
}

/// Capture stdout (`out`) and/or stderr (`err`) into the experiment's output.
/// Returns "" or an error message.
/// @noRd
#[extendr]
fn rust_capture_start(id: i32, out: bool, err: bool) -> String {
    output::start(id, out, err).err().unwrap_or_default()
}

extendr_module! {
    mod cometr;
    fn rust_http;
    fn rust_set_user_agent;
    fn rust_config_lookup;
    fn rust_url_root;
    fn rust_log_configure;
    fn rust_log_write;
    fn rust_redact;
    fn rust_server_start;
    fn rust_server_stop;
    fn rust_server_fault;
    fn rust_server_chaos;
    fn rust_server_requests;
    fn rust_server_heartbeat;
    fn rust_set_tls_verify;
    fn rust_stream_open;
    fn rust_stream_metric;
    fn rust_stream_parameter;
    fn rust_stream_rest;
    fn rust_stream_flush;
    fn rust_stream_problems;
    fn rust_stream_heartbeat;
    fn rust_stream_close;
    fn rust_capture_start;
    fn rust_spool_list;
    fn rust_spool_replay;
    fn rust_download;
    fn rust_sha1_file;
    fn rust_sha256_file;
    fn rust_logical_path_problem;
    fn rust_offline_open;
    fn rust_offline_file;
    fn rust_offline_close;
    fn rust_offline_pack;
    fn rust_offline_extract;
    fn rust_offline_replay;
}

// --- transfer ---

/// Stream a GET answer to `dest_dir/file_name` through a temporary file.
/// `expected_size < 0` means unknown; `expected_sha1 = NULL` means unchecked.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rust_download(
    url: &str,
    api_key: &str,
    query_names: Vec<String>,
    query_values: Vec<String>,
    dest_dir: &str,
    file_name: &str,
    expected_size: f64,
    expected_sha1: Nullable<String>,
) -> Robj {
    let d = transfer::Download {
        url: url.to_string(),
        api_key: api_key.to_string(),
        query: pairs(query_names, query_values),
        dest_dir: dest_dir.to_string(),
        file_name: file_name.to_string(),
        expected_size: (expected_size.is_finite() && expected_size >= 0.0)
            .then_some(expected_size as u64),
        expected_sha1: expected_sha1.into_option(),
    };
    match transfer::download_blocking(&d) {
        Ok(o) => list!(
            ok = true,
            status = o.status as i32,
            content_type = o.content_type,
            body = Raw::from_bytes(&o.error_body),
            path = o.path,
            size = o.size as f64,
            sha1 = o.sha1
        )
        .into_robj(),
        Err(transfer::DownloadFailure::Input(m)) => failure("input", &m),
        Err(transfer::DownloadFailure::Transfer(m)) => failure("transfer", &m),
    }
}

fn hash_result(r: std::result::Result<String, String>) -> Robj {
    match r {
        Ok(h) => list!(ok = true, value = h).into_robj(),
        Err(m) => failure("input", &m),
    }
}

/// SHA-1 of a file (hex), streamed.
/// @noRd
#[extendr]
fn rust_sha1_file(path: &str) -> Robj {
    hash_result(transfer::sha1_file(path))
}

/// SHA-256 of a file (hex), streamed.
/// @noRd
#[extendr]
fn rust_sha256_file(path: &str) -> Robj {
    hash_result(transfer::sha256_file(path))
}

/// Why a logical path is unsafe as a relative file name, or "" if it is safe.
/// @noRd
#[extendr]
fn rust_logical_path_problem(path: &str) -> String {
    transfer::logical_path_problem(path).unwrap_or_default()
}

// --- offline ---

fn offline_writer_do(
    id: i32,
    f: impl FnOnce(&mut offline::Writer) -> std::result::Result<(), String>,
) -> Robj {
    let Some(s) = outbox::get(id) else {
        return failure("input", "the experiment has ended");
    };
    let Some(w) = s.offline.as_ref() else {
        return failure("input", "the experiment is not offline");
    };
    // What was logged before comes first in messages.json.
    s.stage();
    let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
    match f(&mut w) {
        Ok(()) => list!(ok = true).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Open an offline experiment recording into `dir/<key>/` (a new key when `key` is
/// empty); returns its stream id, key and run folder.
/// @noRd
#[extendr]
fn rust_offline_open(
    dir: &str,
    key: &str,
    project: Nullable<String>,
    workspace: Nullable<String>,
) -> Robj {
    // Keys are made here, as the SDK makes them (uuid4 hex), without touching R's RNG.
    let key = if key.is_empty() {
        offline::new_id()
    } else {
        key.to_string()
    };
    match offline::Writer::create(
        std::path::Path::new(dir),
        &key,
        project.into_option(),
        workspace.into_option(),
    ) {
        Ok(w) => {
            let run = w.dir.display().to_string();
            let id = outbox::open_offline(&key, w);
            list!(ok = true, id = id, key = key, run_dir = run).into_robj()
        }
        Err(m) => failure("offline", &m),
    }
}

/// Record a file upload (`remote = FALSE`: copy `source` into the run folder) or a
/// remote asset (`remote = TRUE`: `source` is the URI). `params` and `metadata` are JSON.
/// @noRd
#[extendr]
fn rust_offline_file(
    id: i32,
    source: &str,
    upload_type: &str,
    params: &str,
    metadata: &str,
    remote: bool,
) -> Robj {
    let params: serde_json::Value = serde_json::from_str(params).unwrap_or_default();
    let metadata: serde_json::Value = serde_json::from_str(metadata).unwrap_or_default();
    offline_writer_do(id, |w| {
        if remote {
            w.add_remote(source, upload_type, params, metadata)
        } else {
            w.add_file(std::path::Path::new(source), upload_type, params, metadata)
        }
    })
}

/// Stop an offline experiment: record what is queued, write experiment.json, zip the
/// run folder and release the stream. Returns the archive's path in `archive`.
/// @noRd
#[extendr]
fn rust_offline_close(id: i32) -> Robj {
    let Some(s) = outbox::get(id) else {
        return list!(
            ok = true,
            pending = 0.0,
            problems = Vec::<String>::new(),
            spool = "",
            archive = ""
        )
        .into_robj();
    };
    output::stop(id);
    s.stage();
    let res = match s.offline.as_ref() {
        Some(w) => w.lock().unwrap_or_else(|e| e.into_inner()).finish(),
        None => Err("the experiment is not offline".to_string()),
    };
    let mut problems = s.take_problems();
    outbox::forget(id);
    let archive = match res {
        Ok(p) => p.display().to_string(),
        Err(m) => {
            problems.push(m);
            String::new()
        }
    };
    list!(
        ok = !archive.is_empty(),
        pending = 0.0,
        problems = problems,
        spool = "",
        archive = archive
    )
    .into_robj()
}

/// Zip a run folder left by a stopped or killed process into `<folder>.zip`.
/// @noRd
#[extendr]
fn rust_offline_pack(dir: &str) -> Robj {
    match offline::pack(std::path::Path::new(dir)) {
        Ok(p) => list!(ok = true, archive = p.display().to_string()).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Unpack an offline archive into the new folder `dest`.
/// @noRd
#[extendr]
fn rust_offline_extract(archive: &str, dest: &str) -> Robj {
    match offline::extract(std::path::Path::new(archive), std::path::Path::new(dest)) {
        Ok(()) => list!(ok = true).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Send the messages of an unpacked archive to experiment `key` (already created).
/// @noRd
#[extendr]
fn rust_offline_replay(dir: &str, root: &str, api_key: &str, key: &str, run_id: &str) -> Robj {
    logging::register_secret(api_key);
    let t = offline::Target {
        root: root.trim_end_matches('/').to_string(),
        api_key: api_key.to_string(),
        key: key.to_string(),
        run_id: run_id.to_string(),
    };
    let s = offline::replay(std::path::Path::new(dir), &t);
    list!(
        ok = true,
        messages = s.messages as f64,
        metrics = s.metrics as f64,
        parameters = s.parameters as f64,
        output = s.output as f64,
        writes = s.writes as f64,
        uploads = s.uploads as f64,
        problems = s
            .problems
            .iter()
            .map(|p| logging::redact(p))
            .collect::<Vec<_>>()
    )
    .into_robj()
}
