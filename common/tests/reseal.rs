// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `/v1/verify` and `/v1/rotate` semantics: decryptability only (templates never
//! rendered), re-encryption with the newest key under the object's own scope.

mod support;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sealed_common::crypto::{RsaBudget, encode_base64, hybrid_encrypt, open_value};
use sealed_common::reseal::{ResealError, check_opens, reseal, strip_server_fields};
use sealed_common::scope::CLUSTER_WIDE_ANNOTATION;
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::secret::PlainSecret;
use sealed_common::{RsaPrivateKey, Scope, SealedSecret, SealedSecretStatus};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

fn sealed_with(key: &str, scope: Scope, items: &[(&str, &str)]) -> SealedSecret {
    let mut plain = PlainSecret::default();
    plain.metadata.name = Some("app".into());
    plain.metadata.namespace = Some("prod".into());
    plain.items = items
        .iter()
        .map(|(k, v)| (k.to_string(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    let options = SealOptions {
        scope,
        ..SealOptions::default()
    };
    seal_secret(&plain, support::cert(key).public_key(), &options).unwrap()
}

fn budget() -> RsaBudget {
    RsaBudget::default()
}

fn opened(sealed: &SealedSecret, key: &RsaPrivateKey, item: &str) -> Vec<u8> {
    open_value([key], &sealed.spec.encrypted_data[item], &sealed.label())
        .unwrap()
        .0
        .to_vec()
}

#[test]
fn check_opens_reports_items_and_never_renders_templates() {
    let (a, b) = (support::key("A"), support::key("B"));
    let mut sealed = sealed_with("A", Scope::Strict, &[("x", "1"), ("y", "2")]);
    // A template that would fail when rendered: verify must not run it, or the answer
    // becomes an oracle on the plaintext.
    sealed.spec.template.data = Some(BTreeMap::from([(
        "probe".to_owned(),
        Some(r#"{{ if eq .x "1" }}{{ fail "one" }}{{ end }}"#.to_owned()),
    )]));
    assert_eq!(
        check_opens(&sealed, &[&b, &a], false, &budget()).unwrap(),
        Some(1)
    );
    assert_eq!(
        check_opens(&sealed, &[&b], false, &budget())
            .unwrap_err()
            .to_string(),
        // The first value that does not open ends the check.
        "no key could decrypt secret (x)"
    );
    sealed.metadata.name = Some("renamed".into());
    assert!(check_opens(&sealed, &[&a], false, &budget()).is_err());
}

#[test]
fn reseal_moves_old_values_to_the_newest_key_and_keeps_the_rest() {
    let (a, b) = (support::key("A"), support::key("B"));
    let mut sealed = sealed_with("A", Scope::Strict, &[("old", "o")]);
    let newer = sealed_with("B", Scope::Strict, &[("new", "n")]);
    let kept_value = newer.spec.encrypted_data["new"].clone();
    sealed
        .spec
        .encrypted_data
        .insert("new".into(), kept_value.clone());
    sealed.spec.template.data = Some(BTreeMap::from([(
        "url".to_owned(),
        Some("{{ .old }}@{{ .new }}".to_owned()),
    )]));
    sealed.metadata.labels = Some(BTreeMap::from([("team".into(), "x".into())]));

    // Keys newest first: B is the sealing key.
    let out = reseal(&sealed, &[&b, &a], 0, false, &budget()).unwrap();
    assert_eq!((out.resealed, out.kept), (1, 1));
    let resealed = out.sealed;
    assert_eq!(resealed.spec.encrypted_data["new"], kept_value);
    assert_eq!(opened(&resealed, &b, "old"), b"o");
    assert!(
        open_value(
            [&a],
            &resealed.spec.encrypted_data["old"],
            &resealed.label()
        )
        .is_err()
    );
    // Templates and metadata survive as they were.
    assert_eq!(resealed.spec.template, sealed.spec.template);
    assert_eq!(resealed.metadata.labels, sealed.metadata.labels);
    assert_eq!(
        check_opens(&resealed, &[&b], false, &budget()).unwrap(),
        Some(0)
    );
}

#[test]
fn reseal_keeps_the_objects_own_scope_not_the_templates() {
    // CVE-2026-22728: a template annotation must not widen a strict secret.
    let (a, b) = (support::key("A"), support::key("B"));
    let mut sealed = sealed_with("A", Scope::Strict, &[("k", "v")]);
    sealed
        .spec
        .template
        .metadata
        .get_or_insert_default()
        .annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.into(),
        "true".into(),
    )]));
    let out = reseal(&sealed, &[&b, &a], 0, false, &budget())
        .unwrap()
        .sealed;
    assert_eq!(out.scope(), Scope::Strict);
    assert_eq!(out.metadata.annotations, sealed.metadata.annotations);
    let value = &out.spec.encrypted_data["k"];
    assert!(open_value([&b], value, b"prod/app").is_ok());
    assert!(open_value([&b], value, b"").is_err());
    assert!(open_value([&b], value, b"prod").is_err());

    let wide = sealed_with("A", Scope::NamespaceWide, &[("k", "v")]);
    let out = reseal(&wide, &[&b, &a], 0, false, &budget())
        .unwrap()
        .sealed;
    assert_eq!(out.scope(), Scope::NamespaceWide);
    assert!(open_value([&b], &out.spec.encrypted_data["k"], b"prod").is_ok());
}

#[test]
fn reseal_refuses_what_does_not_open_and_the_legacy_format_without_the_flag() {
    let (a, b) = (support::key("A"), support::key("B"));
    let sealed = sealed_with("A", Scope::Strict, &[("k", "v")]);
    let error = reseal(&sealed, &[&b], 0, false, &budget()).unwrap_err();
    assert!(matches!(error, ResealError::Unseal(_)));
    assert_eq!(error.to_string(), "no key could decrypt secret (k)");
    assert!(matches!(
        reseal(&sealed, &[], 0, false, &budget()).unwrap_err(),
        ResealError::NoSealingKey
    ));

    let json = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"app","namespace":"prod"},"data":{"k":"dg=="}}"#;
    let mut legacy = SealedSecret::new("app", Default::default());
    legacy.metadata.namespace = Some("prod".into());
    legacy.spec.data = Some(encode_base64(
        &hybrid_encrypt(support::cert("A").public_key(), json, b"prod/app").unwrap(),
    ));
    assert!(reseal(&legacy, &[&b, &a], 0, false, &budget()).is_err());
    let out = reseal(&legacy, &[&b, &a], 0, true, &budget())
        .unwrap()
        .sealed;
    let blob = out.spec.data.as_deref().unwrap();
    assert_eq!(
        open_value([&b], blob, b"prod/app").unwrap().0.as_slice(),
        json
    );
}

#[test]
fn server_fields_and_status_are_dropped() {
    let mut sealed = sealed_with("A", Scope::Strict, &[("k", "v")]);
    let meta = &mut sealed.metadata;
    meta.uid = Some("u".into());
    meta.resource_version = Some("7".into());
    meta.generation = Some(3);
    meta.creation_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    meta.annotations = Some(BTreeMap::from([
        (
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{}".into(),
        ),
        ("keep".into(), "me".into()),
    ]));
    sealed.status = Some(SealedSecretStatus::default());
    strip_server_fields(&mut sealed);
    let meta = &sealed.metadata;
    assert!(meta.uid.is_none() && meta.resource_version.is_none() && meta.generation.is_none());
    assert!(meta.creation_timestamp.is_none() && sealed.status.is_none());
    assert_eq!(
        meta.annotations,
        Some(BTreeMap::from([("keep".into(), "me".into())]))
    );
}

/// `count` values shaped like real ones for `key` (right RSA length), opening with no key.
fn garbage(key: &RsaPrivateKey, count: usize) -> SealedSecret {
    let mut sealed = sealed_with("A", Scope::Strict, &[]);
    let size = key.size_bytes();
    for i in 0..count {
        let mut raw = u16::try_from(size).unwrap().to_be_bytes().to_vec();
        raw.extend((0..size + 16).map(|j| ((i * 31 + j * 7) % 251) as u8));
        sealed
            .spec
            .encrypted_data
            .insert(format!("g{i:04}"), encode_base64(&raw));
    }
    sealed
}

#[test]
fn verify_and_rotate_stop_at_the_first_value_that_does_not_open() {
    let (a, b) = (support::key("A"), support::key("B"));
    let junk = garbage(&a, 200);
    let spent = budget();
    assert_eq!(
        check_opens(&junk, &[&a, &b], false, &spent)
            .unwrap_err()
            .to_string(),
        "no key could decrypt secret (g0000)"
    );
    assert_eq!(spent.used(), 2, "one value, two keys");
    let spent = budget();
    assert!(reseal(&junk, &[&a, &b], 0, false, &spent).is_err());
    assert_eq!(spent.used(), 2);
}

#[test]
fn the_rsa_budget_counts_decryptions_and_refuses_past_its_limit() {
    let (a, b) = (support::key("A"), support::key("B"));
    let items: Vec<(String, String)> = (0..5).map(|i| (format!("k{i}"), "v".into())).collect();
    let items: Vec<(&str, &str)> = items.iter().map(|(k, v)| (&**k, &**v)).collect();
    let sealed = sealed_with("A", Scope::Strict, &items);
    // B is tried first and fails once; then A, the last hit, opens each value at once.
    let exact = RsaBudget::new(6);
    assert_eq!(
        check_opens(&sealed, &[&b, &a], false, &exact).unwrap(),
        Some(1)
    );
    assert_eq!(exact.used(), 6);
    let short = RsaBudget::new(5);
    let error = check_opens(&sealed, &[&b, &a], false, &short).unwrap_err();
    assert_eq!(
        error.to_string(),
        "SealedSecret \"prod/app\" has 5 sealed values and 2 keys to try: opening it needs more than 5 RSA decryptions, the limit per SealedSecret"
    );
    assert_eq!(short.used(), 5);
    let error = reseal(&sealed, &[&b, &a], 0, false, &RsaBudget::new(5)).unwrap_err();
    assert!(error.to_string().contains("more than 5 RSA decryptions"));
    // A key whose size does not match the ciphertext costs nothing.
    let spent = budget();
    assert!(check_opens(&garbage(&a, 1), &[], false, &spent).is_err());
    assert_eq!(spent.used(), 0);
}
