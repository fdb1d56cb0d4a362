//! Why a reconcile failed, and what follows from it: a quiet retry, a retry with
//! backoff, a limited number of retries (upstream's `--max-unseal-retries`), or waiting
//! for a change.

use crate::api_error::{CallError, Class};
use crate::backoff::jitter;
use crate::metrics::ErrorReason;
use std::time::Duration;

/// Why a reconcile failed. The Display text is what the status and events show.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Decryption or template failure (upstream's texts).
    #[error("{0}")]
    Unseal(String),
    /// The templates ran out of the object's budget (steps, work, bcrypt hashes,
    /// output): the same spec fails the same way, so retrying cannot help.
    #[error("{0}")]
    OverBudget(String),
    /// A Secret of that name belongs to someone else.
    #[error("failed update: {0}")]
    Unmanaged(String),
    /// The Secret is immutable and its data would change; retrying cannot help.
    #[error("{0}")]
    Immutable(String),
    /// An API call failed; what the API server said is kept for [`Failure::next`].
    #[error("{0}")]
    Api(CallError),
    /// This replica lost the lead before writing; the new leader reconciles.
    #[error("not the leader")]
    NotLeader,
}

/// What follows a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Retry soon, without an event or a status change (409: the object changed under us).
    RetryQuietly,
    /// Report, then retry with backoff for as long as it takes (the API server is down,
    /// throttling, or refusing for reasons an operator fixes).
    RetryForever { retry_after: Option<Duration> },
    /// Report, then retry up to `--max-unseal-retries` times per generation (upstream's
    /// meaning of the flag), then wait for a change (a new spec or a new key).
    RetryLimited,
    /// Report once, then wait for a change (a new spec, a new key, the Secret's
    /// deletion or a change to it).
    WaitForChange,
    /// Nothing to report: the namespace or the object is going away.
    Drop,
}

impl Failure {
    pub fn next(&self) -> Next {
        match self {
            Failure::Unseal(_) => Next::RetryLimited,
            Failure::Unmanaged(_) | Failure::Immutable(_) | Failure::OverBudget(_) => {
                Next::WaitForChange
            }
            Failure::NotLeader => Next::Drop,
            Failure::Api(error) => match error.class() {
                Class::Conflict | Class::NotFound => Next::RetryQuietly,
                Class::NamespaceGone => Next::Drop,
                Class::Transient { retry_after } => Next::RetryForever { retry_after },
                Class::Permanent => Next::WaitForChange,
            },
        }
    }

    /// The API server was unreachable or failing as a whole: worth retrying as soon as
    /// it answers again.
    pub fn is_outage(&self) -> bool {
        matches!(self, Failure::Api(error) if error.is_outage())
    }

    /// The `reason` label of `unseal_errors_total`.
    pub fn metric_reason(&self) -> ErrorReason {
        match self {
            Failure::Unseal(_) | Failure::OverBudget(_) => ErrorReason::Unseal,
            Failure::Unmanaged(_) => ErrorReason::Unmanaged,
            Failure::Immutable(_) | Failure::Api(_) | Failure::NotLeader => ErrorReason::Update,
        }
    }
}

impl From<CallError> for Failure {
    fn from(error: CallError) -> Failure {
        Failure::Api(error)
    }
}

/// Retries after an API failure: doubling from `first`, capped, then spread by up to a
/// fifth either way so that objects that failed together do not retry together.
const TRANSIENT_FIRST: Duration = Duration::from_secs(1);
const CONFLICT_FIRST: Duration = Duration::from_millis(100);
const API_RETRY_CAP: Duration = Duration::from_secs(30);
/// Decryption retries: 1 s, 2 s, 4 s, ... as before, capped at 5 minutes.
const UNSEAL_RETRY_CAP: Duration = Duration::from_secs(300);

/// The delay before attempt `attempt + 1` (`attempt` >= 1 failures so far).
pub fn retry_delay(next: Next, attempt: u32) -> Option<Duration> {
    let doubling = |first: Duration, cap: Duration| {
        first
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16))
            .min(cap)
    };
    match next {
        Next::RetryQuietly => Some(jitter(doubling(CONFLICT_FIRST, API_RETRY_CAP))),
        Next::RetryForever { retry_after } => {
            let delay = jitter(doubling(TRANSIENT_FIRST, API_RETRY_CAP));
            Some(retry_after.map_or(delay, |after| delay.max(after)))
        }
        Next::RetryLimited => Some(doubling(TRANSIENT_FIRST, UNSEAL_RETRY_CAP)),
        Next::WaitForChange | Next::Drop => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_retries_double_with_jitter_up_to_the_cap() {
        let forever = Next::RetryForever { retry_after: None };
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)] {
            let delay = retry_delay(forever, attempt)
                .expect("retried")
                .as_secs_f64();
            assert!(
                (base * 0.8..base * 1.2).contains(&delay),
                "attempt {attempt}: {delay}"
            );
        }
        let throttled = Next::RetryForever {
            retry_after: Some(Duration::from_secs(45)),
        };
        assert_eq!(retry_delay(throttled, 1), Some(Duration::from_secs(45)));
        let conflict = retry_delay(Next::RetryQuietly, 1).expect("retried");
        assert!(conflict < Duration::from_millis(120), "{conflict:?}");
    }

    #[test]
    fn unseal_retries_keep_the_old_schedule_and_changes_wait() {
        let delays: Vec<_> = (1..=5)
            .map(|a| {
                retry_delay(Next::RetryLimited, a)
                    .expect("retried")
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16]);
        assert_eq!(retry_delay(Next::RetryLimited, 30), Some(UNSEAL_RETRY_CAP));
        assert_eq!(retry_delay(Next::WaitForChange, 1), None);
        // Over its template budget an object fails the same way every time.
        assert_eq!(Failure::OverBudget("x".into()).next(), Next::WaitForChange);
        assert_eq!(Failure::Unseal("x".into()).next(), Next::RetryLimited);
        assert_eq!(retry_delay(Next::Drop, 1), None);
    }
}
