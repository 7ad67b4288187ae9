//! An experiment's run as the core sees it: opening its outbox with the sink R chose
//! (the online sender or the offline archive writer), flushing, the order of shutdown
//! with its fixed timeouts, and the replay of a spool file left behind by an earlier
//! process. The glue crate calls these and only converts values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::offline::{self, Archive};
use crate::outbox::{self, Settings};
use crate::sender::Sender;
use crate::sink::Problem;
use crate::{logging, output, spool};

/// How often an offline run hands its items to the archive writer: the archive is the
/// run's only copy, and a killed process should lose at most about this much.
const OFFLINE_INTERVAL: Duration = Duration::from_millis(100);

/// The wait for the server to acknowledge the end of a run: best effort, so never more
/// than 5 s however long the stop timeout, and at least 0.5 s even with a zero one.
pub fn end_notice_timeout(stop_timeout: Duration) -> Duration {
    Duration::from_secs(5).min(stop_timeout.max(Duration::from_millis(500)))
}

/// At the end of a run, a server that has given no answer at all (connections refused
/// or broken) for this long, while the end waited as long, is taken as down: the end
/// stops waiting for it, and what is left stays in the spool for `send_spool()`, as
/// Comet's SDK ends at once, leaving an archive, when it has lost its connection.
pub const DOWN_AT_END: Duration = Duration::from_secs(3);

/// Open the outbox of an online experiment: its batches go to the server at `root`.
pub fn open_online(key: &str, api_key: &str, root: &str, mut settings: Settings) -> i32 {
    logging::register_secret(api_key);
    let root = root.trim_end_matches('/');
    settings.server = root.to_string();
    if settings.run.is_empty() {
        settings.run = crate::new_id();
    }
    let sender = Sender::new(key, api_key, root, &settings.run);
    outbox::open(key, settings, Box::new(sender))
}

/// An offline experiment just opened.
pub struct OpenedOffline {
    pub id: i32,
    pub key: String,
    pub run_dir: PathBuf,
}

/// Open the outbox of an offline experiment recording into `dir/<key>/` (a new key
/// when `key` is empty).
pub fn open_offline(
    dir: &Path,
    key: &str,
    project: Option<String>,
    workspace: Option<String>,
) -> Result<OpenedOffline, String> {
    let key = if key.is_empty() {
        crate::new_id()
    } else {
        key.to_string()
    };
    let writer = offline::Writer::create(dir, &key, project, workspace)?;
    let run_dir = writer.dir.clone();
    let settings = Settings {
        interval: OFFLINE_INTERVAL,
        ..Settings::default()
    };
    let id = outbox::open(&key, settings, Box::new(Archive::new(writer)));
    Ok(OpenedOffline { id, key, run_dir })
}

/// The state of an outbox after a flush or at its close.
#[derive(Debug, Default)]
pub struct Report {
    /// Everything was handed over in time.
    pub ok: bool,
    /// Items not delivered.
    pub pending: usize,
    /// Problems to show the user (drained).
    pub problems: Vec<Problem>,
    /// At close: the logged files not delivered, each with where it waits.
    pub files: Vec<String>,
    /// At close: the spool file kept because items are pending.
    pub spool: Option<PathBuf>,
    /// At close, for a sink that leaves an archive: its path, or why it could not be
    /// written (the reason is among the problems too).
    pub archive: Option<Result<PathBuf, String>>,
    /// At close: the wait ended early because the server was down (`DOWN_AT_END`).
    pub down: bool,
}

impl Report {
    fn ended() -> Report {
        Report {
            ok: true,
            ..Report::default()
        }
    }
}

/// Hand everything logged so far (including captured output) to the sink, waiting at
/// most `timeout`.
pub fn flush(id: i32, timeout: Duration) -> Report {
    let Some(s) = outbox::get(id) else {
        return Report::ended();
    };
    output::flush();
    let ok = s.flush_blocking(timeout);
    Report {
        ok,
        pending: s.pending(),
        problems: s.take_problems(),
        ..Report::default()
    }
}

/// Before a read: hand what this process has queued for experiment `key` (for every
/// experiment when `None`, when the reader cannot tell which it reads) to the sinks,
/// waiting at most `timeout` in all, whichever handle logged it. Returns whether
/// everything went, and how many items are still pending.
pub fn send_queued(key: Option<&str>, timeout: Duration) -> (bool, usize) {
    let outboxes = outbox::of_experiment(key);
    if outboxes.is_empty() {
        return (true, 0);
    }
    output::flush();
    let deadline = std::time::Instant::now() + timeout;
    let mut ok = true;
    let mut pending = 0;
    for s in outboxes {
        if s.pending() == 0 {
            continue;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        ok &= s.flush_blocking(left);
        pending += s.pending();
    }
    (ok && pending == 0, pending)
}

/// Close an experiment's outbox, in this order: stop capturing its output (so the last
/// lines are queued), flush within `timeout`, tell the server the run ended (when
/// `end` and everything was delivered), keep or delete the spool, let the sink finish
/// (the offline writer zips its archive), and release the outbox.
pub fn close(id: i32, timeout: Duration, end: bool) -> Report {
    let Some(s) = outbox::get(id) else {
        return Report::ended();
    };
    output::stop(id);
    let mut ok = s.flush_blocking_unless_down(timeout, Some(DOWN_AT_END));
    let down = !ok && s.pending() > 0 && s.server_down(DOWN_AT_END);
    if end && ok {
        s.send_end(end_notice_timeout(timeout));
    }
    let pending = s.pending();
    let files = s.pending_files();
    let mut problems = s.take_problems();
    let spool = s.finish_spool();
    let archive = match s.finish_sink() {
        Ok(path) => path.map(Ok),
        Err(m) => {
            problems.push(Problem::delivery(m.clone()));
            ok = false;
            Some(Err(m))
        }
    };
    outbox::forget(id);
    Report {
        ok,
        pending,
        problems,
        files,
        spool,
        archive,
        down,
    }
}

/// What the replay of a spool file achieved.
#[derive(Debug)]
pub struct Replayed {
    pub ok: bool,
    pub experiment_key: String,
    pub root: String,
    /// Items the spool held undelivered.
    pub items: usize,
    pub pending: usize,
    pub problems: Vec<Problem>,
}

/// Deliver what a spool file holds, through a temporary outbox to the online sender.
/// `root` overrides the server the spool was meant for. The file is deleted once
/// everything in it has been delivered.
pub fn replay_spool(
    path: &Path,
    api_key: &str,
    root: &str,
    timeout: Duration,
) -> Result<Replayed, String> {
    let contents = spool::read(path)?;
    let root = if root.is_empty() {
        contents.root.clone()
    } else {
        root.to_string()
    };
    let items = contents.items.len();
    // The spool's run names the batches again, so a batch the server applied before
    // the answer was lost is recognised and not applied twice.
    let settings = Settings {
        run: contents.run.clone(),
        ..Settings::default()
    };
    let id = open_online(&contents.experiment_key, api_key, &root, settings);
    let s = outbox::get(id).ok_or("cannot open an outbox")?;
    s.load(contents.items, contents.bounds);
    let ok = s.flush_blocking(timeout);
    let pending = s.pending();
    let problems = s.take_problems();
    outbox::forget(id);
    let ok = ok && pending == 0;
    if ok {
        let _ = std::fs::remove_file(path);
    }
    Ok(Replayed {
        ok,
        experiment_key: contents.experiment_key,
        root,
        items,
        pending,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_notice_waits_between_half_a_second_and_five() {
        assert_eq!(
            end_notice_timeout(Duration::ZERO),
            Duration::from_millis(500)
        );
        assert_eq!(
            end_notice_timeout(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            end_notice_timeout(Duration::from_secs(30)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn an_offline_run_leaves_an_archive() {
        let base = std::env::temp_dir().join(format!("cometr-exp-test-{}", crate::new_id()));
        let o = open_offline(&base, "", Some("p".into()), None).unwrap();
        assert_eq!(o.key.len(), 32);
        let s = outbox::get(o.id).unwrap();
        s.push_parameter(serde_json::json!({"parameterName": "lr", "parameterValue": 0.1}));
        let r = flush(o.id, Duration::from_secs(5));
        assert!(r.ok && r.pending == 0, "{r:?}");
        let r = close(o.id, Duration::from_secs(5), true);
        assert!(r.ok, "{r:?}");
        let archive = r.archive.unwrap().unwrap();
        assert_eq!(archive, base.join(format!("{}.zip", o.key)));
        assert!(archive.is_file());
        assert!(outbox::get(o.id).is_none());
        let _ = std::fs::remove_dir_all(&base);
    }
}
