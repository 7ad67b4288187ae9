//! Where an experiment's logged data goes: the outbox hands staged batches to one sink,
//! chosen when the experiment is opened. Two implement it: the online sender
//! (`sender.rs`, Comet's batch and REST endpoints) and the offline archive writer
//! (`offline.rs`, Comet's archive format). The outbox knows nothing of either.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::item::Kind;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What became of a batch.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Refused for good (retrying would not help); the message says why, for the user.
    Refused(String),
    /// Not delivered before the deadline: the batch stays queued. The message says why.
    Later(String),
}

/// A file or link logged with the experiment, for a sink that records them itself.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// A local file to copy, or the URI of a remote asset.
    pub source: String,
    pub remote: bool,
    pub upload_type: String,
    pub params: Value,
    pub metadata: Value,
}

pub trait Sink: Send + Sync {
    /// Deliver a batch of staged items of one kind, in order (each is JSON text), trying
    /// until `deadline`. REST writes come one at a time.
    fn deliver<'a>(
        &'a self,
        kind: Kind,
        items: &'a [(u64, String)],
        deadline: Instant,
    ) -> BoxFuture<'a, Delivery>;

    /// Tell the server the run is alive; returns the wait before the next beat, or
    /// `None` when the sink has no heartbeat.
    fn beat(&self) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async { None })
    }

    /// Tell the server the run has ended; true once it knows (or nobody needs to).
    fn end(&self, _timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }

    /// Record a file or link logged with the experiment, after everything logged
    /// before it.
    fn record_file(&self, _file: FileRecord) -> Result<(), String> {
        Err("files of an online experiment are uploaded directly, not through its outbox".into())
    }

    /// Called once everything has been handed over: what the sink leaves behind (the
    /// offline archive), if anything.
    fn finish(&self) -> Result<Option<PathBuf>, String> {
        Ok(None)
    }
}
