//! Waiting out the controller's rate limit. `Controller::rotate` turns a 429 into an
//! error worded "rate limited by ...; retry in N s" (or "retry after DATE", or "retry
//! later") from the `Retry-After` header; a long run reads the wait back from it and
//! tries again instead of failing the file.

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
    let text = format!("{error:#}");
    if !text.contains("rate limited by the") {
        return None;
    }
    let wait = retry_after(&text)
        .unwrap_or_else(|| DEFAULT_WAIT.saturating_mul(1 << retry.saturating_sub(1).min(5)));
    Some(wait.clamp(Duration::from_millis(100), MAX_WAIT))
}

/// The wait named in the message: `retry in N s` or `retry after <HTTP date>`.
fn retry_after(text: &str) -> Option<Duration> {
    if let Some((_, rest)) = text.split_once("retry in ") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse::<u64>().ok().map(Duration::from_secs);
    }
    let (_, rest) = text.split_once("retry after ")?;
    // The date ends the clause: "; " or " (the controller said ...)" may follow.
    let date = rest.split([';', '(']).next()?.trim();
    let when = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(date)
        .ok()?;
    let left = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn waits_what_the_controller_says_within_bounds() {
        // The wording of online::proxy::failure for 429.
        let limited = anyhow!("rate limited by the controller (--rate-limit); retry in 7 s");
        assert_eq!(wait_before(&limited, 1), Some(Duration::from_secs(7)));
        let long = anyhow!(
            "rate limited by the controller (--rate-limit); retry in 600 s (the controller said: slow down)"
        );
        assert_eq!(wait_before(&long, 1), Some(MAX_WAIT));
        let zero = anyhow!("rate limited by the controller (--rate-limit); retry in 0 s");
        assert_eq!(wait_before(&zero, 1), Some(Duration::from_millis(100)));
        let api =
            anyhow!("rate limited by the Kubernetes API server: too many requests; retry in 2 s");
        assert_eq!(wait_before(&api, 2), Some(Duration::from_secs(2)));
        // With context around it, as callers add.
        let wrapped = anyhow!("rate limited by the controller (--rate-limit); retry in 3 s")
            .context("cannot re-encrypt secret prod/db");
        assert_eq!(wait_before(&wrapped, 1), Some(Duration::from_secs(3)));
    }

    #[test]
    fn without_a_number_it_backs_off() {
        let later = anyhow!("rate limited by the controller (--rate-limit); retry later");
        assert_eq!(wait_before(&later, 1), Some(Duration::from_secs(1)));
        assert_eq!(wait_before(&later, 2), Some(Duration::from_secs(2)));
        assert_eq!(wait_before(&later, 4), Some(Duration::from_secs(8)));
        assert_eq!(wait_before(&later, MAX_RETRIES + 1), None);
    }

    #[test]
    fn an_http_date_is_read() {
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(20);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        let e = anyhow!("rate limited by the controller (--rate-limit); retry after {date}");
        let wait = wait_before(&e, 1).unwrap();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        let past = anyhow!(
            "rate limited by the controller (--rate-limit); retry after Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(wait_before(&past, 1), Some(Duration::from_millis(100)));
    }

    #[test]
    fn other_errors_are_not_retried() {
        for text in [
            "the controller failed (500 Internal Server Error); see its logs",
            "cannot reach the Kubernetes API server at https://x: refused",
            "unable to rotate secret: prod/db (no key could decrypt)",
        ] {
            assert_eq!(wait_before(&anyhow!("{text}"), 1), None, "{text}");
        }
    }
}
