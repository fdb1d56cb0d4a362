//! One reconcile loop per watched namespace (or one for all): SealedSecrets watched
//! into a store, and kube's Controller over it with our triggers. The loops run on
//! every replica for the life of the process; only the leader's reconciles write.

use super::signals::stopped;
use super::triggers;
use crate::backoff::WatchBackoff;
use crate::keys::KeyRegistry;
use crate::reconcile::{Context, error_policy, reconcile};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller, Error};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, predicates};
use kube::{Api, Client};
use sealed_common::SealedSecret;
use std::sync::Arc;
use tokio::sync::watch;

/// Reconciles running at once per loop.
const CONCURRENCY: u16 = 16;

/// One reconcile loop's inputs.
pub struct LoopSpec {
    pub client: Client,
    /// `None`: all namespaces.
    pub namespace: Option<String>,
    pub label_selector: String,
    /// Watch Secrets to recreate deleted ones (not `--skip-recreate`).
    pub recreate: bool,
    pub ctx: Arc<Context>,
    pub stop: watch::Receiver<bool>,
}

/// Runs until `stop`, once the first key is there.
pub async fn run_loop(spec: LoopSpec) {
    let LoopSpec {
        client,
        namespace,
        label_selector,
        recreate,
        ctx,
        stop,
    } = spec;
    tokio::select! {
        () = wait_for_first_key(&ctx.registry) => {}
        () = stopped(stop.clone()) => return,
    }
    let mut config = watcher::Config::default();
    if !label_selector.is_empty() {
        config = config.labels(&label_selector);
    }
    let (reader, writer) = reflector::store();
    let sealed_secrets = watcher::watcher(
        api_for::<SealedSecret>(&client, namespace.as_deref()),
        config,
    )
    .backoff(WatchBackoff::new())
    // Who wrote which field is of no use here and would double the memory per object.
    .modify(|sealed| sealed.metadata.managed_fields = None)
    .reflect(writer)
    .inspect({
        let ctx = Arc::clone(&ctx);
        let store = reader.clone();
        move |event| forget_deleted(&ctx, &store, event)
    })
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());

    let scope = namespace.clone().unwrap_or_else(|| "<all>".to_owned());
    ctx.metrics.watch_store(&scope, reader.clone());
    let mut controller = Controller::for_stream(sealed_secrets, reader.clone())
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
        .reconcile_on(triggers::new_keys(ctx.registry.subscribe(), reader.clone()))
        .reconcile_on(triggers::lead_gained(Arc::clone(&ctx), reader.clone()))
        .reconcile_on(triggers::api_recovered(Arc::clone(&ctx), reader.clone()));
    if recreate {
        let secrets = api_for::<PartialObjectMeta<Secret>>(&client, namespace.as_deref());
        controller = controller.reconcile_on(triggers::secret_changes(secrets, reader));
    }
    controller
        .graceful_shutdown_on(stopped(stop))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            match result {
                Ok(_) | Err(Error::ReconcilerFailed(..)) => {}
                // A trigger for an object deleted meanwhile.
                Err(Error::ObjectNotFound(object)) => {
                    tracing::debug!(%object, "not reconciled: no longer exists");
                }
                Err(other) => {
                    tracing::warn!(namespace = %scope, error = %other, "controller loop");
                }
            }
            std::future::ready(())
        })
        .await;
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn wait_for_first_key(registry: &KeyRegistry) {
    let mut changes = registry.subscribe();
    while registry.keys().is_empty() || !registry.is_ready() {
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Drops what is remembered about deleted SealedSecrets (after a relist, about every
/// object no longer listed).
fn forget_deleted(
    ctx: &Context,
    store: &Store<SealedSecret>,
    event: &Result<Event<SealedSecret>, watcher::Error>,
) {
    match event {
        Ok(Event::Delete(sealed)) => ctx.forget(&ObjectRef::from_obj(sealed)),
        Ok(Event::InitDone) => ctx.forget_all_but(|object| store.get(object).is_some()),
        _ => {}
    }
}
