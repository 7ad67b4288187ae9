//! The client core of cometr: everything the R package does that does not need R.
//! Configuration, HTTP with one retry policy, the per-experiment outbox and the sinks
//! it drains into (the online sender or the offline archive writer), the write-ahead
//! spool, streaming transfers and output capture. No module here touches R; results
//! come back as plain Rust values for the glue crate to convert.

pub mod config;
pub mod experiment;
pub mod http;
pub mod item;
pub mod logging;
pub mod offline;
pub mod outbox;
pub mod output;
pub mod retry;
pub mod sender;
pub mod sink;
pub mod spool;
pub mod transfer;

#[cfg(test)]
mod against_server;

/// Milliseconds since the Unix epoch, the unit of every timestamp Comet stores.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new experiment key or record id, as the SDK makes them (uuid4 hex), without R's RNG.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Lower-case hexadecimal of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create a folder (and its parents) readable by the user only, as the SDK does.
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// Whether `key` is an experiment key as Comet makes them: 1 to 64 ASCII letters, digits,
/// `_` or `-`. Keys name spool files and offline folders, so one from a server's answer
/// or an argument (say `../../x`) must never reach a path unchecked.
pub fn valid_experiment_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
