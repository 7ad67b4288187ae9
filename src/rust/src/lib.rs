//! Thin `.Call` glue between R and the Rust core. Each function converts R values,
//! calls one module, and converts the result back. Failures come back as data
//! (`ok = FALSE`, a kind and a message) that R turns into classed conditions, so no
//! error ever crosses the boundary as a panic.

use extendr_api::prelude::*;

pub mod client;
pub mod config;
pub mod logging;
pub mod server;

fn pairs(names: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    names.into_iter().zip(values).collect()
}

fn failure(kind: &str, message: &str) -> Robj {
    list!(ok = false, kind = kind, message = logging::redact(message)).into_robj()
}

/// Send one HTTP request and return the whole answer.
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
) -> Robj {
    let req = client::Request {
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
    match client::send_blocking(&req) {
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
        Err(client::Failure::Transport(m)) => failure("transport", &m),
        Err(client::Failure::Input(m)) => failure("input", &m),
    }
}

/// Set the User-Agent header sent with every request.
/// @noRd
#[extendr]
fn rust_set_user_agent(ua: &str) {
    client::set_user_agent(ua);
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
}
