//! Glue for R/experiment.R: an experiment's outbox (queue, sink, heartbeat); the
//! capture of its output is in `output`. Online and offline experiments use the same calls; only
//! opening differs (`rust_experiment_open()` or `rust_offline_open()`).

use extendr_api::prelude::*;

use crate::convert::{opt_int, problems, robj_json, seconds};
use crate::result::{error, fail, ok, to_r, Error, Kind};
use cometr_core::{experiment, item, outbox};

// `exp$log_metric()` has an entry point of its own, registered by src/entrypoint.c.
mod log_metric;

/// An outbox's state for R: `archive` is NULL unless the sink leaves one ("" when it
/// could not be written).
fn report_list(r: experiment::Report) -> Robj {
    let archive: Robj = match &r.archive {
        None => ().into_robj(),
        Some(Ok(p)) => p.display().to_string().into_robj(),
        Some(Err(_)) => "".into_robj(),
    };
    let spool = r.spool.map(|p| p.display().to_string()).unwrap_or_default();
    let (problems, problem_classes) = problems(r.problems);
    ok(list!(
        delivered = r.ok,
        pending = r.pending as f64,
        problems = problems,
        problem_classes = problem_classes,
        files = r.files,
        spool = spool,
        archive = archive,
        down = r.down
    ))
}

fn ended() -> Error {
    error(
        Kind::Ended,
        "This experiment already ended and cannot be modified.",
    )
}

/// Open the outbox of an online experiment (its sink sends to the server); returns
/// its id. An offline experiment is opened by `rust_offline_open()`.
/// @noRd
#[extendr]
fn rust_experiment_open(
    key: &str,
    api_key: &str,
    root: &str,
    interval_ms: f64,
    batch_size: i32,
    max_memory_items: f64,
    spool_dir: &str,
) -> Robj {
    if !cometr_core::valid_experiment_key(key) {
        return fail(
            error(
                Kind::Input,
                "`experiment_key` must be an experiment key: 1 to 64 letters, digits, `_` or `-`",
            )
            .with("argument", "experiment_key"),
        );
    }
    let settings = outbox::Settings {
        interval: std::time::Duration::from_millis(interval_ms.clamp(10.0, 3.6e6) as u64),
        batch_size: batch_size.max(1) as usize,
        max_memory_items: max_memory_items.clamp(1.0, 1e9) as usize,
        spool_dir: (!spool_dir.is_empty()).then(|| std::path::PathBuf::from(spool_dir)),
        ..Default::default()
    };
    ok(experiment::open_online(key, api_key, root, settings))
}

/// Queue a parameter. The value is whether the sender has problems to report.
/// @noRd
#[extendr]
fn rust_experiment_parameter(id: i32, name: &str, value: Robj, step: Robj) -> Robj {
    let queued = outbox::get(id).ok_or_else(ended).and_then(|s| {
        let value = robj_json(&value)
            .map_err(|m| error(Kind::Input, format!("`value` {m}")).with("argument", "value"))?;
        s.push_parameter(serde_json::json!({
            "parameterName": name, "parameterValue": value, "step": opt_int(&step),
            "source": "manual", "context": serde_json::Value::Null,
            "timestamp": cometr_core::now_ms()
        }));
        Ok(s.has_problems())
    });
    to_r(queued)
}

/// Queue a REST write (endpoint below /api/rest/v2/, JSON body). The value is whether
/// the sender has problems to report.
/// @noRd
#[extendr]
fn rust_experiment_rest(id: i32, endpoint: &str, body: &str) -> Robj {
    let queued = outbox::get(id).ok_or_else(ended).map(|s| {
        s.push_rest(item::RestWrite {
            endpoint: endpoint.trim_start_matches('/').to_string(),
            body: body.to_string(),
        });
        s.has_problems()
    });
    to_r(queued)
}

/// Before a read: send what this process has queued for experiment `key` ("" for
/// every experiment), waiting at most `timeout` seconds in all.
/// @noRd
#[extendr]
fn rust_experiment_send_queued(key: &str, timeout: f64) -> Robj {
    let key = Some(key).filter(|k| !k.is_empty());
    let (sent, pending) = experiment::send_queued(key, seconds(timeout));
    ok(list!(delivered = sent, pending = pending as f64))
}

/// Report (and clear) the outbox's problems without flushing.
/// @noRd
#[extendr]
fn rust_experiment_problems(id: i32) -> Robj {
    let (pending, problems) = match outbox::get(id) {
        Some(s) => (s.pending(), s.take_problems()),
        None => (0, Vec::new()),
    };
    report_list(experiment::Report {
        ok: true,
        pending,
        problems,
        ..Default::default()
    })
}

/// Start the heartbeat of an experiment.
/// @noRd
#[extendr]
fn rust_experiment_heartbeat(id: i32) -> Robj {
    let started = outbox::get(id)
        .ok_or_else(ended)
        .map(|s| s.start_heartbeat());
    to_r(started)
}

/// Close an experiment's outbox: final flush, end-of-run notice (when `end`), the
/// spool kept or deleted, the sink's archive written (offline), the outbox released.
/// @noRd
#[extendr]
fn rust_experiment_close(id: i32, timeout: f64, end: bool) -> Robj {
    let report = experiment::close(id, seconds(timeout), end);
    // The last capturing experiment gives R its console back.
    crate::output::release_console();
    report_list(report)
}

/// Queue a file upload (`remote = FALSE`: `source` is a local file, copied aside when
/// small or `copy`, else hashed to be read in place when sent) or a remote asset
/// (`remote = TRUE`: `source` is the URI). `params` is JSON (the upload's parameters),
/// `metadata` JSON text or "". The value is whether the sink has problems to report.
/// @noRd
#[extendr]
fn rust_experiment_file(
    id: i32,
    source: &str,
    upload_type: &str,
    params: &str,
    metadata: &str,
    remote: bool,
    copy: bool,
) -> Robj {
    let queued = outbox::get(id).ok_or_else(ended).and_then(|s| {
        let params = serde_json::from_str(params).unwrap_or_default();
        let file = if remote {
            item::FileUpload::remote(source, upload_type, params, metadata)
        } else {
            item::FileUpload::local(source, upload_type, params, metadata, &s.copy_dir(), copy)
                .map_err(|m| {
                    error(Kind::Input, format!("`file` cannot be logged: {m}"))
                        .with("argument", "file")
                })?
        };
        s.push_file(file);
        Ok(s.has_problems())
    });
    to_r(queued)
}

/// What the experiment's outbox still holds, without sending or clearing anything
/// (for print()): items not yet delivered and, of them, logged files.
/// @noRd
#[extendr]
fn rust_experiment_pending(id: i32) -> Robj {
    let (items, files) = match outbox::get(id) {
        Some(s) => (s.pending(), s.pending_files().len()),
        None => (0, 0),
    };
    ok(list!(items = items as f64, files = files as f64))
}

extendr_module! {
    mod experiment;
    fn rust_experiment_open;
    fn rust_experiment_parameter;
    fn rust_experiment_rest;
    fn rust_experiment_send_queued;
    fn rust_experiment_problems;
    fn rust_experiment_heartbeat;
    fn rust_experiment_close;
    fn rust_experiment_file;
    fn rust_experiment_pending;
}
