//! Per-experiment outboxes: every logged item leaves through one, to the sink chosen
//! when the experiment was opened (`sink.rs`: the online sender or the offline archive
//! writer).
//!
//! `log_*` calls push onto an in-memory queue and return at once. Every ~100 ms a
//! staging step numbers the new items, appends them to the spool file (see `spool.rs`)
//! and moves them to the queues. A task on the client runtime hands what has
//! accumulated to the sink every `interval` (or sooner once `batch_size` metric points
//! are waiting), in batches per kind. A flush from R's main thread does the same under
//! the same lock, so reads see the writes before them. What the sink could not take
//! yet stays queued and is reported, never silently dropped.
//!
//! The queues hold at most `max_memory_items`; beyond that, items stay only in the
//! spool and are read back when the queues have drained, in order. Delivered batches
//! are marked in the spool, which is deleted once everything has been delivered.
//!
//! A batch is formed once: its bounds (first and last sequence number of its kind) are
//! noted in the spool before it is sent and kept until it is acknowledged, so a retry,
//! a later flush or a replay of the spool sends exactly the same batch under the same
//! identity (`sender::Sender::batch_id`). A batch being sent counts as pending until the
//! server has acknowledged it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http;
use crate::item::{Entry, FileUpload, Kind, MetricPoint, MetricTable, RestWrite};
use crate::sink::{Delivery, Problem, Sink};
use crate::spool;

/// Staged items, numbered and serialised, by kind.
#[derive(Default)]
struct Queues {
    metrics: Vec<(u64, String)>,
    parameters: Vec<(u64, String)>,
    output: Vec<(u64, String)>,
    rest: VecDeque<(u64, String)>,
    files: VecDeque<(u64, String)>,
}

impl Queues {
    fn len(&self) -> usize {
        self.metrics.len()
            + self.parameters.len()
            + self.output.len()
            + self.rest.len()
            + self.files.len()
    }

    fn push(&mut self, kind: Kind, seq: u64, json: String) {
        match kind {
            Kind::Metric => self.metrics.push((seq, json)),
            Kind::Parameter => self.parameters.push((seq, json)),
            Kind::Output => self.output.push((seq, json)),
            Kind::Rest => self.rest.push_back((seq, json)),
            Kind::File => self.files.push_back((seq, json)),
        }
    }
}

/// Sequence numbering, the spool file and the spill state, under one lock.
struct Staging {
    next_seq: u64,
    spool: Option<spool::Writer>,
    /// Items from this sequence number on are only in the spool.
    spilled_from: Option<u64>,
    /// Items now only on disk (not yet read back).
    spilled: usize,
}

pub struct Settings {
    pub interval: Duration,
    pub batch_size: usize,
    /// Largest number of items in one request.
    pub max_request_items: usize,
    /// Largest number of staged items held in memory; the rest wait in the spool.
    pub max_memory_items: usize,
    /// Folder for the spool file; `None` keeps everything in memory.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The server the items are meant for, written into the spool's header so that
    /// `send_spool()` knows where to send what is left.
    pub server: String,
    /// The run naming this outbox's batches; a new one when empty.
    pub run: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(2),
            batch_size: 1000,
            max_request_items: 10_000,
            max_memory_items: 200_000,
            spool_dir: None,
            server: String::new(),
            run: String::new(),
        }
    }
}

pub struct Outbox {
    /// The experiment the items belong to.
    pub key: String,
    settings: Settings,
    sink: Box<dyn Sink>,
    incoming: Mutex<Vec<Entry>>,
    staging: Mutex<Staging>,
    queues: Mutex<Queues>,
    /// Items taken out of the queues and not yet acknowledged (or put back).
    in_flight: AtomicUsize,
    /// Per kind, the last item of the batch formed and not yet acknowledged: the next
    /// send of that kind sends that same batch.
    bounds: Mutex<HashMap<Kind, u64>>,
    /// Held while sending, so the background task and a flush never interleave.
    send_lock: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    closed: AtomicBool,
    output_offset: AtomicU64,
    /// Problems to report to R at its next call (drained on the main thread).
    problems: Mutex<Vec<Problem>>,
    /// The logged file being sent (staged form): out of the queues but not delivered,
    /// so still pending, and still to be named if the run ends first.
    file_in_flight: Mutex<Option<String>>,
    has_problems: AtomicBool,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stager: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

static OUTBOXES: OnceLock<Mutex<HashMap<i32, Arc<Outbox>>>> = OnceLock::new();
static NEXT: Mutex<i32> = Mutex::new(1);

fn registry() -> &'static Mutex<HashMap<i32, Arc<Outbox>>> {
    OUTBOXES.get_or_init(|| Mutex::new(HashMap::new()))
}

pub fn get(id: i32) -> Option<Arc<Outbox>> {
    registry().lock().ok()?.get(&id).cloned()
}

/// Create an outbox that drains into `sink`, start its background tasks, and return
/// its id.
pub fn open(key: &str, mut settings: Settings, sink: Box<dyn Sink>) -> i32 {
    if settings.run.is_empty() {
        settings.run = crate::new_id();
    }
    let mut problems = Vec::new();
    let writer = settings.spool_dir.as_ref().and_then(|d| {
        match spool::Writer::create(d, key, &settings.server, &settings.run) {
            Ok(w) => Some(w),
            Err(e) => {
                problems.push(Problem::delivery(format!(
                    "cannot create a spool file in {} ({e}); logged data is kept in memory only",
                    d.display()
                )));
                None
            }
        }
    });
    let has = !problems.is_empty();
    let s = Arc::new(Outbox {
        key: key.to_string(),
        settings,
        sink,
        incoming: Mutex::new(Vec::new()),
        staging: Mutex::new(Staging {
            next_seq: 1,
            spool: writer,
            spilled_from: None,
            spilled: 0,
        }),
        queues: Mutex::new(Queues::default()),
        in_flight: AtomicUsize::new(0),
        bounds: Mutex::new(HashMap::new()),
        send_lock: tokio::sync::Mutex::new(()),
        wake: tokio::sync::Notify::new(),
        closed: AtomicBool::new(false),
        output_offset: AtomicU64::new(0),
        problems: Mutex::new(problems),
        file_in_flight: Mutex::new(None),
        has_problems: AtomicBool::new(has),
        heartbeat: Mutex::new(None),
        worker: Mutex::new(None),
        stager: Mutex::new(None),
    });
    let id = {
        let mut n = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n - 1
    };
    if let Ok(mut m) = registry().lock() {
        m.insert(id, s.clone());
    }
    let bg = s.clone();
    let handle = http::runtime().spawn(async move { bg.run().await });
    if let Ok(mut g) = s.worker.lock() {
        *g = Some(handle);
    }
    id
}

/// The open outboxes of experiment `key`, or all of them.
pub fn of_experiment(key: Option<&str>) -> Vec<Arc<Outbox>> {
    registry()
        .lock()
        .map(|m| {
            m.values()
                .filter(|s| key.is_none_or(|k| s.key == k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The spool files that open outboxes of this process are still writing: they are not
/// leftovers, since their own outbox may yet deliver them.
pub fn spools_in_use() -> Vec<std::path::PathBuf> {
    of_experiment(None)
        .iter()
        .filter_map(|s| {
            let staging = s.staging.lock().ok()?;
            staging.spool.as_ref().map(|w| w.path.clone())
        })
        .collect()
}

/// Remove an outbox from the registry (after its final flush).
pub fn forget(id: i32) {
    if let Ok(mut m) = registry().lock() {
        if let Some(s) = m.remove(&id) {
            s.shutdown_tasks();
        }
    }
}

impl Outbox {
    fn note_problem(&self, msg: String) {
        self.note(Problem::delivery(msg));
    }

    fn note(&self, problem: Problem) {
        if let Ok(mut p) = self.problems.lock() {
            // Bounded: a long outage must not grow this without limit.
            if p.len() < 100 {
                p.push(problem);
            }
        }
        self.has_problems.store(true, Ordering::Release);
    }

    pub fn has_problems(&self) -> bool {
        self.has_problems.load(Ordering::Acquire)
    }

    pub fn take_problems(&self) -> Vec<Problem> {
        self.has_problems.store(false, Ordering::Release);
        self.problems
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Items not yet delivered: waiting, staged, only in the spool, or being sent.
    pub fn pending(&self) -> usize {
        let incoming = self
            .incoming
            .lock()
            .map(|q| q.iter().map(Entry::items).sum())
            .unwrap_or(0);
        let staged = self.queues.lock().map(|q| q.len()).unwrap_or(0);
        let spilled = self.staging.lock().map(|s| s.spilled).unwrap_or(0);
        let file = self
            .file_in_flight
            .lock()
            .map(|f| usize::from(f.is_some()))
            .unwrap_or(0);
        incoming + staged + spilled + file + self.in_flight.load(Ordering::Acquire)
    }

    fn push(&self, e: Entry) -> usize {
        let mut q = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
        q.push(e);
        q.len()
    }

    pub fn push_metric(&self, item: MetricPoint) {
        if self.push(Entry::Metric(item)) == self.settings.batch_size {
            self.wake.notify_one();
        }
    }

    /// Queue a whole table of points (`log_metrics()` of a training history) as one
    /// entry: it becomes points when staged, off R's thread. The sender is woken as
    /// soon as a batch is waiting, as by `push_metric`.
    pub fn push_metric_table(&self, table: MetricTable) {
        let full = table.points() >= self.settings.batch_size;
        let waiting = self.push(Entry::Metrics(table));
        if full || waiting >= self.settings.batch_size {
            self.wake.notify_one();
        }
    }

    pub fn push_parameter(&self, item: Value) {
        self.push(Entry::Parameter(item));
    }

    pub fn push_rest(&self, w: RestWrite) {
        self.push(Entry::Rest(w));
    }

    /// Queue a file logged with the experiment (prepared by `FileUpload::local` in
    /// `copy_dir()`, or a remote link).
    pub fn push_file(&self, f: FileUpload) {
        self.push(Entry::File(f));
    }

    /// Where small logged files are copied until they are sent: beside the spool file
    /// (so that `send_spool()` finds them after a crash), else (no spool, or it could
    /// not be created) in the temporary folder.
    pub fn copy_dir(&self) -> std::path::PathBuf {
        let spooled = self
            .staging
            .lock()
            .map(|s| s.spool.is_some())
            .unwrap_or(false);
        match &self.settings.spool_dir {
            Some(d) if spooled => d.join("files"),
            _ => std::env::temp_dir().join("cometr-files"),
        }
    }

    /// The logged files not sent yet, each with where it waits (for the message of a
    /// stop that could not deliver everything).
    pub fn pending_files(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Ok(Some(f)) = self.file_in_flight.lock().as_deref() {
            out.push(FileUpload::from_staged(f).whereabouts());
        }
        if let Ok(q) = self.queues.lock() {
            out.extend(
                q.files
                    .iter()
                    .map(|(_, j)| FileUpload::from_staged(j).whereabouts()),
            );
        }
        if let Ok(q) = self.incoming.lock() {
            out.extend(q.iter().filter_map(|e| match e {
                Entry::File(f) => Some(f.whereabouts()),
                _ => None,
            }));
        }
        out
    }

    pub fn push_output(&self, line: &str, stderr: bool) {
        let offset = self.output_offset.fetch_add(1, Ordering::AcqRel) + 1;
        self.push(Entry::Output(json!({
            "stderr": stderr, "output": line, "localTimestamp": crate::now_ms(), "offset": offset
        })));
    }

    /// Number the new items, append them to the spool, and move them to the send
    /// queues (or leave them only in the spool when the queues are full).
    fn stage(&self) {
        let entries = {
            let mut q = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
            if q.is_empty() {
                return;
            }
            std::mem::take(&mut *q)
        };
        let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let mut spool_failed = None;
        for e in entries {
            e.stage(|kind, json| {
                let seq = st.next_seq;
                st.next_seq += 1;
                if let Some(w) = st.spool.as_mut() {
                    if let Err(err) = w.item(kind, seq, &json) {
                        spool_failed = Some(err.to_string());
                    }
                }
                let on_disk = st.spool.is_some() && spool_failed.is_none();
                if on_disk
                    && (st.spilled_from.is_some() || q.len() >= self.settings.max_memory_items)
                {
                    // Keep order: once spilling, everything newer waits on disk too.
                    st.spilled_from.get_or_insert(seq);
                    st.spilled += 1;
                } else {
                    q.push(kind, seq, json);
                }
            });
        }
        if let Some(w) = st.spool.as_mut() {
            if let Err(err) = w.flush() {
                spool_failed = Some(err.to_string());
            }
        }
        drop(q);
        drop(st);
        if let Some(err) = spool_failed {
            self.note_problem(format!("cannot write the spool file: {err}"));
        }
    }

    /// Queue items read from a spool file (already numbered and serialised), with the
    /// bounds of the batches that were being sent.
    pub fn load(&self, items: Vec<(Kind, u64, String)>, bounds: Vec<(Kind, u64)>) {
        let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, seq, json) in items {
            st.next_seq = st.next_seq.max(seq + 1);
            q.push(kind, seq, json);
        }
        let mut b = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        b.extend(bounds);
    }

    /// Take the next batch of one kind: the batch formed before and not acknowledged
    /// if there is one, else up to `max` items, whose bounds are then noted in memory
    /// until the batch is acknowledged (and returned, for the spool: the caller holds
    /// the queues, which are locked after the staging lock). The items count as in
    /// flight.
    fn take_batch(
        &self,
        kind: Kind,
        q: &mut Queues,
        max: usize,
        formed: &mut Vec<(Kind, u64, u64)>,
    ) -> Vec<(u64, String)> {
        let v = match kind {
            Kind::Metric => &mut q.metrics,
            Kind::Parameter => &mut q.parameters,
            _ => &mut q.output,
        };
        let Some(&(head, _)) = v.first() else {
            return Vec::new();
        };
        let mut bounds = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        let batch = match bounds.get(&kind) {
            Some(&last) if head <= last => {
                let n = v.iter().take_while(|(s, _)| *s <= last).count();
                v.drain(..n).collect()
            }
            _ => {
                let batch = take(v, max);
                let last = batch.last().map(|(s, _)| *s).unwrap_or(head);
                bounds.insert(kind, last);
                formed.push((kind, head, last));
                batch
            }
        };
        self.in_flight.fetch_add(batch.len(), Ordering::AcqRel);
        batch
    }

    /// A batch is settled (acknowledged, or put back in the queues).
    fn settled(&self, n: usize) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// Read spilled items back from the spool once the queues have room.
    fn unspill(&self) {
        let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        let Some(from) = st.spilled_from else {
            return;
        };
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.settings.max_memory_items.saturating_sub(q.len());
        if room == 0 {
            return;
        }
        let Some(path) = st.spool.as_ref().map(|w| w.path.clone()) else {
            return;
        };
        if let Some(w) = st.spool.as_mut() {
            let _ = w.flush();
        }
        let items = spool::read_from(&path, from, room);
        for (kind, seq, json) in &items {
            q.push(*kind, *seq, json.clone());
        }
        st.spilled = st.spilled.saturating_sub(items.len());
        st.spilled_from = match items.last() {
            Some((_, last, _)) if st.spilled > 0 => Some(last + 1),
            _ if st.spilled > 0 => Some(from),
            _ => None,
        };
    }

    fn ack(&self, kind: Kind, seq: u64) {
        if let Ok(mut b) = self.bounds.lock() {
            if b.get(&kind).is_some_and(|&last| last <= seq) {
                b.remove(&kind);
            }
        }
        let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = st.spool.as_mut() {
            let _ = w.ack(kind, seq);
        }
    }

    /// After the final flush: delete the spool when everything was delivered.
    /// Returns the spool's path when it is kept.
    pub fn finish_spool(&self) -> Option<std::path::PathBuf> {
        let delivered = self.pending() == 0;
        let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        let w = st.spool.take()?;
        let path = w.path.clone();
        drop(w);
        if delivered {
            let _ = std::fs::remove_file(&path);
            None
        } else {
            Some(path)
        }
    }

    /// Hand one batch to the sink. Returns false when it must stay queued.
    async fn deliver(&self, kind: Kind, batch: &[(u64, String)], deadline: Instant) -> bool {
        match self.sink.deliver(kind, batch, deadline).await {
            Delivery::Delivered => true,
            // Refused data is reported and not offered again: it would be refused again.
            Delivery::Refused(m) => {
                self.note_problem(m);
                true
            }
            Delivery::Later(m) => {
                self.note_problem(m);
                false
            }
            Delivery::Withheld(p) => {
                self.note(p);
                true
            }
        }
    }

    /// Send everything queued now. With a deadline, stop retrying at it and keep what is
    /// left queued.
    pub async fn send_all(&self, deadline: Instant) -> bool {
        let _guard = self.send_lock.lock().await;
        self.stage();
        let max = self.settings.max_request_items.max(1);
        // Metrics, parameters and output go in batches; REST writes and files one by one,
        // in order.
        loop {
            self.unspill();
            let mut formed = Vec::new();
            let (metrics, params, output, rest, file) = {
                let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let m = self.take_batch(Kind::Metric, &mut q, max, &mut formed);
                let p = self.take_batch(Kind::Parameter, &mut q, max, &mut formed);
                let o = self.take_batch(Kind::Output, &mut q, max, &mut formed);
                let r = q.rest.pop_front();
                let f = q.files.pop_front();
                // Marked before the queue lock is let go, so it is never counted out.
                if let Some((_, json)) = &f {
                    self.set_file_in_flight(Some(json.clone()));
                }
                if r.is_some() {
                    self.in_flight.fetch_add(1, Ordering::AcqRel);
                }
                (m, p, o, r, f)
            };
            if !formed.is_empty() {
                let mut st = self.staging.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = st.spool.as_mut() {
                    for (kind, first, last) in formed {
                        let _ = w.batch(kind, first, last);
                    }
                }
            }
            if metrics.is_empty()
                && params.is_empty()
                && output.is_empty()
                && rest.is_none()
                && file.is_none()
            {
                return true;
            }
            let mut ok = true;
            for (kind, batch) in [
                (Kind::Metric, metrics),
                (Kind::Parameter, params),
                (Kind::Output, output),
            ] {
                if batch.is_empty() {
                    continue;
                }
                let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
                let n = batch.len();
                if self.deliver(kind, &batch, deadline).await {
                    self.ack(kind, last);
                    self.settled(n);
                } else {
                    self.requeue(|q| {
                        let v = match kind {
                            Kind::Metric => &mut q.metrics,
                            Kind::Parameter => &mut q.parameters,
                            _ => &mut q.output,
                        };
                        prepend(v, batch);
                    });
                    self.settled(n);
                    ok = false;
                }
            }
            if let Some(write) = rest {
                let seq = write.0;
                let one = [write];
                if self.deliver(Kind::Rest, &one, deadline).await {
                    self.ack(Kind::Rest, seq);
                } else {
                    let [write] = one;
                    self.requeue(|q| q.rest.push_front(write));
                    ok = false;
                }
                self.settled(1);
            }
            if let Some(upload) = file {
                let seq = upload.0;
                let one = [upload];
                if self.deliver(Kind::File, &one, deadline).await {
                    self.ack(Kind::File, seq);
                    self.set_file_in_flight(None);
                    // Sent, or never to be sent: our copy is no longer needed.
                    FileUpload::from_staged(&one[0].1).discard_copy();
                } else {
                    let [upload] = one;
                    self.requeue(|q| q.files.push_front(upload));
                    self.set_file_in_flight(None);
                    ok = false;
                }
            }
            if !ok {
                return false;
            }
        }
    }

    fn set_file_in_flight(&self, f: Option<String>) {
        *self
            .file_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = f;
    }

    fn requeue(&self, f: impl FnOnce(&mut Queues)) {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut q);
    }

    async fn run(self: Arc<Self>) {
        // Stage (and so spool) every 100 ms, in a task of its own so that a sink stuck
        // retrying never delays the spool; deliver every `interval`, or sooner when a
        // full batch is waiting.
        let stager = self.clone();
        let staging = http::runtime().spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stager.closed.load(Ordering::Acquire) {
                    return;
                }
                stager.stage();
            }
        });
        if let Ok(mut g) = self.stager.lock() {
            *g = Some(staging);
        }
        let tick = Duration::from_millis(100).min(self.settings.interval);
        let mut last_send = Instant::now();
        loop {
            let woken = tokio::time::timeout(tick, self.wake.notified())
                .await
                .is_ok();
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            if woken || last_send.elapsed() >= self.settings.interval {
                last_send = Instant::now();
                if self.pending() > 0 {
                    // In the background, keep retrying for a while; a flush picks up the rest.
                    let deadline = Instant::now() + crate::retry::BACKGROUND_BUDGET;
                    self.send_all(deadline).await;
                }
            }
        }
    }

    /// Whether this outbox's server has given no answer at all for `grace` or longer.
    pub fn server_down(&self, grace: Duration) -> bool {
        !self.settings.server.is_empty()
            && crate::retry::unreachable_for(&self.settings.server).is_some_and(|d| d >= grace)
    }

    /// Flush from R's main thread, waiting at most `timeout`.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        self.flush_blocking_unless_down(timeout, None)
    }

    /// `flush_blocking`, which with `down` also ends (false) once the wait has lasted
    /// that long while the server has given no answer at all for that long: at the end
    /// of a run, a server that is down is not waited for (what is left stays spooled).
    pub fn flush_blocking_unless_down(&self, timeout: Duration, down: Option<Duration>) -> bool {
        let started = Instant::now();
        let deadline = started + timeout;
        let what = || {
            format!(
                "Waiting for {} queued item(s) to reach Comet; trying for up to {} s (options `cometr.flush_timeout` and `cometr.stop_timeout` change this; Ctrl-C stops, the items stay queued).",
                self.pending(),
                timeout.as_secs()
            )
        };
        let is_down = || down.is_some_and(|g| started.elapsed() >= g && self.server_down(g));
        // At most one connection probe a second confirms what `is_down` reads.
        let mut probed: Option<Instant> = None;
        let send = async {
            let flush =
                tokio::time::timeout(timeout + Duration::from_millis(50), self.send_all(deadline));
            tokio::pin!(flush);
            loop {
                tokio::select! {
                    done = &mut flush => return done.unwrap_or(false),
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        if is_down() && probed.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                            probed = Some(Instant::now());
                            let server = &self.settings.server;
                            if !crate::retry::accepts_connections(server, Duration::from_secs(1)).await {
                                return false;
                            }
                        }
                    }
                }
            }
        };
        http::block_on_interruptible(send, what, || false)
    }

    /// Keep the experiment marked as running, at the interval the server asks for (a
    /// sink without a heartbeat ends the task at once).
    pub fn start_heartbeat(self: &Arc<Self>) {
        let s = self.clone();
        let handle = http::runtime().spawn(async move {
            let mut wait = Duration::from_secs(0);
            loop {
                tokio::time::sleep(wait).await;
                if s.closed.load(Ordering::Acquire) {
                    return;
                }
                match s.sink.beat().await {
                    Some(w) => wait = w,
                    None => return,
                }
            }
        });
        if let Ok(mut g) = self.heartbeat.lock() {
            *g = Some(handle);
        }
    }

    /// Tell the server the run has ended (best effort, bounded by `timeout`).
    pub fn send_end(&self, timeout: Duration) -> bool {
        let what = || {
            format!(
                "Waiting for Comet to acknowledge the end of the run (at most {} s; Ctrl-C stops).",
                timeout.as_secs()
            )
        };
        http::block_on_interruptible(self.sink.end(timeout), what, || false)
    }

    /// What the sink leaves behind once everything has been handed over.
    pub fn finish_sink(&self) -> Result<Option<std::path::PathBuf>, String> {
        self.sink.finish()
    }

    fn shutdown_tasks(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
        for slot in [&self.heartbeat, &self.worker, &self.stager] {
            if let Ok(mut g) = slot.lock() {
                if let Some(h) = g.take() {
                    h.abort();
                }
            }
        }
    }
}

fn take<T>(v: &mut Vec<T>, max: usize) -> Vec<T> {
    let n = v.len().min(max);
    v.drain(..n).collect()
}

fn prepend<T>(v: &mut Vec<T>, mut front: Vec<T>) {
    front.append(v);
    *v = front;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_keeps_order() {
        let mut v = vec![3, 4];
        prepend(&mut v, vec![1, 2]);
        assert_eq!(v, vec![1, 2, 3, 4]);
    }
}
