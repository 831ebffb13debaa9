//! Retry delays after recorded failures (reference §2.6).

use std::time::Duration;

/// Error counts above this use the same delay (2^9 minutes).
pub const MAX_BACKOFF_COUNT: i64 = 9;

/// Delay before retrying after `error_count` recorded failures.
///
/// With n = min(error_count, 9) the base is 2^n minutes and the delay is the
/// base minus `jitter` × 50 % of it, so `jitter` in [0, 1) gives a delay in
/// (base/2, base]. Randomness is an input so that callers and tests control it;
/// out-of-range jitter is clamped.
pub fn backoff(error_count: i64, jitter: f64) -> Duration {
    let n = error_count.clamp(0, MAX_BACKOFF_COUNT);
    let base_secs = 60.0 * f64::from(1u32 << n);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Duration::from_secs_f64(base_secs - jitter * base_secs * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_error_count() {
        for n in 1..=12i64 {
            let base = 60u64 << n.min(9);
            let hi = backoff(n, 0.0);
            let lo = backoff(n, 0.999_999);
            assert_eq!(hi, Duration::from_secs(base), "n={n}");
            assert!(lo > Duration::from_secs(base / 2), "n={n}");
            assert!(lo < hi);
        }
        assert_eq!(backoff(1, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(9, 0.0), Duration::from_secs(8 * 3600 + 32 * 60));
        assert_eq!(backoff(9, 1.0), Duration::from_secs(4 * 3600 + 16 * 60));
        assert_eq!(
            backoff(100, f64::NAN),
            Duration::from_secs(8 * 3600 + 32 * 60)
        );
    }
}
