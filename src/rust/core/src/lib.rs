//! The client core of cometr: everything the R package does that does not need R.
//! Configuration, HTTP with one retry policy, the per-experiment queues and the sinks
//! they drain into (the online sender or the offline archive writer), the write-ahead
//! spool, streaming transfers and output capture. No module here touches R; results
//! come back as plain Rust values for the glue crate to convert.

pub mod config;
pub mod http;
pub mod logging;
pub mod offline;
pub mod outbox;
pub mod output;
pub mod retry;
pub mod spool;
pub mod transfer;
