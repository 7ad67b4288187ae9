//! Glue for R/http.R: one HTTP request through the core's client, and the client's
//! process-wide settings (User-Agent, TLS verification).

use extendr_api::prelude::*;

use crate::convert::{pairs, seconds};
use crate::result::{error, ok, to_r, Error, Kind};
use cometr_core::{http, retry};

/// An answer outside 200-299, for R to word from its body (R/utils-conditions.R).
pub(crate) fn status_error(
    status: u16,
    method: &str,
    endpoint: &str,
    content_type: String,
    body: &[u8],
) -> Error {
    error(Kind::Http, "")
        .with("status", status as i32)
        .with("method", method)
        .with("endpoint", endpoint)
        .with("content_type", content_type)
        .with("body", Raw::from_bytes(body))
}

/// Send one HTTP request and return the whole answer, retrying transient failures
/// for up to `retry_seconds`; with `limit_seconds` > 0, give up once that has passed,
/// even within an attempt. With `max_answer` > 0, an answer body larger than that many
/// bytes is a transfer error. `endpoint` names the request in errors.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rust_http(
    method: &str,
    url: &str,
    endpoint: &str,
    api_key: &str,
    query_names: Vec<String>,
    query_values: Vec<String>,
    json_body: Nullable<String>,
    gzip_body: bool,
    multipart: bool,
    file_part: Nullable<String>,
    form_names: Vec<String>,
    form_values: Vec<String>,
    header_names: Vec<String>,
    header_values: Vec<String>,
    retry_seconds: f64,
    limit_seconds: f64,
    max_answer: f64,
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
        file_sha256: None,
        form: pairs(form_names, form_values),
        headers: pairs(header_names, header_values),
        max_answer: if max_answer.is_finite() && max_answer > 0.0 {
            max_answer as u64
        } else {
            0
        },
    };
    let budget = seconds(retry_seconds);
    let limit = (limit_seconds > 0.0).then(|| seconds(limit_seconds));
    let answer = match retry::send_blocking_within(&req, budget, limit) {
        Ok(resp) if (200..300).contains(&resp.status) => {
            let (hn, hv): (Vec<String>, Vec<String>) = resp.headers.into_iter().unzip();
            Ok(list!(
                status = resp.status as i32,
                content_type = resp.content_type,
                body = Raw::from_bytes(&resp.body),
                header_names = hn,
                header_values = hv
            ))
        }
        Ok(resp) => Err(status_error(
            resp.status,
            method,
            endpoint,
            resp.content_type,
            &resp.body,
        )),
        Err(http::Failure::Transport(m)) => Err(error(
            Kind::Connection,
            format!("Error calling Comet API: {m}"),
        )
        .with("endpoint", endpoint)),
        Err(http::Failure::TooLarge(m)) => Err(error(
            Kind::Transfer,
            format!("Error calling Comet API: {m}"),
        )
        .with("endpoint", endpoint)),
        Err(http::Failure::Input(m)) => {
            Err(error(Kind::Input, format!("Error calling Comet API: {m}"))
                .with("endpoint", endpoint))
        }
    };
    to_r(answer)
}

extern "C" {
    // src/entrypoint.c
    fn cometr_take_interrupt() -> std::os::raw::c_int;
    fn cometr_notice(msg: *const std::os::raw::c_char) -> std::os::raw::c_int;
}

fn take_interrupt() -> bool {
    // SAFETY: called only on R's main thread (the core checks the thread), reads and
    // clears R's interrupt flag.
    unsafe { cometr_take_interrupt() != 0 }
}

fn notice(msg: &str) -> bool {
    match std::ffi::CString::new(msg.replace('\0', "")) {
        // SAFETY: R's main thread (checked by the core); the string outlives the call,
        // and no jump leaves cometr_notice().
        Ok(c) => unsafe { cometr_notice(c.as_ptr()) != 0 },
        Err(_) => false,
    }
}

/// Called once by R_init_cometr() on R's main thread: lend the core's blocking waits
/// the interrupt check and the notice.
#[no_mangle]
pub extern "C" fn cometr_install_wait_hooks() {
    http::set_wait_hooks(http::WaitHooks {
        interrupted: take_interrupt,
        notice,
    });
}

/// Set the User-Agent header sent with every request.
/// @noRd
#[extendr]
fn rust_set_user_agent(ua: &str) -> Robj {
    http::set_user_agent(ua);
    ok(())
}

/// Turn TLS certificate verification off (`FALSE`) or on for every later request.
/// @noRd
#[extendr]
fn rust_set_tls_verify(verify: bool) -> Robj {
    http::set_tls_verify(verify);
    ok(())
}

extendr_module! {
    mod http;
    fn rust_http;
    fn rust_set_user_agent;
    fn rust_set_tls_verify;
}
