//! The result every exported function hands to R.

use extendr_api::prelude::*;

use cometr_core::logging;

pub(crate) fn failure(kind: &str, message: &str) -> Robj {
    list!(ok = false, kind = kind, message = logging::redact(message)).into_robj()
}
