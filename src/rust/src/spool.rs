//! Glue for R/spool.R: list spool files and deliver what they hold.

use extendr_api::prelude::*;

use crate::result::failure;
use cometr_core::{outbox, spool};

/// The spool files left in a folder.
/// @noRd
#[extendr]
fn rust_spool_list(dir: &str) -> Vec<String> {
    spool::list(std::path::Path::new(dir))
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// Deliver what a spool file holds. `root` overrides the server it was meant for.
/// The file is deleted once everything in it has been delivered.
/// @noRd
#[extendr]
fn rust_spool_replay(path: &str, api_key: &str, root: &str, timeout: f64) -> Robj {
    let contents = match spool::read(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(m) => return failure("input", &m),
    };
    let root = if root.is_empty() {
        contents.root.clone()
    } else {
        root.to_string()
    };
    let n = contents.items.len() as f64;
    let id = outbox::open(
        &contents.experiment_key,
        api_key,
        &root,
        outbox::Settings::default(),
    );
    let Some(s) = outbox::get(id) else {
        return failure("internal", "cannot open a stream");
    };
    s.load(contents.items);
    let ok = s.flush_blocking(std::time::Duration::from_secs_f64(
        timeout.clamp(0.0, 86_400.0),
    ));
    let pending = s.pending() as f64;
    let problems = s.take_problems();
    outbox::forget(id);
    if ok && pending == 0.0 {
        let _ = std::fs::remove_file(path);
    }
    list!(
        ok = ok && pending == 0.0,
        experiment_key = contents.experiment_key,
        root = root,
        items = n,
        pending = pending,
        problems = problems
    )
    .into_robj()
}

extendr_module! {
    mod spool;
    fn rust_spool_list;
    fn rust_spool_replay;
}
