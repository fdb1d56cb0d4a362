//! Delays between attempts: spread so that what failed together does not retry
//! together, and, for the watches, short enough that they are back within seconds of
//! an outage's end.

use kube::runtime::utils::Backoff;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// `delay` times a random factor in [0.8, 1.2).
pub fn jitter(delay: Duration) -> Duration {
    // A fresh RandomState is randomly keyed: enough randomness for spreading retries.
    let random = std::collections::hash_map::RandomState::new().hash_one(delay);
    let factor = 0.8 + 0.4 * (random % 1000) as f64 / 1000.0;
    delay.mul_f64(factor)
}

/// Reconnect delays of a watch: 0.5 s, doubling, at most 5 s (kube's default goes up to
/// 30 s, so a watch could stay away that long after an outage ended).
///
/// kube resets a watch's backoff on every event it yields, and a re-list yields events
/// even when the watch that follows fails at once; honoured as is, that retries a
/// half-broken API server at the shortest delay for ever. So a reset counts only after
/// a minute without failures.
pub struct WatchBackoff {
    attempt: u32,
    last_failure: Option<Instant>,
}

const FIRST: Duration = Duration::from_millis(500);
const CAP: Duration = Duration::from_secs(5);
const CALM: Duration = Duration::from_secs(60);

impl WatchBackoff {
    pub fn new() -> WatchBackoff {
        WatchBackoff {
            attempt: 0,
            last_failure: None,
        }
    }
}

impl Default for WatchBackoff {
    fn default() -> WatchBackoff {
        WatchBackoff::new()
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = FIRST.saturating_mul(1 << self.attempt.min(10)).min(CAP);
        self.attempt = self.attempt.saturating_add(1);
        self.last_failure = Some(Instant::now());
        Some(jitter(delay))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        if self.last_failure.is_none_or(|at| at.elapsed() >= CALM) {
            self.attempt = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_delays_double_up_to_five_seconds() {
        let mut backoff = WatchBackoff::new();
        let delays: Vec<f64> = (0..6)
            .map(|_| backoff.next().expect("delay").as_secs_f64())
            .collect();
        for (delay, base) in delays.iter().zip([0.5, 1.0, 2.0, 4.0, 5.0, 5.0]) {
            assert!((base * 0.8..base * 1.2).contains(delay), "{delays:?}");
        }
        // A reset right after a failure (a relist that succeeded before the watch
        // failed again) does not start over.
        backoff.reset();
        assert!(backoff.next().expect("delay") >= Duration::from_secs(4));
        // After a calm minute it does.
        backoff.last_failure = Some(Instant::now() - CALM);
        backoff.reset();
        assert!(backoff.next().expect("delay") < Duration::from_millis(600));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10)).as_secs_f64();
            assert!((8.0..12.0).contains(&d), "{d}");
        }
    }
}
