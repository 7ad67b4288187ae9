//! Glue for R/offline.R: record an experiment into an offline archive, pack, unpack
//! and replay archives.

use extendr_api::prelude::*;

use crate::result::{error, fail, ok, Kind};
use cometr_core::{experiment, logging, offline};

/// Open an offline experiment, its outbox draining into an archive writer recording
/// into `dir/<key>/` (a new key when `key` is empty); returns its outbox id, key and
/// run folder. Logging, flushing and closing then use the same rust_experiment_* calls as
/// an online experiment.
/// @noRd
#[extendr]
fn rust_offline_open(
    dir: &str,
    key: &str,
    project: Nullable<String>,
    workspace: Nullable<String>,
) -> Robj {
    // Keys are made in the core, as the SDK makes them (uuid4 hex), without R's RNG.
    match experiment::open_offline(
        std::path::Path::new(dir),
        key,
        project.into_option(),
        workspace.into_option(),
    ) {
        Ok(o) => ok(list!(
            id = o.id,
            key = o.key,
            run_dir = o.run_dir.display().to_string()
        )),
        Err(m) => fail(error(
            Kind::Offline,
            format!("Cannot record an offline experiment: {m}"),
        )),
    }
}

/// Zip a run folder left by a stopped or killed process into `<folder>.zip`.
/// @noRd
#[extendr]
fn rust_offline_pack(dir: &str) -> Robj {
    match offline::pack(std::path::Path::new(dir)) {
        Ok(p) => ok(p.display().to_string()),
        Err(m) => fail(error(
            Kind::Offline,
            format!("Cannot pack the run folder: {m}"),
        )),
    }
}

/// Unpack an offline archive into the new folder `dest`.
/// @noRd
#[extendr]
fn rust_offline_extract(archive: &str, dest: &str) -> Robj {
    match offline::extract(std::path::Path::new(archive), std::path::Path::new(dest)) {
        Ok(()) => ok(()),
        Err(m) => fail(error(
            Kind::Offline,
            format!("Cannot read the offline archive: {m}"),
        )),
    }
}

/// Send the messages of an unpacked archive to experiment `key` (already created),
/// at most `sampling_size` points of each metric (0: all).
/// @noRd
#[extendr]
fn rust_offline_replay(
    dir: &str,
    root: &str,
    api_key: &str,
    key: &str,
    run_id: &str,
    sampling_size: f64,
) -> Robj {
    logging::register_secret(api_key);
    let t = offline::Target {
        root: root.trim_end_matches('/').to_string(),
        api_key: api_key.to_string(),
        key: key.to_string(),
        run_id: run_id.to_string(),
        sampling_size: if sampling_size.is_finite() && sampling_size > 0.0 {
            sampling_size as usize
        } else {
            0
        },
    };
    let s = offline::replay(std::path::Path::new(dir), &t);
    ok(list!(
        messages = s.messages as f64,
        metrics = s.metrics as f64,
        parameters = s.parameters as f64,
        output = s.output as f64,
        writes = s.writes as f64,
        uploads = s.uploads as f64,
        sampled_names = s.sampled.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
        sampled_seen = s.sampled.iter().map(|x| x.1 as f64).collect::<Vec<_>>(),
        sampled_kept = s.sampled.iter().map(|x| x.2 as f64).collect::<Vec<_>>(),
        problems = s
            .problems
            .iter()
            .map(|p| logging::redact(p))
            .collect::<Vec<_>>()
    ))
}

extendr_module! {
    mod offline;
    fn rust_offline_open;
    fn rust_offline_pack;
    fn rust_offline_extract;
    fn rust_offline_replay;
}
