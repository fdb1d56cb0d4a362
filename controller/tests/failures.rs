// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! What a reconcile does when the API server fails or refuses, and when there is
//! nothing to do: every request it makes is checked, events included.

mod support;

use k8s_openapi::ByteString;
use kube::runtime::controller::Action;
use sealed_common::SealedSecret;
use sealed_controller::reconcile::{ReconcileError, error_policy, reconcile};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{FakeApi, Fault, registry, sealed};

const SECRET: &str = "/api/v1/namespaces/ns/secrets/db";
const SECRETS: &str = "/api/v1/namespaces/ns/secrets";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ns/events";
const STATUS: &str = "/apis/bitnami.com/v1alpha1/namespaces/ns/sealedsecrets/db/status";

/// Every request so far; an event is "EVENT", whether new (POST) or a repeat that
/// kube's recorder counts on the existing one (PATCH).
fn requests(fake: &FakeApi) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| {
            if r.contains(EVENTS) {
                "EVENT".to_owned()
            } else {
                r
            }
        })
        .collect()
}

const EVENT: &str = "EVENT";

/// A first sync: read the Secret, create it, record `Unsealed` (or a Warning), patch the status.
fn create_report_and_status() -> [String; 4] {
    [
        get(SECRET),
        post(SECRETS),
        EVENT.into(),
        format!("PATCH {STATUS}"),
    ]
}

fn get(path: &str) -> String {
    format!("GET {path}")
}
fn post(path: &str) -> String {
    format!("POST {path}")
}

/// Reconciles ns/db as stored now; on failure, also asks `error_policy` what follows.
async fn reconcile_once(
    fake: &FakeApi,
    ctx: &Arc<sealed_controller::reconcile::Context>,
) -> Result<Action, (String, Action)> {
    let object = Arc::new(fake.sealed("ns", "db"));
    reconcile(Arc::clone(&object), Arc::clone(ctx))
        .await
        .map_err(|error: ReconcileError| {
            let next = error_policy(object, &error, Arc::clone(ctx));
            (error.to_string(), next)
        })
}

fn synced(sealed: &SealedSecret) -> Option<(String, Option<String>)> {
    let condition = sealed
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Synced")?
        .clone();
    Some((condition.status, condition.message))
}

fn requeued_within(action: &Action, low: Duration, high: Duration) -> bool {
    delay_of(action).is_some_and(|d| d >= low && d <= high)
}

/// The requeue delay of an action, read from its Debug form (`Action` has no getter).
fn delay_of(action: &Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    let split = inner.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = inner.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "µs" => value / 1e6,
        "ns" => value / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[tokio::test]
async fn an_outage_is_retried_without_limit_and_reported_once() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    fake.fail(Fault::new("GET", SECRET, 503, "ServiceUnavailable").times(12));

    // First failure: one Warning event and Synced=False, then a retry.
    let (error, next) = reconcile_once(&fake, &ctx).await.expect_err("503");
    assert!(error.contains("injected 503"), "{error}");
    assert!(
        requeued_within(
            &next,
            Duration::from_millis(800),
            Duration::from_millis(1_200)
        ),
        "{next:?}"
    );
    assert_eq!(
        requests(&fake),
        [get(SECRET), EVENT.into(), format!("PATCH {STATUS}")]
    );
    assert_eq!(synced(&fake.sealed("ns", "db")).expect("status").0, "False");

    // The same failure again: no new event, no status write; retried far beyond
    // --max-unseal-retries (5), the delay capped at 30 s.
    for attempt in 2..=12 {
        fake.clear_calls();
        let (_, next) = reconcile_once(&fake, &ctx).await.expect_err("503");
        assert_eq!(requests(&fake), [get(SECRET)], "attempt {attempt}");
        let delay = delay_of(&next).expect("requeued, never given up");
        assert!(
            delay <= Duration::from_secs(36),
            "attempt {attempt}: {delay:?}"
        );
    }

    // Back: the Secret, Synced=True, one Unsealed event.
    fake.clear_calls();
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    assert_eq!(requests(&fake), create_report_and_status());
    assert_eq!(
        synced(&fake.sealed("ns", "db")),
        Some(("True".into(), None))
    );
    let reasons: Vec<String> = fake.events().into_iter().map(|e| e.1).collect();
    assert_eq!(reasons, ["ErrUpdateFailed", "Unsealed"]);
}

#[tokio::test]
async fn a_conflict_is_retried_at_once_without_event_or_status() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    fake.fail(Fault::new("POST", SECRETS, 409, "AlreadyExists"));
    let (_, next) = reconcile_once(&fake, &ctx).await.expect_err("409");
    assert_eq!(requests(&fake), [get(SECRET), post(SECRETS)]);
    assert!(
        requeued_within(&next, Duration::ZERO, Duration::from_millis(120)),
        "{next:?}"
    );
    assert!(fake.sealed("ns", "db").status.is_none());
    assert!(fake.events().is_empty());
}

#[tokio::test]
async fn throttling_waits_at_least_retry_after() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    fake.fail(Fault::new("GET", SECRET, 429, "TooManyRequests").retry_after(7));
    let (_, next) = reconcile_once(&fake, &ctx).await.expect_err("429");
    assert_eq!(delay_of(&next), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_failed_status_write_is_retried_and_the_event_not_repeated() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    fake.fail(Fault::new("PATCH", STATUS, 500, "InternalError"));
    let (_, next) = reconcile_once(&fake, &ctx).await.expect_err("status 500");
    assert!(delay_of(&next).is_some(), "{next:?}");
    assert!(fake.secret("ns", "db").is_some());
    assert!(fake.sealed("ns", "db").status.is_none());

    fake.clear_calls();
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    assert_eq!(requests(&fake), [get(SECRET), format!("PATCH {STATUS}")]);
    assert_eq!(
        synced(&fake.sealed("ns", "db")),
        Some(("True".into(), None))
    );
    assert_eq!(fake.events().len(), 1, "{:?}", fake.events());
}

#[tokio::test]
async fn a_restart_over_unchanged_objects_writes_nothing() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let first = fake.context(registry(&["A"]));
    reconcile_once(&fake, &first).await.expect("first");
    // A new process: nothing remembered but what the API server holds.
    let restarted = fake.context(registry(&["A"]));
    fake.clear_calls();
    assert_eq!(
        reconcile_once(&fake, &restarted).await,
        Ok(Action::await_change())
    );
    assert_eq!(requests(&fake), [get(SECRET)]);
}

#[tokio::test]
async fn an_edited_secret_is_restored_with_one_event() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    reconcile_once(&fake, &ctx).await.expect("first");
    let mut edited = serde_json::to_value(fake.secret("ns", "db").expect("secret")).expect("JSON");
    edited["data"]["k"] = json!(ByteString(b"tampered".to_vec()));
    fake.put_secret(edited);
    fake.clear_calls();
    reconcile_once(&fake, &ctx).await.expect("restored");
    assert_eq!(
        requests(&fake),
        [get(SECRET), format!("PUT {SECRET}"), EVENT.into()]
    );
}

#[tokio::test]
async fn a_type_change_deletes_and_creates_the_secret() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed(
        "ns",
        "db",
        &[("username", "u"), ("password", "p")],
        "A",
    ));
    let ctx = fake.context(registry(&["A"]));
    reconcile_once(&fake, &ctx).await.expect("first");
    let before = fake.secret("ns", "db").expect("secret");

    let mut next = sealed("ns", "db", &[("username", "u"), ("password", "p")], "A");
    next.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    next.metadata.generation = Some(2);
    next.status = fake.sealed("ns", "db").status;
    fake.put_sealed(&next);
    fake.clear_calls();
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    assert_eq!(
        requests(&fake),
        [
            get(SECRET),
            format!("DELETE {SECRET}"),
            post(SECRETS),
            EVENT.into(),
            format!("PATCH {STATUS}")
        ]
    );
    // The delete names the Secret it compared: uid and resourceVersion.
    let delete = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "DELETE")
        .expect("delete");
    assert_eq!(
        delete.body["preconditions"],
        json!({"uid": before.metadata.uid, "resourceVersion": before.metadata.resource_version})
    );
    let after = fake.secret("ns", "db").expect("recreated");
    assert_eq!(after.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_ne!(after.metadata.uid, before.metadata.uid);
    assert_eq!(after.data, before.data);
    assert_eq!(
        synced(&fake.sealed("ns", "db")),
        Some(("True".into(), None))
    );
}

#[tokio::test]
async fn the_fake_refuses_type_changes_like_a_real_api_server() {
    // What makes the test above meaningful: an update in place is refused.
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    reconcile_once(&fake, &ctx).await.expect("first");
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(fake.client(), "ns");
    let mut secret = fake.secret("ns", "db").expect("secret");
    secret.type_ = Some("kubernetes.io/tls".into());
    let error = api
        .replace("db", &Default::default(), &secret)
        .await
        .expect_err("422");
    assert!(error.to_string().contains("field is immutable"), "{error}");
}

#[tokio::test]
async fn a_stale_delete_precondition_is_a_quiet_retry() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    reconcile_once(&fake, &ctx).await.expect("first");
    let mut next = sealed("ns", "db", &[("k", "v")], "A");
    next.spec.template.type_ = Some("kubernetes.io/basic-auth".into());
    next.metadata.generation = Some(2);
    fake.put_sealed(&next);
    fake.fail(Fault::new("DELETE", SECRET, 409, "Conflict"));
    fake.clear_calls();
    let (_, action) = reconcile_once(&fake, &ctx).await.expect_err("conflict");
    assert_eq!(requests(&fake), [get(SECRET), format!("DELETE {SECRET}")]);
    assert!(delay_of(&action).is_some_and(|d| d < Duration::from_secs(1)));
    assert!(fake.events().iter().all(|e| e.0 != "Warning"));
}

#[tokio::test]
async fn a_secret_that_must_stay_immutable_is_refused_but_can_be_made_mutable() {
    let fake = FakeApi::new();
    let mut frozen = sealed("ns", "db", &[("k", "old")], "A");
    frozen.spec.template.immutable = Some(true);
    fake.put_sealed(&frozen);
    let ctx = fake.context(registry(&["A"]));
    reconcile_once(&fake, &ctx)
        .await
        .expect("created immutable");
    assert_eq!(
        fake.secret("ns", "db").expect("secret").immutable,
        Some(true)
    );

    // Template no longer immutable, new data: delete and create.
    let mut thawed = sealed("ns", "db", &[("k", "new")], "A");
    thawed.metadata.generation = Some(2);
    fake.put_sealed(&thawed);
    reconcile_once(&fake, &ctx).await.expect("recreated");
    let secret = fake.secret("ns", "db").expect("secret");
    assert_eq!(secret.immutable, None);
    assert_eq!(secret.data.expect("data")["k"].0, b"new");
}

#[tokio::test]
async fn an_object_being_deleted_is_left_alone() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    fake.set_deleting("ns", "db");
    let ctx = fake.context(registry(&["A"]));
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    assert!(requests(&fake).is_empty(), "{:?}", requests(&fake));
}

#[tokio::test]
async fn a_terminating_namespace_is_not_an_error() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    fake.terminate_namespace("ns");
    let ctx = fake.context(registry(&["A"]));
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    // The create was refused with 403 NamespaceTerminating; no event, no status.
    assert_eq!(requests(&fake), [get(SECRET), post(SECRETS)]);
    assert!(fake.secret("ns", "db").is_none());
}

#[tokio::test]
async fn an_invalid_secret_is_reported_once_and_waits() {
    let fake = FakeApi::new();
    fake.put_sealed(&sealed("ns", "db", &[("k", "v")], "A"));
    let ctx = fake.context(registry(&["A"]));
    fake.fail(Fault::new("POST", SECRETS, 422, "Invalid"));
    assert_eq!(
        reconcile_once(&fake, &ctx).await,
        Ok(Action::await_change())
    );
    assert_eq!(requests(&fake), create_report_and_status());
    let (state, message) = synced(&fake.sealed("ns", "db")).expect("status");
    assert_eq!(state, "False");
    assert!(message.expect("message").contains("injected 422"));
}
