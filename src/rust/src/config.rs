//! Glue for R/config.R: configuration lookup and URL normalisation.

use extendr_api::prelude::*;

use crate::result::ok;
use cometr_core::config;

/// Resolve one configuration key: environment, then `.comet.yml` in `cwd`, then `home`.
/// Problems with the files come back as `warnings`, for R to raise.
/// @noRd
#[extendr]
fn rust_config_lookup(key: &str, cwd: &str, home: &str) -> Robj {
    let l = config::lookup(key, cwd, home);
    let value: Robj = match l.value {
        Some(v) => v.into_robj(),
        None => ().into_robj(),
    };
    ok(list!(value = value, warnings = l.warnings))
}

/// Strip `/clientlib` and trailing slashes from a URL override.
/// @noRd
#[extendr]
fn rust_url_root(url: &str) -> Robj {
    ok(config::url_root(url))
}

extendr_module! {
    mod config;
    fn rust_config_lookup;
    fn rust_url_root;
}
