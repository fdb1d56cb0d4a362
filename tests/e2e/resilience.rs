//! Fault tolerance: the API server unavailable in the middle of a burst of new
//! SealedSecrets, Secrets deleted while the controller re-lists, a template `type`
//! change, a namespace deleted under the controller, a SealedSecret held by a finalizer,
//! and a restart that must write nothing.
//!
//! Outages use a TCP forwarder between the controller and the API server
//! ([`sealed_e2e::forwarder`]), which works against any API server. Against the fake API
//! server with `/_fault/*` endpoints, the outage test also answers 503 for a while and
//! the relist test forces a real relist; those two tests then run alone (the faults hit
//! the whole server).

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, PostParams};
use sealed_common::Scope;
use sealed_e2e::bulk::{self, Planned};
use sealed_e2e::checks::{assert_data, assert_owned_by};
use sealed_e2e::controller::Controller;
use sealed_e2e::gc::{self, has_controller_manager};
use sealed_e2e::http::{self, matching};
use sealed_e2e::objects::{
    self, apply_sealed_secret, bytes_map, delete_if_present, describe_events, describe_sealed,
    describe_secret, events_about, generation, get_opt, observed_generation, only_warnings,
    secret_data, show_bytes_map, warning_events,
};
use sealed_e2e::sealing::{seal_items, sealed_secret};
use sealed_e2e::{ControllerSpec, Ctx, Poll, run, run_alone_on_fake};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How many objects the 200-object tests apply at a time.
const CONCURRENCY: usize = 8;
/// How long the API server is unavailable to the controller in the outage test.
const OUTAGE: Duration = Duration::from_secs(60);
/// How long "nothing happens" is watched.
const QUIET: Duration = Duration::from_secs(5);
const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
const FINALIZER: &str = "e2e.sealed-secrets/hold";
/// `metadata.name` of the counter of reconciles.
const UNSEAL_REQUESTS: &str = "sealed_secrets_controller_unseal_requests_total";
const UNSEAL_ERRORS: &str = "sealed_secrets_controller_unseal_errors_total";

#[tokio::test]
async fn outage_in_the_middle_of_200_new_objects() -> Result<()> {
    run_alone_on_fake("outage", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let cut = ctx.start_behind_forwarder(&ns).await?;
        let forwarder = &cut.forwarder;
        let batch = bulk::plan(&cut.cert, &ns, "burst", 200, 3)?;
        let (before, during) = batch.split_at(100);
        bulk::apply_all(ctx.client(), before, CONCURRENCY).await?;

        // The outage: the controller cannot reach the API server for OUTAGE; the test's
        // own client (direct) goes on applying the other 100.
        let outage_started = Instant::now();
        forwarder.cut();
        match ctx.fake_faults() {
            None => {
                let margin = Duration::from_secs(10);
                bulk::apply_during(ctx.client(), during, CONCURRENCY, OUTAGE, margin).await?;
                cut.assert_no_secret_yet(&ctx, &ns, during, "the controller was cut off")
                    .await?;
                forwarder.restore();
            }
            Some(faults) => {
                // Half of the window cut off, half answered 503 by the API server itself
                // (which then fails the test's own writes too: all are applied before).
                let half = OUTAGE / 2;
                let margin = Duration::from_secs(5);
                bulk::apply_during(ctx.client(), during, CONCURRENCY, half, margin).await?;
                cut.assert_no_secret_yet(&ctx, &ns, during, "the controller was cut off")
                    .await?;
                faults.fail_with_status(503, half.as_secs()).await?;
                forwarder.restore();
                println!(
                    "cut off for {}s; now the API server answers 503 for {}s",
                    half.as_secs(),
                    half.as_secs()
                );
                tokio::time::sleep(half).await;
                faults.clear().await?;
                cut.assert_no_secret_yet(&ctx, &ns, during, "the API server answered 503")
                    .await?;
            }
        }
        let outage_ended = Instant::now();
        let stats = forwarder.stats();
        println!(
            "outage over after {:.1}s; forwarder: {stats}",
            outage_started.elapsed().as_secs_f64()
        );
        ensure!(
            stats.severed >= 1 && stats.refused >= 1,
            "the controller's connections were not cut or it never tried to reconnect: {stats}"
        );

        ctx.wait_batch_synced(&ns, &batch, ctx.timeout()).await?;
        let recovery = outage_ended.elapsed();
        println!(
            "all {} SealedSecrets Synced=True with their Secrets {:.1}s after the outage ended",
            batch.len(),
            recovery.as_secs_f64()
        );
        // The controller notices the API server is back within seconds (its watches
        // reconnect within 5 s, and what failed meanwhile is retried together), not at
        // the end of every object's own backoff.
        ensure!(
            recovery <= Duration::from_secs(30),
            "recovery took {recovery:?} after the outage ended"
        );
        cut.same_process(&ctx)
    })
    .await
}

#[tokio::test]
async fn secrets_deleted_during_a_relist_are_recreated() -> Result<()> {
    run_alone_on_fake("relist", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let cut = ctx.start_behind_forwarder(&ns).await?;
        let batch = bulk::plan(&cut.cert, &ns, "relisted", 12, 2)?;
        bulk::apply_all(ctx.client(), &batch, CONCURRENCY).await?;
        ctx.wait_batch_synced(&ns, &batch, ctx.timeout()).await?;
        let before = ctx.secrets_by_name(&ns).await?;
        let victims: Vec<Planned> = batch.iter().step_by(3).cloned().collect();
        let victim_names: Vec<String> = victims.iter().map(|p| p.name.clone()).collect();

        let deleted_at = match ctx.fake_faults() {
            Some(faults) => {
                let targets: Vec<(String, String)> = victim_names
                    .iter()
                    .map(|n| (ns.clone(), n.clone()))
                    .collect();
                faults.relist_deleting_secrets(&targets).await?;
                println!(
                    "the fake API server deleted {} unseen and made every watcher relist",
                    victim_names.join(", ")
                );
                Instant::now()
            }
            None => {
                println!(
                    "skipped part: a relist cannot be forced on a real API server; the Secrets are deleted \
                     while the controller is cut off from it instead (it resumes its watches when it is back)"
                );
                cut.forwarder.cut();
                tokio::time::sleep(Duration::from_secs(2)).await;
                let api = objects::secrets(ctx.client(), &ns);
                for name in &victim_names {
                    delete_if_present(&api, name).await?;
                }
                let deleted_at = Instant::now();
                tokio::time::sleep(Duration::from_secs(8)).await;
                cut.assert_no_secret_yet(&ctx, &ns, &victims, "the controller was cut off")
                    .await?;
                cut.forwarder.restore();
                deleted_at
            }
        };

        for victim in &victims {
            let old_uid = before
                .get(&victim.name)
                .and_then(|s| s.metadata.uid.clone())
                .with_context(|| format!("Secret {ns}/{} had no uid", victim.name))?;
            let back = ctx
                .wait_secret(&ns, &victim.name, "be recreated (a new uid)", |s| {
                    s.metadata.uid.as_deref().is_some_and(|uid| uid != old_uid)
                })
                .await?;
            assert_data(&back, &victim.items)?;
            let sealed = objects::sealed_secrets(ctx.client(), &ns)
                .get(&victim.name)
                .await
                .with_context(|| format!("reading SealedSecret {ns}/{}", victim.name))?;
            assert_owned_by(&back, &sealed)
                .with_context(|| format!("Secret {ns}/{}", victim.name))?;
        }
        println!(
            "the {} deleted Secrets were back {:.1}s after their deletion",
            victims.len(),
            deleted_at.elapsed().as_secs_f64()
        );

        // The others (and the key Secret) untouched, also a moment later.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = ctx.secrets_by_name(&ns).await?;
        let mut touched = Vec::new();
        for (name, old) in before.iter().filter(|(n, _)| !victim_names.contains(n)) {
            match after.get(name) {
                None => touched.push(format!("Secret {ns}/{name} is gone")),
                Some(new) if new.metadata.resource_version != old.metadata.resource_version => {
                    touched.push(format!(
                        "Secret {ns}/{name} was written: {} -> {}",
                        describe_secret(old),
                        describe_secret(new)
                    ))
                }
                Some(_) => {}
            }
        }
        ensure!(
            touched.is_empty(),
            "Secrets that were not deleted must not be rewritten:\n  {}",
            touched.join("\n  ")
        );
        ctx.wait_batch_synced(&ns, &batch, ctx.timeout()).await?;
        cut.same_process(&ctx)
    })
    .await
}

/// A PUT of `secret` with type `new_type` must be refused with 422, as a real API
/// server does (Secret `type` is immutable): the controller has to delete and recreate.
async fn assert_type_change_refused(ctx: &Ctx, secret: &Secret, new_type: &str) -> Result<()> {
    let ns = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut changed = secret.clone();
    changed.type_ = Some(new_type.to_owned());
    match objects::secrets(ctx.client(), &ns)
        .replace(&name, &PostParams::default(), &changed)
        .await
    {
        Err(kube::Error::Api(status)) if status.code == 422 => {
            println!(
                "PUT of Secret {ns}/{name} with type {new_type}: 422 {:?}",
                status.message
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(e).context(format!(
            "PUT of Secret {ns}/{name} with type {new_type}: expected 422 (type is immutable)"
        ))),
        Ok(stored) => bail!(
            "the API server accepted a PUT changing the type of Secret {ns}/{name} from {:?} to {new_type} \
             (now {}); a real API server refuses it with 422 (a Secret's type is immutable), and this test \
             checks the controller against that rule",
            secret.type_,
            describe_secret(&stored)
        ),
    }
}

#[tokio::test]
async fn type_change_recreates_the_secret() -> Result<()> {
    run("typechange", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let _controller = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let items = bytes_map(&[("username", b"admin"), ("password", b"s3cret")]);

        let name = "typed";
        let enc = seal_items(&cert, Scope::Strict, &ns, name, &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc, json!({ "type": "Opaque" })),
        )
        .await?;
        ctx.wait_synced(&ns, name).await?;
        let opaque = ctx.wait_secret_data(&ns, name, &items).await?;
        ensure!(
            opaque.type_.as_deref() == Some("Opaque"),
            "expected an Opaque Secret: {}",
            describe_secret(&opaque)
        );
        assert_type_change_refused(&ctx, &opaque, BASIC_AUTH).await?;

        // The same items, the template's type changed.
        let applied = apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, name, Scope::Strict, &enc, json!({ "type": BASIC_AUTH })),
        )
        .await?;
        let wanted_generation = generation(&applied).context("no metadata.generation")?;
        let retyped = ctx
            .wait_secret(&ns, name, &format!("have type {BASIC_AUTH}"), |s| {
                s.type_.as_deref() == Some(BASIC_AUTH)
            })
            .await?;
        ensure!(
            retyped.metadata.uid.is_some() && retyped.metadata.uid != opaque.metadata.uid,
            "a type change needs a new Secret (new uid): uid {:?} -> {:?}",
            opaque.metadata.uid,
            retyped.metadata.uid
        );
        assert_data(&retyped, &items)?;
        let synced = ctx.wait_synced(&ns, name).await?;
        ensure!(
            observed_generation(&synced) == Some(wanted_generation),
            "observedGeneration must be {wanted_generation}: {}",
            describe_sealed(&synced)
        );
        assert_owned_by(&retyped, &synced)?;

        // A Secret of that name that no SealedSecret controls: refused as upstream does,
        // whatever the type.
        let foreign = "foreign";
        let theirs = bytes_map(&[("username", b"someone"), ("password", b"else")]);
        let existing = ctx
            .create_plain_secret(&ns, foreign, &theirs, BTreeMap::new(), BTreeMap::new())
            .await?;
        let enc = seal_items(&cert, Scope::Strict, &ns, foreign, &items)?;
        apply_sealed_secret(
            ctx.client(),
            &sealed_secret(&ns, foreign, Scope::Strict, &enc, json!({ "type": BASIC_AUTH })),
        )
        .await?;
        ctx.wait_not_synced(
            &ns,
            foreign,
            "already exists and is not managed by SealedSecret",
        )
        .await?;
        tokio::time::sleep(QUIET).await;
        ctx.check_controllers()?;
        let now = objects::secrets(ctx.client(), &ns)
            .get(foreign)
            .await
            .with_context(|| format!("reading Secret {ns}/{foreign}"))?;
        ensure!(
            now.metadata.uid == existing.metadata.uid
                && now.metadata.resource_version == existing.metadata.resource_version
                && now.type_.as_deref() == Some("Opaque")
                && secret_data(&now) == theirs,
            "the Secret {ns}/{foreign} that no SealedSecret controls must stay as it was:\n  before {} {}\n  after  {} {}",
            describe_secret(&existing),
            show_bytes_map(&theirs),
            describe_secret(&now),
            show_bytes_map(&secret_data(&now))
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn deleting_a_namespace_gives_no_warnings() -> Result<()> {
    run("nsdelete", |ctx| async move {
        let home = ctx.namespace("home").await?;
        let doomed = ctx.namespace("doomed").await?;
        let controller = ctx.start_controller(ControllerSpec::new(&home).watch(&doomed))?;
        let api = ctx.controller_api(&controller).await?;
        let (cert, _) = ctx.controller_cert(&home).await?;
        let batch = bulk::plan(&cert, &doomed, "doomed", 4, 2)?;
        bulk::apply_all(ctx.client(), &batch, CONCURRENCY).await?;
        ctx.wait_batch_synced(&doomed, &batch, ctx.timeout()).await?;
        let manager = has_controller_manager(&ctx, &doomed, Duration::from_secs(3)).await?;

        let mark = controller.log().len();
        let namespaces: Api<Namespace> = Api::all(ctx.client().clone());
        delete_if_present(&namespaces, &doomed).await?;
        ctx.namespace_deleted(&doomed);
        let deleted_at = Instant::now();
        let gone = ctx
            .wait_for(
                if manager { ctx.timeout() } else { Duration::from_secs(15) },
                &format!("namespace {doomed} to be gone"),
                || async {
                    Ok(match get_opt(&namespaces, &doomed).await? {
                        None => Poll::Ready(()),
                        Some(ns) => Poll::Pending(format!(
                            "namespace {doomed}: deletionTimestamp {:?}, status {:?}",
                            ns.metadata.deletion_timestamp,
                            ns.status
                        )),
                    })
                },
            )
            .await;
        match gone {
            Ok(()) => {
                println!(
                    "namespace {doomed} gone {:.1}s after its deletion",
                    deleted_at.elapsed().as_secs_f64()
                );
                // Time for the controller to go through the deletions.
                tokio::time::sleep(QUIET).await;
            }
            Err(e) if manager => return Err(e),
            Err(_) => {
                gc::empty_like_the_namespace_controller(&ctx, &doomed).await?;
                tokio::time::sleep(Duration::from_secs(10)).await;
                println!(
                    "skipped part: no kube-controller-manager: namespace {doomed} stays Terminating; the test \
                     deleted its Secrets, then its SealedSecrets, as the namespace controller would, and \
                     watched the controller for 10 s more"
                );
                let warnings = warning_events(ctx.client(), &doomed).await?;
                ensure!(
                    warnings.is_empty(),
                    "Warning events in the deleted namespace {doomed}: {}",
                    describe_events(&warnings)
                );
            }
        }
        ctx.check_controllers()?;
        let (about, others) = controller.warnings_since(mark, &doomed);
        ensure!(
            about.is_empty(),
            "the controller logged WARN/ERROR lines about the deleted namespace {doomed}:\n  {}",
            about.join("\n  ")
        );
        for line in &others {
            println!("note: the controller logged meanwhile: {line}");
        }
        let warnings = warning_events(ctx.client(), &home).await?;
        ensure!(
            warnings.is_empty(),
            "Warning events in {home}: {}",
            describe_events(&warnings)
        );
        let metrics = http::scrape(api.metrics).await?;
        let errors = matching(&metrics, UNSEAL_ERRORS, &[("namespace", doomed.as_str())]);
        ensure!(
            errors.is_empty(),
            "{UNSEAL_ERRORS} counts errors for the deleted namespace {doomed}: {errors:?}"
        );

        held_by_a_finalizer(&ctx, &controller, &home, &cert).await
    })
    .await
}

/// A SealedSecret being deleted but held by a finalizer is not reconciled: its deleted
/// Secret stays deleted, without a Warning event. The finalizer is removed in any case.
async fn held_by_a_finalizer(
    ctx: &Ctx,
    controller: &Controller,
    ns: &str,
    cert: &sealed_common::keys::Certificate,
) -> Result<()> {
    let name = "held";
    let items = bytes_map(&[("k", b"held by a finalizer")]);
    let enc = seal_items(cert, Scope::Strict, ns, name, &items)?;
    let mut object = sealed_secret(ns, name, Scope::Strict, &enc, json!({}));
    object["metadata"]["finalizers"] = json!([FINALIZER]);
    apply_sealed_secret(ctx.client(), &object).await?;
    let checked = check_held(ctx, controller, ns, name, &items).await;
    let released = ctx.remove_finalizers_and_wait_gone(ns, name).await;
    checked?;
    released
}

async fn check_held(
    ctx: &Ctx,
    controller: &Controller,
    ns: &str,
    name: &str,
    items: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let synced = ctx.wait_synced(ns, name).await?;
    ctx.wait_secret_data(ns, name, items).await?;
    let api = objects::sealed_secrets(ctx.client(), ns);
    delete_if_present(&api, name).await?;
    let deleting: Option<DynamicObject> = get_opt(&api, name).await?;
    match &deleting {
        Some(o) if o.metadata.deletion_timestamp.is_some() => {}
        Some(o) => bail!(
            "SealedSecret {ns}/{name} was deleted but has no deletionTimestamp: {}",
            describe_sealed(o)
        ),
        None => bail!(
            "the API server removed SealedSecret {ns}/{name} at once although it carries the finalizer \
             {FINALIZER}; a real API server keeps it, with a deletionTimestamp, until the finalizer is removed"
        ),
    }
    let mark = controller.log().len();
    delete_if_present(&objects::secrets(ctx.client(), ns), name).await?;
    ctx.assert_secret_stays_absent(ns, name, QUIET).await?;
    let events = events_about(ctx.client(), ns, name, synced.metadata.uid.as_deref()).await?;
    let warnings = only_warnings(events);
    ensure!(
        warnings.is_empty(),
        "Warning events about SealedSecret {ns}/{name} (being deleted): {}",
        describe_events(&warnings)
    );
    let (about, _) = controller.warnings_since(mark, &format!("{ns}/{name}"));
    ensure!(
        about.is_empty(),
        "the controller logged WARN/ERROR lines about SealedSecret {ns}/{name} (being deleted):\n  {}",
        about.join("\n  ")
    );
    Ok(())
}

#[tokio::test]
async fn restart_with_200_unchanged_objects_is_quiet() -> Result<()> {
    run("quietrestart", |ctx| async move {
        let ns = ctx.namespace("home").await?;
        let first = ctx.start_controller(ControllerSpec::new(&ns))?;
        let (cert, _) = ctx.controller_cert(&ns).await?;
        let batch = bulk::plan(&cert, &ns, "steady", 200, 2)?;
        bulk::apply_all(ctx.client(), &batch, CONCURRENCY).await?;
        ctx.wait_batch_synced(&ns, &batch, ctx.timeout()).await?;
        let exited = first.proc().terminate(Duration::from_secs(20))?;
        println!(
            "first controller exited {:.1}s after SIGTERM",
            exited.as_secs_f64()
        );
        let before = ctx.snapshot(&ns).await?;

        let started = Instant::now();
        let second = ctx.start_controller(ControllerSpec::new(&ns))?;
        let api = ctx.controller_api(&second).await?;
        // Quiet: every SealedSecret was checked (the reconcile counter reached the
        // count) and the counter has not moved for 3 s.
        let want = batch.len() as f64;
        let quiet_at = ctx
            .wait_counter_settled(api.metrics, UNSEAL_REQUESTS, want, Duration::from_secs(3))
            .await?;
        println!(
            "the restarted controller checked all {} SealedSecrets and was quiet {:.1}s after it started",
            batch.len(),
            quiet_at.duration_since(started).as_secs_f64()
        );
        let after = ctx.snapshot(&ns).await?;
        let changes = after.changes_since(&before);
        ensure!(
            changes.is_empty(),
            "a restart with unchanged objects must write no Secret, no status and no event; {} changes:\n  {}",
            changes.len(),
            changes.join("\n  ")
        );
        Ok(())
    })
    .await
}
