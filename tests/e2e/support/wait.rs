//! Bounded polling. Every wait has a deadline and, when it passes, says what it waited
//! for and what it saw last.

use anyhow::{Result, anyhow};
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Default deadline for anything the controller has to do (unseal, status, events).
/// `SEALED_E2E_TIMEOUT_SECS` overrides it for slow clusters.
pub fn default_timeout() -> Duration {
    std::env::var("SEALED_E2E_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(90))
}

/// One look at the world.
pub enum Poll<T> {
    /// The condition holds; the wait returns this value.
    Ready(T),
    /// Not yet; the text describes what was observed (shown if the wait times out).
    Pending(String),
}

/// Polls `check` every [`POLL_INTERVAL`] until it is `Ready` or `timeout` passes.
/// An `Err` from `check` counts as "not yet" (API hiccups happen) and is reported if it
/// is the last thing seen.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    wait_for_with(timeout, what, check, || Ok(()), String::new).await
}

/// [`wait_for`] with a `guard` run before each check (an `Err` ends the wait at once,
/// e.g. "the controller process exited") and `context` appended to the timeout error
/// (e.g. the controller's log tail).
pub async fn wait_for_with<T, F, Fut, G, C>(
    timeout: Duration,
    what: &str,
    check: F,
    guard: G,
    context: C,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
    G: FnMut() -> Result<()>,
    C: FnOnce() -> String,
{
    wait_every(POLL_INTERVAL, timeout, what, check, guard, context).await
}

/// [`wait_for_with`] checking every `interval` (for checks that read a lot).
pub async fn wait_every<T, F, Fut, G, C>(
    interval: Duration,
    timeout: Duration,
    what: &str,
    mut check: F,
    mut guard: G,
    context: C,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
    G: FnMut() -> Result<()>,
    C: FnOnce() -> String,
{
    let start = Instant::now();
    let mut last = String::from("(nothing observed yet)");
    loop {
        if let Err(e) = guard() {
            return Err(e.context(format!(
                "while waiting for {what} (after {:.1}s); last observed: {last}",
                start.elapsed().as_secs_f64()
            )));
        }
        match check().await {
            Ok(Poll::Ready(value)) => return Ok(value),
            Ok(Poll::Pending(seen)) => last = seen,
            Err(e) => last = format!("error: {e:#}"),
        }
        if start.elapsed() >= timeout {
            let extra = context();
            return Err(anyhow!(
                "timed out after {}s waiting for {what}\nlast observed: {last}{}{extra}",
                timeout.as_secs(),
                if extra.is_empty() { "" } else { "\n" },
            ));
        }
        tokio::time::sleep(interval).await;
    }
}
