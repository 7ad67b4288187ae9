//! Glue for R/artifact.R and R/logged-artifact.R: streamed downloads, file hashes and
//! the safety check of logical paths (the core's transfer module).

use extendr_api::prelude::*;

use crate::convert::{pairs, seconds};
use crate::http::status_error;
use crate::result::{error, ok, to_r, Kind};
use cometr_core::transfer;

/// Stream a GET answer to `dest_dir/file_name` through a temporary file beside it,
/// renamed into place once complete, so the body is never held in memory.
/// `expected_size < 0` means unknown; `expected_sha1 = NULL` means unchecked.
/// `retry_seconds`: how long to try again while the server is unreachable or answers
/// a transient status (0: once). `endpoint` names the request in errors.
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rust_download(
    url: &str,
    endpoint: &str,
    api_key: &str,
    query_names: Vec<String>,
    query_values: Vec<String>,
    dest_dir: &str,
    file_name: &str,
    expected_size: f64,
    expected_sha1: Nullable<String>,
    retry_seconds: f64,
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
    let r = match transfer::download_blocking(&d, seconds(retry_seconds)) {
        Ok(o) if (200..300).contains(&o.status) => {
            let (hn, hv): (Vec<String>, Vec<String>) = o.headers.into_iter().unzip();
            Ok(list!(
                path = o.path,
                size = o.size as f64,
                sha1 = o.sha1,
                status = o.status as i32,
                content_type = o.content_type,
                header_names = hn,
                header_values = hv
            ))
        }
        Ok(o) => Err(status_error(
            o.status,
            "GET",
            endpoint,
            o.content_type,
            &o.error_body,
        )),
        Err(transfer::DownloadFailure::Input(m)) => Err(error(
            Kind::Input,
            format!("Cannot download '{file_name}': {m}"),
        )
        .with("endpoint", endpoint)),
        Err(transfer::DownloadFailure::Unreachable(m)) => Err(error(
            Kind::Connection,
            format!("Error calling Comet API: {m}"),
        )
        .with("endpoint", endpoint)),
        Err(transfer::DownloadFailure::Transfer(m)) => Err(error(
            Kind::Transfer,
            format!("Failed to download '{file_name}': {m}"),
        )
        .with("endpoint", endpoint)),
    };
    to_r(r)
}

fn hash_result(r: std::result::Result<String, String>) -> Robj {
    to_r(r.map_err(|m| error(Kind::Input, m)))
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

/// Why a logical path is unsafe as a relative file name, or NULL if it is safe.
/// @noRd
#[extendr]
fn rust_logical_path_problem(path: &str) -> Robj {
    match transfer::logical_path_problem(path) {
        Some(problem) => ok(problem),
        None => ok(()),
    }
}

extendr_module! {
    mod artifact;
    fn rust_download;
    fn rust_sha1_file;
    fn rust_sha256_file;
    fn rust_logical_path_problem;
}
