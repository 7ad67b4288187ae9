//! Glue for R/spool.R: list spool files and deliver what they hold.

use extendr_api::prelude::*;

use crate::convert::{problems, seconds};
use crate::result::{error, fail, ok, Kind};
use cometr_core::{experiment, outbox, spool};

/// The spool files left in a folder.
/// @noRd
#[extendr]
fn rust_spool_list(dir: &str) -> Robj {
    ok(spool::list(std::path::Path::new(dir))
        .into_iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>())
}

/// The spool files that open experiments of this R session are still writing.
/// @noRd
#[extendr]
fn rust_spool_in_use() -> Robj {
    ok(outbox::spools_in_use()
        .into_iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>())
}

/// Deliver what a spool file holds. `root` overrides the server it was meant for.
/// The file is deleted once everything in it has been delivered.
/// @noRd
#[extendr]
fn rust_spool_replay(path: &str, api_key: &str, root: &str, timeout: f64) -> Robj {
    match experiment::replay_spool(std::path::Path::new(path), api_key, root, seconds(timeout)) {
        Ok(r) => {
            let (problems, problem_classes) = problems(r.problems);
            ok(list!(
                delivered = r.ok,
                experiment_key = r.experiment_key,
                root = r.root,
                items = r.items as f64,
                pending = r.pending as f64,
                problems = problems,
                problem_classes = problem_classes
            ))
        }
        // A file that cannot be read warns in R, and the other files go on.
        Err(m) => fail(error(
            Kind::Spool,
            format!("Cannot read spool file {path}: {m}"),
        )),
    }
}

extendr_module! {
    mod spool;
    fn rust_spool_list;
    fn rust_spool_in_use;
    fn rust_spool_replay;
}
