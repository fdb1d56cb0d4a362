// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Seal -> unseal round trips over every scope and payloads from 0 bytes to 1 MiB,
//! and the negative cases: a strict secret renamed or moved must not open.

mod support;

use proptest::prelude::*;
use sealed_common::keys::Certificate;
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::secret::PlainSecret;
use sealed_common::unseal::{UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, Scope};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zeroize::Zeroizing;

fn key() -> &'static (RsaPrivateKey, Certificate) {
    static KEY: OnceLock<(RsaPrivateKey, Certificate)> = OnceLock::new();
    KEY.get_or_init(|| (support::key("A"), support::cert("A")))
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::Strict),
        Just(Scope::NamespaceWide),
        Just(Scope::ClusterWide)
    ]
}

fn plain(items: BTreeMap<String, Vec<u8>>) -> PlainSecret {
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some("app-secret".into());
    secret.metadata.namespace = Some("team-a".into());
    secret.items = items
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v)))
        .collect();
    secret
}

fn round_trip(items: BTreeMap<String, Vec<u8>>, scope: Scope) -> Result<(), TestCaseError> {
    let (private, cert) = key();
    let options = SealOptions {
        scope,
        allow_empty_data: true,
        ..SealOptions::default()
    };
    let sealed = seal_secret(&plain(items.clone()), cert.public_key(), &options).unwrap();
    prop_assert_eq!(sealed.scope(), scope);
    let opened = unseal(&sealed, &[private], UnsealOptions::default()).unwrap();
    let got: BTreeMap<String, Vec<u8>> = opened
        .secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    prop_assert_eq!(got, items);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn small_payloads_round_trip(
        items in prop::collection::btree_map("[a-zA-Z0-9._-]{1,20}", prop::collection::vec(any::<u8>(), 0..300), 0..5),
        scope in scope(),
    ) {
        round_trip(items, scope)?;
    }

    #[test]
    fn strict_secret_renamed_or_moved_does_not_open(
        value in prop::collection::vec(any::<u8>(), 0..64),
        new_name in "[a-z]{1,10}",
        move_namespace in any::<bool>(),
    ) {
        let (private, cert) = key();
        let items = BTreeMap::from([("k".to_owned(), value)]);
        let mut sealed = seal_secret(&plain(items), cert.public_key(), &SealOptions::default()).unwrap();
        if move_namespace {
            sealed.metadata.namespace = Some(format!("{new_name}-ns"));
        } else {
            prop_assume!(new_name != "app-secret");
            sealed.metadata.name = Some(new_name);
        }
        let err = unseal(&sealed, &[private], UnsealOptions::default()).unwrap_err();
        prop_assert_eq!(err.to_string(), "no key could decrypt secret (k)");
    }

    #[test]
    fn namespace_wide_secret_opens_under_any_name_but_not_elsewhere(
        new_name in "[a-z]{1,10}",
    ) {
        let (private, cert) = key();
        let items = BTreeMap::from([("k".to_owned(), b"v".to_vec())]);
        let options = SealOptions { scope: Scope::NamespaceWide, ..SealOptions::default() };
        let mut sealed = seal_secret(&plain(items), cert.public_key(), &options).unwrap();
        sealed.metadata.name = Some(new_name.clone());
        prop_assert!(unseal(&sealed, &[private], UnsealOptions::default()).is_ok());
        sealed.metadata.namespace = Some(format!("{new_name}-other"));
        prop_assert!(unseal(&sealed, &[private], UnsealOptions::default()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn payloads_up_to_one_mib_round_trip(
        len in prop_oneof![Just(0usize), Just(1usize << 20), 0usize..=(1 << 20)],
        seed in any::<u8>(),
        scope in scope(),
    ) {
        let value: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        round_trip(BTreeMap::from([("big".to_owned(), value)]), scope)?;
    }
}
