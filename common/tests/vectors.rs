// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Every file made by upstream sealed-secrets v0.36.6 must open here, byte for byte.
//! The vectors live in `testdata/vectors` (a copy of `../shared/vectors`, checked below).

mod support;

use support::{key, read, vectors};

use sealed_common::codec::decode_stream;
use sealed_common::crypto::{decode_base64, hybrid_decrypt, open_value};
use sealed_common::key_secret::{key_from_secret, private_key_from_secret};
use sealed_common::keys::{Certificate, fingerprint};
use sealed_common::unseal::{UnsealError, UnsealOptions, unseal};
use sealed_common::{RsaPrivateKey, SealedSecret};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every directory holding a `vector.json`.
fn vector_dirs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.join("vector.json").exists() {
                    out.push(path.clone());
                }
                walk(&path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&vectors(), &mut out);
    out.sort();
    out
}

fn expected_plaintext(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let v: Value = serde_json::from_slice(&read(dir.join("vector.json"))).unwrap();
    v["expected_plaintext_b64"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), decode_base64(v.as_str().unwrap()).unwrap()))
        .collect()
}

#[test]
fn there_are_vectors() {
    assert!(vector_dirs().len() >= 11, "{:?}", vector_dirs());
}

/// Template actions need an engine, which this crate does not have: the items of such
/// a vector are checked below, its rendered values where the binaries wire `gotemplate`
/// in (`cli/tests/templates.rs`, `cli/tests/recovery.rs`, `controller/tests/reconcile.rs`).
#[test]
fn every_sealed_vector_opens_to_the_expected_items() {
    let keys = [key("A"), key("B")];
    let key_refs: Vec<&RsaPrivateKey> = keys.iter().collect();
    let mut rendered_elsewhere = Vec::new();
    for dir in vector_dirs() {
        let expected = expected_plaintext(&dir);
        for file in ["sealed.yaml", "sealed.json"] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let docs: Vec<SealedSecret> = decode_stream(&read(&path)).unwrap();
            assert_eq!(docs.len(), 1, "{}", path.display());
            let templates = docs[0].spec.template.data.iter().flatten();
            if templates
                .filter_map(|(_, t)| t.as_deref())
                .any(|t| t.contains("{{"))
            {
                rendered_elsewhere.push(path);
                continue;
            }
            let result = unseal(&docs[0], &key_refs, UnsealOptions::default());
            let secret = result
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .secret;
            let got: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            assert_eq!(got, expected, "{}", path.display());
        }
    }
    assert_eq!(
        rendered_elsewhere,
        [vectors().join("template-data/strict/sealed.yaml")]
    );
}

#[test]
fn without_an_engine_template_actions_are_refused_by_key() {
    let keys = [key("A")];
    let key_refs: Vec<&RsaPrivateKey> = keys.iter().collect();
    let dir = vectors().join("template-data/strict");
    let expected = expected_plaintext(&dir);
    let docs: Vec<SealedSecret> = decode_stream(&read(dir.join("sealed.yaml"))).unwrap();
    let err = unseal(&docs[0], &key_refs, UnsealOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(camel, combined)"), "{err}");
    for (item, value) in &docs[0].spec.encrypted_data {
        let (plain, _) = open_value(key_refs.iter().copied(), value, &docs[0].label()).unwrap();
        assert_eq!(plain.as_slice(), expected[item].as_slice(), "{item}");
    }
}

#[test]
fn the_key_that_opened_a_vector_is_reported() {
    let (a, b) = (key("A"), key("B"));
    let dir = vectors().join("rotation/sealed-with-B");
    let sealed: Vec<SealedSecret> = decode_stream(&read(dir.join("sealed.yaml"))).unwrap();
    let opened = unseal(&sealed[0], &[&a, &b], UnsealOptions::default()).unwrap();
    assert_eq!(opened.key_index, Some(1));
    let only_a = unseal(&sealed[0], &[&a], UnsealOptions::default()).unwrap_err();
    assert_eq!(only_a.to_string(), "no key could decrypt secret (k)");
}

#[test]
fn raw_vectors_decrypt_under_their_label_only() {
    let a = key("A");
    let v: Value = serde_json::from_slice(&read(vectors().join("raw/raw-vectors.json"))).unwrap();
    let list = v["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 12);
    for case in list {
        let label = case["label"].as_str().unwrap().as_bytes();
        let payload = read(
            vectors()
                .join("..")
                .join("kubeseal-0.36.6")
                .join(case["payload_file"].as_str().unwrap()),
        );
        let ciphertext = case["ciphertext_b64"].as_str().unwrap();
        let (plain, index) = open_value([&a], ciphertext, label).unwrap();
        assert_eq!((plain.as_slice(), index), (payload.as_slice(), 0));
        let wrong = if label.is_empty() {
            b"demo-ns".as_slice()
        } else {
            b"".as_slice()
        };
        assert!(open_value([&a], ciphertext, wrong).is_err());
    }
}

#[test]
fn upstream_key_secrets_load_and_fingerprints_match() {
    for name in ["A", "B"] {
        let dir = vectors().join("keys");
        let secrets: Vec<k8s_openapi::api::core::v1::Secret> =
            decode_stream(&read(dir.join(format!("{name}.sealed-secrets-key.yaml")))).unwrap();
        let stored = key_from_secret(&secrets[0]).unwrap();
        let recovered = private_key_from_secret(&secrets[0]).unwrap();
        let cert = Certificate::from_pem(&read(dir.join(format!("{name}.tls.crt")))).unwrap();
        let expected = String::from_utf8(read(dir.join(format!("{name}.fingerprint")))).unwrap();
        assert_eq!(
            fingerprint(stored.private_key.public_key()),
            expected.trim()
        );
        assert_eq!(fingerprint(recovered.public_key()), expected.trim());
        assert_eq!(cert.fingerprint(), expected.trim());
        assert_eq!(stored.certificate.unwrap().der(), cert.der());
    }
}

#[test]
fn damaged_values_fail_with_distinct_errors() {
    let a = key("A");
    let dir = vectors().join("scope-flag/strict");
    let sealed: Vec<SealedSecret> = decode_stream(&read(dir.join("sealed.yaml"))).unwrap();
    let value = &sealed[0].spec.encrypted_data["password"];
    let raw = decode_base64(value).unwrap();
    let label = b"demo-ns/demo-secret";
    let err = |data: &[u8]| hybrid_decrypt([&a], data, label).unwrap_err().to_string();

    assert!(err(&raw[..1]).contains("too short"), "{}", err(&raw[..1]));
    assert!(
        err(&raw[..100]).contains("announces 512 bytes"),
        "{}",
        err(&raw[..100])
    );
    let mut flipped = raw.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(
        err(&flipped).contains("AES-GCM authentication failed"),
        "{}",
        err(&flipped)
    );
    let mut rsa_flipped = raw.clone();
    rsa_flipped[10] ^= 1;
    assert_eq!(err(&rsa_flipped), "no key could decrypt secret");
    let bad_b64 = open_value([&a], "AgB!!", label).unwrap_err().to_string();
    assert!(bad_b64.starts_with("invalid base64"), "{bad_b64}");
    // Base64 split over lines, as some editors wrap it, still opens.
    let wrapped: String = value
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(
        open_value([&a], &wrapped, label).unwrap().0.as_slice(),
        b"S3cr3t!"
    );
}

#[test]
fn moved_or_renamed_strict_secret_does_not_open() {
    let a = key("A");
    let dir = vectors().join("scope-flag/strict");
    let original: Vec<SealedSecret> = decode_stream(&read(dir.join("sealed.yaml"))).unwrap();
    for (ns, name) in [("demo-ns", "other"), ("other-ns", "demo-secret")] {
        let mut moved = original[0].clone();
        moved.metadata.namespace = Some(ns.to_owned());
        moved.metadata.name = Some(name.to_owned());
        let err = unseal(&moved, &[&a], UnsealOptions::default()).unwrap_err();
        match err {
            UnsealError::Items(items) => assert!(items.all_no_key(), "{items}"),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn widening_the_scope_by_annotation_does_not_open_a_strict_secret() {
    let a = key("A");
    let dir = vectors().join("scope-flag/strict");
    let mut sealed: Vec<SealedSecret> = decode_stream(&read(dir.join("sealed.yaml"))).unwrap();
    sealed[0]
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            "sealedsecrets.bitnami.com/cluster-wide".into(),
            "true".into(),
        );
    assert!(unseal(&sealed[0], &[&a], UnsealOptions::default()).is_err());
}

#[test]
fn vendored_vectors_match_the_shared_originals() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/kubeseal-0.36.6");
    if !shared.exists() {
        eprintln!(
            "skipped: {} is not present on this machine",
            shared.display()
        );
        return;
    }
    let mut checked = 0;
    for dir in vector_dirs() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(vectors()).unwrap();
            assert_eq!(read(&path), read(shared.join(rel)), "{}", rel.display());
            checked += 1;
        }
    }
    assert!(checked > 50);
}
