//! The bounds one client meets, kept apart so that request parsing, the HTTP front
//! and the server's state all read them without depending on one another.

use std::time::Duration;

/// What one client may ask of the server: sizes of bodies, time to send them, and
/// connections held at once. Beyond them it answers 413 (too large) or 408 (too slow),
/// closes the connection, or refuses a new one with 503.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest JSON (or other non-multipart) body, as sent and once gunzipped. The
    /// default holds a batch of a million metric points (about 110 MiB of JSON).
    pub json_body: u64,
    /// The largest multipart body (an asset upload, its file streamed to disk).
    pub upload_body: u64,
    /// The most parts in a multipart form.
    pub form_parts: usize,
    /// The most bytes of a form's text parts together (kept in memory).
    pub form_text: usize,
    /// How long a connection may take to send a request's head, may stay idle between
    /// requests, and may pause while sending a body.
    pub idle_timeout: Duration,
    /// The most connections served at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            json_body: 256 << 20,
            upload_body: 4 << 30,
            form_parts: 64,
            form_text: 16 << 20,
            idle_timeout: Duration::from_secs(30),
            connections: 512,
        }
    }
}
