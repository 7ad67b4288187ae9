//! Random fault injection, so clients can be tested against the failures a real
//! network and a real service produce: error answers, throttling, latency, connections
//! dropped before or after the server did the work, and a period when the server is
//! down. Set from R with `local_server(faults = list(...))` or `$set_faults()`.

use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Fraction of requests answered with `error_status` (default 503).
    pub error_rate: f64,
    pub error_status: u16,
    /// Fraction answered 429 with `Retry-After-Custom: retry_after`.
    pub throttle_rate: f64,
    pub retry_after: f64,
    /// Fraction whose connection is dropped before the request is served.
    pub drop_before_rate: f64,
    /// Fraction served, whose answer is then lost (the connection drops).
    pub drop_after_rate: f64,
    /// Added to every answer.
    pub latency: Duration,
    /// Every request is dropped during [down_from, down_until).
    pub down_from: Option<Instant>,
    pub down_until: Option<Instant>,
    /// Only endpoints containing this text are affected (all when empty).
    pub paths: String,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Decision {
    Serve,
    Error(u16),
    Throttle,
    DropBefore,
    DropAfter,
}

fn num(v: &Value, k: &str) -> Result<f64, String> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(0.0),
        Some(x) => x
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| format!("fault setting '{k}' must be a non-negative number")),
    }
}

fn rate(v: &Value, k: &str) -> Result<f64, String> {
    let r = num(v, k)?;
    if r > 1.0 {
        return Err(format!("fault setting '{k}' is a fraction between 0 and 1"));
    }
    Ok(r)
}

impl Settings {
    /// Parse the settings R sends (a JSON object).
    pub fn from_json(text: &str) -> Result<Settings, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("invalid fault settings: {e}"))?;
        if !v.is_object() {
            return Err("fault settings must be a named list".into());
        }
        const KNOWN: &[&str] = &[
            "error_rate",
            "error_status",
            "throttle_rate",
            "retry_after",
            "drop_before_rate",
            "drop_after_rate",
            "latency_ms",
            "down_after",
            "down_for",
            "paths",
        ];
        if let Some(k) = v
            .as_object()
            .and_then(|o| o.keys().find(|k| !KNOWN.contains(&k.as_str())))
        {
            return Err(format!(
                "unknown fault setting '{k}' (known: {})",
                KNOWN.join(", ")
            ));
        }
        let status = num(&v, "error_status")?;
        let now = Instant::now();
        let down_for = num(&v, "down_for")?;
        let down_after = num(&v, "down_after")?;
        let (down_from, down_until) = if down_for > 0.0 {
            let from = now + Duration::from_secs_f64(down_after.min(1e6));
            (
                Some(from),
                Some(from + Duration::from_secs_f64(down_for.min(1e6))),
            )
        } else {
            (None, None)
        };
        let s = Settings {
            error_rate: rate(&v, "error_rate")?,
            error_status: if status == 0.0 {
                503
            } else {
                status.clamp(100.0, 599.0) as u16
            },
            throttle_rate: rate(&v, "throttle_rate")?,
            retry_after: num(&v, "retry_after")?.min(3600.0),
            drop_before_rate: rate(&v, "drop_before_rate")?,
            drop_after_rate: rate(&v, "drop_after_rate")?,
            latency: Duration::from_secs_f64((num(&v, "latency_ms")? / 1000.0).min(600.0)),
            down_from,
            down_until,
            paths: v
                .get("paths")
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string(),
        };
        if s.error_rate + s.throttle_rate + s.drop_before_rate + s.drop_after_rate > 1.0 {
            return Err("the fault rates add up to more than 1".into());
        }
        Ok(s)
    }

    pub fn applies_to(&self, path: &str) -> bool {
        self.paths.is_empty() || path.contains(&self.paths)
    }

    pub fn is_down(&self, now: Instant) -> bool {
        matches!((self.down_from, self.down_until), (Some(a), Some(b)) if now >= a && now < b)
    }

    /// What to do with one request, given a uniform random number in [0, 1).
    pub fn decide(&self, now: Instant, unit: f64) -> Decision {
        if self.is_down(now) {
            return Decision::DropBefore;
        }
        let mut edge = self.error_rate;
        if unit < edge {
            return Decision::Error(self.error_status);
        }
        edge += self.throttle_rate;
        if unit < edge {
            return Decision::Throttle;
        }
        edge += self.drop_before_rate;
        if unit < edge {
            return Decision::DropBefore;
        }
        edge += self.drop_after_rate;
        if unit < edge {
            return Decision::DropAfter;
        }
        Decision::Serve
    }
}

/// A uniform random number in [0, 1).
pub fn unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_fault_settings_parse_or_error(t in "\\PC*") {
            let _ = Settings::from_json(&t);
        }
    }

    #[test]
    fn parses_and_validates() {
        let s = Settings::from_json(
            r#"{"error_rate":0.1,"throttle_rate":0.05,"retry_after":1,"paths":"batch/"}"#,
        )
        .unwrap();
        assert_eq!(s.error_status, 503);
        assert!(s.applies_to("batch/logger/experiment/metric"));
        assert!(!s.applies_to("workspaces"));
        assert!(Settings::from_json(r#"{"error_rate":2}"#).is_err());
        assert!(Settings::from_json(r#"{"error_rate":-1}"#).is_err());
        assert!(Settings::from_json(r#"{"eror_rate":0.1}"#).is_err());
        assert!(Settings::from_json(r#"{"error_rate":0.6,"drop_after_rate":0.6}"#).is_err());
        assert!(Settings::from_json("[1]").is_err());
    }

    #[test]
    fn decisions_follow_the_rates() {
        let s = Settings::from_json(
            r#"{"error_rate":0.1,"throttle_rate":0.1,"drop_before_rate":0.1,"drop_after_rate":0.1}"#,
        )
        .unwrap();
        let now = Instant::now();
        assert_eq!(s.decide(now, 0.05), Decision::Error(503));
        assert_eq!(s.decide(now, 0.15), Decision::Throttle);
        assert_eq!(s.decide(now, 0.25), Decision::DropBefore);
        assert_eq!(s.decide(now, 0.35), Decision::DropAfter);
        assert_eq!(s.decide(now, 0.5), Decision::Serve);
    }

    #[test]
    fn down_period() {
        let s = Settings::from_json(r#"{"down_after":0,"down_for":60}"#).unwrap();
        assert!(s.is_down(Instant::now()));
        assert_eq!(s.decide(Instant::now(), 0.99), Decision::DropBefore);
        let s = Settings::from_json(r#"{"down_after":100,"down_for":1}"#).unwrap();
        assert!(!s.is_down(Instant::now()));
    }
}
