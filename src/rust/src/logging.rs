//! Glue for R/logging.R: the internal log file.

use extendr_api::prelude::*;

use cometr_core::logging;

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

extendr_module! {
    mod logging;
    fn rust_log_configure;
    fn rust_log_write;
}
