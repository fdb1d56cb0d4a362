//! What makes a SealedSecret be reconciled besides a change of its own spec: a new key,
//! its Secret going missing, a Secret in its way changing, and this replica gaining
//! the lead.

use crate::backoff::WatchBackoff;
use crate::keys::Revision;
use crate::reconcile::Context;
use crate::reconcile::status::SYNCED;
use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use sealed_common::SealedSecret;
use sealed_common::sealed_secret::KIND;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

/// When a key appears, the SealedSecrets whose last unseal failed are tried again.
pub fn new_keys(
    revisions: watch::Receiver<Revision>,
    store: Store<SealedSecret>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    let added = stream::unfold((revisions, None::<u64>), |(mut rx, seen)| async move {
        let seen = seen.unwrap_or_else(|| rx.borrow_and_update().added);
        loop {
            rx.changed().await.ok()?;
            let now = rx.borrow_and_update().added;
            if now != seen {
                return Some(((), (rx, Some(now))));
            }
        }
    });
    added.flat_map(move |_| {
        let failing: Vec<ObjectRef<SealedSecret>> = store
            .state()
            .iter()
            .filter(|s| !is_synced(s))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        stream::iter(failing)
    })
}

/// Each time this replica gains the lead: the objects it was asked to reconcile while
/// it followed (at the process's first term, every object; later, only what changed
/// meanwhile), so that a term change is no resync of the whole store.
pub fn lead_gained(
    ctx: Arc<Context>,
    store: Store<SealedSecret>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    let leading = ctx.leader.subscribe();
    stream::unfold(
        (leading, ctx, store, false),
        |(mut leading, ctx, store, led)| async move {
            if led {
                leading.wait_for(|l| !*l).await.ok()?;
            }
            leading.wait_for(|l| *l).await.ok()?;
            let deferred = ctx.take_deferred(|o| store.get(o).is_some());
            if !deferred.is_empty() {
                tracing::info!(
                    objects = deferred.len(),
                    "leading: reconciling what was deferred while following"
                );
            }
            Some((stream::iter(deferred), (leading, ctx, store, true)))
        },
    )
    .flatten()
}

/// Each time the API server answers again after an outage: the objects that failed
/// because it was down (see `run::outage`).
pub fn api_recovered(
    ctx: Arc<Context>,
    store: Store<SealedSecret>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    let recovered = ctx.subscribe_recovered();
    stream::unfold(
        (recovered, ctx, store),
        |(mut recovered, ctx, store)| async move {
            recovered.changed().await.ok()?;
            let waiting = ctx.take_after_outage(|o| store.get(o).is_some());
            Some((stream::iter(waiting), (recovered, ctx, store)))
        },
    )
    .flatten()
}

/// Secret events that concern a SealedSecret: its Secret deleted (recreate it), or
/// missing after a (re)list (deleted while the watch was re-listing after 410 Gone or
/// an API-server restart), and a Secret that stood in the way of a failing SealedSecret
/// changed or went away. A metadata-only watch and nothing cached: memory does not
/// grow with the cluster's Secrets.
pub fn secret_changes(
    api: Api<PartialObjectMeta<Secret>>,
    store: Store<SealedSecret>,
) -> impl Stream<Item = ObjectRef<SealedSecret>> + Send {
    watcher::watcher(api, watcher::Config::default().page_size(500))
        .backoff(WatchBackoff::new())
        .scan(Relist::default(), move |relist, event| {
            let due = match event {
                Ok(event) => relist.on(event, &store),
                Err(error) => {
                    tracing::warn!(%error, "watching Secrets (to recreate deleted ones) failed; retrying");
                    Vec::new()
                }
            };
            std::future::ready(Some(stream::iter(due)))
        })
        .flatten()
}

/// The Secrets seen during the current (re)list that are named like a SealedSecret.
#[derive(Default)]
struct Relist {
    listed: HashSet<ObjectRef<SealedSecret>>,
    /// The first list is the process's start, when every SealedSecret is reconciled
    /// anyway (and their store may still be filling): only later lists are compared.
    started: bool,
}

impl Relist {
    fn on(
        &mut self,
        event: Event<PartialObjectMeta<Secret>>,
        store: &Store<SealedSecret>,
    ) -> Vec<ObjectRef<SealedSecret>> {
        match event {
            Event::Init => {
                self.listed.clear();
                Vec::new()
            }
            Event::InitApply(meta) => {
                let named = same_name(&meta);
                if store.get(&named).is_some() {
                    self.listed.insert(named);
                }
                Vec::new()
            }
            Event::InitDone if !self.started => {
                self.started = true;
                self.listed.clear();
                Vec::new()
            }
            Event::InitDone => {
                let listed = std::mem::take(&mut self.listed);
                let missing: Vec<_> = store
                    .state()
                    .iter()
                    .filter(|s| expects_secret(s))
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .filter(|o| !listed.contains(o))
                    .collect();
                if !missing.is_empty() {
                    tracing::info!(
                        objects = missing.len(),
                        "Secrets missing after listing them again; recreating"
                    );
                }
                missing
            }
            Event::Delete(meta) => match owner(&meta) {
                Some(owner) => live(store, owner),
                None => failing(store, same_name(&meta)),
            },
            Event::Apply(meta) if owner(&meta).is_none() => failing(store, same_name(&meta)),
            Event::Apply(_) => Vec::new(),
        }
    }
}

/// The SealedSecret that controls this Secret.
fn owner(meta: &PartialObjectMeta<Secret>) -> Option<ObjectRef<SealedSecret>> {
    let namespace = meta.metadata.namespace.as_deref().unwrap_or_default();
    meta.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| {
            r.controller == Some(true)
                && r.kind == KIND
                && r.api_version.starts_with("bitnami.com/")
        })
        .map(|r| ObjectRef::new(&r.name).within(namespace))
}

/// The SealedSecret of the same name (a SealedSecret's Secret always has its name).
fn same_name(meta: &PartialObjectMeta<Secret>) -> ObjectRef<SealedSecret> {
    let namespace = meta.metadata.namespace.as_deref().unwrap_or_default();
    ObjectRef::new(meta.metadata.name.as_deref().unwrap_or_default()).within(namespace)
}

/// `object`, if it is in the store and not being deleted.
fn live(
    store: &Store<SealedSecret>,
    object: ObjectRef<SealedSecret>,
) -> Vec<ObjectRef<SealedSecret>> {
    match store.get(&object) {
        Some(s) if s.metadata.deletion_timestamp.is_none() => vec![object],
        _ => Vec::new(),
    }
}

/// `object`, if its last reconcile failed (e.g. a Secret of that name was in the way).
fn failing(
    store: &Store<SealedSecret>,
    object: ObjectRef<SealedSecret>,
) -> Vec<ObjectRef<SealedSecret>> {
    match store.get(&object) {
        Some(s) if s.metadata.deletion_timestamp.is_none() && !is_synced(&s) => vec![object],
        _ => Vec::new(),
    }
}

/// Whether a Secret should exist for this SealedSecret: not going away, and not known
/// to fail for its current generation (those wait for a change of their own).
fn expects_secret(sealed: &SealedSecret) -> bool {
    let failed_now = sealed.status.as_ref().is_some_and(|s| {
        s.observed_generation == sealed.metadata.generation
            && s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == SYNCED && c.status == "False")
    });
    sealed.metadata.deletion_timestamp.is_none() && !failed_now
}

fn is_synced(sealed: &SealedSecret) -> bool {
    sealed
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == SYNCED && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
    use kube::core::PartialObjectMetaExt;
    use kube::runtime::reflector;
    use sealed_common::sealed_secret::{SealedSecretCondition, SealedSecretStatus};

    fn sealed(name: &str, synced: Option<&str>, deleting: bool) -> SealedSecret {
        let mut object: SealedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 2},
            "spec": {"encryptedData": {}}
        }))
        .expect("SealedSecret");
        if deleting {
            object.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        object.status = synced.map(|state| SealedSecretStatus {
            observed_generation: Some(2),
            conditions: Some(vec![SealedSecretCondition {
                type_: SYNCED.into(),
                status: state.into(),
                ..SealedSecretCondition::default()
            }]),
            ..SealedSecretStatus::default()
        });
        object
    }

    fn secret(name: &str, owner: Option<&str>) -> PartialObjectMeta<Secret> {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            owner_references: owner.map(|o| {
                vec![OwnerReference {
                    api_version: "bitnami.com/v1alpha1".into(),
                    kind: KIND.into(),
                    name: o.into(),
                    uid: format!("uid-{o}"),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]
            }),
            ..ObjectMeta::default()
        }
        .into_request_partial::<Secret>()
    }

    fn names(refs: Vec<ObjectRef<SealedSecret>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    fn store() -> Store<SealedSecret> {
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for object in [
            sealed("listed", Some("True"), false),
            sealed("missing", Some("True"), false),
            sealed("new", None, false),
            sealed("failing", Some("False"), false),
            sealed("going", Some("True"), true),
        ] {
            writer.apply_watcher_event(&Event::InitApply(object));
        }
        writer.apply_watcher_event(&Event::InitDone);
        reader
    }

    #[test]
    fn a_relist_brings_back_the_secrets_that_went_missing() {
        let store = store();
        let mut relist = Relist::default();
        // The first list (the process's start) is not compared.
        relist.on(Event::Init, &store);
        assert!(relist.on(Event::InitDone, &store).is_empty());
        for event in [
            Event::Init,
            Event::InitApply(secret("listed", Some("listed"))),
            Event::InitApply(secret("unrelated", None)),
        ] {
            assert!(relist.on(event, &store).is_empty());
        }
        let mut due = names(relist.on(Event::InitDone, &store));
        due.sort();
        // Not the failing one (it waits for a change) nor the one being deleted.
        assert_eq!(due, ["missing", "new"]);
        // The next relist starts from nothing again.
        relist.on(Event::Init, &store);
        relist.on(Event::InitApply(secret("missing", Some("missing"))), &store);
        let mut due = names(relist.on(Event::InitDone, &store));
        due.sort();
        assert_eq!(due, ["listed", "new"]);
    }

    #[test]
    fn deletions_and_changes_wake_the_objects_they_concern() {
        let store = store();
        let mut relist = Relist::default();
        let mut on = |event| names(relist.on(event, &store));
        assert_eq!(
            on(Event::Delete(secret("listed", Some("listed")))),
            ["listed"]
        );
        assert!(on(Event::Delete(secret("going", Some("going")))).is_empty());
        // Someone else's Secret in the way of a failing SealedSecret changed or left.
        assert_eq!(on(Event::Apply(secret("failing", None))), ["failing"]);
        assert_eq!(on(Event::Delete(secret("failing", None))), ["failing"]);
        // Not for synced ones, nor for our own writes.
        assert!(on(Event::Apply(secret("listed", None))).is_empty());
        assert!(on(Event::Apply(secret("failing", Some("failing")))).is_empty());
        assert!(on(Event::Delete(secret("unrelated", None))).is_empty());
    }
}
