//! The extendr glue between R and the Rust crates: conversion and calls only. Each
//! module serves the R file of the same name (`experiment` serves R/experiment.R, ...);
//! `convert` turns R values into the core's types and `result` builds the one result
//! shape every exported function returns.

use extendr_api::prelude::*;

mod artifact;
mod config;
mod convert;
mod experiment;
mod experiment_log;
mod http;
mod local_server;
mod logging;
mod offline;
mod output;
mod result;
mod spool;

extendr_module! {
    mod cometr;
    use artifact;
    use config;
    use experiment;
    use experiment_log;
    use http;
    use local_server;
    use logging;
    use offline;
    use output;
    use spool;
}
