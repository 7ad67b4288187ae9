//! Glue for R/artifact.R and R/logged-artifact.R: streamed downloads, file hashes and
//! the safety check of logical paths (the core's transfer module).

use extendr_api::prelude::*;

use crate::convert::pairs;
use crate::result::failure;
use cometr_core::transfer;

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

extendr_module! {
    mod artifact;
    fn rust_download;
    fn rust_sha1_file;
    fn rust_sha256_file;
    fn rust_logical_path_problem;
}
