//! Glue for R/http.R: one HTTP request through the core's client, and the client's
//! process-wide settings (User-Agent, TLS verification).

use extendr_api::prelude::*;

use crate::convert::pairs;
use crate::result::failure;
use cometr_core::{http, retry};

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
    match retry::send_blocking(&req, budget) {
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

/// Turn TLS certificate verification off (`FALSE`) or on for every later request.
/// @noRd
#[extendr]
fn rust_set_tls_verify(verify: bool) {
    http::set_tls_verify(verify);
}

extendr_module! {
    mod http;
    fn rust_http;
    fn rust_set_user_agent;
    fn rust_set_tls_verify;
}
