//! Glue for R/logging.R: the internal log file.

use extendr_api::prelude::*;

use crate::result::{error, ok, to_r, Kind};
use cometr_core::logging;

/// Point the internal log at a file and level, or turn it off (`path = NULL`).
/// @noRd
#[extendr]
fn rust_log_configure(path: Nullable<String>, level: &str) -> Robj {
    let r = match logging::Level::parse(level) {
        Some(l) => {
            logging::configure(path.into_option(), l);
            Ok(true)
        }
        None => {
            logging::configure(None, logging::Level::Error);
            Err(error(Kind::Input, format!("unknown log level {level}")).with("argument", "level"))
        }
    };
    to_r(r)
}

/// Write one log line. A line that cannot be written must not fail the call that logs
/// it, so the outcome is a value: why it was not written, or NULL.
/// @noRd
#[extendr]
fn rust_log_write(level: &str, msg: &str) -> Robj {
    let l = logging::Level::parse(level).unwrap_or(logging::Level::Info);
    match logging::write(l, msg) {
        Ok(()) => ok(()),
        Err(m) => ok(m),
    }
}

extendr_module! {
    mod logging;
    fn rust_log_configure;
    fn rust_log_write;
}
