// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Several recipients per value: the vectors written by an independent implementation
//! (testdata/multi-recipient), round trips over scopes and 1..5 recipients, changing
//! recipients without touching the others, and what a malformed value gets.

mod support;

use base64::Engine;
use proptest::prelude::*;
use sealed_common::crypto::{
    DecryptError, RsaBudget, decode_base64, encode_base64, hybrid_decrypt, hybrid_decrypt_within,
    open_value, seal_value,
};
use sealed_common::envelope::{self, LayoutError, MARKER};
use sealed_common::keys::{Certificate, parse_private_key_pem};
use sealed_common::recipients::{add_recipients, hybrid_encrypt_for, rewrap_own};
use sealed_common::reseal::{add_recipients_to, reseal, reseal_for};
use sealed_common::seal::{SealOptions, seal_secret};
use sealed_common::secret::PlainSecret;
use sealed_common::unseal::{UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, RsaPublicKey, Scope, SealedSecret};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use zeroize::Zeroizing;

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/multi-recipient")
}

/// The five fixture keys: A and B (upstream's, 4096 bits), C, D and E (2048 bits).
fn keys() -> &'static BTreeMap<&'static str, (RsaPrivateKey, Certificate)> {
    static KEYS: OnceLock<BTreeMap<&'static str, (RsaPrivateKey, Certificate)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = BTreeMap::new();
        for name in ["A", "B"] {
            keys.insert(name, (support::key(name), support::cert(name)));
        }
        for name in ["C", "D", "E"] {
            let read = |ext: &str| support::read(folder().join(format!("{name}.{ext}")));
            let private = parse_private_key_pem(&read("tls.key")).unwrap();
            let cert = Certificate::from_pem(&read("tls.crt")).unwrap();
            keys.insert(name, (private, cert));
        }
        keys
    })
}

fn private(name: &str) -> &'static RsaPrivateKey {
    &keys()[name].0
}

fn public(name: &str) -> &'static RsaPublicKey {
    keys()[name].1.public_key()
}

/// One wrap: the key id and the RSA ciphertext.
type Wrap = ([u8; 32], Vec<u8>);

/// The wraps and the payload of a several-recipient value.
fn parts(value: &str) -> (Vec<Wrap>, Vec<u8>) {
    let data = decode_base64(value).unwrap();
    let parsed = envelope::parse(&data).unwrap();
    assert!(parsed.several);
    let wraps = parsed
        .wraps
        .iter()
        .map(|w| (*w.id.unwrap(), w.rsa.to_vec()))
        .collect();
    (wraps, parsed.payload.to_vec())
}

const NO_KEY: &str = "no key could decrypt secret";

#[test]
fn vectors_open_with_each_recipient_alone_and_with_no_other_key() {
    for case in ["strict", "namespace-wide"] {
        let dir = folder().join(case);
        let vector: serde_json::Value =
            serde_json::from_slice(&support::read(dir.join("vector.json"))).unwrap();
        let sealed: SealedSecret =
            serde_saphyr::from_slice(&support::read(dir.join("sealed.yaml"))).unwrap();
        assert_eq!(sealed.label(), vector["label"].as_str().unwrap().as_bytes());
        let recipients: Vec<&str> = vector["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let ids: Vec<String> = vector["recipient_key_ids_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        for (name, id) in recipients.iter().zip(&ids) {
            let hex: String = public(name)
                .id()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(&hex, id, "{case}: key id of {name}");
        }
        let expected = vector["expected_plaintext_b64"].as_object().unwrap();
        for name in ["A", "B", "C", "D", "E"] {
            let opened = unseal(&sealed, &[private(name)], UnsealOptions::default());
            if !recipients.contains(&name) {
                let err = opened.unwrap_err().to_string();
                assert!(err.starts_with(NO_KEY), "{case} with {name}: {err}");
                continue;
            }
            let data = opened.unwrap().secret.data.unwrap();
            assert_eq!(data.len(), expected.len());
            for (item, b64) in expected {
                let want = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_str().unwrap())
                    .unwrap();
                assert_eq!(data[item].0, want, "{case}/{item} with {name}");
            }
        }
    }
}

#[test]
fn one_rsa_decryption_per_value_whatever_the_number_of_keys() {
    let sealed: SealedSecret =
        serde_saphyr::from_slice(&support::read(folder().join("strict/sealed.yaml"))).unwrap();
    let value = &sealed.spec.encrypted_data["password"];
    let data = decode_base64(value).unwrap();
    // D is a recipient; B, E and C's neighbours are tried in front of it.
    let budget = RsaBudget::new(100);
    let order = [private("B"), private("E"), private("D"), private("C")];
    let (plain, index) = hybrid_decrypt_within(order, &data, b"prod/db", &budget).unwrap();
    assert_eq!(plain.as_slice(), b"s3cr3t");
    assert_eq!(index, 2);
    assert_eq!(budget.used(), 1, "keys named by no wrap cost no RSA work");
    // A wrong label (a renamed strict object) costs one decryption per held recipient.
    let budget = RsaBudget::new(100);
    let err = hybrid_decrypt_within(order, &data, b"prod/other", &budget).unwrap_err();
    assert_eq!(err, DecryptError::NoKey);
    assert_eq!(budget.used(), 2);
}

fn plain(items: BTreeMap<String, Vec<u8>>) -> PlainSecret {
    let mut secret = PlainSecret::default();
    secret.metadata.name = Some("app".into());
    secret.metadata.namespace = Some("team-a".into());
    secret.items = items
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v)))
        .collect();
    secret
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::Strict),
        Just(Scope::NamespaceWide),
        Just(Scope::ClusterWide)
    ]
}

/// 1..5 distinct recipients out of the five keys, the first one the sealing key.
fn recipients() -> impl Strategy<Value = Vec<&'static str>> {
    Just(vec!["A", "B", "C", "D", "E"])
        .prop_shuffle()
        .prop_flat_map(|all| (1usize..=5).prop_map(move |n| all[..n].to_vec()))
}

fn seal_for(names: &[&str], items: BTreeMap<String, Vec<u8>>, scope: Scope) -> SealedSecret {
    let options = SealOptions {
        scope,
        allow_empty_data: true,
        recipients: names[1..].iter().map(|n| public(n).clone()).collect(),
        ..SealOptions::default()
    };
    seal_secret(&plain(items), public(names[0]), &options).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn each_recipient_alone_opens_and_no_one_else(
        names in recipients(),
        items in prop::collection::btree_map("[a-z]{1,8}", prop::collection::vec(any::<u8>(), 0..200), 1..4),
        scope in scope(),
    ) {
        let sealed = seal_for(&names, items.clone(), scope);
        for value in sealed.spec.encrypted_data.values() {
            let several = decode_base64(value).unwrap().starts_with(&MARKER);
            // One recipient: upstream's layout, which upstream controllers open.
            prop_assert_eq!(several, names.len() > 1);
        }
        for name in ["A", "B", "C", "D", "E"] {
            let opened = unseal(&sealed, &[private(name)], UnsealOptions::default());
            if names.contains(&name) {
                let data = opened.unwrap().secret.data.unwrap_or_default();
                let got: BTreeMap<String, Vec<u8>> = data.into_iter().map(|(k, v)| (k, v.0)).collect();
                prop_assert_eq!(&got, &items);
            } else {
                prop_assert!(opened.unwrap_err().to_string().starts_with(NO_KEY));
            }
        }
    }

    #[test]
    fn strict_object_renamed_or_moved_fails_for_every_recipient(
        names in recipients(),
        new_name in "[a-z]{1,10}",
        move_namespace in any::<bool>(),
    ) {
        let items = BTreeMap::from([("k".to_owned(), b"v".to_vec())]);
        let mut sealed = seal_for(&names, items, Scope::Strict);
        if move_namespace {
            sealed.metadata.namespace = Some(format!("{new_name}-ns"));
        } else {
            prop_assume!(new_name != "app");
            sealed.metadata.name = Some(new_name);
        }
        for name in &names {
            let err = unseal(&sealed, &[private(name)], UnsealOptions::default()).unwrap_err();
            prop_assert_eq!(err.to_string(), "no key could decrypt secret (k)");
        }
    }
}

#[test]
fn rotation_moves_only_the_controllers_own_wrap() {
    let items = BTreeMap::from([
        ("k".to_owned(), b"v".to_vec()),
        ("l".to_owned(), b"w".to_vec()),
    ]);
    // Sealed for this cluster's old key C and for an escrow key D.
    let sealed = seal_for(&["C", "D"], items, Scope::Strict);
    // The controller holds C and its newest key E.
    let held = [private("E"), private("C")];
    let out = reseal(&sealed, &held, 0, false, &RsaBudget::default()).unwrap();
    assert_eq!((out.resealed, out.kept), (2, 0));
    for (item, value) in &out.sealed.spec.encrypted_data {
        let label = out.sealed.label();
        let before = parts(&sealed.spec.encrypted_data[item]);
        let after = parts(value);
        assert_eq!(
            after.1, before.1,
            "{item}: the payload is kept byte for byte"
        );
        assert_eq!(
            after.0[1], before.0[1],
            "{item}: D's wrap is kept byte for byte"
        );
        assert_eq!(after.0[0].0, *public("E").id());
        assert!(open_value([private("E")], value, &label).is_ok());
        assert!(open_value([private("D")], value, &label).is_ok());
        assert!(open_value([private("C")], value, &label).is_err());
    }
    // Again: nothing left to move.
    let again = reseal(&out.sealed, &held, 0, false, &RsaBudget::default()).unwrap();
    assert_eq!((again.resealed, again.kept), (0, 2));
    assert_eq!(again.sealed.spec, out.sealed.spec);
}

#[test]
fn rewrap_when_the_newest_key_is_already_a_recipient_leaves_one_wrap_for_it() {
    let data = hybrid_encrypt_for(&[public("C"), public("E"), public("D")], b"x", b"l").unwrap();
    let value = encode_base64(&data);
    let out = rewrap_own(
        &[private("C")],
        &value,
        b"l",
        public("E"),
        &RsaBudget::default(),
    )
    .unwrap()
    .value
    .unwrap();
    let ids = envelope::recipients(&decode_base64(&out).unwrap()).unwrap();
    assert_eq!(ids, vec![*public("E").id(), *public("D").id()]);
    let unchanged = rewrap_own(
        &[private("E")],
        &value,
        b"l",
        public("E"),
        &RsaBudget::default(),
    )
    .unwrap();
    assert_eq!(unchanged.value, None);
}

#[test]
fn adding_a_recipient_keeps_the_existing_wraps() {
    // An upstream-layout value becomes a several-recipient one; its RSA part is kept.
    let single = seal_value(public("C"), b"secret", b"ns/app").unwrap();
    let added = add_recipients(
        &[private("B"), private("C")],
        &single,
        b"ns/app",
        &[public("D"), public("C")],
        &RsaBudget::default(),
    )
    .unwrap();
    assert_eq!(added.key_index, 1);
    let value = added.value.unwrap();
    let raw_single = decode_base64(&single).unwrap();
    let (wraps, payload) = parts(&value);
    let (rsa, aes) = envelope::split(&raw_single).unwrap();
    assert_eq!(wraps.len(), 2);
    assert_eq!(
        (wraps[0].0, wraps[0].1.as_slice()),
        (*public("C").id(), rsa)
    );
    assert_eq!(payload, aes);
    for name in ["C", "D"] {
        let (plain, _) = open_value([private(name)], &value, b"ns/app").unwrap();
        assert_eq!(plain.as_slice(), b"secret");
    }
    // Adding someone who is already there changes nothing.
    let again = add_recipients(
        &[private("D")],
        &value,
        b"ns/app",
        &[public("C")],
        &RsaBudget::default(),
    )
    .unwrap();
    assert_eq!(again.value, None);
    // Keys that open nothing add nothing.
    let err = add_recipients(
        &[private("E")],
        &value,
        b"ns/app",
        &[public("E")],
        &RsaBudget::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), NO_KEY);
}

#[test]
fn malformed_values_get_their_own_errors_and_no_rsa_work() {
    let data = hybrid_encrypt_for(&[public("C"), public("D")], b"x", b"l").unwrap();
    let budget = RsaBudget::new(10);
    let open = |bytes: &[u8]| hybrid_decrypt_within([private("C")], bytes, b"l", &budget);
    assert!(matches!(
        open(&data[..3]),
        Err(DecryptError::Layout(LayoutError::Malformed(_)))
    ));
    assert!(matches!(
        open(&data[..40]),
        Err(DecryptError::Layout(LayoutError::Malformed(_)))
    ));
    let mut version = data.clone();
    version[2] = 9;
    assert_eq!(
        open(&version),
        Err(DecryptError::Layout(LayoutError::UnknownVersion(9)))
    );
    let mut count = data.clone();
    count[3] = 0;
    assert!(matches!(
        open(&count),
        Err(DecryptError::Layout(LayoutError::Malformed(_)))
    ));
    count[3] = 200;
    assert!(matches!(
        open(&count),
        Err(DecryptError::Layout(LayoutError::Malformed(_)))
    ));
    assert_eq!(budget.used(), 0);
    let mut payload = data.clone();
    let last = payload.len() - 1;
    payload[last] ^= 1;
    assert_eq!(open(&payload), Err(DecryptError::Corrupted));
    assert!(
        LayoutError::UnknownVersion(9)
            .to_string()
            .contains("version 9")
    );
}

/// Upstream reads the first two bytes as the RSA length: zero, so every key fails and
/// it says "no key could decrypt secret". Our single-layout reader does the same.
#[test]
fn an_upstream_reader_sees_an_empty_rsa_ciphertext() {
    let data = hybrid_encrypt_for(&[public("A"), public("B")], b"x", b"l").unwrap();
    let (rsa, _) = envelope::split(&data).unwrap();
    assert!(rsa.is_empty());
    assert!(hybrid_decrypt([private("A")], &data[..], b"l").is_ok());
}

#[test]
fn the_same_key_twice_gets_one_wrap() {
    let data = hybrid_encrypt_for(&[public("C"), public("C")], b"x", b"l").unwrap();
    assert_ne!(
        data[..2],
        MARKER,
        "one distinct recipient: upstream's layout"
    );
}

#[test]
fn a_whole_object_moves_to_new_recipients_offline_and_keeps_what_already_fits() {
    let items = BTreeMap::from([
        ("k".to_owned(), b"v".to_vec()),
        ("l".to_owned(), b"w".to_vec()),
    ]);
    let mut sealed = seal_for(&["A"], items, Scope::NamespaceWide);
    sealed.metadata.resource_version = Some("42".into());
    let budget = RsaBudget::default();
    let out = reseal_for(
        &sealed,
        &[private("A")],
        &[public("C"), public("E")],
        &budget,
    )
    .unwrap();
    assert_eq!((out.resealed, out.kept), (2, 0));
    assert_eq!(out.sealed.metadata.resource_version, None);
    assert_eq!(out.sealed.spec.template, sealed.spec.template);
    for name in ["C", "E"] {
        let opened = unseal(&out.sealed, &[private(name)], UnsealOptions::default()).unwrap();
        assert_eq!(opened.secret.data.unwrap()["k"].0, b"v");
    }
    assert!(unseal(&out.sealed, &[private("A")], UnsealOptions::default()).is_err());
    // The same target again, in another order: nothing changes.
    let again = reseal_for(
        &out.sealed,
        &[private("C")],
        &[public("E"), public("C")],
        &budget,
    )
    .unwrap();
    assert_eq!((again.resealed, again.kept), (0, 2));
    assert_eq!(
        again.sealed.spec.encrypted_data,
        out.sealed.spec.encrypted_data
    );
    // One recipient: upstream's layout.
    let single = reseal_for(&out.sealed, &[private("E")], &[public("D")], &budget).unwrap();
    for value in single.sealed.spec.encrypted_data.values() {
        assert_ne!(decode_base64(value).unwrap()[..2], MARKER);
    }
    // Keys that open nothing: the item is named, as the controller names it.
    let err = reseal_for(&sealed, &[private("B")], &[public("C")], &budget).unwrap_err();
    assert_eq!(err.to_string(), "no key could decrypt secret (k)");
}

#[test]
fn adding_a_recipient_to_a_whole_object() {
    let items = BTreeMap::from([("k".to_owned(), b"v".to_vec())]);
    let sealed = seal_for(&["C", "D"], items, Scope::Strict);
    let budget = RsaBudget::default();
    let out = add_recipients_to(&sealed, &[private("D")], &[public("E")], &budget).unwrap();
    assert_eq!((out.resealed, out.kept), (1, 0));
    for name in ["C", "D", "E"] {
        assert!(unseal(&out.sealed, &[private(name)], UnsealOptions::default()).is_ok());
    }
    let again = add_recipients_to(&out.sealed, &[private("E")], &[public("E")], &budget).unwrap();
    assert_eq!((again.resealed, again.kept), (0, 1));
    let err = add_recipients_to(&sealed, &[private("A")], &[public("E")], &budget).unwrap_err();
    assert_eq!(err.to_string(), "no key could decrypt secret (k)");
}
