//! Conversions between R values and the core's types that more than one glue module
//! needs: name/value pairs, R vectors as JSON, optional numbers and strings.

use extendr_api::prelude::*;

use cometr_core::item;

/// A timeout from R, in seconds: negative counts as zero, and a day at most.
pub(crate) fn seconds(x: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(x.clamp(0.0, 86_400.0))
}

pub(crate) fn pairs(names: Vec<String>, values: Vec<String>) -> Vec<(String, String)> {
    names.into_iter().zip(values).collect()
}

/// Convert an R value (NULL, a logical, number or string vector) into JSON. Numbers
/// use Comet's encoding (NaN and infinities as strings), NA becomes null, and vectors
/// longer than one become arrays.
pub(crate) fn robj_json(x: &Robj) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    let items: Vec<Value> = match x.rtype() {
        Rtype::Null => return Ok(Value::Null),
        Rtype::Doubles => x
            .as_real_slice()
            .unwrap_or(&[])
            .iter()
            .map(|&v| {
                if v.is_na() {
                    Value::Null
                } else {
                    item::number(v)
                }
            })
            .collect(),
        Rtype::Integers => x
            .as_integer_slice()
            .unwrap_or(&[])
            .iter()
            .map(|&v| {
                if v == i32::MIN {
                    Value::Null
                } else {
                    Value::from(v)
                }
            })
            .collect(),
        Rtype::Logicals => x
            .as_logical_slice()
            .unwrap_or(&[])
            .iter()
            .map(|v| {
                if v.is_na() {
                    Value::Null
                } else {
                    Value::from(v.is_true())
                }
            })
            .collect(),
        Rtype::Strings => x
            .as_str_iter()
            .map(|it| {
                it.map(|s| {
                    if s.is_na() {
                        Value::Null
                    } else {
                        Value::from(s)
                    }
                })
                .collect()
            })
            .unwrap_or_default(),
        _ => return Err("must be a number, string or logical vector".into()),
    };
    Ok(match items.len() {
        0 => Value::Null,
        1 => items.into_iter().next().unwrap_or(Value::Null),
        _ => Value::Array(items),
    })
}

/// An optional whole number (step, epoch) from R: NULL, or a finite number.
pub(crate) fn opt_int(x: &Robj) -> Option<i64> {
    if x.is_null() {
        return None;
    }
    x.as_real()
        .or_else(|| x.as_integer().map(f64::from))
        .filter(|v| v.is_finite())
        .map(|v| v.round() as i64)
}

/// An outbox's problems for R: their messages, and beside them the class of warning
/// each is (`delivery`, `file_changed`), as R/experiment.R raises them.
pub(crate) fn problems(v: Vec<cometr_core::sink::Problem>) -> (Vec<String>, Vec<String>) {
    v.into_iter()
        .map(|p| (p.message, p.class.to_string()))
        .unzip()
}
