//! A Comet-compatible experiment-tracking server.
//!
//! It answers Comet's REST v2 endpoints (`/api/rest/v2/…`, also under
//! `/clientlib/rest/v2/…`) and the clientlib endpoints (`/clientlib/…`) the way Comet's
//! service does, with the same field names and JSON types, so any Comet client can log
//! to it. Records live in SQLite, asset bytes in plain files.
//!
//! Layers, each using only those below it:
//! `lifecycle` (start, stop, registry, accept loop) → `service` (HTTP front: faults,
//! `trust` checks, keys) →
//! `request` (parsing) → `router` → `handlers` (return data) → `store` (schema and
//! queries); `reply` formats what handlers return; `error`, `util` serve all.

pub mod chaos;
mod dashboard;
mod error;
mod handlers;
#[cfg(test)]
mod http_tests;
mod lifecycle;
mod limits;
#[cfg(test)]
mod protocol_tests;
mod reply;
mod request;
mod router;
mod service;
mod state;
mod store;
#[cfg(test)]
mod testing;
mod trust;
mod util;

pub use lifecycle::{
    add_fault, begin_stop, recent_answers, recent_requests, set_chaos, set_heartbeat, start,
    start_with, stop, wait_for_shutdown_signal,
};
pub use limits::Limits;
pub use state::Fault;
