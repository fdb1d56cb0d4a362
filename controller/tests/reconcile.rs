// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Reconcile rules against a scripted API server (kube's tower-test mock): every write
//! the controller makes is recorded and checked.

mod support;

use k8s_openapi::ByteString;
use kube::runtime::controller::Action;
use sealed_common::SealedSecret;
use sealed_common::scope::Scope;
use sealed_controller::reconcile::{Settings, error_policy, reconcile};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{FakeApi, fingerprint, registry, sealed, sealed_with_scope};

fn data(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().expect("data")[key];
    String::from_utf8(bytes.0.clone()).expect("utf-8")
}

fn condition(sealed: &SealedSecret) -> (String, Option<String>) {
    let status = sealed.status.as_ref().expect("status");
    let c = &status.conditions.as_ref().expect("conditions")[0];
    assert_eq!(c.type_, "Synced");
    (c.status.clone(), c.message.clone())
}

fn owned_secret(name: &str, uid: &str, items: &[(&str, &str)]) -> serde_json::Value {
    let data: serde_json::Map<String, serde_json::Value> = items
        .iter()
        .map(|(k, v)| (k.to_string(), json!(ByteString(v.as_bytes().to_vec()))))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "ns", "ownerReferences": [{
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": name, "uid": uid, "controller": true}]},
        "type": "Opaque",
        "data": data,
    })
}

/// A Secret nobody controls, with these annotations.
fn foreign_secret(
    name: &str,
    items: &[(&str, &str)],
    annotations: serde_json::Value,
) -> serde_json::Value {
    let mut secret = owned_secret(name, "", items);
    let meta = secret["metadata"].as_object_mut().expect("metadata");
    meta.remove("ownerReferences");
    meta.insert("annotations".into(), annotations);
    secret
}

fn with_templates() -> Settings {
    Settings {
        templates: Some(Arc::new(gotemplate::Engine::new())),
        ..Settings::default()
    }
}

async fn run(
    fake: &FakeApi,
    ctx: &Arc<sealed_controller::reconcile::Context>,
    ns: &str,
    name: &str,
) -> Result<Action, String> {
    reconcile(Arc::new(fake.sealed(ns, name)), Arc::clone(ctx))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn creates_the_secret_with_status_event_and_owner() {
    let fake = FakeApi::new();
    let obj = sealed(
        "ns",
        "db",
        &[("password", "s3cr3t"), ("user", "admin")],
        "A",
    );
    fake.put_sealed(&obj);
    let ctx = fake.context(registry(&["A", "B"]));

    assert_eq!(
        run(&fake, &ctx, "ns", "db").await,
        Ok(Action::await_change())
    );

    let secret = fake.secret("ns", "db").expect("Secret created");
    assert_eq!(data(&secret, "password"), "s3cr3t");
    assert_eq!(data(&secret, "user"), "admin");
    let owner = &secret.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("SealedSecret", "uid-ns-db", Some(true))
    );
    let stored = fake.sealed("ns", "db");
    assert_eq!(condition(&stored), ("True".to_owned(), None));
    let status = stored.status.as_ref().expect("status");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        status.key_fingerprint.as_deref(),
        Some(fingerprint("A").as_str())
    );
    assert_eq!(
        fake.events(),
        [(
            "Normal".to_owned(),
            "Unsealed".to_owned(),
            "SealedSecret unsealed successfully".to_owned()
        )]
    );
}

/// A SealedSecret for three keys, one of them this controller's: opened with one RSA
/// decryption per value, and the status names the key that opened it.
#[tokio::test]
async fn several_recipients_open_with_the_key_held() {
    let fake = FakeApi::new();
    let obj = support::sealed_for(
        "ns",
        "db",
        &[("password", "s3cr3t")],
        &["C", "B", "D"],
        Scope::Strict,
    );
    fake.put_sealed(&obj);
    let ctx = fake.context(registry(&["A", "B"]));
    assert_eq!(
        run(&fake, &ctx, "ns", "db").await,
        Ok(Action::await_change())
    );
    let secret = fake.secret("ns", "db").expect("Secret created");
    assert_eq!(data(&secret, "password"), "s3cr3t");
    let stored = fake.sealed("ns", "db");
    let status = stored.status.as_ref().expect("status");
    assert_eq!(
        status.key_fingerprint.as_deref(),
        Some(fingerprint("B").as_str())
    );
}

#[tokio::test]
async fn second_reconcile_writes_nothing() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("first");
    let writes = fake.writes().len();
    assert_eq!(
        writes,
        3,
        "one create, one event and one status patch: {:?}",
        fake.writes()
    );
    run(&fake, &ctx, "ns", "db").await.expect("second");
    run(&fake, &ctx, "ns", "db").await.expect("third");
    assert_eq!(
        fake.writes().len(),
        writes,
        "no write on a no-op reconcile: {:?}",
        fake.writes()
    );
}

#[tokio::test]
async fn spec_change_updates_the_secret_and_observed_generation() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "old")], "A"));
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("first");
    let mut next = sealed("ns", "db", &[("k", "new")], "A");
    next.metadata.generation = Some(2);
    next.status = fake.sealed("ns", "db").status;
    fake.put_sealed(&next);
    run(&fake, &ctx, "ns", "db").await.expect("second");
    assert_eq!(data(&fake.secret("ns", "db").expect("secret"), "k"), "new");
    assert_eq!(
        fake.sealed("ns", "db")
            .status
            .expect("status")
            .observed_generation,
        Some(2)
    );
    let puts = fake
        .writes()
        .into_iter()
        .filter(|c| c.method == "PUT")
        .count();
    assert_eq!(puts, 1);
}

#[tokio::test]
async fn someone_elses_secret_is_refused_once_then_waits() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    fake.put_secret(foreign_secret("db", &[("k", "theirs")], json!({})));
    let ctx = fake.context(registry(&["A"]));

    assert_eq!(
        run(&fake, &ctx, "ns", "db").await,
        Ok(Action::await_change()),
        "no retry can help: wait for the Secret or the SealedSecret to change"
    );
    assert_eq!(
        data(&fake.secret("ns", "db").expect("secret"), "k"),
        "theirs"
    );
    let expected = r#"Resource "db" already exists and is not managed by SealedSecret"#;
    assert_eq!(
        condition(&fake.sealed("ns", "db")),
        (
            "False".to_owned(),
            Some(format!("failed update: {expected}"))
        )
    );
    assert_eq!(
        fake.events(),
        [(
            "Warning".to_owned(),
            "ErrUpdateFailed".to_owned(),
            expected.to_owned()
        )]
    );
    assert_eq!(
        fake.requests(),
        [
            "GET /api/v1/namespaces/ns/secrets/db",
            "POST /apis/events.k8s.io/v1/namespaces/ns/events",
            "PATCH /apis/bitnami.com/v1alpha1/namespaces/ns/sealedsecrets/db/status",
        ]
    );
    // Again (a restart, a relist): the status already says it; no second event.
    fake.clear_calls();
    run(&fake, &ctx, "ns", "db").await.expect("waits");
    assert_eq!(fake.requests(), ["GET /api/v1/namespaces/ns/secrets/db"]);
}

#[tokio::test]
async fn managed_secret_is_taken_over() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    fake.put_secret(foreign_secret(
        "db",
        &[("k", "old"), ("extra", "1")],
        json!({"sealedsecrets.bitnami.com/managed": "true"}),
    ));
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("taken over");
    let secret = fake.secret("ns", "db").expect("secret");
    assert_eq!(data(&secret, "k"), "v");
    assert!(!secret.data.as_ref().expect("data").contains_key("extra"));
    assert_eq!(
        secret.metadata.owner_references.expect("owner")[0].uid,
        "uid-ns-db"
    );
}

#[tokio::test]
async fn patch_annotation_merges_without_taking_ownership() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let mut existing = foreign_secret(
        "db",
        &[("k", "old"), ("extra", "1")],
        json!({"sealedsecrets.bitnami.com/patch": "true"}),
    );
    existing["metadata"]["labels"] = json!({"team": "a"});
    fake.put_secret(existing);
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("patched");
    let secret = fake.secret("ns", "db").expect("secret");
    assert_eq!(
        (data(&secret, "k"), data(&secret, "extra")),
        ("v".to_owned(), "1".to_owned())
    );
    assert_eq!(secret.metadata.labels.expect("labels")["team"], "a");
    assert!(secret.metadata.owner_references.is_none());
}

#[tokio::test]
async fn immutable_secret_with_new_data_fails_without_retry() {
    let fake = FakeApi::new();
    let mut obj = sealed("ns", "db", &[("k", "new")], "A");
    obj.spec.template.immutable = Some(true);
    fake.put_sealed(&obj);
    let mut existing = owned_secret("db", "uid-ns-db", &[("k", "old")]);
    existing["immutable"] = json!(true);
    fake.put_secret(existing);
    let ctx = fake.context(registry(&["A"]));
    assert_eq!(
        run(&fake, &ctx, "ns", "db").await,
        Ok(Action::await_change()),
        "not retried"
    );
    assert_eq!(data(&fake.secret("ns", "db").expect("secret"), "k"), "old");
    let (state, message) = condition(&fake.sealed("ns", "db"));
    assert_eq!(state, "False");
    assert!(
        message
            .expect("message")
            .starts_with("Error updating ns/db: the target Secret is immutable.")
    );
    assert!(fake.writes().iter().all(|c| c.method != "PUT"));
}

#[tokio::test]
async fn template_skip_owner_references() {
    let fake = FakeApi::new();
    let mut obj = sealed("ns", "db", &[("k", "v")], "A");
    let meta = obj
        .spec
        .template
        .metadata
        .get_or_insert_with(Default::default);
    meta.annotations = Some(
        [(
            "sealedsecrets.bitnami.com/skip-set-owner-references".to_owned(),
            "true".to_owned(),
        )]
        .into(),
    );
    obj.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    obj.spec.template.immutable = Some(true);
    fake.put_sealed(&obj);
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("created");
    let secret = fake.secret("ns", "db").expect("secret");
    assert!(secret.metadata.owner_references.is_none());
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(secret.immutable, Some(true));
    // Again (a restart): the Secret without owner is still this SealedSecret's.
    fake.clear_calls();
    run(&fake, &ctx, "ns", "db").await.expect("still synced");
    assert_eq!(fake.requests(), ["GET /api/v1/namespaces/ns/secrets/db"]);
}

#[tokio::test]
async fn scopes_follow_the_objects_own_annotations() {
    for scope in [Scope::NamespaceWide, Scope::ClusterWide] {
        let fake = FakeApi::new();
        // Sealed for another name (and namespace, for cluster-wide): still opens.
        let source_ns = if scope == Scope::ClusterWide {
            "elsewhere"
        } else {
            "ns"
        };
        let mut obj = sealed_with_scope(source_ns, "original", &[("k", "v")], "A", scope);
        obj.metadata.name = Some("renamed".into());
        obj.metadata.namespace = Some("ns".into());
        fake.put_sealed(&obj);
        let ctx = fake.context(registry(&["A"]));
        run(&fake, &ctx, "ns", "renamed").await.expect("opens");
        assert_eq!(
            data(&fake.secret("ns", "renamed").expect("secret"), "k"),
            "v"
        );
    }
    // A strict one renamed does not open, and a scope annotation in the template
    // cannot widen it.
    let fake = FakeApi::new();
    let mut obj = sealed("ns", "original", &[("k", "v")], "A");
    obj.metadata.name = Some("renamed".into());
    obj.metadata.annotations = None;
    let meta = obj
        .spec
        .template
        .metadata
        .get_or_insert_with(Default::default);
    meta.annotations = Some(
        [(
            "sealedsecrets.bitnami.com/cluster-wide".to_owned(),
            "true".to_owned(),
        )]
        .into(),
    );
    fake.put_sealed(&obj);
    let ctx = fake.context(registry(&["A"]));
    assert!(run(&fake, &ctx, "ns", "renamed").await.is_err());
    assert!(fake.secret("ns", "renamed").is_none());
}

#[tokio::test]
async fn wrong_key_reports_upstreams_error() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("b", "1"), ("a", "2")], "A"));
    let ctx = fake.context(registry(&["B"]));
    let error = run(&fake, &ctx, "ns", "db").await.expect_err("cannot open");
    assert_eq!(error, "no key could decrypt secret (a, b)");
    assert_eq!(
        condition(&fake.sealed("ns", "db")),
        ("False".to_owned(), Some(error.clone()))
    );
    assert_eq!(
        fake.events(),
        [(
            "Warning".to_owned(),
            "ErrUnsealFailed".to_owned(),
            format!("Failed to unseal: {error}")
        )]
    );
    assert!(fake.secret("ns", "db").is_none());
}

#[tokio::test]
async fn rotation_records_the_key_that_opened_and_tries_it_first() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "B"));
    let registry = registry(&["A", "B"]);
    let ctx = fake.context(Arc::clone(&registry));
    run(&fake, &ctx, "ns", "db").await.expect("opens with B");
    let stored = fake.sealed("ns", "db");
    let fp = stored
        .status
        .as_ref()
        .and_then(|s| s.key_fingerprint.clone());
    assert_eq!(fp.as_deref(), Some(fingerprint("B").as_str()));
    assert_eq!(
        registry.keys_for(fp.as_deref())[0].fingerprint,
        fingerprint("B")
    );
}

#[tokio::test]
async fn upstream_sealed_vectors_open() {
    let dir = support::vectors();
    for case in [
        "stringdata-and-metadata/strict",
        "rotation/sealed-with-B",
        "scope-flag/namespace-wide",
        "scope-flag/cluster-wide",
        "format-json/strict",
    ] {
        let text = std::fs::read_to_string(dir.join(case).join("sealed.yaml"))
            .or_else(|_| std::fs::read_to_string(dir.join(case).join("sealed.json")))
            .expect("vector");
        let mut obj: SealedSecret = serde_saphyr::from_str(&text).expect("SealedSecret");
        obj.metadata.uid = Some("u".into());
        obj.metadata.generation = Some(1);
        let ns = obj.metadata.namespace.clone().expect("namespace");
        let name = obj.metadata.name.clone().expect("name");
        let fake = FakeApi::new();
        fake.put_sealed(&obj);
        let ctx = fake.context(registry(&["A", "B"]));
        run(&fake, &ctx, &ns, &name)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let vector: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(case).join("vector.json")).expect("vector.json"),
        )
        .expect("JSON");
        let secret = fake.secret(&ns, &name).expect("secret");
        let expected = vector["expected_plaintext_b64"]
            .as_object()
            .expect("expected");
        let got = serde_json::to_value(secret.data.expect("data")).expect("JSON");
        assert_eq!(got.as_object().expect("object"), expected, "{case}");
    }
}

#[tokio::test]
async fn legacy_data_field() {
    let ns = "ns";
    let name = "legacy";
    let plain = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "data": {"k": "dg=="}});
    let blob = sealed_common::crypto::hybrid_encrypt(
        &support::public_key("A"),
        &serde_json::to_vec(&plain).expect("JSON"),
        &Scope::Strict.label(ns, name),
    )
    .expect("seal");
    let mut obj = sealed(ns, name, &[], "A");
    obj.spec.data = Some(sealed_common::crypto::encode_base64(&blob));
    obj.spec.encrypted_data.clear();

    let fake = FakeApi::new();
    fake.put_sealed(&obj);
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, ns, name).await.expect("legacy opens");
    assert_eq!(data(&fake.secret(ns, name).expect("secret"), "k"), "v");

    // Refused when --accept-deprecated-v1-data=false.
    let fake = FakeApi::new();
    fake.put_sealed(&obj);
    let ctx = fake.context_with(
        registry(&["A"]),
        Settings {
            accept_v1_data: false,
            ..Settings::default()
        },
    );
    assert!(run(&fake, &ctx, ns, name).await.is_err());
    assert!(fake.secret(ns, name).is_none());

    // Both fields: upstream's error.
    let fake = FakeApi::new();
    let mut both = obj.clone();
    both.spec.encrypted_data = sealed(ns, name, &[("x", "y")], "A").spec.encrypted_data;
    fake.put_sealed(&both);
    let ctx = fake.context(registry(&["A"]));
    let error = run(&fake, &ctx, ns, name).await.expect_err("both fields");
    assert_eq!(
        condition(&fake.sealed(ns, name)).1.as_deref(),
        Some(error.as_str())
    );
}

#[tokio::test]
async fn pruned_fingerprint_does_not_loop() {
    let fake = FakeApi::new();
    fake.state.lock().expect("state").prune_fingerprint = true;
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    run(&fake, &ctx, "ns", "db").await.expect("first");
    let writes = fake.writes().len();
    run(&fake, &ctx, "ns", "db").await.expect("second");
    assert_eq!(fake.writes().len(), writes, "{:?}", fake.writes());
}

#[tokio::test]
async fn update_status_off_writes_no_status() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context_with(
        registry(&["A"]),
        Settings {
            update_status: false,
            ..Settings::default()
        },
    );
    run(&fake, &ctx, "ns", "db").await.expect("ok");
    assert!(fake.writes().iter().all(|c| !c.path.ends_with("/status")));
    assert!(fake.sealed("ns", "db").status.is_none());
}

#[tokio::test]
async fn retries_back_off_then_stop() {
    let fake = FakeApi::new();
    let obj = Arc::new(sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context_with(
        registry(&["B"]),
        Settings {
            max_unseal_retries: 3,
            ..Settings::default()
        },
    );
    let error = sealed_controller::reconcile::ReconcileError(
        sealed_controller::reconcile::Failure::Unseal("x".into()),
    );
    let delays: Vec<Action> = (0..4)
        .map(|_| error_policy(Arc::clone(&obj), &error, Arc::clone(&ctx)))
        .collect();
    assert_eq!(
        delays,
        [
            Action::requeue(Duration::from_secs(1)),
            Action::requeue(Duration::from_secs(2)),
            Action::requeue(Duration::from_secs(4)),
            Action::await_change()
        ]
    );
    // A new generation starts counting again.
    let mut next = (*obj).clone();
    next.metadata.generation = Some(2);
    assert_eq!(
        error_policy(Arc::new(next), &error, ctx),
        Action::requeue(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn template_data_is_rendered_like_upstream() {
    let dir = support::vectors().join("template-data/strict");
    let text = std::fs::read_to_string(dir.join("sealed.yaml")).expect("vector");
    let mut obj: SealedSecret = serde_saphyr::from_str(&text).expect("SealedSecret");
    obj.metadata.uid = Some("u".into());
    obj.metadata.generation = Some(1);
    let fake = FakeApi::new();
    fake.put_sealed(&obj);
    let ctx = fake.context_with(registry(&["A", "B"]), with_templates());
    run(&fake, &ctx, "demo-ns", "demo-secret")
        .await
        .expect("renders");
    let secret = fake.secret("demo-ns", "demo-secret").expect("secret");
    assert_eq!(data(&secret, "combined"), "from-data:FROM-STRINGDATA");
    assert_eq!(data(&secret, "camel"), "HelloWorldFoo");
    assert_eq!(data(&secret, "literal"), "no template actions");
    let labels = secret.metadata.labels.expect("labels");
    assert_eq!(labels["app"], "demo");

    // A removed Sprig function is an error naming the key, not a crash.
    let mut bad = obj.clone();
    bad.spec.template.data =
        Some([("leak".to_owned(), Some("{{ env \"HOME\" }}".to_owned()))].into());
    let fake = FakeApi::new();
    fake.put_sealed(&bad);
    let ctx = fake.context_with(registry(&["A"]), with_templates());
    let error = run(&fake, &ctx, "demo-ns", "demo-secret")
        .await
        .expect_err("no env function");
    assert!(error.contains("\"env\""), "{error}");
    assert!(fake.secret("demo-ns", "demo-secret").is_none());
}

/// A SealedSecret with `count` template values `text` (no ciphertext needed).
fn with_template_values(count: usize, text: &str) -> SealedSecret {
    let mut obj = sealed("ns", "db", &[], "A");
    obj.spec.template.data = Some(
        (0..count)
            .map(|i| (format!("v{i:04}"), Some(text.to_owned())))
            .collect(),
    );
    obj
}

/// Template budgets are the object's, not each value's: 5,000 `bcrypt` values cost 8
/// hashes, the status names the key where the budget ran out, and the object waits for
/// a change instead of being retried (it would fail the same way).
#[tokio::test]
async fn thousands_of_bcrypt_templates_fail_fast_and_wait() {
    let fake = FakeApi::new();
    fake.put_sealed(&with_template_values(5000, r#"{{ bcrypt "x" }}"#));
    let ctx = fake.context_with(registry(&["A"]), with_templates());

    let started = std::time::Instant::now();
    let result = run(&fake, &ctx, "ns", "db").await;
    let took = started.elapsed();
    assert_eq!(result, Ok(Action::await_change()));
    // 8 hashes: about 0.4 s of CPU (3 s seen with the 2 cores loaded 5 times over); a
    // budget per value would hash 5,000 times, several minutes.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let expected = "template \"v0008\": more than 8 bcrypt/htpasswd calls in one SealedSecret";
    assert_eq!(
        condition(&fake.sealed("ns", "db")),
        ("False".to_owned(), Some(expected.to_owned()))
    );
    assert_eq!(
        fake.events(),
        [(
            "Warning".to_owned(),
            "ErrUnsealFailed".to_owned(),
            format!("Failed to unseal: {expected}")
        )]
    );
    assert!(fake.secret("ns", "db").is_none());
}

/// The step budget too: 5,000 values of 1,000 loop steps each stop at about the 1,000th.
#[tokio::test]
async fn thousands_of_looping_templates_fail_fast() {
    let fake = FakeApi::new();
    fake.put_sealed(&with_template_values(
        5000,
        "{{ range until 1000 }}{{ end }}",
    ));
    let ctx = fake.context_with(registry(&["A"]), with_templates());
    let started = std::time::Instant::now();
    let result = run(&fake, &ctx, "ns", "db").await;
    let took = started.elapsed();
    assert_eq!(result, Ok(Action::await_change()));
    // 1,000,000 steps: about 0.1 s; a budget per value would run 5,000,000.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (state, message) = condition(&fake.sealed("ns", "db"));
    assert_eq!(state, "False");
    let message = message.expect("message");
    assert!(
        message.starts_with("template \"v0")
            && message.ends_with("\": more than 1000000 template steps in one SealedSecret"),
        "{message}"
    );
}
