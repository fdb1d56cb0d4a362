//! Secret -> SealedSecret, following upstream kubeseal's rules step by step.

use crate::backend::RsaPublicKey;
use crate::recipients::{RecipientsError, seal_value_for};
use crate::scope::Scope;
use crate::sealed_secret::{SealedSecret, SealedSecretSpec, SecretTemplateSpec};
use crate::secret::PlainSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

pub use crate::secret::LAST_APPLIED_ANNOTATIONS;

/// How to seal, from the command line.
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// `--scope`. Upstream quirk kept: `strict` (the default) never overrides a scope
    /// annotation on the input.
    pub scope: Scope,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// `--name`: replaces the Secret's name.
    pub name: Option<String>,
    /// `-n/--namespace` when given on the command line: must agree with the Secret's.
    pub namespace_flag: Option<String>,
    /// The namespace to use when the Secret has none (kubeconfig context namespace).
    pub default_namespace: Option<String>,
    /// Forces the namespace regardless of the input (used by `--merge-into`).
    pub force_namespace: Option<String>,
    /// `--recipient`: more keys that can open every value, besides the sealing key.
    pub recipients: Vec<RsaPublicKey>,
}

/// Why a Secret could not be sealed. The texts are upstream's where users know them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"
    )]
    EmptyData,
    #[error("missing metadata.name in input Secret")]
    MissingName,
    #[error("secret must declare a namespace")]
    MissingNamespace,
    #[error(
        "namespace mismatch: the input Secret is in namespace {secret:?} but --namespace is {flag:?}; make them agree or drop one"
    )]
    NamespaceMismatch { secret: String, flag: String },
    #[error("item {item:?}: {source}")]
    Encrypt {
        item: String,
        source: RecipientsError,
    },
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

/// Seals every item of `secret` to `key`. The secret is only read, so a caller can
/// retry with other options without copying its values.
pub fn seal_secret(
    secret: &PlainSecret,
    key: &RsaPublicKey,
    options: &SealOptions,
) -> Result<SealedSecret, SealError> {
    if secret.declared_empty && !options.allow_empty_data {
        return Err(SealError::EmptyData);
    }
    let mut meta = secret.metadata.clone();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    if let Some(name) = non_empty(&options.name) {
        meta.name = Some(name.to_owned());
    }
    let name = text(&meta.name);
    if name.is_empty() {
        return Err(SealError::MissingName);
    }
    if let Some(ns) = non_empty(&options.force_namespace) {
        meta.namespace = Some(ns.to_owned());
    } else if let Some(flag) = non_empty(&options.namespace_flag)
        && let Some(ns) = non_empty(&meta.namespace)
        && ns != flag
    {
        return Err(SealError::NamespaceMismatch {
            secret: ns.to_owned(),
            flag: flag.to_owned(),
        });
    }
    if options.scope != Scope::Strict {
        let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
        options.scope.write_annotations(annotations);
    }
    let scope = Scope::from_annotations(meta.annotations.as_ref());
    if scope != Scope::ClusterWide && non_empty(&meta.namespace).is_none() {
        let fallback = non_empty(&options.namespace_flag).or(non_empty(&options.default_namespace));
        meta.namespace = fallback.map(str::to_owned);
        if meta.namespace.is_none() {
            return Err(SealError::MissingNamespace);
        }
    }
    let namespace = text(&meta.namespace);

    let label = scope.label(&namespace, &name);
    let mut keys = vec![key];
    keys.extend(options.recipients.iter());
    let mut encrypted = BTreeMap::new();
    for (item, value) in &secret.items {
        let sealed = seal_value_for(&keys, value, &label).map_err(|source| SealError::Encrypt {
            item: item.clone(),
            source,
        })?;
        encrypted.insert(item.clone(), sealed);
    }

    let mut scope_annotations = BTreeMap::new();
    scope.write_annotations(&mut scope_annotations);
    let mut sealed = SealedSecret::new(&name, SealedSecretSpec::default());
    sealed.metadata = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(namespace).filter(|n| !n.is_empty()),
        annotations: Some(scope_annotations).filter(|a| !a.is_empty()),
        ..ObjectMeta::default()
    };
    sealed.spec = SealedSecretSpec {
        template: SecretTemplateSpec {
            metadata: Some(template_metadata(&meta)),
            type_: secret.type_.clone(),
            immutable: secret.immutable,
            data: None,
        },
        data: None,
        encrypted_data: encrypted,
    };
    Ok(sealed)
}

/// The Secret's metadata as the template keeps it: without server-set fields, owner
/// references or last-applied annotations.
pub fn template_metadata(meta: &ObjectMeta) -> ObjectMeta {
    let mut m = meta.clone();
    m.self_link = None;
    m.uid = None;
    m.resource_version = None;
    m.generation = None;
    m.creation_timestamp = None;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
    m.managed_fields = None;
    m.owner_references = None;
    if let Some(annotations) = m.annotations.as_mut() {
        for key in LAST_APPLIED_ANNOTATIONS {
            annotations.remove(key);
        }
    }
    normalize_metadata(&mut m);
    m
}

/// Drops empty maps and lists and empty names, which Go would omit when printing.
pub fn normalize_metadata(m: &mut ObjectMeta) {
    if m.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
        m.annotations = None;
    }
    if m.labels.as_ref().is_some_and(BTreeMap::is_empty) {
        m.labels = None;
    }
    if m.finalizers.as_ref().is_some_and(Vec::is_empty) {
        m.finalizers = None;
    }
    if m.owner_references.as_ref().is_some_and(Vec::is_empty) {
        m.owner_references = None;
    }
    if m.namespace.as_deref() == Some("") {
        m.namespace = None;
    }
    if m.name.as_deref() == Some("") {
        m.name = None;
    }
}
