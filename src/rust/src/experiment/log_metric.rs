//! `exp$log_metric()`: the hot path of a training loop, one point per call.
//!
//! This entry point reads R's values directly instead of going through extendr's
//! argument conversion, which registers every argument and the result in a global
//! table: for six arguments that cost several times the rest of the call. Argument
//! checks happen here too, so the R method is a single `.External` call and a test of
//! the returned code. Nothing here allocates an R object but the result, and nothing
//! calls back into R, so no R error can jump over Rust frames.

use std::os::raw::{c_char, c_int};

use cometr_core::{item, outbox};
use serde_json::Value;

/// An R object, opaque to Rust.
#[repr(C)]
pub struct Sexprec {
    _opaque: [u8; 0],
}
type Sexp = *mut Sexprec;

// The few entry points of R's C API this file needs (all part of R's public API).
extern "C" {
    static R_NaString: Sexp;
    fn TYPEOF(x: Sexp) -> c_int;
    fn OBJECT(x: Sexp) -> c_int;
    fn Rf_xlength(x: Sexp) -> isize;
    fn REAL(x: Sexp) -> *mut f64;
    fn INTEGER(x: Sexp) -> *mut c_int;
    fn LOGICAL(x: Sexp) -> *mut c_int;
    fn STRING_ELT(x: Sexp, i: isize) -> Sexp;
    fn R_CHAR(x: Sexp) -> *const c_char;
    fn LENGTH(x: Sexp) -> c_int;
    fn Rf_getCharCE(x: Sexp) -> c_int;
    fn R_IsNA(x: f64) -> c_int;
    fn CAR(x: Sexp) -> Sexp;
    fn CDR(x: Sexp) -> Sexp;
    fn Rf_ScalarInteger(x: c_int) -> Sexp;
}

const NILSXP: c_int = 0;
const LGLSXP: c_int = 10;
const INTSXP: c_int = 13;
const REALSXP: c_int = 14;
const STRSXP: c_int = 16;
const CE_LATIN1: c_int = 2;
const CE_BYTES: c_int = 3;
const NA_INTEGER: c_int = i32::MIN;

/// Longest name or context, in bytes of UTF-8, as for every identifier the package takes.
const MAX_NAME_BYTES: usize = 10_000;

/// What the R side is told. 0: queued; 1: queued, and the sender has problems to
/// report; -1: the experiment's stream is closed. A refused argument is
/// `-(10 * argument + problem)`, both numbered as in `metric_refusal()` in
/// R/experiment.R, which turns the code into the same error the other methods raise.
const QUEUED: c_int = 0;
const PROBLEMS: c_int = 1;
const CLOSED: c_int = -1;
/// A panic inside this call; R reports it as an internal error.
const FAILED: c_int = -9;

#[derive(Clone, Copy)]
enum Arg {
    Name = 1,
    Step = 2,
    Epoch = 3,
    Context = 4,
    Value = 5,
}

#[derive(Clone, Copy)]
enum Problem {
    NotString = 1,
    NotUtf8 = 2,
    TooLong = 3,
    NotCount = 4,
    NotValue = 5,
    NotWhole = 6,
    Empty = 7,
}

fn refused(arg: Arg, problem: Problem) -> c_int {
    -(10 * arg as c_int + problem as c_int)
}

/// `.External(cometr_log_metric, stream, name, value, step, epoch, context)`.
///
/// # Safety
/// Called by R's `.External` with the pairlist of its arguments, on R's main thread.
#[no_mangle]
pub unsafe extern "C" fn cometr_log_metric(args: Sexp) -> Sexp {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The first element is the routine itself.
        let mut rest = CDR(args);
        let mut next = || {
            let x = CAR(rest);
            rest = CDR(rest);
            x
        };
        let (id, name, value, step, epoch, context) =
            (next(), next(), next(), next(), next(), next());
        log_metric(id, name, value, step, epoch, context).unwrap_or_else(|code| code)
    }))
    .unwrap_or(FAILED);
    Rf_ScalarInteger(code)
}

/// Check the arguments in the order the R method always has, then queue the point.
unsafe fn log_metric(
    id: Sexp,
    name: Sexp,
    value: Sexp,
    step: Sexp,
    epoch: Sexp,
    context: Sexp,
) -> Result<c_int, c_int> {
    let name = string(name, Arg::Name)?.ok_or(refused(Arg::Name, Problem::NotString))?;
    if name.is_empty() {
        return Err(refused(Arg::Name, Problem::Empty));
    }
    let step = count(step, Arg::Step)?;
    let epoch = count(epoch, Arg::Epoch)?;
    if OBJECT(context) != 0 {
        return Err(refused(Arg::Context, Problem::NotString));
    }
    let context = string(context, Arg::Context)?;
    let value = metric_value(value)?;
    let stream_id = match TYPEOF(id) {
        INTSXP if Rf_xlength(id) == 1 => *INTEGER(id),
        _ => return Ok(CLOSED),
    };
    let Some(s) = outbox::get(stream_id) else {
        return Ok(CLOSED);
    };
    s.push_metric(item::MetricPoint {
        name,
        value,
        step,
        epoch,
        context,
        timestamp: cometr_core::now_ms(),
    });
    Ok(if s.has_problems() { PROBLEMS } else { QUEUED })
}

/// NULL, or a single string of valid text at most `MAX_NAME_BYTES` long.
unsafe fn string(x: Sexp, arg: Arg) -> Result<Option<String>, c_int> {
    match TYPEOF(x) {
        NILSXP => Ok(None),
        STRSXP if Rf_xlength(x) == 1 && STRING_ELT(x, 0) != R_NaString => {
            let text = text(STRING_ELT(x, 0)).ok_or(refused(arg, Problem::NotUtf8))?;
            if text.len() > MAX_NAME_BYTES {
                return Err(refused(arg, Problem::TooLong));
            }
            Ok(Some(text))
        }
        _ => Err(refused(arg, Problem::NotString)),
    }
}

/// The text of a non-NA element of a character vector, as UTF-8: strings marked
/// latin1 convert, strings marked as bytes never do, anything else must already be
/// valid UTF-8 (as `validUTF8()` checks in R).
unsafe fn text(ch: Sexp) -> Option<String> {
    let bytes = std::slice::from_raw_parts(R_CHAR(ch).cast::<u8>(), LENGTH(ch) as usize);
    match Rf_getCharCE(ch) {
        CE_LATIN1 => Some(bytes.iter().map(|&b| b as char).collect()),
        CE_BYTES => None,
        _ => std::str::from_utf8(bytes).ok().map(str::to_string),
    }
}

/// NULL, or a single finite whole number exact as a double (a step, an epoch). A
/// fraction is refused, never rounded: step 0.5 is not step 1.
unsafe fn count(x: Sexp, arg: Arg) -> Result<Option<i64>, c_int> {
    let v = match TYPEOF(x) {
        NILSXP => return Ok(None),
        _ if OBJECT(x) != 0 || Rf_xlength(x) != 1 => None,
        REALSXP => Some(*REAL(x)),
        INTSXP => Some(*INTEGER(x))
            .filter(|&i| i != NA_INTEGER)
            .map(f64::from),
        _ => None,
    };
    match v {
        Some(v) if v.is_finite() && v.abs() <= 2f64.powi(53) => {
            if v.fract() == 0.0 {
                Ok(Some(v as i64))
            } else {
                Err(refused(arg, Problem::NotWhole))
            }
        }
        _ => Err(refused(arg, Problem::NotCount)),
    }
}

/// A number, string or logical vector of at least one element, as JSON: one element
/// is a scalar, more an array. Numbers use Comet's encoding (NaN and the infinities as
/// strings); NA, of any type, is Comet's missing number "NaN", online and offline
/// alike (the offline archive format has no null metric value).
unsafe fn metric_value(x: Sexp) -> Result<Value, c_int> {
    let n = Rf_xlength(x) as usize;
    if OBJECT(x) != 0 || n == 0 {
        return Err(refused(Arg::Value, Problem::NotValue));
    }
    let mut items: Vec<Value> = match TYPEOF(x) {
        REALSXP => std::slice::from_raw_parts(REAL(x), n)
            .iter()
            .map(|&v| {
                if R_IsNA(v) != 0 {
                    missing()
                } else {
                    item::number(v)
                }
            })
            .collect(),
        INTSXP => std::slice::from_raw_parts(INTEGER(x), n)
            .iter()
            .map(|&v| {
                if v == NA_INTEGER {
                    missing()
                } else {
                    Value::from(v)
                }
            })
            .collect(),
        LGLSXP => std::slice::from_raw_parts(LOGICAL(x), n)
            .iter()
            .map(|&v| {
                if v == NA_INTEGER {
                    missing()
                } else {
                    Value::from(v != 0)
                }
            })
            .collect(),
        STRSXP => (0..n as isize)
            .map(|i| match STRING_ELT(x, i) {
                ch if ch == R_NaString => Ok(missing()),
                ch => text(ch)
                    .map(Value::from)
                    .ok_or(refused(Arg::Value, Problem::NotUtf8)),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(refused(Arg::Value, Problem::NotValue)),
    };
    Ok(if items.len() == 1 {
        items.pop().unwrap_or_else(missing)
    } else {
        Value::Array(items)
    })
}

/// An NA element of a metric value.
fn missing() -> Value {
    Value::from("NaN")
}
