//! The internal log file (`COMET_LOGGING_FILE` at `COMET_LOGGING_FILE_LEVEL`).
//!
//! Background threads log here too, so this is plain file I/O with no R involved. Every
//! line passes through [`redact`], which removes every API key this process has used:
//! secrets are redacted by construction, not by remembering at each call site.

use std::io::Write;
use std::sync::{Mutex, RwLock};

#[derive(Clone, Copy, PartialEq, PartialOrd, Debug)]
pub enum Level {
    Debug = 1,
    Info = 2,
    Warning = 3,
    Error = 4,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" => Some(Level::Debug),
            "INFO" => Some(Level::Info),
            "WARNING" | "WARN" => Some(Level::Warning),
            "ERROR" => Some(Level::Error),
            _ => None,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Level::Debug => "DBG",
            Level::Info => "INF",
            Level::Warning => "WARN",
            Level::Error => "ERR",
        }
    }
}

struct Sink {
    path: String,
    level: Level,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret so that it never reaches a log line or an error message.
pub fn register_secret(s: &str) {
    if s.len() < 4 {
        // Very short keys would redact ordinary words; they are still never logged
        // because no code path formats a key into a message.
        return;
    }
    let known = SECRETS
        .read()
        .map(|v| v.iter().any(|k| k == s))
        .unwrap_or(true);
    if !known {
        if let Ok(mut v) = SECRETS.write() {
            v.push(s.to_string());
        }
    }
}

/// Replace every registered secret in `text`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(v) = SECRETS.read() {
        for k in v.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), "<redacted>");
            }
        }
    }
    out
}

pub fn configure(path: Option<String>, level: Level) {
    if let Ok(mut s) = SINK.lock() {
        *s = path.map(|path| Sink { path, level });
    }
}

pub fn enabled(level: Level) -> bool {
    SINK.lock()
        .map(|s| s.as_ref().is_some_and(|s| level >= s.level))
        .unwrap_or(false)
}

fn now_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let millis = now.subsec_millis();
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Append one line. Multi-line messages are folded onto one line so that every entry
/// starts with a timestamp and a level.
pub fn write(level: Level, msg: &str) -> Result<(), String> {
    let guard = SINK.lock().map_err(|_| "log lock poisoned".to_string())?;
    let Some(sink) = guard.as_ref() else {
        return Ok(());
    };
    if level < sink.level {
        return Ok(());
    }
    let text = redact(msg).replace('\n', "\\n");
    let line = format!("{} [{}] {}\n", now_stamp(), level.tag(), text);
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    // A new log file is the user's alone: it names experiments, endpoints and errors.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&sink.path).map_err(|e| e.to_string())?;
    f.write_all(line.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_secrets() {
        register_secret("supersecretkey123");
        assert_eq!(
            redact("Authorization: supersecretkey123 sent"),
            "Authorization: <redacted> sent"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("warning"), Some(Level::Warning));
        assert!(Level::parse("LOUD").is_none());
        assert!(Level::Error > Level::Info);
    }
}
