//! Kubernetes object helpers: APIs, server-side apply, reading SealedSecret status
//! (kept as raw JSON so that fields our Rust type may not know are still visible),
//! events, and readable descriptions for failure messages.

use anyhow::{Context, Result, anyhow};
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use sealed_common::SealedSecret;
use serde_json::Value;
use std::collections::BTreeMap;

/// The field manager of everything the suite applies.
pub const FIELD_MANAGER: &str = "sealed-e2e";

pub const SS_API_VERSION: &str = "bitnami.com/v1alpha1";
pub const SS_KIND: &str = "SealedSecret";

pub fn sealed_secret_resource() -> ApiResource {
    ApiResource::erase::<SealedSecret>(&())
}

/// SealedSecrets of `ns`, as raw objects.
pub fn sealed_secrets(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &sealed_secret_resource())
}

pub fn secrets(client: &Client, ns: &str) -> Api<Secret> {
    Api::namespaced(client.clone(), ns)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Server-side applies a SealedSecret given as JSON (`metadata.namespace` and
/// `metadata.name` required), forcing ownership of every field it sets.
pub async fn apply_sealed_secret(client: &Client, object: &Value) -> Result<DynamicObject> {
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .context("SealedSecret to apply has no metadata.namespace")?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .context("SealedSecret to apply has no metadata.name")?;
    let mut body = object.clone();
    if let Some(map) = body.as_object_mut() {
        map.insert("apiVersion".into(), Value::from(SS_API_VERSION));
        map.insert("kind".into(), Value::from(SS_KIND));
    }
    sealed_secrets(client, ns)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .with_context(|| format!("server-side apply of SealedSecret {ns}/{name}"))
}

/// Creates a Secret (its namespace from `metadata.namespace`).
pub async fn create_secret(client: &Client, secret: &Secret) -> Result<Secret> {
    let ns = secret
        .metadata
        .namespace
        .as_deref()
        .context("Secret to create has no metadata.namespace")?;
    secrets(client, ns)
        .create(&Default::default(), secret)
        .await
        .with_context(|| {
            format!(
                "creating Secret {ns}/{}",
                secret.metadata.name.as_deref().unwrap_or("(generateName)")
            )
        })
}

/// Deletes `name`, ignoring "not found".
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(anyhow!(e).context(format!("deleting {name}"))),
    }
}

/// `Some(object)` or `None` when absent.
pub async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .with_context(|| format!("reading {name}"))
}

// ---------- values ----------

/// A map of item name to bytes, from string pairs.
pub fn bytes_map(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect()
}

/// A map of strings, from pairs.
pub fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A Secret's `data` as plain bytes (empty when it has none).
pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .as_ref()
        .map(|d| d.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

/// `data` for a Secret built in a test.
pub fn byte_strings(map: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, ByteString> {
    map.iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone())))
        .collect()
}

/// Test values, shown for failure messages: UTF-8 as text, anything else as base64.
pub fn show_bytes_map(map: &BTreeMap<String, Vec<u8>>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| match std::str::from_utf8(v) {
            Ok(text) if v.len() <= 80 => format!("{k}={text:?}"),
            _ => format!(
                "{k}=base64:{}{}",
                {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(v);
                    b64.chars().take(60).collect::<String>()
                },
                if v.len() > 45 {
                    format!("... ({} bytes)", v.len())
                } else {
                    String::new()
                }
            ),
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// The object of strings at `pointer` in `value` (empty when there is none; a value
/// that is not a string counts as empty).
pub fn string_map_at(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `data` of a Secret given as JSON (e.g. printed by `kubeseal --recovery-unseal`),
/// decoded.
pub fn json_secret_data(secret: &Value) -> Result<BTreeMap<String, Vec<u8>>> {
    let Some(data) = secret["data"].as_object() else {
        return Ok(BTreeMap::new());
    };
    data.iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .with_context(|| format!("data.{k} is not base64: {v}"))?;
            Ok((k.clone(), bytes))
        })
        .collect()
}

pub fn labels_of(secret: &Secret) -> BTreeMap<String, String> {
    secret.metadata.labels.clone().unwrap_or_default()
}

pub fn annotations_of(secret: &Secret) -> BTreeMap<String, String> {
    secret.metadata.annotations.clone().unwrap_or_default()
}

/// The ownerReference the controller must put on the Secret of `sealed`.
pub fn expected_owner_reference(sealed: &DynamicObject) -> OwnerReference {
    OwnerReference {
        api_version: SS_API_VERSION.to_owned(),
        kind: SS_KIND.to_owned(),
        name: sealed.name_any(),
        uid: sealed.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

// ---------- SealedSecret status ----------

/// The `Synced` condition, as read from the raw status.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    pub status: String,
    pub message: Option<String>,
    pub last_update_time: Option<String>,
    pub last_transition_time: Option<String>,
}

pub fn status_of(obj: &DynamicObject) -> Option<&Value> {
    obj.data.get("status").filter(|s| !s.is_null())
}

/// Every condition of type `Synced`.
pub fn synced_conditions(obj: &DynamicObject) -> Vec<Synced> {
    status_of(obj)
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|conditions| {
            conditions
                .iter()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("Synced"))
                .map(|c| {
                    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
                    Synced {
                        status: text("status").unwrap_or_default(),
                        message: text("message"),
                        last_update_time: text("lastUpdateTime"),
                        last_transition_time: text("lastTransitionTime"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The (first) `Synced` condition.
pub fn synced(obj: &DynamicObject) -> Option<Synced> {
    synced_conditions(obj).into_iter().next()
}

pub fn generation(obj: &DynamicObject) -> Option<i64> {
    obj.metadata.generation
}

pub fn observed_generation(obj: &DynamicObject) -> Option<i64> {
    status_of(obj)
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
}

pub fn key_fingerprint(obj: &DynamicObject) -> Option<String> {
    status_of(obj)
        .and_then(|s| s.get("keyFingerprint"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `ns/name generation=G resourceVersion=R status={...}` for messages.
pub fn describe_sealed(obj: &DynamicObject) -> String {
    format!(
        "SealedSecret {}/{} generation={} resourceVersion={} status={}",
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
        obj.metadata
            .generation
            .map_or_else(|| "-".to_owned(), |g| g.to_string()),
        obj.metadata.resource_version.as_deref().unwrap_or("-"),
        status_of(obj).map_or_else(|| "(none)".to_owned(), Value::to_string)
    )
}

/// A Secret without its values: name, type, labels, annotations, owners, item names.
pub fn describe_secret(secret: &Secret) -> String {
    let items: Vec<String> = secret
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    format!(
        "Secret {}/{} type={} immutable={:?} resourceVersion={} labels={:?} annotations={:?} ownerReferences={} items={:?}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default(),
        secret.type_.as_deref().unwrap_or("-"),
        secret.immutable,
        secret.metadata.resource_version.as_deref().unwrap_or("-"),
        labels_of(secret),
        annotations_of(secret),
        serde_json::to_string(&secret.metadata.owner_references).unwrap_or_default(),
        items
    )
}

// ---------- events ----------

/// Events (events.k8s.io/v1, which also shows core/v1 Events) in `ns` about the
/// SealedSecret `name` (and, when the event records one, with uid `uid`).
pub async fn events_about(
    client: &Client,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing events.k8s.io/v1 Events in {ns}"))?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.name.as_deref() == Some(name)
                    && r.kind.as_deref() == Some(SS_KIND)
                    && match (uid, r.uid.as_deref()) {
                        (Some(want), Some(got)) if !got.is_empty() => want == got,
                        _ => true,
                    }
            })
        })
        .collect())
}

/// The Warning events of `ns`.
pub async fn warning_events(client: &Client, ns: &str) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing events in {ns}"))?;
    Ok(only_warnings(list.items))
}

/// The Warning events among `events`.
pub fn only_warnings(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect()
}

/// Event name -> (reason, how many times it was seen: `series.count`, else
/// `deprecatedCount`, else 1). Repeated occurrences grow the count, new ones add names.
pub fn event_counts(events: &[Event]) -> BTreeMap<String, (String, i32)> {
    events
        .iter()
        .map(|e| {
            let count = e
                .series
                .as_ref()
                .map(|s| s.count)
                .or(e.deprecated_count)
                .unwrap_or(1);
            (
                e.metadata.name.clone().unwrap_or_default(),
                (e.reason.clone().unwrap_or_default(), count),
            )
        })
        .collect()
}

/// `type/reason: note` per event, for messages.
pub fn describe_events(events: &[Event]) -> String {
    if events.is_empty() {
        return "(no events)".to_owned();
    }
    events
        .iter()
        .map(|e| {
            format!(
                "{}/{}: {}",
                e.type_.as_deref().unwrap_or("-"),
                e.reason.as_deref().unwrap_or("-"),
                e.note.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}
