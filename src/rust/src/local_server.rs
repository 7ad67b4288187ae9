//! Glue for R/local-server.R: start, script and stop the embedded server.

use extendr_api::prelude::*;

use crate::result::{error, fail, ok, to_r, Kind};
use cometr_core::{http, logging};
use cometr_server as server;

/// Start the local server; returns its id and port.
/// @noRd
#[extendr]
fn rust_server_start(dir: &str, host: &str, port: i32, api_key: Nullable<String>) -> Robj {
    if !(0..=65535).contains(&port) {
        return fail(
            error(
                Kind::Input,
                format!("`port` must be between 0 and 65535, not {port}"),
            )
            .with("argument", "port"),
        );
    }
    let key = api_key.into_option().filter(|k| !k.is_empty());
    if let Some(k) = &key {
        logging::register_secret(k);
    }
    let started = server::start(std::path::PathBuf::from(dir), host, port as u16, key)
        .map(|(id, port)| list!(id = id, port = port as i32))
        .map_err(|m| error(Kind::Server, format!("Cannot start the local server: {m}")));
    to_r(started)
}

/// Set random failures on a running local server (`settings` is a JSON object; "" clears).
/// @noRd
#[extendr]
fn rust_server_chaos(id: i32, settings: &str) -> Robj {
    let parsed = if settings.is_empty() {
        Ok(None)
    } else {
        server::chaos::Settings::from_json(settings).map(Some)
    };
    let r = match parsed {
        Ok(s) => {
            if server::set_chaos(id, s) {
                Ok(())
            } else {
                Err(error(Kind::Server, "The local server is not running."))
            }
        }
        Err(e) => Err(error(Kind::Input, format!("`faults` {e}")).with("argument", "faults")),
    };
    to_r(r)
}

/// The request lines a local server has seen most recently.
/// @noRd
#[extendr]
fn rust_server_requests(id: i32) -> Robj {
    ok(server::recent_requests(id))
}

/// The requests a local server has answered most recently, each after its status.
/// @noRd
#[extendr]
fn rust_server_answers(id: i32) -> Robj {
    ok(server::recent_answers(id))
}

/// Set the heartbeat interval (milliseconds) a local server asks its clients for.
/// @noRd
#[extendr]
fn rust_server_heartbeat(id: i32, millis: f64) -> Robj {
    ok(server::set_heartbeat(id, millis.clamp(100.0, 3.6e6) as i64))
}

/// Stop a local server started by `rust_server_start()`, waiting (at most 5 s) until
/// it has let go of its port, in slices that give way to Ctrl-C: the server stops
/// anyway, only the wait is cut short.
/// @noRd
#[extendr]
fn rust_server_stop(id: i32) -> Robj {
    let stopped = match server::begin_stop(id) {
        Some(wait) => http::block_on_interruptible(
            wait,
            || {
                "Waiting up to 5 s for the local server to finish the requests in progress \
                 and let go of its port (Ctrl-C stops waiting; the server stops anyway)."
                    .to_string()
            },
            || false,
        ),
        None => false,
    };
    ok(stopped)
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
) -> Robj {
    ok(server::add_fault(
        id,
        server::Fault {
            path: path.to_string(),
            status: status.clamp(100, 599) as u16,
            body: body.to_string(),
            content_type: content_type.to_string(),
            remaining: times as i64,
        },
    ))
}

extendr_module! {
    mod local_server;
    fn rust_server_start;
    fn rust_server_chaos;
    fn rust_server_requests;
    fn rust_server_answers;
    fn rust_server_heartbeat;
    fn rust_server_stop;
    fn rust_server_fault;
}
