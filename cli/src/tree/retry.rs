//! Waiting out a rate limit: `Controller::rotate` turns a 429 into a
//! [`RateLimited`] error carrying the `Retry-After` wait; a long run waits and tries
//! again instead of failing the file.

use crate::online::RateLimited;
use std::time::Duration;

/// Longest single wait, whatever `Retry-After` says.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Retries of one request before its file fails.
pub const MAX_RETRIES: u32 = 5;
/// Wait when the answer named none (`retry later`), doubled on each retry.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// How long to wait before retry number `retry` (1 for the first), or `None` when the
/// error is not a rate limit (or the retries are used up).
pub fn wait_before(error: &anyhow::Error, retry: u32) -> Option<Duration> {
    if retry > MAX_RETRIES {
        return None;
    }
    let limited = error.downcast_ref::<RateLimited>()?;
    let wait = limited
        .retry_after
        .unwrap_or_else(|| DEFAULT_WAIT.saturating_mul(1 << retry.saturating_sub(1).min(5)));
    Some(wait.clamp(Duration::from_millis(100), MAX_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    fn limited(retry_after: Option<Duration>) -> anyhow::Error {
        anyhow::Error::new(RateLimited {
            message: "rate limited by the controller (--rate-limit); retry in 7 s".into(),
            retry_after,
        })
    }

    #[test]
    fn waits_what_the_server_says_within_bounds() {
        let secs = Duration::from_secs;
        assert_eq!(wait_before(&limited(Some(secs(7))), 1), Some(secs(7)));
        assert_eq!(wait_before(&limited(Some(secs(600))), 1), Some(MAX_WAIT));
        assert_eq!(
            wait_before(&limited(Some(Duration::ZERO)), 1),
            Some(Duration::from_millis(100))
        );
        // With context around it, as callers add.
        let wrapped = limited(Some(secs(3))).context("cannot re-encrypt secret prod/db");
        assert_eq!(wait_before(&wrapped, 1), Some(secs(3)));
    }

    #[test]
    fn without_a_time_it_backs_off() {
        let later = limited(None);
        assert_eq!(wait_before(&later, 1), Some(Duration::from_secs(1)));
        assert_eq!(wait_before(&later, 2), Some(Duration::from_secs(2)));
        assert_eq!(wait_before(&later, 4), Some(Duration::from_secs(8)));
        assert_eq!(wait_before(&later, MAX_RETRIES + 1), None);
    }

    #[test]
    fn other_errors_are_not_retried() {
        for text in [
            "the controller failed (500 Internal Server Error); see its logs",
            "rate limited by the controller (--rate-limit); retry in 3 s",
            "unable to rotate secret: prod/db (no key could decrypt)",
        ] {
            // Only the typed error counts, not words that look like it.
            assert_eq!(wait_before(&anyhow!("{text}"), 1), None, "{text}");
        }
    }
}
