//! Hold-back of new keys (`--key-activation-delay`): a new key decrypts at once, but
//! seals only after the delay, so a backup of it can be taken before anything
//! depends on it.

use super::KeyEntry;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One key and its role at a given instant.
#[derive(Clone, Debug)]
pub struct KeyStatus {
    pub key: Arc<KeyEntry>,
    /// The sealing key (what `/v1/cert.pem` serves): exactly one when any key has a
    /// certificate.
    pub active: bool,
    /// When this key, newer than the active one, may start sealing.
    pub held_back_until: Option<SystemTime>,
}

/// When `key` may seal; `None` if the delay overflows the clock (never).
fn activates_at(key: &KeyEntry, delay: Duration) -> Option<SystemTime> {
    key.ordering_time.checked_add(delay)
}

/// The position of the sealing key in `keys` (newest first): the newest key with a
/// certificate that has waited out `delay`; else, when every key is younger than the
/// delay (a fresh cluster, or a key forced soon after the previous one), the oldest
/// with a certificate: the one most likely in a backup already, and on a fresh
/// cluster the only one, so that sealing is possible at all.
pub(super) fn sealing_index(
    keys: &[Arc<KeyEntry>],
    delay: Duration,
    now: SystemTime,
) -> Option<usize> {
    let mut certified = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.certificate.is_some());
    let newest = certified.clone().next().map(|(i, _)| i);
    // Zero delay: the newest, even if its time is ahead of our clock (skew).
    if delay.is_zero() {
        return newest;
    }
    let oldest = certified.clone().next_back().map(|(i, _)| i);
    certified
        .find(|(_, k)| activates_at(k, delay).is_some_and(|t| t <= now))
        .map(|(i, _)| i)
        .or(oldest)
}

/// Every key in `keys` (newest first) with its role at `now`.
pub(super) fn statuses(keys: &[Arc<KeyEntry>], delay: Duration, now: SystemTime) -> Vec<KeyStatus> {
    let active = sealing_index(keys, delay, now);
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            // Only keys that could seal are waiting; one without a certificate never will.
            let newer_than_active = active.is_some_and(|a| i < a) && key.certificate.is_some();
            let held_back_until =
                activates_at(key, delay).filter(|t| newer_than_active && *t > now);
            KeyStatus {
                key: Arc::clone(key),
                active: active == Some(i),
                held_back_until,
            }
        })
        .collect()
}
