// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `/v1/verify` and `/v1/rotate` through the axum router, in process: what one
//! request costs the controller (decoding, RSA-4096 with upstream's fixture keys,
//! re-sealing, JSON), and a 2 MiB body of garbage values. Rate limit off.
//!
//! cargo bench -p sealed-controller --bench http_api

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use sealed_common::keys::Certificate;
use sealed_common::scope::Scope;
use sealed_controller::http::limit::ClientLimiter;
use sealed_controller::http::{ApiState, Timeouts, router};
use sealed_controller::keys::{KeyOrder, KeyRegistry, KeyUsage, Source};
use sealed_controller::metrics::Metrics;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/kubeseal-0.36.6/keys")
}

fn key_secret(which: &str) -> Secret {
    let text = std::fs::read_to_string(keys_dir().join(format!("{which}.sealed-secrets-key.yaml")))
        .expect("key file");
    serde_saphyr::from_str(&text).expect("key Secret")
}

fn app() -> Router {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    registry.replace(Source::Labelled, &[key_secret("A"), key_secret("B")]);
    registry.replace(Source::Legacy, &[]);
    let state = ApiState {
        metrics: Arc::new(Metrics::new(
            Arc::clone(&registry),
            Arc::new(KeyUsage::default()),
            false,
        )),
        registry,
        limiter: Arc::new(ClientLimiter::new(0, 0, Vec::new())),
        cpu: Arc::new(Semaphore::new(2)),
        max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
        accept_v1_data: true,
        read_timeout: Duration::from_secs(30),
    };
    let timeouts = Timeouts {
        read: Duration::from_secs(30),
        write: Duration::from_secs(30),
    };
    router(state, timeouts)
}

/// A 3-item strict SealedSecret sealed with key B (the older one: rotate re-seals all).
fn body() -> String {
    let pem = std::fs::read(keys_dir().join("B.tls.crt")).expect("cert");
    let cert = Certificate::from_pem(&pem).expect("cert");
    let label = Scope::Strict.label("ns", "app");
    let items: BTreeMap<String, String> = ["user", "password", "url"]
        .iter()
        .map(|k| {
            let v = sealed_common::crypto::seal_value(cert.public_key(), b"value", &label)
                .expect("seal");
            (k.to_string(), v)
        })
        .collect();
    serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"encryptedData": items, "template": {"metadata": {"name": "app", "namespace": "ns"}}}
    })
    .to_string()
}

/// A body as large as allowed (2 MiB) of about 2,900 values shaped like RSA-4096 ones
/// that open with no key: `/v1/verify` answers 409 after the first value.
fn garbage() -> String {
    let mut items = BTreeMap::new();
    let mut size = 1_000;
    let mut i = 0usize;
    while size + 800 < sealed_controller::http::MAX_BODY_BYTES {
        let mut raw = 512u16.to_be_bytes().to_vec();
        raw.extend((0..528).map(|j| ((i * 31 + j * 7) % 251) as u8));
        let value = sealed_common::crypto::encode_base64(&raw);
        size += value.len() + 12;
        items.insert(format!("g{i:05}"), value);
        i += 1;
    }
    serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "junk", "namespace": "ns"},
        "spec": {"encryptedData": items}
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = app();
    let body = body();
    let mut group = c.benchmark_group("http_api");
    for path in ["/v1/verify", "/v1/rotate"] {
        group.bench_function(path.trim_start_matches("/v1/"), |b| {
            b.iter(|| {
                let request = Request::post(path)
                    .body(Body::from(body.clone()))
                    .expect("request");
                let response = runtime
                    .block_on(app.clone().oneshot(request))
                    .expect("response");
                assert_eq!(response.status(), StatusCode::OK);
            })
        });
    }
    let junk = garbage();
    group.bench_function("verify garbage 2 MiB", |b| {
        b.iter(|| {
            let request = Request::post("/v1/verify")
                .body(Body::from(junk.clone()))
                .expect("request");
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .expect("response");
            assert_eq!(response.status(), StatusCode::CONFLICT);
        })
    });
    group.bench_function("cert.pem", |b| {
        b.iter(|| {
            let request = Request::get("/v1/cert.pem")
                .body(Body::empty())
                .expect("request");
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .expect("response");
            assert_eq!(response.status(), StatusCode::OK);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
