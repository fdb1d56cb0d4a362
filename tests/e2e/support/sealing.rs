//! Sealing in-process with `sealed_common` (the same code `kubeseal` uses), to build
//! SealedSecrets without going through the CLI.

use anyhow::{Context, Result};
use sealed_common::Scope;
use sealed_common::crypto::{encode_base64, hybrid_encrypt, seal_value};
use sealed_common::keys::{Certificate, CertificateSpec, KeyPair, generate_key_pair};
use sealed_common::scope::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub fn certificate_from_pem(pem: &[u8]) -> Result<Certificate> {
    Certificate::from_pem(pem).context("parsing a PEM certificate")
}

/// Seals every item for `namespace/name` under `scope`, as `kubeseal` would.
pub fn seal_items(
    cert: &Certificate,
    scope: Scope,
    namespace: &str,
    name: &str,
    items: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, String>> {
    let label = scope.label(namespace, name);
    items
        .iter()
        .map(|(k, v)| {
            seal_value(cert.public_key(), v, &label)
                .map(|sealed| (k.clone(), sealed))
                .with_context(|| format!("sealing item {k}"))
        })
        .collect()
}

/// The annotations that declare `scope` (none for strict).
pub fn scope_annotations(scope: Scope) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    scope.write_annotations(&mut out);
    out
}

/// A SealedSecret object. `template` is `spec.template` (e.g. `{"type": "Opaque"}`);
/// the scope annotations go on the object's metadata and, like `kubeseal` does, on
/// the template's metadata too.
pub fn sealed_secret(
    namespace: &str,
    name: &str,
    scope: Scope,
    encrypted: &BTreeMap<String, String>,
    template: Value,
) -> Value {
    let annotations = scope_annotations(scope);
    let mut template = match template {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if !annotations.is_empty() {
        let meta = template
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            let anns = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(anns) = anns.as_object_mut() {
                for (k, v) in &annotations {
                    anns.insert(k.clone(), Value::from(v.as_str()));
                }
            }
        }
    }
    let mut metadata = json!({ "name": name, "namespace": namespace });
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "apiVersion": crate::objects::SS_API_VERSION,
        "kind": crate::objects::SS_KIND,
        "metadata": metadata,
        "spec": {
            "encryptedData": encrypted,
            "template": Value::Object(template),
        }
    })
}

/// A throwaway key pair no controller knows (for "wrong key" tests).
pub fn foreign_key_pair() -> Result<KeyPair> {
    generate_key_pair(
        2048,
        &CertificateSpec {
            common_name: String::new(),
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: Duration::from_secs(24 * 3600),
        },
    )
    .context("generating a throwaway key pair")
}

/// The deprecated v1 `spec.data`: the whole Secret as JSON, sealed with the strict
/// label `namespace/name`, base64 (Go's encoding of a `[]byte` field).
pub fn legacy_spec_data(
    cert: &Certificate,
    namespace: &str,
    name: &str,
    items: &BTreeMap<String, Vec<u8>>,
) -> Result<String> {
    let data: BTreeMap<&String, String> =
        items.iter().map(|(k, v)| (k, encode_base64(v))).collect();
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "Opaque",
        "data": data,
    });
    let plain = serde_json::to_vec(&secret)?;
    let label = Scope::Strict.label(namespace, name);
    let sealed =
        hybrid_encrypt(cert.public_key(), &plain, &label).context("sealing the legacy blob")?;
    Ok(encode_base64(&sealed))
}

/// Annotation names, re-exported for tests.
pub const CLUSTER_WIDE: &str = CLUSTER_WIDE_ANNOTATION;
pub const NAMESPACE_WIDE: &str = NAMESPACE_WIDE_ANNOTATION;
