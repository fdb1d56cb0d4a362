// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Key generation against the scripted API server: stored as upstream stores it, and
//! registered only once the API server accepted it.

mod support;

use sealed_common::key_secret::{KEY_LABEL, key_from_secret};
use sealed_controller::keys::{KeyGenerator, KeyOrder, KeyRegistry, Source};
use sealed_controller::leader::Leadership;
use std::collections::BTreeMap;
use std::time::Duration;
use support::FakeApi;

fn generator(fake: &FakeApi) -> KeyGenerator {
    KeyGenerator {
        client: fake.client(),
        namespace: "kube-system".into(),
        prefix: "sealed-secrets-key".into(),
        // Never 4096 in tests: generation is seconds per key.
        bits: 2048,
        validity: Duration::from_secs(3600 * 24 * 365),
        common_name: String::new(),
        labels: BTreeMap::from([("team".to_owned(), "platform".to_owned())]),
        annotations: BTreeMap::from([("backup".to_owned(), "yes".to_owned())]),
        leader: Leadership::sole(),
    }
}

#[tokio::test]
async fn new_key_is_stored_like_upstream_and_registered() {
    let fake = FakeApi::new();
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let entry = generator(&fake)
        .generate(&registry)
        .await
        .expect("generated");
    assert!(
        entry.secret_name.starts_with("sealed-secrets-key"),
        "{}",
        entry.secret_name
    );

    let posted = fake.writes();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        (posted[0].method.as_str(), posted[0].path.as_str()),
        ("POST", "/api/v1/namespaces/kube-system/secrets")
    );
    let body = &posted[0].body;
    assert_eq!(body["metadata"]["generateName"], "sealed-secrets-key");
    assert_eq!(body["type"], "kubernetes.io/tls");
    assert_eq!(body["metadata"]["labels"][KEY_LABEL], "active");
    assert_eq!(body["metadata"]["labels"]["team"], "platform");
    assert_eq!(body["metadata"]["annotations"]["backup"], "yes");

    let stored = fake
        .secret("kube-system", &entry.secret_name)
        .expect("stored");
    let key_pem = &stored.data.as_ref().expect("data")["tls.key"].0;
    assert!(key_pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let read_back = key_from_secret(&stored).expect("loads");
    assert!(read_back.certificate.is_some());

    registry.insert(Source::Labelled, entry);
    assert_eq!(registry.keys().len(), 1);
}

#[tokio::test]
async fn refused_key_is_not_registered() {
    let fake = FakeApi::new();
    fake.state.lock().expect("state").forbid_create = true;
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let error = generator(&fake)
        .generate(&registry)
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(
        text.starts_with("cannot store the new key Secret in namespace kube-system:"),
        "{text}"
    );
    assert!(text.contains("forbidden"), "{text}");
    assert!(registry.keys().is_empty());
}
