//! Many SealedSecrets at once: sealed in-process, applied a few at a time, checked with
//! two lists per look (not one request per object), and snapshots of a namespace's
//! resourceVersions and events to show that nothing was written.

use crate::checks::{assert_owned_by, assert_synced_true};
use crate::harness::Ctx;
use crate::objects::{
    self, apply_sealed_secret, describe_sealed, describe_secret, observed_generation, secret_data,
    show_bytes_map, synced,
};
use crate::sealing::{seal_items, sealed_secret};
use crate::wait::Poll;
use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use sealed_common::Scope;
use sealed_common::keys::Certificate;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How often a check over a whole batch looks (two lists each time).
pub const BATCH_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// One SealedSecret of a batch: its name, its plaintext items and the object to apply.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub items: BTreeMap<String, Vec<u8>>,
    pub object: Value,
}

/// `count` strict SealedSecrets `<prefix>-000`, ... in `ns` (template `type: Opaque`),
/// each with `items_each` items sealed with `cert`.
pub fn plan(
    cert: &Certificate,
    ns: &str,
    prefix: &str,
    count: usize,
    items_each: usize,
) -> Result<Vec<Planned>> {
    (0..count)
        .map(|i| {
            let name = format!("{prefix}-{i:03}");
            let items: BTreeMap<String, Vec<u8>> = (0..items_each)
                .map(|k| {
                    (
                        format!("item-{k}"),
                        format!("value {k} of {ns}/{name}").into_bytes(),
                    )
                })
                .collect();
            let encrypted = seal_items(cert, Scope::Strict, ns, &name, &items)
                .with_context(|| format!("sealing {ns}/{name}"))?;
            let object = sealed_secret(
                ns,
                &name,
                Scope::Strict,
                &encrypted,
                json!({ "type": "Opaque" }),
            );
            Ok(Planned {
                name,
                items,
                object,
            })
        })
        .collect()
}

/// Applies every object of `batch`, `concurrency` at a time.
pub async fn apply_all(client: &Client, batch: &[Planned], concurrency: usize) -> Result<()> {
    futures::stream::iter(batch)
        .map(|p| apply_sealed_secret(client, &p.object))
        .buffer_unordered(concurrency.max(1))
        .try_for_each(|_| std::future::ready(Ok(())))
        .await
}

/// Applies `batch` in groups of `concurrency`, the groups spread evenly over `over`
/// (the last one starts about `over` after the first).
pub async fn apply_spread(
    client: &Client,
    batch: &[Planned],
    concurrency: usize,
    over: Duration,
) -> Result<()> {
    let groups: Vec<&[Planned]> = batch.chunks(concurrency.max(1)).collect();
    let gaps = u32::try_from(groups.len().saturating_sub(1))
        .unwrap_or(u32::MAX)
        .max(1);
    let pause = over / gaps;
    let start = tokio::time::Instant::now();
    for (i, group) in groups.iter().enumerate() {
        let at = start + pause * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(at).await;
        apply_all(client, group, concurrency).await?;
    }
    Ok(())
}

/// Applies `batch` spread over `window` less `margin` ([`apply_spread`]), returning
/// only once `window` has passed.
pub async fn apply_during(
    client: &Client,
    batch: &[Planned],
    concurrency: usize,
    window: Duration,
    margin: Duration,
) -> Result<()> {
    let spread = window.saturating_sub(margin);
    let (applied, ()) = tokio::join!(
        apply_spread(client, batch, concurrency, spread),
        tokio::time::sleep(window)
    );
    applied
}

/// Why a planned object is not done yet, or `None` when it is.
fn problem(
    planned: &Planned,
    sealed: Option<&DynamicObject>,
    secret: Option<&Secret>,
) -> Option<String> {
    let Some(sealed) = sealed else {
        return Some(format!("SealedSecret {} does not exist", planned.name));
    };
    let synced_now = synced(sealed).is_some_and(|c| c.status == "True")
        && observed_generation(sealed) == sealed.metadata.generation;
    if !synced_now {
        return Some(describe_sealed(sealed));
    }
    let Some(secret) = secret else {
        return Some(format!(
            "Secret {} does not exist (its SealedSecret is Synced=True)",
            planned.name
        ));
    };
    if secret_data(secret) != planned.items {
        return Some(format!(
            "{} holds {}, want {}",
            describe_secret(secret),
            show_bytes_map(&secret_data(secret)),
            show_bytes_map(&planned.items)
        ));
    }
    let owner_uid = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str());
    if owner_uid != sealed.metadata.uid.as_deref() {
        return Some(format!(
            "{} is not controlled by SealedSecret uid {:?}",
            describe_secret(secret),
            sealed.metadata.uid
        ));
    }
    None
}

impl Ctx {
    /// Every SealedSecret of `ns`, by name.
    pub async fn sealed_by_name(&self, ns: &str) -> Result<BTreeMap<String, DynamicObject>> {
        Ok(objects::sealed_secrets(self.client(), ns)
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing SealedSecrets in {ns}"))?
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name.clone().map(|n| (n, o)))
            .collect())
    }

    /// Every Secret of `ns`, by name.
    pub async fn secrets_by_name(&self, ns: &str) -> Result<BTreeMap<String, Secret>> {
        Ok(objects::secrets(self.client(), ns)
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing Secrets in {ns}"))?
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name.clone().map(|n| (n, s)))
            .collect())
    }

    /// Waits up to `timeout` until every object of `batch` (in `ns`) is `Synced=True` for
    /// its current generation and its Secret holds exactly its items and is controlled
    /// by it; then checks each in full ([`assert_synced_true`], [`assert_owned_by`]).
    pub async fn wait_batch_synced(
        &self,
        ns: &str,
        batch: &[Planned],
        timeout: Duration,
    ) -> Result<()> {
        let what = format!(
            "all {} SealedSecrets of {ns} to be Synced=True with their Secrets",
            batch.len()
        );
        let (sealed, secrets) = self
            .wait_every(BATCH_POLL_INTERVAL, timeout, &what, || async {
                let sealed = self.sealed_by_name(ns).await?;
                let secrets = self.secrets_by_name(ns).await?;
                let problems: Vec<String> = batch
                    .iter()
                    .filter_map(|p| problem(p, sealed.get(&p.name), secrets.get(&p.name)))
                    .collect();
                Ok(if problems.is_empty() {
                    Poll::Ready((sealed, secrets))
                } else {
                    Poll::Pending(format!(
                        "{} of {} not done, e.g.: {}",
                        problems.len(),
                        batch.len(),
                        problems
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ))
                })
            })
            .await?;
        for p in batch {
            let (Some(ss), Some(secret)) = (sealed.get(&p.name), secrets.get(&p.name)) else {
                continue; // not reachable: checked above
            };
            assert_synced_true(ss)?;
            assert_owned_by(secret, ss).with_context(|| format!("Secret {ns}/{}", p.name))?;
        }
        Ok(())
    }

    /// The resourceVersions of every SealedSecret and Secret of `ns`, and its events.
    pub async fn snapshot(&self, ns: &str) -> Result<Snapshot> {
        let sealed = self
            .sealed_by_name(ns)
            .await?
            .into_iter()
            .map(|(n, o)| (n, o.metadata.resource_version.unwrap_or_default()))
            .collect();
        let secrets = self
            .secrets_by_name(ns)
            .await?
            .into_iter()
            .map(|(n, s)| (n, s.metadata.resource_version.unwrap_or_default()))
            .collect();
        let events = Api::<Event>::namespaced(self.client().clone(), ns)
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing events in {ns}"))?
            .items
            .into_iter()
            .map(|e| (e.metadata.name.clone().unwrap_or_default(), e))
            .collect();
        Ok(Snapshot {
            namespace: ns.to_owned(),
            sealed,
            secrets,
            events,
        })
    }
}

/// What a namespace held at one time (see [`Ctx::snapshot`]).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub namespace: String,
    /// SealedSecret name -> resourceVersion.
    pub sealed: BTreeMap<String, String>,
    /// Secret name -> resourceVersion.
    pub secrets: BTreeMap<String, String>,
    /// Event name -> event.
    pub events: BTreeMap<String, Event>,
}

fn describe_event(e: &Event) -> String {
    let about = e
        .regarding
        .as_ref()
        .map(|r| {
            format!(
                "{}/{}",
                r.kind.as_deref().unwrap_or("-"),
                r.name.as_deref().unwrap_or("-")
            )
        })
        .unwrap_or_default();
    let count = e
        .series
        .as_ref()
        .map(|s| s.count)
        .or(e.deprecated_count)
        .unwrap_or(1);
    format!(
        "event {} about {about}: {}/{} x{count} {:?}",
        e.metadata.name.as_deref().unwrap_or("-"),
        e.type_.as_deref().unwrap_or("-"),
        e.reason.as_deref().unwrap_or("-"),
        e.note.as_deref().unwrap_or("")
    )
}

fn changed_versions(
    kind: &str,
    ns: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, rv) in after {
        match before.get(name) {
            None => out.push(format!(
                "{kind} {ns}/{name} appeared (resourceVersion {rv})"
            )),
            Some(old) if old != rv => out.push(format!(
                "{kind} {ns}/{name} was written (resourceVersion {old} -> {rv})"
            )),
            Some(_) => {}
        }
    }
    for name in before.keys().filter(|n| !after.contains_key(*n)) {
        out.push(format!("{kind} {ns}/{name} disappeared"));
    }
    out
}

impl Snapshot {
    /// Every difference from `before`: objects written, added or gone, events new or
    /// changed (a repeated event may update its series count instead of adding one).
    pub fn changes_since(&self, before: &Snapshot) -> Vec<String> {
        let ns = &self.namespace;
        let mut out = changed_versions("SealedSecret", ns, &before.sealed, &self.sealed);
        out.extend(changed_versions(
            "Secret",
            ns,
            &before.secrets,
            &self.secrets,
        ));
        for (name, event) in &self.events {
            match before.events.get(name) {
                None => out.push(format!("new {}", describe_event(event))),
                Some(old) if old.metadata.resource_version != event.metadata.resource_version => {
                    out.push(format!(
                        "updated {} (was {})",
                        describe_event(event),
                        describe_event(old)
                    ));
                }
                Some(_) => {}
            }
        }
        out
    }
}
