//! Glue for R/experiment.R: an experiment's outbox (queue, sender, heartbeat) and
//! the capture of its output.

use extendr_api::prelude::*;

use crate::convert::{opt_int, opt_str, robj_json};
use cometr_core::{logging, outbox, output};

fn problems_list(s: Option<&outbox::Stream>, ok: bool) -> Robj {
    let (pending, problems) = match s {
        Some(s) => (s.pending() as f64, s.take_problems()),
        None => (0.0, Vec::new()),
    };
    list!(ok = ok, pending = pending, problems = problems, spool = "").into_robj()
}

/// Open a queue and background sender for one experiment; returns its id.
/// @noRd
#[extendr]
fn rust_stream_open(
    key: &str,
    api_key: &str,
    root: &str,
    interval_ms: f64,
    batch_size: i32,
    max_memory_items: f64,
    spool_dir: &str,
) -> i32 {
    logging::register_secret(api_key);
    let settings = outbox::Settings {
        interval: std::time::Duration::from_millis(interval_ms.clamp(10.0, 3.6e6) as u64),
        batch_size: batch_size.max(1) as usize,
        max_memory_items: max_memory_items.clamp(1.0, 1e9) as usize,
        spool_dir: (!spool_dir.is_empty()).then(|| std::path::PathBuf::from(spool_dir)),
        ..Default::default()
    };
    outbox::open(key, api_key, root, settings)
}

/// Queue a metric point. Returns 1 when the sender has problems to report, 0
/// otherwise, -1 when the stream is closed and -2 for a value of the wrong type.
/// @noRd
#[extendr]
fn rust_stream_metric(
    id: i32,
    name: &str,
    value: Robj,
    step: Robj,
    epoch: Robj,
    context: Robj,
) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    let Ok(value) = robj_json(&value) else {
        return -2;
    };
    s.push_metric(outbox::MetricPoint {
        name: name.to_string(),
        value,
        step: opt_int(&step),
        epoch: opt_int(&epoch),
        context: opt_str(&context),
        timestamp: outbox::now_ms(),
    });
    s.has_problems() as i32
}

/// Queue a parameter. Same return codes as `rust_stream_metric()`.
/// @noRd
#[extendr]
fn rust_stream_parameter(id: i32, name: &str, value: Robj, step: Robj) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    let Ok(value) = robj_json(&value) else {
        return -2;
    };
    s.push_parameter(serde_json::json!({
        "parameterName": name, "parameterValue": value, "step": opt_int(&step),
        "source": "manual", "context": serde_json::Value::Null, "timestamp": outbox::now_ms()
    }));
    s.has_problems() as i32
}

/// Queue a REST write (endpoint below /api/rest/v2/, JSON body). Same return codes.
/// @noRd
#[extendr]
fn rust_stream_rest(id: i32, endpoint: &str, body: &str) -> i32 {
    let Some(s) = outbox::get(id) else {
        return -1;
    };
    s.push_rest(outbox::RestWrite {
        endpoint: endpoint.trim_start_matches('/').to_string(),
        body: body.to_string(),
    });
    s.has_problems() as i32
}

/// Send everything queued, waiting at most `timeout` seconds.
/// @noRd
#[extendr]
fn rust_stream_flush(id: i32, timeout: f64) -> Robj {
    let Some(s) = outbox::get(id) else {
        return problems_list(None, true);
    };
    output::flush();
    let ok = s.flush_blocking(std::time::Duration::from_secs_f64(
        timeout.clamp(0.0, 86_400.0),
    ));
    problems_list(Some(&s), ok)
}

/// Report (and clear) the sender's problems without flushing.
/// @noRd
#[extendr]
fn rust_stream_problems(id: i32) -> Robj {
    let s = outbox::get(id);
    problems_list(s.as_deref(), true)
}

/// Start the heartbeat of an experiment.
/// @noRd
#[extendr]
fn rust_stream_heartbeat(id: i32) -> bool {
    match outbox::get(id) {
        Some(s) => {
            s.start_heartbeat();
            true
        }
        None => false,
    }
}

/// Final flush, end-of-run notice (when `end`), and release of the stream.
/// @noRd
#[extendr]
fn rust_stream_close(id: i32, timeout: f64, end: bool) -> Robj {
    let Some(s) = outbox::get(id) else {
        return problems_list(None, true);
    };
    output::stop(id);
    let t = std::time::Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0));
    let ok = s.flush_blocking(t);
    if end && ok {
        s.send_end(
            std::time::Duration::from_secs(5).min(t.max(std::time::Duration::from_millis(500))),
        );
    }
    let pending = s.pending() as f64;
    let problems = s.take_problems();
    let kept = s
        .finish_spool()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    outbox::forget(id);
    list!(
        ok = ok,
        pending = pending,
        problems = problems,
        spool = kept
    )
    .into_robj()
}

/// Capture stdout (`out`) and/or stderr (`err`) into the experiment's output.
/// Returns "" or an error message.
/// @noRd
#[extendr]
fn rust_capture_start(id: i32, out: bool, err: bool) -> String {
    output::start(id, out, err).err().unwrap_or_default()
}

extendr_module! {
    mod experiment;
    fn rust_stream_open;
    fn rust_stream_metric;
    fn rust_stream_parameter;
    fn rust_stream_rest;
    fn rust_stream_flush;
    fn rust_stream_problems;
    fn rust_stream_heartbeat;
    fn rust_stream_close;
    fn rust_capture_start;
}
