//! Glue for R/experiment-log.R: `exp$log_metrics()`, many points in one call.
//!
//! A whole training history (a data frame of 100,000 steps) must queue in
//! milliseconds, so the R side checks the columns with vectorised R code once, and this
//! function only copies them into a `MetricTable` that the outbox queues as one entry:
//! the points are made (and serialised) when staged, off R's thread.

use extendr_api::prelude::*;

use crate::result::{error, to_r, Error, Kind};
use cometr_core::item::{MetricColumn, MetricTable};
use cometr_core::outbox;

/// A metric column from R, with NA as `None`.
fn column(x: &Robj) -> Option<MetricColumn> {
    Some(match x.rtype() {
        Rtype::Doubles => MetricColumn::Numbers(
            x.as_real_slice()?
                .iter()
                .map(|&v| (!v.is_na()).then_some(v))
                .collect(),
        ),
        Rtype::Integers => MetricColumn::Integers(
            x.as_integer_slice()?
                .iter()
                .map(|&v| (v != i32::MIN).then_some(v))
                .collect(),
        ),
        Rtype::Logicals => MetricColumn::Logicals(
            x.as_logical_slice()?
                .iter()
                .map(|v| (!v.is_na()).then(|| v.is_true()))
                .collect(),
        ),
        Rtype::Strings => MetricColumn::Texts(
            x.as_str_iter()?
                .map(|s| (!s.is_na()).then(|| s.to_string()))
                .collect(),
        ),
        _ => return None,
    })
}

/// A step or epoch per row: NULL (none), or a double or integer vector of whole
/// numbers (checked in R).
fn counts(x: &Robj, rows: usize) -> Option<Vec<Option<i64>>> {
    if x.is_null() {
        return Some(vec![None; rows]);
    }
    let v: Vec<Option<i64>> = match x.rtype() {
        Rtype::Doubles => x.as_real_slice()?.iter().map(|&v| Some(v as i64)).collect(),
        Rtype::Integers => x
            .as_integer_slice()?
            .iter()
            .map(|&v| Some(i64::from(v)))
            .collect(),
        _ => return None,
    };
    (v.len() == rows).then_some(v)
}

fn ended() -> Error {
    error(
        Kind::Ended,
        "This experiment already ended and cannot be modified.",
    )
}

/// Queue the points of `columns` (a list of equal-length metric columns named by
/// `names`), row by row, with `steps` and `epochs` (NULL or one per row) and one
/// `context` (NULL or a string). NA cells are skipped when `skip_na` (a metric not
/// measured at that step), else sent as "NaN". The value is whether the sender has
/// problems to report.
/// @noRd
#[extendr]
fn rust_experiment_metrics(
    id: i32,
    names: Strings,
    columns: List,
    steps: Robj,
    epochs: Robj,
    context: Robj,
    skip_na: bool,
) -> Robj {
    let queued = outbox::get(id).ok_or_else(ended).and_then(|s| {
        let bad = |arg: &str| {
            error(Kind::Input, format!("`{arg}` does not fit the metrics")).with("argument", arg)
        };
        let columns = columns
            .values()
            .map(|c| column(&c))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("metrics"))?;
        let rows = columns.first().map(MetricColumn::len).unwrap_or(0);
        if columns.len() != names.len() || columns.iter().any(|c| c.len() != rows) {
            return Err(bad("metrics"));
        }
        s.push_metric_table(MetricTable {
            names: names.iter().map(|n| String::from(&**n)).collect(),
            columns,
            steps: counts(&steps, rows).ok_or_else(|| bad("step"))?,
            epochs: counts(&epochs, rows).ok_or_else(|| bad("epoch"))?,
            context: context.as_str().map(str::to_string),
            timestamp: cometr_core::now_ms(),
            skip_missing: skip_na,
        });
        Ok(s.has_problems())
    });
    to_r(queued)
}

extendr_module! {
    mod experiment_log;
    fn rust_experiment_metrics;
}
