//! Glue for R/experiment-log.R: `exp$log_metrics()`, many points in one call.
//!
//! A whole training history (a data frame of 100,000 steps) must queue in
//! milliseconds, so the R side checks the columns with vectorised R code once and
//! this function walks them as slices, building every point and pushing them all
//! under one lock of the outbox.

use extendr_api::prelude::*;

use crate::result::{error, to_r, Error, Kind};
use cometr_core::{item, outbox};
use serde_json::Value;

/// A metric column, read once: numbers and logicals as R's own slices, strings copied
/// out (R's string vector has no slice to index).
enum Column<'a> {
    Doubles(&'a [f64]),
    Integers(&'a [i32]),
    Logicals(&'a [Rbool]),
    Strings(Vec<Option<String>>),
}

impl<'a> Column<'a> {
    fn of(x: &'a Robj) -> Option<Column<'a>> {
        Some(match x.rtype() {
            Rtype::Doubles => Column::Doubles(x.as_real_slice()?),
            Rtype::Integers => Column::Integers(x.as_integer_slice()?),
            Rtype::Logicals => Column::Logicals(x.as_logical_slice()?),
            Rtype::Strings => Column::Strings(
                x.as_str_iter()?
                    .map(|s| (!s.is_na()).then(|| s.to_string()))
                    .collect(),
            ),
            _ => return None,
        })
    }

    fn len(&self) -> usize {
        match self {
            Column::Doubles(v) => v.len(),
            Column::Integers(v) => v.len(),
            Column::Logicals(v) => v.len(),
            Column::Strings(v) => v.len(),
        }
    }

    /// The value at row `i` as JSON, `None` for an NA cell that is skipped. Numbers use
    /// Comet's encoding (NaN and the infinities as strings); an NA that is kept is
    /// Comet's missing number "NaN", as `log_metric()` sends it.
    fn cell(&self, i: usize, skip_na: bool) -> Option<Value> {
        let missing = || (!skip_na).then(|| Value::from("NaN"));
        match self {
            Column::Doubles(v) if v[i].is_na() => missing(),
            Column::Doubles(v) => Some(item::number(v[i])),
            Column::Integers(v) if v[i] == i32::MIN => missing(),
            Column::Integers(v) => Some(Value::from(v[i])),
            Column::Logicals(v) if v[i].is_na() => missing(),
            Column::Logicals(v) => Some(Value::from(v[i].is_true())),
            Column::Strings(v) => match &v[i] {
                Some(s) => Some(Value::from(s.as_str())),
                None => missing(),
            },
        }
    }
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
        let robjs: Vec<Robj> = columns.values().collect();
        let cols = robjs
            .iter()
            .map(Column::of)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("metrics"))?;
        let rows = cols.first().map(Column::len).unwrap_or(0);
        if cols.len() != names.len() || cols.iter().any(|c| c.len() != rows) {
            return Err(bad("metrics"));
        }
        let steps = counts(&steps, rows).ok_or_else(|| bad("step"))?;
        let epochs = counts(&epochs, rows).ok_or_else(|| bad("epoch"))?;
        let context = context.as_str().map(str::to_string);
        let names: Vec<String> = names.iter().map(|n| String::from(&**n)).collect();
        let now = cometr_core::now_ms();
        let mut points = Vec::with_capacity(rows * cols.len());
        for i in 0..rows {
            for (col, name) in cols.iter().zip(&names) {
                if let Some(value) = col.cell(i, skip_na) {
                    points.push(item::MetricPoint {
                        name: name.clone(),
                        value,
                        step: steps[i],
                        epoch: epochs[i],
                        context: context.clone(),
                        timestamp: now,
                    });
                }
            }
        }
        s.push_metrics(points);
        Ok(s.has_problems())
    });
    to_r(queued)
}

extendr_module! {
    mod experiment_log;
    fn rust_experiment_metrics;
}
