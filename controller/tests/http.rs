// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The HTTP API and metrics, driven in-process through the axum router, plus one real
//! socket for the accept loop's header timeout.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sealed_common::SealedSecret;
use sealed_common::crypto::open_value;
use sealed_common::keys::Certificate;
use sealed_common::scope::{CLUSTER_WIDE_ANNOTATION, Scope};
use sealed_controller::flags::parse_trusted_proxies;
use sealed_controller::http::limit::ClientLimiter;
use sealed_controller::http::{ApiState, MAX_BODY_BYTES, Timeouts, router, spawn_server};
use sealed_controller::keys::{KeyOrder, KeyRegistry, KeyUsage};
use sealed_controller::metrics::Metrics;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

const TIMEOUTS: Timeouts = Timeouts {
    read: Duration::from_secs(5),
    write: Duration::from_secs(30),
};

fn state_with(registry: Arc<KeyRegistry>, limiter: ClientLimiter) -> ApiState {
    let usage = Arc::new(KeyUsage::default());
    ApiState {
        metrics: Arc::new(Metrics::new(Arc::clone(&registry), usage, false)),
        registry,
        limiter: Arc::new(limiter),
        cpu: Arc::new(Semaphore::new(2)),
        max_rsa_decryptions: sealed_common::crypto::MAX_RSA_DECRYPTIONS,
        accept_v1_data: true,
        read_timeout: TIMEOUTS.read,
    }
}

/// Keys A and B (A is the newest: same NotBefore, and its Secret's name sorts first).
fn app(keys: &[&str]) -> Router {
    let unlimited = ClientLimiter::new(1000, 1000, Vec::new());
    router(state_with(support::registry(keys), unlimited), TIMEOUTS)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path).body(body.into()).unwrap()
}

fn from(peer: &str, forwarded_for: Option<&str>, path: &str, body: &str) -> Request<Body> {
    let mut request = post(path, body.to_owned());
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    if let Some(value) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", value.parse().unwrap());
    }
    request
}

fn json(sealed: &SealedSecret) -> String {
    serde_json::to_string(sealed).unwrap()
}

fn vector(path: &str) -> String {
    std::fs::read_to_string(support::vectors().join(path)).unwrap()
}

#[tokio::test]
async fn healthz_waits_for_the_keys() {
    let empty = KeyRegistry::new(KeyOrder::CertNotBefore);
    let app = router(
        state_with(Arc::clone(&empty), ClientLimiter::new(2, 2, Vec::new())),
        TIMEOUTS,
    );
    let answer = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("not ready"));
    let answer = send(
        &app,
        Request::get("/v1/cert.pem").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("no sealing key yet"));

    let app = app_ready();
    for path in ["/healthz", "/readyz"] {
        let answer = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (StatusCode::OK, "ok\n")
        );
    }
}

fn app_ready() -> Router {
    app(&["A", "B"])
}

#[tokio::test]
async fn cert_pem_is_the_newest_certificate() {
    let answer = send(
        &app_ready(),
        Request::get("/v1/cert.pem").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/x-pem-file");
    let served = Certificate::from_pem(answer.body.as_bytes()).unwrap();
    assert_eq!(served.fingerprint(), support::fingerprint("A"));
    assert!(answer.body.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(!answer.body.contains('\r'));
}

#[tokio::test]
async fn verify_answers_200_for_what_opens_and_409_with_the_reason() {
    let both = app_ready();
    // Upstream's own output, as YAML, sealed with B.
    let upstream = vector("rotation/sealed-with-B/sealed.yaml");
    assert_eq!(
        send(&both, post("/v1/verify", upstream.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let sealed = support::sealed("ns", "app", &[("a", "1"), ("b", "2")], "B");
    assert_eq!(
        send(&both, post("/v1/verify", json(&sealed))).await.status,
        StatusCode::OK
    );
    // YAML scalars that look like booleans or numbers stay strings in string fields,
    // as the API server and upstream read them.
    let with_scalars = upstream.replace(
        "spec:\n",
        "  labels:\n    enabled: true\n    version: 1.10\nspec:\n",
    );
    assert!(with_scalars.contains("enabled: true"), "{with_scalars}");
    let answer = send(&both, post("/v1/verify", with_scalars)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    let only_a = app(&["A"]);
    let answer = send(&only_a, post("/v1/verify", json(&sealed))).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    // The first value that does not open ends the check (upstream lists them all).
    assert_eq!(answer.body, "no key could decrypt secret (a)\n");
    // Renamed: the strict label no longer matches.
    let mut renamed = sealed.clone();
    renamed.metadata.name = Some("other".into());
    assert_eq!(
        send(&both, post("/v1/verify", json(&renamed))).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn verify_never_renders_templates() {
    // A crafted template over a victim's ciphertext must not turn 200/409 into an
    // oracle on the plaintext (upstream #2019).
    let mut sealed = support::sealed("ns", "app", &[("password", "hunter2")], "A");
    for probe in [
        r#"{{ if eq .password "hunter2" }}{{ fail "yes" }}{{ end }}"#,
        r#"{{ if ne .password "hunter2" }}{{ fail "no" }}{{ end }}"#,
    ] {
        sealed.spec.template.data = Some(BTreeMap::from([(
            "probe".to_owned(),
            Some(probe.to_owned()),
        )]));
        let answer = send(&app_ready(), post("/v1/verify", json(&sealed))).await;
        assert_eq!(answer.status, StatusCode::OK, "{probe}");
    }
}

#[tokio::test]
async fn bad_input_is_400_with_a_reason() {
    let app = app_ready();
    let sealed = json(&support::sealed("ns", "app", &[("a", "1")], "A"));
    let cases = [
        ("not: [yaml".to_owned(), "cannot read the SealedSecret"),
        (format!("{sealed}\n{sealed}"), "expected one SealedSecret, got 2"),
        (
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_owned(),
            "expected apiVersion \"bitnami.com/v1alpha1\" and kind \"SealedSecret\"",
        ),
        (
            r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","spec":{"encryptedData":5}}"#
                .to_owned(),
            "invalid SealedSecret",
        ),
        (String::new(), "expected one SealedSecret, got 0"),
    ];
    for path in ["/v1/verify", "/v1/rotate"] {
        for (body, expected) in &cases {
            let answer = send(&app, post(path, body.clone())).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {body}");
            assert!(answer.body.contains(expected), "{path}: {}", answer.body);
        }
        let answer = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn rotate_reseals_with_the_newest_key_and_keeps_templates() {
    let app = app_ready();
    let mut sealed: SealedSecret =
        serde_saphyr::from_str(&vector("rotation/sealed-with-B/sealed.yaml")).unwrap();
    sealed.spec.template.data = Some(BTreeMap::from([(
        "url".to_owned(),
        Some("https://u:{{ .k }}@host".to_owned()),
    )]));
    sealed.metadata.resource_version = Some("42".into());
    let answer = send(&app, post("/v1/rotate", json(&sealed))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    let out: SealedSecret = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(out.spec.template, sealed.spec.template);
    assert!(out.metadata.resource_version.is_none() && out.status.is_none());
    let (a, b) = (support::private_key("A"), support::private_key("B"));
    let value = &out.spec.encrypted_data["k"];
    assert_eq!(
        open_value([&a], value, &out.label()).unwrap().0.as_slice(),
        b"rotated"
    );
    assert!(open_value([&b], value, &out.label()).is_err());

    // Already on the newest key: nothing changes, so Git shows no diff.
    let again = send(&app, post("/v1/rotate", answer.body.clone())).await;
    let again: SealedSecret = serde_json::from_str(&again.body).unwrap();
    assert_eq!(again.spec.encrypted_data, out.spec.encrypted_data);
}

/// A SealedSecret for this cluster's old key B and an escrow key C: verify opens it,
/// rotate moves only B's wrap to A and C still opens every value.
#[tokio::test]
async fn verify_and_rotate_with_several_recipients() {
    let app = app_ready();
    let items = [("k", "v"), ("l", "w")];
    let sealed = support::sealed_for("ns", "app", &items, &["B", "C"], Scope::Strict);
    let answer = send(&app, post("/v1/verify", json(&sealed))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = send(&app, post("/v1/rotate", json(&sealed))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let out: SealedSecret = serde_json::from_str(&answer.body).unwrap();
    let [a, b, c] = ["A", "B", "C"].map(support::private_key);
    for (item, plain) in items {
        let value = &out.spec.encrypted_data[item];
        assert_ne!(value, &sealed.spec.encrypted_data[item]);
        for key in [&a, &c] {
            let (opened, _) = open_value([key], value, &out.label()).unwrap();
            assert_eq!(opened.as_slice(), plain.as_bytes());
        }
        assert!(open_value([&b], value, &out.label()).is_err());
    }
    // Now on the newest key: nothing changes.
    let again = send(&app, post("/v1/rotate", json(&out))).await;
    let again: SealedSecret = serde_json::from_str(&again.body).unwrap();
    assert_eq!(again.spec.encrypted_data, out.spec.encrypted_data);
    // Sealed for other clusters only: the usual answer.
    let others = support::sealed_for("ns", "app", &items, &["C", "D"], Scope::Strict);
    let answer = send(&app, post("/v1/verify", json(&others))).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(
        answer.body.starts_with("no key could decrypt secret"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn rotate_takes_the_scope_from_the_object_not_the_template() {
    // CVE-2026-22728: a cluster-wide annotation in the template must not widen the
    // re-encrypted values.
    let mut sealed = support::sealed("ns", "app", &[("k", "v")], "B");
    sealed
        .spec
        .template
        .metadata
        .get_or_insert_default()
        .annotations = Some(BTreeMap::from([(
        CLUSTER_WIDE_ANNOTATION.to_owned(),
        "true".to_owned(),
    )]));
    let answer = send(&app_ready(), post("/v1/rotate", json(&sealed))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let out: SealedSecret = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(out.scope(), Scope::Strict);
    let a = support::private_key("A");
    assert!(open_value([&a], &out.spec.encrypted_data["k"], b"ns/app").is_ok());
    assert!(open_value([&a], &out.spec.encrypted_data["k"], b"").is_err());

    let wrong = support::sealed("ns", "app", &[("k", "v")], "B");
    let answer = send(&app(&["A"]), post("/v1/rotate", json(&wrong))).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.body, "no key could decrypt secret (k)\n");
}

#[tokio::test]
async fn bodies_past_the_cap_get_413() {
    let app = app_ready();
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let answer = send(&app, post("/v1/verify", big.clone())).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("larger than 2 MiB"));
    // Without a Content-Length (chunked), the cap applies while reading.
    let chunks = futures::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(vec![b' '; MAX_BODY_BYTES / 2])),
    );
    let answer = send(&app, post("/v1/rotate", Body::from_stream(chunks))).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_body_that_never_arrives_times_out() {
    let mut state = state_with(
        support::registry(&["A"]),
        ClientLimiter::new(2, 2, Vec::new()),
    );
    state.read_timeout = Duration::from_millis(200);
    let app = router(state, TIMEOUTS);
    let never = futures::stream::pending::<Result<Vec<u8>, std::io::Error>>();
    let answer = send(&app, post("/v1/verify", Body::from_stream(never))).await;
    assert_eq!(answer.status, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn rate_limit_cannot_be_bypassed_with_x_forwarded_for() {
    let limiter = ClientLimiter::new(2, 2, Vec::new());
    let app = router(state_with(support::registry(&["A"]), limiter), TIMEOUTS);
    let body = json(&support::sealed("ns", "app", &[("a", "1")], "A"));
    // rate 2 + burst 2: three at once, then 429 whatever the client claims to be.
    for i in 0..3 {
        let answer = send(
            &app,
            from("10.1.1.1", Some(&format!("1.1.1.{i}")), "/v1/verify", &body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    for i in 3..6 {
        let answer = send(
            &app,
            from("10.1.1.1", Some(&format!("1.1.1.{i}")), "/v1/verify", &body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers["retry-after"], "1");
        assert!(
            answer
                .body
                .contains("rate limit exceeded for 10.1.1.1 on /v1/verify")
        );
    }
    // Rotate is limited too (upstream leaves it open), in its own bucket.
    for _ in 0..3 {
        let answer = send(&app, from("10.1.1.1", None, "/v1/rotate", &body)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let answer = send(&app, from("10.1.1.1", None, "/v1/rotate", &body)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client is not affected.
    let answer = send(&app, from("10.1.1.2", None, "/v1/verify", &body)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let trusted = parse_trusted_proxies("10.0.0.1").unwrap();
    let limiter = ClientLimiter::new(1, 0, trusted);
    let app = router(state_with(support::registry(&["A"]), limiter), TIMEOUTS);
    let body = json(&support::sealed("ns", "app", &[("a", "1")], "A"));
    // The API server (10.0.0.1) appends the real client to what the client sent.
    let through = |client: &str, forged: &str| {
        from(
            "10.0.0.1",
            Some(&format!("{forged}, {client}")),
            "/v1/verify",
            &body,
        )
    };
    assert_eq!(
        send(&app, through("203.0.113.1", "9.9.9.1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, through("203.0.113.1", "9.9.9.2")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(&app, through("203.0.113.2", "9.9.9.3")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_use_upstreams_names_and_add_the_key_inventory() {
    let registry = support::registry(&["A", "B"]);
    let usage = Arc::new(KeyUsage::default());
    let metrics = Arc::new(Metrics::new(Arc::clone(&registry), usage, false));
    let state = ApiState {
        metrics: Arc::clone(&metrics),
        ..state_with(registry, ClientLimiter::new(100, 100, Vec::new()))
    };
    let app = router(state, TIMEOUTS);
    let sealed = support::sealed("ns", "app", &[("a", "1")], "A");
    send(&app, post("/v1/verify", json(&sealed))).await;
    send(&app, post("/v1/verify", "{}")).await;
    send(
        &app,
        Request::get("/v1/cert.pem").body(Body::empty()).unwrap(),
    )
    .await;
    send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    send(&app, Request::get("/v1/keys").body(Body::empty()).unwrap()).await;
    metrics.unseal_request();

    let scrape = send(
        &sealed_controller::http::metrics_router(Arc::clone(&metrics)),
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(scrape.status, StatusCode::OK);
    let text = scrape.body;
    for expected in [
        format!(
            "sealed_secrets_controller_build_info{{revision=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "sealed_secrets_controller_unseal_requests_total 1".to_owned(),
        "sealed_secrets_controller_http_requests_total{path=\"/v1/verify\",code=\"200\",method=\"post\"} 1".to_owned(),
        "sealed_secrets_controller_http_requests_total{path=\"/v1/verify\",code=\"400\",method=\"post\"} 1".to_owned(),
        "sealed_secrets_controller_http_requests_total{path=\"/v1/cert.pem\",code=\"200\",method=\"get\"} 1".to_owned(),
        "sealed_secrets_controller_http_request_duration_seconds_count{path=\"/v1/verify\",method=\"post\"} 2".to_owned(),
        "sealed_secrets_controller_keys 2".to_owned(),
        format!(
            "sealed_secrets_controller_sealed_secrets_by_key{{fingerprint=\"{}\"}} 0",
            support::fingerprint("B")
        ),
        "# TYPE sealed_secrets_controller_newest_key_age_seconds gauge".to_owned(),
        "sealed_secrets_controller_http_requests_total{path=\"/v1/keys\",code=\"200\",method=\"get\"} 1".to_owned(),
        format!(
            "sealed_secrets_controller_key_expiry_timestamp_seconds{{fingerprint=\"{}\"}} {}",
            support::fingerprint("A"),
            "2036-11-19T04:44:36Z".parse::<jiff::Timestamp>().unwrap().as_second()
        ),
        "# TYPE sealed_secrets_controller_key_info gauge".to_owned(),
        format!(
            "sealed_secrets_controller_key_info{{fingerprint=\"{}\",secret=\"sealed-secrets-keyaxxxx\",active=\"true\"}} 1",
            support::fingerprint("A")
        ),
        format!(
            "sealed_secrets_controller_key_info{{fingerprint=\"{}\",secret=\"sealed-secrets-keybxxxx\",active=\"false\"}} 1",
            support::fingerprint("B")
        ),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("/healthz"));
}

#[tokio::test]
async fn the_server_closes_connections_that_never_send_their_headers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let addr = spawn_server(
        "test server",
        "127.0.0.1:0",
        app_ready(),
        Duration::from_millis(300),
        stop_rx,
    )
    .await
    .unwrap();

    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    ok.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ok\n"));

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a slow client kept its connection open");
    let _ = stop_tx.send(true);
}

#[tokio::test]
async fn condition_info_and_keys_in_use_come_from_the_watched_objects() {
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use sealed_common::sealed_secret::{SealedSecretCondition, SealedSecretStatus};

    let status = |value: &str, key: Option<String>| SealedSecretStatus {
        conditions: Some(vec![SealedSecretCondition {
            type_: "Synced".into(),
            status: value.into(),
            ..SealedSecretCondition::default()
        }]),
        key_fingerprint: key,
        ..SealedSecretStatus::default()
    };
    let mut good = support::sealed("ns", "good", &[("a", "1")], "B");
    good.status = Some(status("True", Some(support::fingerprint("B"))));
    let mut bad = support::sealed("ns", "bad", &[("a", "1")], "B");
    bad.status = Some(status("False", None));
    let (reader, mut writer) = reflector::store::<SealedSecret>();
    writer.apply_watcher_event(&Event::Apply(good));
    writer.apply_watcher_event(&Event::Apply(bad.clone()));

    let registry = support::registry(&["A", "B"]);
    let usage = Arc::new(KeyUsage::default());
    // The installed CRD dropped keyFingerprint: what this process saw counts.
    usage.record(
        kube::runtime::reflector::ObjectRef::from_obj(&bad),
        &support::fingerprint("B"),
    );
    let metrics = Metrics::new(Arc::clone(&registry), Arc::clone(&usage), false);
    metrics.watch_store("<all>", reader.clone());
    let text = metrics.encode().unwrap();
    for expected in [
        "sealed_secrets_controller_condition_info{namespace=\"ns\",name=\"good\",condition=\"Synced\"} 1",
        "sealed_secrets_controller_condition_info{namespace=\"ns\",name=\"bad\",condition=\"Synced\"} -1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let by_key = |which: &str| {
        format!(
            "sealed_secrets_controller_sealed_secrets_by_key{{fingerprint=\"{}\"}}",
            support::fingerprint(which)
        )
    };
    assert!(text.contains(&format!("{} 2", by_key("B"))), "{text}");
    assert!(text.contains(&format!("{} 0", by_key("A"))), "{text}");

    // A loop started again (a new leadership term) replaces its store: the objects of
    // the old one are not reported twice, nor kept once gone.
    let (fresh, _fresh_writer) = reflector::store::<SealedSecret>();
    metrics.watch_store("<all>", fresh);
    assert!(
        !metrics.encode().unwrap().contains("condition_info{"),
        "a replaced store still reports"
    );

    let private = Metrics::new(registry, usage, true);
    private.watch_store("<all>", reader);
    assert!(!private.encode().unwrap().contains("condition_info"));
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn key_list(app: &Router) -> Vec<serde_json::Value> {
    let answer = send(app, get("/v1/keys")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    body["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn keys_lists_public_data_newest_first_with_one_active() {
    let app = app_ready();
    let answer = send(&app, get("/v1/keys")).await;
    for private in ["PRIVATE", "tls.key"] {
        assert!(!answer.body.contains(private), "{}", answer.body);
    }
    let keys = key_list(&app).await;
    assert_eq!(keys.len(), 2);
    let fields = [
        "active",
        "certificate",
        "created",
        "expires",
        "fingerprint",
        "heldBackUntil",
        "secretName",
    ];
    for key in &keys {
        let mut names: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, fields);
        assert!(key["heldBackUntil"].is_null());
    }
    // A and B share NotBefore; A's Secret name sorts first, so A is the newest.
    let a = &keys[0];
    assert_eq!(a["fingerprint"], support::fingerprint("A"));
    assert_eq!(a["secretName"], "sealed-secrets-keyaxxxx");
    assert_eq!(a["created"], "2026-11-22T04:44:36Z");
    assert_eq!(a["expires"], "2036-11-19T04:44:36Z");
    assert_eq!(a["active"], true);
    let pem = a["certificate"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(
        Certificate::from_pem(pem.as_bytes()).unwrap().fingerprint(),
        support::fingerprint("A")
    );
    assert_eq!(keys[1]["fingerprint"], support::fingerprint("B"));
    assert_eq!(keys.iter().filter(|k| k["active"] == true).count(), 1);
}

/// A made a day ago, B a minute ago, both ordered by Secret creation.
fn held_back_app(delay: Duration) -> (Router, Arc<KeyRegistry>, jiff::Timestamp) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use sealed_controller::keys::Source;
    let now = jiff::Timestamp::now();
    let b_created = jiff::Timestamp::from_second(now.as_second() - 60).unwrap();
    let mut a = support::key_secret("A");
    a.metadata.creation_timestamp = Some(Time(
        jiff::Timestamp::from_second(now.as_second() - 86_400).unwrap(),
    ));
    let mut b = support::key_secret("B");
    b.metadata.creation_timestamp = Some(Time(b_created));
    let registry = KeyRegistry::with_activation_delay(KeyOrder::SecretCreationTimestamp, delay);
    registry.replace(Source::Labelled, &[a, b]);
    registry.replace(Source::Legacy, &[]);
    let unlimited = ClientLimiter::new(1000, 1000, Vec::new());
    let app = router(state_with(Arc::clone(&registry), unlimited), TIMEOUTS);
    (app, registry, b_created)
}

#[tokio::test]
async fn a_held_back_key_is_listed_but_cert_pem_serves_the_previous_one() {
    let (app, registry, b_created) = held_back_app(Duration::from_secs(3600));
    let keys = key_list(&app).await;
    assert_eq!(keys[0]["fingerprint"], support::fingerprint("B"));
    assert_eq!(keys[0]["active"], false);
    let until = jiff::Timestamp::from_second(b_created.as_second() + 3600).unwrap();
    assert_eq!(keys[0]["heldBackUntil"], until.to_string());
    assert_eq!(keys[1]["fingerprint"], support::fingerprint("A"));
    assert_eq!(keys[1]["active"], true);
    assert!(keys[1]["heldBackUntil"].is_null());

    let answer = send(&app, get("/v1/cert.pem")).await;
    let served = Certificate::from_pem(answer.body.as_bytes()).unwrap();
    assert_eq!(served.fingerprint(), support::fingerprint("A"));
    // The held-back key already decrypts.
    let sealed = support::sealed("ns", "app", &[("a", "1")], "B");
    assert_eq!(
        send(&app, post("/v1/verify", json(&sealed))).await.status,
        StatusCode::OK
    );
    // Rotate re-seals with the active key, not the held-back one.
    let answer = send(&app, post("/v1/rotate", json(&sealed))).await;
    let out: SealedSecret = serde_json::from_str(&answer.body).unwrap();
    let a = support::private_key("A");
    assert!(open_value([&a], &out.spec.encrypted_data["a"], &out.label()).is_ok());

    let metrics = Metrics::new(registry, Arc::new(KeyUsage::default()), true);
    let text = metrics.encode().unwrap();
    let info = |which: &str, name: &str, active: &str| {
        format!(
            "sealed_secrets_controller_key_info{{fingerprint=\"{}\",secret=\"{name}\",active=\"{active}\"}} 1",
            support::fingerprint(which)
        )
    };
    assert!(
        text.contains(&info("A", "sealed-secrets-keyaxxxx", "true")),
        "{text}"
    );
    assert!(
        text.contains(&info("B", "sealed-secrets-keybxxxx", "false")),
        "{text}"
    );

    // Without a delay the same keys seal with the newest at once.
    let (app, _, _) = held_back_app(Duration::ZERO);
    let keys = key_list(&app).await;
    assert_eq!(keys[0]["active"], true);
    assert!(keys[0]["heldBackUntil"].is_null());
}

#[tokio::test]
async fn keys_is_503_until_listed_and_get_only() {
    let empty = KeyRegistry::new(KeyOrder::CertNotBefore);
    let app = router(
        state_with(Arc::clone(&empty), ClientLimiter::new(2, 2, Vec::new())),
        TIMEOUTS,
    );
    let answer = send(&app, get("/v1/keys")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("no keys yet"), "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");

    let answer = send(&app_ready(), post("/v1/keys", "")).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);

    // Not rate limited, like /v1/cert.pem.
    let strict = router(
        state_with(
            support::registry(&["A"]),
            ClientLimiter::new(1, 0, Vec::new()),
        ),
        TIMEOUTS,
    );
    for _ in 0..5 {
        let mut request = get("/v1/keys");
        let peer: SocketAddr = "10.1.1.1:40000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        assert_eq!(send(&strict, request).await.status, StatusCode::OK);
    }
}
