//! Glue for R/offline.R: record an experiment into an offline archive, pack, unpack
//! and replay archives.

use extendr_api::prelude::*;

use crate::result::failure;
use cometr_core::{logging, offline, outbox, output};

fn offline_writer_do(
    id: i32,
    f: impl FnOnce(&mut offline::Writer) -> std::result::Result<(), String>,
) -> Robj {
    let Some(s) = outbox::get(id) else {
        return failure("input", "the experiment has ended");
    };
    let Some(w) = s.offline.as_ref() else {
        return failure("input", "the experiment is not offline");
    };
    // What was logged before comes first in messages.json.
    s.stage();
    let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
    match f(&mut w) {
        Ok(()) => list!(ok = true).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Open an offline experiment recording into `dir/<key>/` (a new key when `key` is
/// empty); returns its stream id, key and run folder.
/// @noRd
#[extendr]
fn rust_offline_open(
    dir: &str,
    key: &str,
    project: Nullable<String>,
    workspace: Nullable<String>,
) -> Robj {
    // Keys are made here, as the SDK makes them (uuid4 hex), without touching R's RNG.
    let key = if key.is_empty() {
        offline::new_id()
    } else {
        key.to_string()
    };
    match offline::Writer::create(
        std::path::Path::new(dir),
        &key,
        project.into_option(),
        workspace.into_option(),
    ) {
        Ok(w) => {
            let run = w.dir.display().to_string();
            let id = outbox::open_offline(&key, w);
            list!(ok = true, id = id, key = key, run_dir = run).into_robj()
        }
        Err(m) => failure("offline", &m),
    }
}

/// Record a file upload (`remote = FALSE`: copy `source` into the run folder) or a
/// remote asset (`remote = TRUE`: `source` is the URI). `params` and `metadata` are JSON.
/// @noRd
#[extendr]
fn rust_offline_file(
    id: i32,
    source: &str,
    upload_type: &str,
    params: &str,
    metadata: &str,
    remote: bool,
) -> Robj {
    let params: serde_json::Value = serde_json::from_str(params).unwrap_or_default();
    let metadata: serde_json::Value = serde_json::from_str(metadata).unwrap_or_default();
    offline_writer_do(id, |w| {
        if remote {
            w.add_remote(source, upload_type, params, metadata)
        } else {
            w.add_file(std::path::Path::new(source), upload_type, params, metadata)
        }
    })
}

/// Stop an offline experiment: record what is queued, write experiment.json, zip the
/// run folder and release the stream. Returns the archive's path in `archive`.
/// @noRd
#[extendr]
fn rust_offline_close(id: i32) -> Robj {
    let Some(s) = outbox::get(id) else {
        return list!(
            ok = true,
            pending = 0.0,
            problems = Vec::<String>::new(),
            spool = "",
            archive = ""
        )
        .into_robj();
    };
    output::stop(id);
    s.stage();
    let res = match s.offline.as_ref() {
        Some(w) => w.lock().unwrap_or_else(|e| e.into_inner()).finish(),
        None => Err("the experiment is not offline".to_string()),
    };
    let mut problems = s.take_problems();
    outbox::forget(id);
    let archive = match res {
        Ok(p) => p.display().to_string(),
        Err(m) => {
            problems.push(m);
            String::new()
        }
    };
    list!(
        ok = !archive.is_empty(),
        pending = 0.0,
        problems = problems,
        spool = "",
        archive = archive
    )
    .into_robj()
}

/// Zip a run folder left by a stopped or killed process into `<folder>.zip`.
/// @noRd
#[extendr]
fn rust_offline_pack(dir: &str) -> Robj {
    match offline::pack(std::path::Path::new(dir)) {
        Ok(p) => list!(ok = true, archive = p.display().to_string()).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Unpack an offline archive into the new folder `dest`.
/// @noRd
#[extendr]
fn rust_offline_extract(archive: &str, dest: &str) -> Robj {
    match offline::extract(std::path::Path::new(archive), std::path::Path::new(dest)) {
        Ok(()) => list!(ok = true).into_robj(),
        Err(m) => failure("offline", &m),
    }
}

/// Send the messages of an unpacked archive to experiment `key` (already created).
/// @noRd
#[extendr]
fn rust_offline_replay(dir: &str, root: &str, api_key: &str, key: &str, run_id: &str) -> Robj {
    logging::register_secret(api_key);
    let t = offline::Target {
        root: root.trim_end_matches('/').to_string(),
        api_key: api_key.to_string(),
        key: key.to_string(),
        run_id: run_id.to_string(),
    };
    let s = offline::replay(std::path::Path::new(dir), &t);
    list!(
        ok = true,
        messages = s.messages as f64,
        metrics = s.metrics as f64,
        parameters = s.parameters as f64,
        output = s.output as f64,
        writes = s.writes as f64,
        uploads = s.uploads as f64,
        problems = s
            .problems
            .iter()
            .map(|p| logging::redact(p))
            .collect::<Vec<_>>()
    )
    .into_robj()
}

extendr_module! {
    mod offline;
    fn rust_offline_open;
    fn rust_offline_file;
    fn rust_offline_close;
    fn rust_offline_pack;
    fn rust_offline_extract;
    fn rust_offline_replay;
}
