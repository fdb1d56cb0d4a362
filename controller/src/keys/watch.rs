//! Keeps the registry equal to the key Secrets in the home namespace: those labelled
//! active, and the legacy Secret named exactly like the key prefix. Upstream reads
//! them once at start; here added, changed, relabelled or deleted keys take effect
//! at once.

use super::{KeyRegistry, PerSource, Source};
use crate::backoff::WatchBackoff;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::sync::Arc;

/// The label selector of active key Secrets (`KEY_LABEL=KEY_LABEL_ACTIVE`).
pub const KEY_SELECTOR: &str = "sealedsecrets.bitnami.com/sealed-secrets-key=active";

/// Runs until the watch streams end (they retry with backoff, so: forever).
pub async fn run_key_watch(
    client: Client,
    namespace: String,
    prefix: String,
    registry: Arc<KeyRegistry>,
) {
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let labelled = watcher::watcher(api.clone(), watcher::Config::default().labels(KEY_SELECTOR))
        .backoff(WatchBackoff::new())
        .map(|e| (Source::Labelled, e));
    let legacy = watcher::watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={prefix}")),
    )
    .backoff(WatchBackoff::new())
    .map(|e| (Source::Legacy, e));
    let mut events = std::pin::pin!(stream::select(labelled, legacy));
    let mut buffers: PerSource<Vec<Secret>> = PerSource::default();
    while let Some((source, event)) = events.next().await {
        match event {
            Ok(Event::Init) => buffers.get_mut(source).clear(),
            Ok(Event::InitApply(secret)) => buffers.get_mut(source).push(secret),
            Ok(Event::InitDone) => {
                let listed = std::mem::take(buffers.get_mut(source));
                registry.replace(source, &listed);
            }
            Ok(Event::Apply(secret)) => registry.apply(source, &secret),
            Ok(Event::Delete(secret)) => {
                registry.remove(source, secret.metadata.name.as_deref().unwrap_or_default());
            }
            Err(error) => {
                tracing::warn!(namespace = %namespace, %error, "watching key Secrets failed; retrying");
            }
        }
    }
}

/// Lists the key Secrets once, straight from the API server, into the registry.
pub async fn list_keys(
    client: Client,
    namespace: &str,
    prefix: &str,
    registry: &KeyRegistry,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let labelled = api
        .list(&ListParams::default().labels(KEY_SELECTOR))
        .await?;
    // By field selector, as the watch does: the same RBAC (list), no `get` needed.
    let legacy = api
        .list(&ListParams::default().fields(&format!("metadata.name={prefix}")))
        .await?;
    registry.replace(Source::Labelled, &labelled.items);
    registry.replace(Source::Legacy, &legacy.items);
    Ok(())
}
