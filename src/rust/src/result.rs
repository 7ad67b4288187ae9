//! The one result shape every exported function returns to R: `list(ok = value)` when
//! the call worked, `list(err = list(kind = , message = , ...))` when it did not. One R
//! function, `rust_result()` in R/utils-conditions.R, unwraps it and turns `kind` into
//! the condition class, so no error crosses the boundary as a panic or as a shape of its
//! own. Messages are redacted here: an API key the core has seen never reaches R.

use extendr_api::prelude::*;

use cometr_core::{http, logging};

/// What went wrong, as R classes it (`cometr_<kind>_error`, see R/utils-conditions.R).
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// An argument the core refused.
    Input,
    /// No answer from the server (DNS, TCP, TLS, timeout), after the retries.
    Connection,
    /// A transfer that started and failed (short body, checksum mismatch, disk).
    Transfer,
    /// An answer with a status outside 200-299; R words the message from its body.
    Http,
    /// The offline archive could not be written or read.
    Offline,
    /// The local server could not do what was asked.
    Server,
    /// A spool file could not be read.
    Spool,
    /// Output capture could not start.
    Capture,
    /// The experiment has already ended.
    Ended,
    /// The user interrupted a wait (Ctrl-C); R raises its interrupt condition.
    Interrupt,
    /// A condition handler jumped away from a wait's notice; R resumes that jump.
    Jump,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Connection => "connection",
            Kind::Transfer => "transfer",
            Kind::Http => "http",
            Kind::Offline => "offline",
            Kind::Server => "server",
            Kind::Spool => "spool",
            Kind::Capture => "capture",
            Kind::Ended => "ended",
            Kind::Interrupt => "interrupt",
            Kind::Jump => "jump",
        }
    }
}

/// A failure on its way to R: a kind, a message and any fields the condition carries
/// (`endpoint`, `status`, `argument`, ...).
pub(crate) struct Error {
    kind: Kind,
    message: String,
    fields: Vec<(&'static str, Robj)>,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

pub(crate) fn error(kind: Kind, message: impl AsRef<str>) -> Error {
    Error {
        kind,
        message: logging::redact(message.as_ref()),
        fields: Vec::new(),
    }
}

impl Error {
    /// Add a field to the condition R raises.
    pub(crate) fn with(mut self, name: &'static str, value: impl Into<Robj>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    fn into_robj(self) -> Robj {
        let mut names = vec!["kind", "message"];
        let mut values: Vec<Robj> = vec![self.kind.name().into(), self.message.into()];
        for (n, v) in self.fields {
            names.push(n);
            values.push(v);
        }
        let err = List::from_names_and_values(names, values)
            .map(|l| l.into_robj())
            .unwrap_or_else(|_| ().into_robj());
        list!(err = err).into_robj()
    }
}

/// An answer given after a wait the user interrupted is the interrupt, whatever the
/// wait left behind.
fn interrupted() -> Option<Robj> {
    http::take_broken().map(|why| match why {
        http::Broken::Interrupt => error(Kind::Interrupt, "interrupted by the user").into_robj(),
        http::Broken::Jump => error(Kind::Jump, "").into_robj(),
    })
}

/// A value for R: `list(ok = value)`.
pub(crate) fn ok(value: impl Into<Robj>) -> Robj {
    interrupted().unwrap_or_else(|| list!(ok = value.into()).into_robj())
}

/// A failure for R: `list(err = ...)`.
pub(crate) fn fail(e: Error) -> Robj {
    interrupted().unwrap_or_else(|| e.into_robj())
}

/// A result for R: `list(ok = value)` or `list(err = ...)`.
pub(crate) fn to_r<T: Into<Robj>>(r: Result<T>) -> Robj {
    match r {
        Ok(v) => ok(v),
        Err(e) => fail(e),
    }
}
