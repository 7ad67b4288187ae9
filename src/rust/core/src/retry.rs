//! Retry policy, as pure functions: which failures are worth retrying and how long to
//! wait before the next attempt (exponential backoff with full jitter, capped).

use std::time::Duration;

pub const BASE: Duration = Duration::from_millis(250);
pub const CAP: Duration = Duration::from_secs(30);

/// HTTP statuses worth retrying: throttling, timeouts and server-side failures.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait before attempt `attempt + 1`, given a uniform random number in [0, 1):
/// a random point in [0, min(cap, base * 2^attempt)].
pub fn backoff_with(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(CAP)
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

pub fn backoff(attempt: u32) -> Duration {
    let unit = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
    // Never spin: at least a few milliseconds between attempts.
    backoff_with(attempt, unit).max(Duration::from_millis(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_transient_status(s));
        }
        for s in [200, 400, 401, 403, 404] {
            assert!(!is_transient_status(s));
        }
    }

    #[test]
    fn retry_after_headers() {
        use crate::http::retry_after;
        let h = vec![("Retry-After-Custom".to_string(), "3".to_string())];
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let h = vec![("retry-after".to_string(), "0.5".to_string())];
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        assert_eq!(retry_after(&[]), None);
        let h = vec![("retry-after".to_string(), "soon".to_string())];
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_with(0, 1.0), BASE);
        assert_eq!(backoff_with(2, 1.0), BASE * 4);
        assert_eq!(backoff_with(40, 1.0), CAP);
        assert_eq!(backoff_with(3, 0.0), Duration::ZERO);
        assert_eq!(backoff_with(1, 0.5), BASE);
        for a in 0..50 {
            assert!(backoff(a) <= CAP);
        }
    }
}
