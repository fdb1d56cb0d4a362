// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Two (or more) replicas against the in-memory API server: one leader at a time, a
//! killed or cut-off leader stops writing before anyone else starts, a released Lease
//! is taken at once, followers never write, and a takeover does not mint a second key.

mod support;

use sealed_common::crypto::seal_value;
use sealed_common::key_secret::key_from_secret;
use sealed_common::scope::Scope;
use sealed_controller::keys::{KeyGenerator, KeyOrder, KeyRegistry, renew_as_leader};
use sealed_controller::leader::{ElectionConfig, Leadership, release, run_election};
use sealed_controller::reconcile::reconcile;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::FakeApi;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const NS: &str = "kube-system";
const LEASE: &str = "sealed-secrets-controller";

fn config(identity: &str, lease: u64, renew_ms: u64, retry_ms: u64) -> ElectionConfig {
    ElectionConfig {
        lease_name: LEASE.into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(lease),
        renew_deadline: Duration::from_millis(renew_ms),
        retry_period: Duration::from_millis(retry_ms),
    }
}

/// The controller's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
fn defaults(identity: &str) -> ElectionConfig {
    config(identity, 15, 10_000, 2_000)
}

struct Replica {
    leadership: Arc<Leadership>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(fake: &FakeApi, config: ElectionConfig) -> Replica {
    let leadership = Leadership::candidate();
    let (stop, stop_rx) = watch::channel(false);
    let api = kube::Api::namespaced(fake.client_named(&config.identity), NS);
    let task = tokio::spawn(run_election(api, config, Arc::clone(&leadership), stop_rx));
    Replica {
        leadership,
        stop,
        task,
    }
}

/// Samples both replicas every 50 ms until `done` or `limit`; fails if both ever lead
/// at the same instant. Returns when `done` held.
async fn watch_pair(
    a: &Leadership,
    b: &Leadership,
    limit: Duration,
    done: impl Fn(bool, bool) -> bool,
) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let (la, lb) = (a.is_leader(), b.is_leader());
        assert!(!(la && lb), "two leaders at once");
        if done(la, lb) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// "a" starts alone and leads; then "b" starts (default timings).
async fn leader_then_candidate(fake: &FakeApi) -> (Replica, Replica) {
    let a = start(fake, defaults("a"));
    watch_pair(
        &a.leadership,
        &Leadership::candidate(),
        Duration::from_secs(5),
        |la, _| la,
    )
    .await;
    (a, start(fake, defaults("b")))
}

#[tokio::test(start_paused = true)]
async fn one_leader_and_takeover_after_the_leader_is_killed() {
    let fake = FakeApi::new();
    let (a, b) = leader_then_candidate(&fake).await;
    // B never leads while A renews.
    let quiet = Instant::now() + Duration::from_secs(60);
    watch_pair(
        &a.leadership,
        &b.leadership,
        Duration::from_secs(61),
        |_, _| Instant::now() >= quiet,
    )
    .await;
    assert!(a.leadership.is_leader());

    // kill -9: A's task vanishes without releasing the Lease.
    a.task.abort();
    let killed = Instant::now();
    let took_over = watch_pair(
        &a.leadership,
        &b.leadership,
        Duration::from_secs(30),
        |_, lb| lb,
    )
    .await;
    let takeover = took_over - killed;
    eprintln!("takeover after the leader was killed: {takeover:?} (15 s lease, 2 s retry)");
    // B waits for the Lease to expire by its own clock: 15 s after it last saw it
    // change, at its next 2 s try.
    assert!(
        takeover >= Duration::from_secs(13) && takeover <= Duration::from_secs(19),
        "takeover took {takeover:?}"
    );
    // The dead leader's fence ran out by itself, before B started.
    assert!(!a.leadership.is_leader());
    let lease = lease(&fake);
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    let _ = b.stop.send(true);
}

fn lease(fake: &FakeApi) -> serde_json::Value {
    fake.state
        .lock()
        .expect("state")
        .leases
        .get(&(NS.to_owned(), LEASE.to_owned()))
        .cloned()
        .expect("lease")
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_stops_writing_before_another_takes_over() {
    let fake = FakeApi::new();
    let a = start(&fake, defaults("a"));
    let b = start(&fake, defaults("b"));
    watch_pair(
        &a.leadership,
        &b.leadership,
        Duration::from_secs(5),
        |la, lb| la || lb,
    )
    .await;
    let (leader, follower, leader_name) = if a.leadership.is_leader() {
        (&a, &b, "a")
    } else {
        (&b, &a, "b")
    };

    fake.state
        .lock()
        .expect("state")
        .cut_off
        .insert(leader_name.to_owned());
    let cut = Instant::now();
    let stopped = watch_pair(
        &leader.leadership,
        &follower.leadership,
        Duration::from_secs(15),
        |l, _| !l,
    )
    .await;
    assert!(
        stopped - cut <= Duration::from_millis(10_100),
        "the cut-off leader wrote for {:?}",
        stopped - cut
    );
    let started = watch_pair(
        &leader.leadership,
        &follower.leadership,
        Duration::from_secs(30),
        |_, f| f,
    )
    .await;
    assert!(started > stopped);

    // Back on the network, the old leader sees the new holder and stays a follower.
    fake.state.lock().expect("state").cut_off.clear();
    let calm = Instant::now() + Duration::from_secs(30);
    watch_pair(
        &leader.leadership,
        &follower.leadership,
        Duration::from_secs(31),
        |_, _| Instant::now() >= calm,
    )
    .await;
    assert!(follower.leadership.is_leader() && !leader.leadership.is_leader());
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_taken_at_the_next_try() {
    let fake = FakeApi::new();
    let (a, b) = leader_then_candidate(&fake).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // SIGTERM: stop, let the writers finish, give the Lease up.
    let _ = a.stop.send(true);
    let Replica {
        leadership, task, ..
    } = a;
    task.await.expect("the election ends on stop");
    assert!(!leadership.is_leader());
    let api = kube::Api::namespaced(fake.client_named("a"), NS);
    release(&api, &defaults("a")).await.expect("release");
    let released = Instant::now();
    let took = watch_pair(
        &leadership,
        &b.leadership,
        Duration::from_secs(5),
        |_, lb| lb,
    )
    .await
        - released;
    assert!(took <= Duration::from_millis(2_100), "took {took:?}");
}

#[test]
fn timings_must_nest() {
    assert!(defaults("x").check().is_ok());
    assert!(config("x", 10, 10_000, 2_000).check().is_err());
    assert!(config("x", 15, 2_000, 2_000).check().is_err());
    assert!(config("x", 15, 10_000, 0).check().is_err());
}

#[tokio::test]
async fn a_follower_does_not_write() {
    let fake = FakeApi::new();
    let sealed = support::sealed(NS, "db", &[("password", "s3cr3t")], "A");
    fake.put_sealed(&sealed);

    let follower = fake.replica_context(
        "default",
        support::registry(&["A"]),
        Leadership::candidate(),
    );
    reconcile(Arc::new(fake.sealed(NS, "db")), follower)
        .await
        .expect("reconcile");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert!(fake.events().is_empty());
    assert!(fake.secret(NS, "db").is_none());

    let leader = fake.context(support::registry(&["A"]));
    reconcile(Arc::new(fake.sealed(NS, "db")), leader)
        .await
        .expect("reconcile");
    assert!(fake.secret(NS, "db").is_some());
}

#[tokio::test]
async fn a_follower_does_not_store_keys() {
    let fake = FakeApi::new();
    let generator = generator(&fake, "b", Leadership::candidate());
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let error = generator
        .generate(&registry)
        .await
        .expect_err("a follower must not store a key");
    assert!(
        error.to_string().contains("no longer the leader"),
        "{error}"
    );
    assert!(fake.writes().is_empty());
}

fn generator(fake: &FakeApi, who: &str, leader: Arc<Leadership>) -> KeyGenerator {
    KeyGenerator {
        client: fake.client_named(who),
        namespace: NS.into(),
        prefix: "sealed-secrets-key".into(),
        // Never 4096 in tests: generation is seconds per key.
        bits: 2048,
        validity: Duration::from_secs(3600 * 24 * 365),
        common_name: String::new(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        leader,
    }
}

/// A whole replica as far as writing goes: election, key renewal while leading, and a
/// reconcile context that shares the lead.
struct FullReplica {
    election: Replica,
    renewal: JoinHandle<()>,
    ctx: Arc<sealed_controller::reconcile::Context>,
}

fn start_full(fake: &FakeApi, who: &str) -> FullReplica {
    // Short timings: key generation runs on real threads, so time is not paused here.
    let election = start(fake, config(who, 2, 1_500, 300));
    let leadership = Arc::clone(&election.leadership);
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let generator = generator(fake, who, Arc::clone(&leadership));
    let renewal = tokio::spawn({
        let registry = Arc::clone(&registry);
        let leadership = Arc::clone(&leadership);
        async move {
            let (_manual_tx, mut manual) = mpsc::channel(1);
            loop {
                leadership.until_leading().await;
                tokio::select! {
                    () = renew_as_leader(
                        generator.clone(),
                        Arc::clone(&registry),
                        Duration::from_secs(720 * 3600),
                        None,
                        &mut manual,
                    ) => {}
                    () = leadership.until_not_leading() => {}
                }
            }
        }
    });
    let ctx = fake.replica_context(who, Arc::clone(&registry), leadership);
    FullReplica {
        election,
        renewal,
        ctx,
    }
}

fn key_secrets(fake: &FakeApi) -> Vec<serde_json::Value> {
    fake.state
        .lock()
        .expect("state")
        .secrets
        .values()
        .filter(|s| {
            s["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"] == "active"
        })
        .cloned()
        .collect()
}

async fn until(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_key_and_the_survivor_unseals() {
    let fake = FakeApi::new();
    let a = start_full(&fake, "a");
    until(Duration::from_secs(5), "a leads", || {
        a.election.leadership.is_leader()
    })
    .await;
    let b = start_full(&fake, "b");
    until(Duration::from_secs(30), "first key stored", || {
        !key_secrets(&fake).is_empty()
    })
    .await;

    // Kill the leader.
    a.election.task.abort();
    a.renewal.abort();
    until(Duration::from_secs(10), "b takes over", || {
        b.election.leadership.is_leader()
    })
    .await;
    assert!(!a.election.leadership.is_leader());
    // Give the new leader's renewal job time to decide: it must find A's key.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let keys = key_secrets(&fake);
    assert_eq!(keys.len(), 1, "a second key was generated");
    let by_b = fake
        .calls()
        .into_iter()
        .filter(|c| c.client == "b" && c.method == "POST" && c.path.ends_with("/secrets"))
        .count();
    assert_eq!(by_b, 0);

    // A SealedSecret sealed with that key after the takeover opens on the survivor.
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(keys[0].clone()).expect("key Secret");
    let public = key_from_secret(&secret)
        .expect("key")
        .certificate
        .expect("certificate")
        .public_key()
        .clone();
    let label = Scope::Strict.label("app", "db");
    let sealed: sealed_common::SealedSecret = serde_json::from_value(json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "app", "uid": "uid-db", "generation": 1},
        "spec": {"encryptedData": {"password": seal_value(&public, b"s3cr3t", &label).expect("seal")},
                 "template": {"metadata": {"name": "db", "namespace": "app"}}}
    }))
    .expect("SealedSecret");
    fake.put_sealed(&sealed);
    reconcile(Arc::new(fake.sealed("app", "db")), Arc::clone(&b.ctx))
        .await
        .expect("reconcile");
    let opened = fake
        .secret("app", "db")
        .expect("Secret written by the new leader");
    assert_eq!(opened.data.expect("data")["password"].0, b"s3cr3t".to_vec());
    let writer: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == "/api/v1/namespaces/app/secrets")
        .map(|c| c.client)
        .collect();
    assert_eq!(writer, ["b"]);
    let _ = b.election.stop.send(true);
    b.renewal.abort();
}

/// Samples `leader` every 50 ms for `how_long`: it must lead throughout.
async fn leads_throughout(leader: &Leadership, how_long: Duration) {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        assert!(leader.is_leader(), "stepped down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn failed_renewals_within_the_renew_deadline_keep_the_leader() {
    let fake = FakeApi::new();
    let (a, b) = leader_then_candidate(&fake).await;
    let terms = a.leadership.subscribe();
    // Three renewals in a row lose the compare-and-swap (6 s of the 10 s deadline).
    fake.state.lock().expect("state").lease_conflicts = 3;
    leads_throughout(&a.leadership, Duration::from_secs(8)).await;
    assert_eq!(fake.state.lock().expect("state").lease_conflicts, 0);
    // Then 6 s without an answer at all.
    fake.state
        .lock()
        .expect("state")
        .cut_off
        .insert("a".to_owned());
    leads_throughout(&a.leadership, Duration::from_secs(6)).await;
    fake.state.lock().expect("state").cut_off.clear();
    leads_throughout(&a.leadership, Duration::from_secs(20)).await;
    assert!(!b.leadership.is_leader());
    assert!(!terms.has_changed().expect("open"), "a left and came back");
    assert_eq!(lease(&fake)["spec"]["holderIdentity"], "a");
    let _ = a.stop.send(true);
    let _ = b.stop.send(true);
}

#[tokio::test(start_paused = true)]
async fn a_new_term_reconciles_only_what_changed_while_following() {
    use kube::runtime::reflector::{self, ObjectRef};
    use kube::runtime::watcher::Event;
    use sealed_controller::run::triggers::lead_gained;
    use tokio_stream_ext::collect_refs;

    let fake = FakeApi::new();
    let names = ["db0", "db1", "db2"];
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for name in names {
        let object = support::sealed(NS, name, &[("k", "v")], "A");
        fake.put_sealed(&object);
        writer.apply_watcher_event(&Event::InitApply(object));
    }
    writer.apply_watcher_event(&Event::InitDone);

    let leadership = Leadership::candidate();
    let ctx = fake.replica_context("a", support::registry(&["A"]), Arc::clone(&leadership));
    let refs = collect_refs(lead_gained(Arc::clone(&ctx), store));

    // Before the first term: the Controller hands every object over; all are deferred.
    for name in names {
        reconcile(Arc::new(fake.sealed(NS, name)), Arc::clone(&ctx))
            .await
            .expect("deferred");
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    let (stop, stop_rx) = watch::channel(false);
    let api = kube::Api::namespaced(fake.client_named("a"), NS);
    tokio::spawn(run_election(
        api,
        defaults("a"),
        Arc::clone(&leadership),
        stop_rx,
    ));
    let replica = Replica {
        leadership,
        stop,
        task: tokio::spawn(async {}),
    };
    replica.leadership.until_leading().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first: Vec<String> = refs.lock().expect("refs").drain(..).collect();
    assert_eq!(
        first.len(),
        3,
        "the first term checks everything: {first:?}"
    );

    // Lose the lead (cut off past the renew deadline), hear about one object, lead again.
    fake.state
        .lock()
        .expect("state")
        .cut_off
        .insert("a".to_owned());
    tokio::time::timeout(
        Duration::from_secs(15),
        replica.leadership.until_not_leading(),
    )
    .await
    .expect("stepped down");
    reconcile(Arc::new(fake.sealed(NS, "db1")), Arc::clone(&ctx))
        .await
        .expect("deferred");
    fake.state.lock().expect("state").cut_off.clear();
    tokio::time::timeout(Duration::from_secs(30), replica.leadership.until_leading())
        .await
        .expect("leads again");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second: Vec<String> = refs.lock().expect("refs").drain(..).collect();
    assert_eq!(
        second,
        [ObjectRef::<sealed_common::SealedSecret>::new("db1")
            .within(NS)
            .to_string()]
    );
    let _ = replica.stop.send(true);
}

mod tokio_stream_ext {
    use futures::{Stream, StreamExt};
    use kube::runtime::reflector::ObjectRef;
    use sealed_common::SealedSecret;
    use std::sync::{Arc, Mutex};

    /// Collects what `stream` yields, on a background task.
    pub fn collect_refs(
        stream: impl Stream<Item = ObjectRef<SealedSecret>> + Send + 'static,
    ) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        tokio::spawn(stream.for_each(move |r| {
            sink.lock().expect("refs").push(r.to_string());
            std::future::ready(())
        }));
        seen
    }
}
