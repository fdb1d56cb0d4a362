//! The `Synced` condition, written only when something a reader sees changes, so that
//! a status write never triggers another reconcile or write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sealed_common::sealed_secret::{SealedSecretCondition, SealedSecretStatus};

pub const SYNCED: &str = "Synced";

/// Builds the next status, or `None` when the current one already says the same.
/// `fingerprint` is the key that opened the object (`None` on failure: the last known
/// one is kept). `compare_fingerprint` is false when the installed CRD prunes it.
pub fn next_status(
    current: Option<&SealedSecretStatus>,
    generation: Option<i64>,
    outcome: Result<Option<&str>, &str>,
    now: Time,
    compare_fingerprint: bool,
) -> Option<SealedSecretStatus> {
    let mut status = current.cloned().unwrap_or_default();
    let (value, message) = match outcome {
        Ok(_) => ("True", None),
        Err(message) => ("False", Some(message.to_owned())),
    };
    let fingerprint = match outcome {
        Ok(Some(fp)) => Some(fp.to_owned()),
        _ => status.key_fingerprint.clone(),
    };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let existing = conditions.iter().find(|c| c.type_ == SYNCED);
    let unchanged = existing.is_some_and(|c| {
        c.status == value && c.message.as_deref().filter(|m| !m.is_empty()) == message.as_deref()
    }) && status.observed_generation == generation
        && (!compare_fingerprint || status.key_fingerprint == fingerprint);
    if unchanged {
        return None;
    }
    if !conditions.iter().any(|c| c.type_ == SYNCED) {
        conditions.push(SealedSecretCondition {
            type_: SYNCED.to_owned(),
            ..SealedSecretCondition::default()
        });
    }
    let Some(condition) = conditions.iter_mut().find(|c| c.type_ == SYNCED) else {
        // Pushed just above.
        return None;
    };
    if condition.status != value {
        condition.status = value.to_owned();
        condition.last_transition_time = Some(now.clone());
    }
    condition.message = message;
    condition.last_update_time = Some(now);
    status.observed_generation = generation;
    status.key_fingerprint = fingerprint;
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(1_700_000_000 + seconds).expect("valid"))
    }

    #[test]
    fn first_success_sets_everything() {
        let s = next_status(None, Some(3), Ok(Some("fp")), at(0), true).expect("written");
        let c = &s.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.message.as_deref()),
            ("Synced", "True", None)
        );
        assert_eq!(c.last_transition_time, Some(at(0)));
        assert_eq!(c.last_update_time, Some(at(0)));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(s.key_fingerprint.as_deref(), Some("fp"));
    }

    #[test]
    fn same_outcome_writes_nothing() {
        let s = next_status(None, Some(3), Ok(Some("fp")), at(0), true).expect("written");
        assert_eq!(
            next_status(Some(&s), Some(3), Ok(Some("fp")), at(9), true),
            None
        );
        let f = next_status(
            None,
            Some(1),
            Err("no key could decrypt secret (a)"),
            at(0),
            true,
        )
        .expect("w");
        assert_eq!(
            next_status(
                Some(&f),
                Some(1),
                Err("no key could decrypt secret (a)"),
                at(5),
                true
            ),
            None
        );
    }

    #[test]
    fn failure_then_success_moves_transition_time() {
        let f = next_status(None, Some(1), Err("boom"), at(0), true).expect("written");
        let c = &f.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.status.as_str(), c.message.as_deref()),
            ("False", Some("boom"))
        );
        let s = next_status(Some(&f), Some(2), Ok(Some("fp")), at(10), true).expect("written");
        let c = &s.conditions.as_ref().expect("conditions")[0];
        assert_eq!(c.last_transition_time, Some(at(10)));
        assert_eq!(c.message, None);
        // A new message with the same status updates lastUpdateTime only.
        let f2 = next_status(Some(&f), Some(1), Err("other"), at(20), true).expect("written");
        let c = &f2.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (c.last_transition_time.clone(), c.last_update_time.clone()),
            (Some(at(0)), Some(at(20)))
        );
    }

    #[test]
    fn generation_change_is_written_and_failure_keeps_the_fingerprint() {
        let s = next_status(None, Some(1), Ok(Some("fp")), at(0), true).expect("written");
        let g = next_status(Some(&s), Some(2), Ok(Some("fp")), at(1), true).expect("written");
        assert_eq!(g.observed_generation, Some(2));
        let f = next_status(Some(&g), Some(3), Err("x"), at(2), true).expect("written");
        assert_eq!(f.key_fingerprint.as_deref(), Some("fp"));
    }

    #[test]
    fn pruned_fingerprint_does_not_cause_rewrites() {
        let mut s = next_status(None, Some(1), Ok(Some("fp")), at(0), false).expect("written");
        s.key_fingerprint = None; // what upstream's CRD keeps
        assert_eq!(
            next_status(Some(&s), Some(1), Ok(Some("fp")), at(5), false),
            None
        );
    }
}
