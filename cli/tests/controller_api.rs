// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! kubeseal against this project's own controller HTTP API (in process, with fixture
//! keys A and B, A the newest), behind a fake API server's Service and service proxy:
//! the contract between the two binaries, end to end.

mod support;

use axum::Json;
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use sealed_controller::http::limit::ClientLimiter;
use sealed_controller::http::{ApiState, Timeouts, router};
use sealed_controller::keys::{KeyOrder, KeyRegistry, KeyUsage, Source};
use sealed_controller::metrics::Metrics;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::fake_api::{kubeconfig, online_kubeseal};
use support::*;

const PROXY: &str =
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy";
const SERVICE: &str = "/api/v1/namespaces/kube-system/services/sealed-secrets-controller";

fn key_secret(which: &str) -> Secret {
    let text =
        std::fs::read_to_string(vector(&format!("keys/{which}.sealed-secrets-key.yaml"))).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Starts the controller's router behind a fake API server; returns a kubeconfig dir.
fn start(keys: &[&str]) -> tempfile::TempDir {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let secrets: Vec<Secret> = keys.iter().map(|k| key_secret(k)).collect();
    registry.replace(Source::Labelled, &secrets);
    registry.replace(Source::Legacy, &[]);
    let state = ApiState {
        metrics: Arc::new(Metrics::new(
            Arc::clone(&registry),
            Arc::new(KeyUsage::default()),
            false,
        )),
        registry,
        limiter: Arc::new(ClientLimiter::new(1000, 1000, Vec::new())),
        cpu: Arc::new(tokio::sync::Semaphore::new(2)),
        max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
        accept_v1_data: true,
        read_timeout: Duration::from_secs(5),
    };
    let controller = router(
        state,
        Timeouts {
            read: Duration::from_secs(5),
            write: Duration::from_secs(30),
        },
    );
    let service = json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
        "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}
    });
    let app = axum::Router::new()
        .route(SERVICE, get(move || async move { Json(service) }))
        .nest_service(PROXY, controller);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config"), kubeconfig(&url)).unwrap();
    dir
}

fn kubeseal_at(dir: &tempfile::TempDir) -> assert_cmd::Command {
    let mut cmd = online_kubeseal();
    cmd.arg("--kubeconfig").arg(dir.path().join("config"));
    cmd
}

#[test]
fn seal_validate_and_re_encrypt_against_our_controller() {
    let cluster = start(&["A", "B"]);

    // Sealing without --cert uses the newest key (A).
    let sealed = ok(kubeseal_at(&cluster).args(["-o", "yaml"]), SECRET);
    unseal_with(&sealed, &[key_a()]);
    let fetched = ok(kubeseal_at(&cluster).arg("--fetch-cert"), "");
    assert_eq!(fetched, std::fs::read_to_string(cert_a()).unwrap());

    // Both keys open; a SealedSecret for another namespace does not.
    let with_b = ok(kubeseal().args(["--cert", &cert_b(), "-o", "yaml"]), SECRET);
    let r = run(
        kubeseal_at(&cluster).arg("--validate"),
        [sealed.clone(), with_b.clone()].concat(),
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let moved = with_b.replace("namespace: prod", "namespace: staging");
    let err = fails(kubeseal_at(&cluster).arg("--validate"), moved);
    assert!(
        err.starts_with("error: unable to decrypt sealed secret: staging/db ("),
        "{err}"
    );

    // Re-encrypting what B sealed gives what A opens.
    let rotated = ok(
        kubeseal_at(&cluster).args(["--re-encrypt", "-o", "yaml"]),
        with_b,
    );
    let secret = unseal_with(&rotated, &[key_a()]).remove(0);
    assert_eq!(items(&secret)["password"], b"s3cr3t-value-42");
}

#[test]
fn a_controller_without_keys_is_not_ready() {
    let cluster = start(&[]);
    let err = fails(&mut kubeseal_at(&cluster), SECRET);
    assert!(
        err.starts_with("error: cannot fetch certificate: the controller is not ready (503 Service Unavailable: no sealing key yet"),
        "{err}"
    );
}
