//! Where an experiment's logged data goes: the outbox hands staged batches to one sink,
//! chosen when the experiment is opened. Two implement it: the online sender
//! (`sender.rs`, Comet's batch and REST endpoints) and the offline archive writer
//! (`offline.rs`, Comet's archive format). The outbox knows nothing of either.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::item::Kind;

/// The header naming a batch: a server that knows it (the local server) applies each
/// batch once however often it arrives; Comet's service ignores it. Both sinks send it
/// (the sender live, the offline replay later), so it lives with the trait.
pub const BATCH_ID_HEADER: &str = "X-Comet-Batch-Id";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What became of a batch.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Refused for good (retrying would not help); the message says why, for the user.
    Refused(String),
    /// Not delivered before the deadline: the batch stays queued. The message says why.
    Later(String),
    /// Not sent, on purpose, and not offered again: a logged file changed before it
    /// could be sent.
    Withheld(Problem),
}

/// Something to tell the user at R's next call, with the kind of warning it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `delivery` for data not (yet) delivered; `file_changed` for a logged file whose
    /// bytes changed before it could be sent.
    pub class: &'static str,
    pub message: String,
}

impl Problem {
    pub fn delivery(message: String) -> Problem {
        Problem {
            class: "delivery",
            message,
        }
    }
}

/// What became of a logged file the sink was handed: delivered, or the problem that
/// keeps it from being sent (it is then not offered again).
pub fn file_problem(p: crate::item::FileProblem) -> Delivery {
    match p {
        crate::item::FileProblem::Changed(m) => Delivery::Withheld(Problem {
            class: "file_changed",
            message: m,
        }),
        crate::item::FileProblem::Missing(m) => Delivery::Refused(m),
    }
}

pub trait Sink: Send + Sync {
    /// Deliver a batch of staged items of one kind, in order (each is JSON text), trying
    /// until `deadline`. REST writes and files (`item::FileUpload`) come one at a time.
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

    /// Called once everything has been handed over: what the sink leaves behind (the
    /// offline archive), if anything.
    fn finish(&self) -> Result<Option<PathBuf>, String> {
        Ok(None)
    }
}
