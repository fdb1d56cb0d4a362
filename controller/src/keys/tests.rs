//! Registry rules: upstream key Secrets load, bad ones are skipped, order, hints,
//! relabelling, and which changes count as "a key was added".

use super::*;
use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

fn vector_key(which: &str) -> Secret {
    let path = format!(
        "{}/../testdata/vectors/kubeseal-0.36.6/keys/{which}.sealed-secrets-key.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("vector key");
    serde_saphyr::from_str(&text).expect("key Secret")
}

fn fingerprint_of(which: &str) -> String {
    let path = format!(
        "{}/../testdata/vectors/kubeseal-0.36.6/keys/{which}.fingerprint",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .expect("fingerprint")
        .trim()
        .to_owned()
}

fn ready(registry: &KeyRegistry, keys: &[Secret]) {
    registry.replace(Source::Labelled, keys);
    registry.replace(Source::Legacy, &[]);
}

#[test]
fn upstream_key_secrets_load() {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    assert!(!registry.is_ready());
    ready(&registry, &[vector_key("A"), vector_key("B")]);
    assert!(registry.is_ready());
    let keys = registry.keys();
    assert_eq!(keys.len(), 2);
    let fps: Vec<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
    assert!(
        fps.contains(&fingerprint_of("A").as_str()) && fps.contains(&fingerprint_of("B").as_str())
    );
    assert!(keys.iter().all(|k| k.certificate.is_some()));
}

#[test]
fn malformed_key_secret_is_skipped() {
    let mut bad = vector_key("B");
    bad.metadata.name = Some("broken".into());
    bad.data
        .as_mut()
        .expect("data")
        .insert("tls.key".into(), ByteString(b"not a key".to_vec()));
    let mut mismatched = vector_key("A");
    mismatched.metadata.name = Some("mismatched".into());
    let b_cert = vector_key("B").data.expect("data")["tls.crt"].clone();
    mismatched
        .data
        .as_mut()
        .expect("data")
        .insert("tls.crt".into(), b_cert);
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    ready(&registry, &[bad, mismatched, vector_key("A")]);
    let keys = registry.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].fingerprint, fingerprint_of("A"));
}

#[test]
fn newest_first_by_not_before_or_by_creation() {
    let mut a = vector_key("A");
    let mut b = vector_key("B");
    let by_cert = KeyRegistry::new(KeyOrder::CertNotBefore);
    ready(&by_cert, &[a.clone(), b.clone()]);
    let keys = by_cert.keys();
    assert!(keys[0].ordering_time >= keys[1].ordering_time);
    let newest_by_cert = keys[0].fingerprint.clone();
    assert_eq!(
        by_cert.sealing_key().expect("key").fingerprint,
        newest_by_cert
    );

    // Secret creation time reversed with respect to the certificates.
    let older = Time(jiff::Timestamp::from_second(1_600_000_000).expect("time"));
    let newer = Time(jiff::Timestamp::from_second(1_700_000_000).expect("time"));
    let a_is_newest_cert = newest_by_cert == fingerprint_of("A");
    a.metadata.creation_timestamp = Some(if a_is_newest_cert {
        older.clone()
    } else {
        newer.clone()
    });
    b.metadata.creation_timestamp = Some(if a_is_newest_cert { newer } else { older });
    let by_creation = KeyRegistry::new(KeyOrder::SecretCreationTimestamp);
    ready(&by_creation, &[a, b]);
    assert_ne!(by_creation.keys()[0].fingerprint, newest_by_cert);
}

#[test]
fn the_key_that_last_opened_anything_goes_right_after_the_hint() {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    ready(&registry, &[vector_key("A"), vector_key("B")]);
    let (newest, oldest) = (
        registry.keys()[0].fingerprint.clone(),
        registry.keys()[1].fingerprint.clone(),
    );
    let order = |hint: Option<&str>| -> Vec<String> {
        registry
            .keys_for(hint)
            .iter()
            .map(|k| k.fingerprint.clone())
            .collect()
    };
    assert_eq!(order(None), [newest.clone(), oldest.clone()]);
    registry.opened_with(&oldest);
    assert_eq!(order(None), [oldest.clone(), newest.clone()]);
    // The object's own hint still comes first, and no key is listed twice.
    assert_eq!(order(Some(&newest)), [newest.clone(), oldest.clone()]);
    assert_eq!(order(Some(&oldest)), [oldest.clone(), newest.clone()]);
    // A key that is no longer held is skipped.
    registry.opened_with("gone");
    assert_eq!(order(None), [newest, oldest]);
}

#[test]
fn hint_goes_first() {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    ready(&registry, &[vector_key("A"), vector_key("B")]);
    let oldest = registry.keys()[1].fingerprint.clone();
    assert_eq!(registry.keys_for(Some(&oldest))[0].fingerprint, oldest);
    assert_eq!(registry.keys_for(Some(&oldest)).len(), 2);
    assert_eq!(registry.keys_for(Some("unknown")).len(), 2);
    assert_eq!(
        registry.keys_for(None)[0].fingerprint,
        registry.keys()[0].fingerprint
    );
}

#[test]
fn relabel_or_delete_removes_and_adding_is_signalled() {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let rx = registry.subscribe();
    ready(&registry, &[vector_key("A")]);
    let after_list = *rx.borrow();
    assert_eq!(
        after_list.added, 0,
        "keys of the first list are not 'added'"
    );

    // A watch Apply of a new key Secret: added.
    registry.apply(Source::Labelled, &vector_key("B"));
    assert_eq!(registry.keys().len(), 2);
    assert_eq!(rx.borrow().added, 1);

    // Relabelled to compromised: the label watch reports it deleted.
    let b_name = vector_key("B").metadata.name.expect("name");
    registry.remove(Source::Labelled, &b_name);
    assert_eq!(registry.keys().len(), 1);
    assert_eq!(registry.keys()[0].fingerprint, fingerprint_of("A"));
    assert_eq!(rx.borrow().added, 1);

    // The same Secret seen again unchanged is not re-parsed or re-signalled.
    let changed = rx.borrow().changed;
    registry.apply(Source::Labelled, &vector_key("A"));
    assert_eq!(rx.borrow().changed, changed);
}

#[test]
fn legacy_and_labelled_copies_of_one_key_count_once() {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let mut legacy = vector_key("A");
    legacy.metadata.name = Some("sealed-secrets-key".into());
    legacy.metadata.labels = None;
    registry.replace(Source::Legacy, &[legacy]);
    assert!(!registry.is_ready());
    registry.replace(Source::Labelled, &[vector_key("A")]);
    assert!(registry.is_ready());
    assert_eq!(registry.keys().len(), 1);
}

#[test]
fn key_without_certificate_decrypts_but_never_seals() {
    let mut bare = vector_key("B");
    bare.data.as_mut().expect("data").remove("tls.crt");
    bare.metadata.creation_timestamp = Some(Time(
        jiff::Timestamp::from_second(2_000_000_000).expect("time"),
    ));
    let registry = KeyRegistry::new(KeyOrder::SecretCreationTimestamp);
    ready(&registry, &[vector_key("A"), bare]);
    assert_eq!(registry.keys().len(), 2);
    assert_eq!(registry.keys()[0].fingerprint, fingerprint_of("B"));
    assert_eq!(
        registry.sealing_key().expect("sealing key").fingerprint,
        fingerprint_of("A")
    );
}

const DAY: u64 = 24 * 3600;
const HOUR: Duration = Duration::from_secs(3600);
const DAY_DURATION: Duration = Duration::from_secs(DAY);

fn created_at(which: &str, second: i64) -> Secret {
    let mut secret = vector_key(which);
    secret.metadata.creation_timestamp =
        Some(Time(jiff::Timestamp::from_second(second).expect("time")));
    secret
}

fn at(second: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(second)
}

/// A created at T, B (the new key) one day later, ordered by creation.
const T: u64 = 1_800_000_000;

fn held_back_registry(delay: Duration, keys: &[&str]) -> Arc<KeyRegistry> {
    let registry = KeyRegistry::with_activation_delay(KeyOrder::SecretCreationTimestamp, delay);
    let secrets: Vec<Secret> = keys
        .iter()
        .map(|k| match *k {
            "A" => created_at("A", T as i64),
            _ => created_at("B", (T + DAY) as i64),
        })
        .collect();
    ready(&registry, &secrets);
    registry
}

#[test]
fn held_back_key_decrypts_at_once_but_seals_only_after_the_delay() {
    let registry = held_back_registry(HOUR, &["A", "B"]);
    let (a, b) = (fingerprint_of("A"), fingerprint_of("B"));
    let ten_minutes_in = at(T + DAY + 600);
    assert_eq!(registry.keys_for(None)[0].fingerprint, b);
    assert_eq!(registry.keys_for(Some(&b))[0].fingerprint, b);
    let sealing = registry
        .sealing_key_at(ten_minutes_in)
        .expect("sealing key");
    assert_eq!(sealing.fingerprint, a);

    let inventory = registry.inventory_at(ten_minutes_in);
    assert_eq!(inventory[0].key.fingerprint, b);
    assert!(!inventory[0].active);
    assert_eq!(inventory[0].held_back_until, Some(at(T + DAY) + HOUR));
    assert!(inventory[1].active && inventory[1].held_back_until.is_none());

    // At the end of the delay the new key takes over.
    let over = at(T + DAY) + HOUR;
    assert_eq!(registry.sealing_key_at(over).expect("key").fingerprint, b);
    let inventory = registry.inventory_at(over);
    assert!(inventory[0].active && inventory[0].held_back_until.is_none());
    assert!(!inventory[1].active);
}

/// A key forced within the delay of the previous one (A one day old, B just made,
/// delay two days): neither has waited it out, and the older keeps sealing.
#[test]
fn a_key_forced_soon_after_the_previous_one_is_held_back_too() {
    let registry = held_back_registry(2 * DAY_DURATION, &["A", "B"]);
    let just_made = at(T + DAY + 1);
    let sealing = registry.sealing_key_at(just_made).expect("sealing key");
    assert_eq!(sealing.fingerprint, fingerprint_of("A"));
    let inventory = registry.inventory_at(just_made);
    assert_eq!(inventory[0].key.fingerprint, fingerprint_of("B"));
    assert_eq!(
        inventory[0].held_back_until,
        Some(at(T + DAY) + 2 * DAY_DURATION)
    );
    assert!(inventory[1].active);
    // A has waited out the delay first, and seals until B has too.
    assert_eq!(
        registry
            .sealing_key_at(at(T) + 2 * DAY_DURATION)
            .expect("key")
            .fingerprint,
        fingerprint_of("A")
    );
    assert_eq!(
        registry
            .sealing_key_at(at(T + DAY) + 2 * DAY_DURATION)
            .expect("key")
            .fingerprint,
        fingerprint_of("B")
    );
}

#[test]
fn a_fresh_cluster_seals_with_its_only_key_at_once() {
    let registry = held_back_registry(HOUR, &["B"]);
    let just_made = at(T + DAY + 1);
    let sealing = registry.sealing_key_at(just_made).expect("sealing key");
    assert_eq!(sealing.fingerprint, fingerprint_of("B"));
    let inventory = registry.inventory_at(just_made);
    assert!(inventory[0].active && inventory[0].held_back_until.is_none());
}

#[test]
fn zero_delay_seals_with_the_newest_key_even_ahead_of_the_clock() {
    let before_b = at(T + 1);
    for registry in [held_back_registry(Duration::ZERO, &["A", "B"]), {
        let plain = KeyRegistry::new(KeyOrder::SecretCreationTimestamp);
        ready(
            &plain,
            &[created_at("A", T as i64), created_at("B", (T + DAY) as i64)],
        );
        plain
    }] {
        assert_eq!(registry.activation_delay(), Duration::ZERO);
        let sealing = registry.sealing_key_at(before_b).expect("sealing key");
        assert_eq!(sealing.fingerprint, fingerprint_of("B"));
        assert_eq!(
            registry.sealing_key().expect("key").fingerprint,
            fingerprint_of("B")
        );
        let inventory = registry.inventory_at(before_b);
        assert!(inventory.iter().all(|s| s.held_back_until.is_none()));
        assert_eq!(inventory.iter().filter(|s| s.active).count(), 1);
    }
}

#[test]
fn a_newer_key_without_certificate_is_not_held_back_and_never_active() {
    let mut bare = created_at("B", (T + DAY) as i64);
    bare.data.as_mut().expect("data").remove("tls.crt");
    let registry = KeyRegistry::with_activation_delay(KeyOrder::SecretCreationTimestamp, HOUR);
    ready(&registry, &[created_at("A", T as i64), bare]);
    let inventory = registry.inventory_at(at(T + DAY + 1));
    assert_eq!(inventory[0].key.fingerprint, fingerprint_of("B"));
    assert!(!inventory[0].active && inventory[0].held_back_until.is_none());
    assert!(inventory[1].active);
}
