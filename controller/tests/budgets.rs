// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! What hostile input costs: `/v1/verify` and `/v1/rotate` with bodies of garbage or
//! past the RSA budget (RSA decryptions counted by the metrics), a SealedSecret past
//! the budget in a reconcile, how much a flood of requests delays unsealing, the bound
//! on connections, and the API server addresses the rate limiter trusts.

mod support;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kube::Client;
use kube::runtime::controller::Action;
use sealed_common::crypto::{MAX_RSA_DECRYPTIONS, encode_base64};
use sealed_controller::http::limit::ClientLimiter;
use sealed_controller::http::{ApiState, MAX_BODY_BYTES, Timeouts, apiserver, router, serve};
use sealed_controller::keys::KeyRegistry;
use sealed_controller::metrics::{Metrics, Origin};
use sealed_controller::reconcile::{Settings, reconcile};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::FakeApi;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

const TIMEOUTS: Timeouts = Timeouts {
    read: Duration::from_secs(30),
    write: Duration::from_secs(60),
};

fn state(
    registry: Arc<KeyRegistry>,
    metrics: Arc<Metrics>,
    pool: Arc<Semaphore>,
    max: usize,
) -> ApiState {
    ApiState {
        registry,
        limiter: Arc::new(ClientLimiter::new(0, 0, Vec::new())),
        metrics,
        cpu: pool,
        max_rsa_decryptions: max,
        accept_v1_data: true,
        read_timeout: TIMEOUTS.read,
    }
}

fn app_with(keys: &[&str], max: usize) -> (Router, Arc<Metrics>) {
    let registry = support::registry(keys);
    let metrics = Arc::new(Metrics::new(Arc::clone(&registry), Arc::default(), false));
    let app = router(
        state(
            registry,
            Arc::clone(&metrics),
            Arc::new(Semaphore::new(1)),
            max,
        ),
        TIMEOUTS,
    );
    (app, metrics)
}

async fn send(app: &Router, path: &str, body: String) -> (StatusCode, String) {
    let request = Request::post(path).body(Body::from(body)).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A SealedSecret `ns/junk` as large as a request may be, of values shaped like real
/// ones for 4096-bit keys (so every key is really tried) that open with no key.
fn garbage_body() -> (String, usize) {
    let mut sealed = support::sealed("ns", "junk", &[], "A");
    let size = 512;
    let mut length = 1_000;
    let mut count = 0;
    while length + 800 < MAX_BODY_BYTES {
        let mut raw = u16::try_from(size).unwrap().to_be_bytes().to_vec();
        raw.extend((0..size + 16).map(|j| ((count * 31 + j * 7) % 251) as u8));
        let value = encode_base64(&raw);
        length += value.len() + 12;
        sealed
            .spec
            .encrypted_data
            .insert(format!("g{count:05}"), value);
        count += 1;
    }
    let body = serde_json::to_string(&sealed).unwrap();
    assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
    (body, count)
}

#[tokio::test]
async fn a_2_mib_body_of_garbage_costs_one_value_tried_with_every_key() {
    let (app, metrics) = app_with(&["A", "B"], MAX_RSA_DECRYPTIONS);
    let (body, count) = garbage_body();
    assert!(count > 2_800, "{count} values");
    let (status, text) = send(&app, "/v1/verify", body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(text, "no key could decrypt secret (g00000)\n");
    // Before: every value with every key, 2 x 2,9xx decryptions.
    assert_eq!(metrics.rsa_decryptions_total(Origin::Http), 2);
    let (status, _) = send(&app, "/v1/rotate", body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(metrics.rsa_decryptions_total(Origin::Http), 4);
    assert_eq!(metrics.rsa_decryptions_total(Origin::Reconcile), 0);
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("sealed_secrets_controller_rsa_decryptions_total{origin=\"http\"} 4"),
        "{text}"
    );
}

#[tokio::test]
async fn past_the_rsa_budget_a_request_gets_413_naming_the_object() {
    let items: Vec<(String, String)> = (0..6).map(|i| (format!("k{i}"), "v".into())).collect();
    let items: Vec<(&str, &str)> = items.iter().map(|(k, v)| (&**k, &**v)).collect();
    // Sealed with B, the older key: A is tried first once, then B opens each value.
    let sealed = support::sealed("ns", "app", &items, "B");
    let body = serde_json::to_string(&sealed).unwrap();
    let (app, metrics) = app_with(&["A", "B"], 7);
    assert_eq!(
        send(&app, "/v1/verify", body.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(metrics.rsa_decryptions_total(Origin::Http), 7);

    let (app, metrics) = app_with(&["A", "B"], 6);
    let (status, text) = send(&app, "/v1/verify", body.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        text,
        "SealedSecret \"ns/app\" has 6 sealed values and 2 keys to try: opening it needs more than 6 RSA decryptions, the limit per SealedSecret\n"
    );
    assert_eq!(metrics.rsa_decryptions_total(Origin::Http), 6);
    let (status, text) = send(&app, "/v1/rotate", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
}

#[tokio::test]
async fn a_sealed_secret_past_the_budget_fails_with_a_status_naming_it() {
    let fake = FakeApi::new();
    let settings = Settings {
        max_rsa_decryptions: 3,
        ..Settings::default()
    };
    let ctx = fake.context_with(support::registry(&["A", "B"]), settings);
    let sealed = support::sealed("ns", "big", &[("a", "1"), ("b", "2"), ("c", "3")], "B");
    fake.put_sealed(&sealed);
    // The same object and keys would run out again: no retries, it waits for a change.
    let next = reconcile(Arc::new(fake.sealed("ns", "big")), Arc::clone(&ctx)).await;
    assert_eq!(next.ok(), Some(Action::await_change()));
    let expected = "SealedSecret \"ns/big\" has 3 sealed values and 2 keys to try: opening it needs more than 3 RSA decryptions, the limit per SealedSecret";
    let status = fake.sealed("ns", "big").status.unwrap();
    let condition = &status.conditions.unwrap()[0];
    assert_eq!(condition.status, "False");
    assert!(
        condition
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(expected),
        "{condition:?}"
    );
    assert_eq!(ctx.metrics.rsa_decryptions_total(Origin::Reconcile), 3);
    assert!(fake.secret("ns", "big").is_none());
}

async fn timed_reconciles(
    fake: &FakeApi,
    ctx: &Arc<sealed_controller::reconcile::Context>,
) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        reconcile(Arc::new(fake.sealed("ns", "app")), Arc::clone(ctx))
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// Unsealing a real object (a reconcile, on the reconcilers' pool) while clients send
/// 2 MiB verify requests of garbage as fast as they are answered, on the API's own pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_verify_requests_delays_unsealing_little() {
    let fake = FakeApi::new();
    let registry = support::registry(&["A", "B"]);
    let ctx = fake.context(Arc::clone(&registry));
    let items: Vec<(String, String)> = (0..8).map(|i| (format!("k{i}"), "v".into())).collect();
    let items: Vec<(&str, &str)> = items.iter().map(|(k, v)| (&**k, &**v)).collect();
    fake.put_sealed(&support::sealed("ns", "app", &items, "A"));
    let quiet = timed_reconciles(&fake, &ctx).await;

    let app = router(
        state(
            registry,
            Arc::clone(&ctx.metrics),
            sealed_controller::http::rsa_pool(),
            MAX_RSA_DECRYPTIONS,
        ),
        TIMEOUTS,
    );
    let (body, _) = garbage_body();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = send(&app, "/v1/verify", body.clone()).await;
                    assert_eq!(status, StatusCode::CONFLICT);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let the flood fill the API's pool first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = answered.load(Ordering::Relaxed);
    let flooded = timed_reconciles(&fake, &ctx).await;
    let during = answered.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
    let requests = answered.load(Ordering::Relaxed);
    eprintln!(
        "reconcile median: {quiet:?} quiet, {flooded:?} under the flood ({during} verify requests of 2 MiB answered meanwhile, {requests} in all)"
    );
    assert!(requests > 0);
    assert_eq!(
        ctx.metrics.rsa_decryptions_total(Origin::Http),
        2 * requests as u64,
        "two keys tried per garbage request"
    );
    assert!(
        flooded < quiet * 3 + Duration::from_millis(250),
        "unsealing took {flooded:?} under the flood, {quiet:?} without"
    );
}

async fn answer_of(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    if !request.is_empty() {
        stream.write_all(request).await.unwrap();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn connections_past_the_bound_are_refused_at_once() {
    let (app, _) = app_with(&["A"], MAX_RSA_DECRYPTIONS);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(serve(listener, app, Duration::from_secs(10), 2, stop_rx));
    let health = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Two idle connections take both slots.
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The refusal comes before anything is read: a client that has not written yet
    // gets the whole answer and a clean close.
    let started = Instant::now();
    let refused = answer_of(addr, b"").await;
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(refused.ends_with("too many connections; retry in a second\r\n"));
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = answer_of(addr, health).await;
    assert!(served.starts_with("HTTP/1.1 200 OK\r\n"), "{served}");
}

/// A client whose only answers are `answers`, in turn, for the API server's
/// EndpointSlice (the last repeated).
fn endpoint_slice_api(answers: Vec<(u16, serde_json::Value)>) -> Client {
    let (service, mut handle) =
        tower_test::mock::pair::<Request<kube::client::Body>, http::Response<kube::client::Body>>();
    tokio::spawn(async move {
        let mut turn = 0;
        while let Some((request, send)) = handle.next_request().await {
            assert_eq!(
                request.uri().path(),
                "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
            );
            let (status, body) = answers[turn.min(answers.len() - 1)].clone();
            turn += 1;
            send.send_response(
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    Client::new(service, "default")
}

fn slice(addresses: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": addresses}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
    })
}

#[tokio::test]
async fn the_api_servers_addresses_are_read_from_their_endpoint_slice() {
    let client = endpoint_slice_api(vec![(200, slice(&["10.0.0.2", "10.0.0.1", "junk"]))]);
    let found = apiserver::addresses(&client).await.unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(found, vec![ip("10.0.0.1"), ip("10.0.0.2")]);

    // Forbidden first (no RBAC yet): nothing trusted; then the slice: its addresses.
    let forbidden = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "endpointslices.discovery.k8s.io \"kubernetes\" is forbidden", "reason": "Forbidden", "code": 403
    });
    let client = endpoint_slice_api(vec![(403, forbidden), (200, slice(&["10.0.0.1"]))]);
    let limiter = Arc::new(ClientLimiter::new(2, 2, Vec::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(apiserver::keep_current(
        client,
        Arc::clone(&limiter),
        Duration::from_millis(20),
        stop_rx,
    ));
    let forwarded = Some("6.6.6.6, 203.0.113.9");
    assert_eq!(
        limiter.client(Some(ip("10.0.0.1")), forwarded),
        ip("10.0.0.1")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while limiter.api_servers().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        limiter.client(Some(ip("10.0.0.1")), forwarded),
        ip("203.0.113.9")
    );
    // Any other peer's header is still ignored.
    assert_eq!(
        limiter.client(Some(ip("10.0.0.9")), forwarded),
        ip("10.0.0.9")
    );
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
