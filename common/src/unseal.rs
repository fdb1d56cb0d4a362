//! SealedSecret -> Secret, as the upstream controller and `kubeseal --recovery-unseal`
//! build it.

use crate::backend::RsaPrivateKey;
use crate::crypto::{DecryptError, LastHitFirst, open_value};
use crate::scope::SKIP_SET_OWNER_REFERENCES_ANNOTATION;
use crate::seal::normalize_metadata;
use crate::sealed_secret::{API_VERSION, KIND, SealedSecret};
use crate::secret::SecretDocument;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;
use std::fmt;

/// Renders `spec.template.data` values (Go text/template in upstream). The engine is
/// given the decrypted items by name, as bytes: Go strings are bytes, so binary items
/// and results must not go through UTF-8. The Go engine lives in its own crate
/// (`gotemplate`); its `render` function is an engine through the impl below.
pub trait TemplateEngine {
    /// Renders one template; the error is a one-line message without secret values.
    fn render(
        &self,
        key: &str,
        template: &str,
        items: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, String>;
}

/// A plain function from (name, template, items) to bytes is an engine, so a binary
/// wires one in without a wrapper type and this crate needs no template code.
impl<F, E> TemplateEngine for F
where
    F: Fn(&str, &str, &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, E>,
    E: fmt::Display,
{
    fn render(
        &self,
        key: &str,
        template: &str,
        items: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        self(key, template, items).map_err(|e| e.to_string())
    }
}

/// What the caller allows.
#[derive(Clone, Copy, Default)]
pub struct UnsealOptions<'a> {
    /// Accept the legacy whole-object `spec.data` (`--accept-deprecated-v1-data`).
    pub accept_v1_data: bool,
    /// Renders `spec.template.data`; without one, only values with no template action
    /// (`{{`) are accepted.
    pub templates: Option<&'a dyn TemplateEngine>,
}

/// Per-item failures, printed as upstream does: identical messages grouped with the
/// item names in parentheses, e.g. `no key could decrypt secret (a, b)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemErrors(pub Vec<(String, String)>);

impl fmt::Display for ItemErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for (item, message) in &self.0 {
            match groups.iter_mut().find(|(m, _)| m == message) {
                Some((_, items)) => items.push(item),
                None => groups.push((message, vec![item])),
            }
        }
        let parts: Vec<String> = groups
            .into_iter()
            .map(|(message, items)| format!("{message} ({})", items.join(", ")))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl ItemErrors {
    /// True when every failure is "no key could decrypt" (wrong key or wrong scope).
    pub fn all_no_key(&self) -> bool {
        !self.0.is_empty()
            && self
                .0
                .iter()
                .all(|(_, m)| m == &DecryptError::NoKey.to_string())
    }
}

/// Why a SealedSecret did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    #[error("{0}")]
    Items(ItemErrors),
    #[error(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    BothDataFields,
    #[error("using deprecated 'data' field, use 'encryptedData' or flip the feature flag")]
    DeprecatedData,
    #[error("spec.data: {0}")]
    Legacy(DecryptError),
    #[error("spec.data: the decrypted value is not a v1 Secret ({0})")]
    LegacyFormat(String),
}

/// The Secret and which of the given keys opened it.
#[derive(Debug, Clone)]
pub struct Unsealed {
    pub secret: Secret,
    /// Position in the key list of the key that opened the values (`None` when there
    /// was nothing to open).
    pub key_index: Option<usize>,
}

/// Opens `sealed` with `keys`, tried in the order given.
pub fn unseal(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    options: UnsealOptions<'_>,
) -> Result<Unsealed, UnsealError> {
    let label = sealed.label();
    let (mut secret, key_index) = match &sealed.spec.data {
        None => open_items(sealed, keys, &label, options)?,
        Some(_) if !options.accept_v1_data => return Err(UnsealError::DeprecatedData),
        Some(_) if !sealed.spec.encrypted_data.is_empty() => {
            return Err(UnsealError::BothDataFields);
        }
        Some(blob) => open_legacy(blob, keys, &label)?,
    };

    let meta = &mut secret.metadata;
    meta.name = sealed.metadata.name.clone();
    meta.namespace = sealed.metadata.namespace.clone();
    let skip_owner = sealed
        .spec
        .template
        .annotations()
        .and_then(|a| a.get(SKIP_SET_OWNER_REFERENCES_ANNOTATION))
        .is_some_and(|v| v == "true");
    if !skip_owner {
        meta.owner_references = Some(vec![OwnerReference {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            name: sealed.name().to_owned(),
            uid: sealed.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
    }
    normalize_metadata(meta);
    if secret.data.as_ref().is_some_and(BTreeMap::is_empty) {
        secret.data = None;
    }
    Ok(Unsealed { secret, key_index })
}

fn open_items(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    label: &[u8],
    options: UnsealOptions<'_>,
) -> Result<(Secret, Option<usize>), UnsealError> {
    let template = &sealed.spec.template;
    let mut errors = ItemErrors::default();
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut key_index = None;
    let mut opener = LastHitFirst::new(keys);
    for (item, value) in &sealed.spec.encrypted_data {
        match opener.open(value, label) {
            Ok((plain, index)) => {
                key_index.get_or_insert(index);
                data.insert(item.clone(), ByteString(plain.to_vec()));
            }
            Err(e) => errors.0.push((item.clone(), e.to_string())),
        }
    }

    if let Some(templates) = &template.data {
        // Upstream renders from the decrypted items only, never from earlier templates.
        let items: BTreeMap<String, Vec<u8>> =
            data.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        for (key, value) in templates {
            let Some(text) = value else {
                data.remove(key);
                continue;
            };
            let rendered = match options.templates {
                Some(engine) => engine.render(key, text, &items),
                None if !text.contains("{{") => Ok(text.clone().into_bytes()),
                None => Err("template actions are rendered by the controller only; this tool cannot render them".to_owned()),
            };
            match rendered {
                Ok(out) => {
                    data.insert(key.clone(), ByteString(out));
                }
                Err(message) => errors.0.push((key.clone(), message)),
            }
        }
    }

    if !errors.0.is_empty() {
        return Err(UnsealError::Items(errors));
    }
    let secret = Secret {
        metadata: template.metadata.clone().unwrap_or_default(),
        type_: template.type_.clone(),
        immutable: template.immutable,
        data: Some(data),
        ..Secret::default()
    };
    Ok((secret, key_index))
}

fn open_legacy(
    blob: &str,
    keys: &[&RsaPrivateKey],
    label: &[u8],
) -> Result<(Secret, Option<usize>), UnsealError> {
    let (plain, index) =
        open_value(keys.iter().copied(), blob, label).map_err(UnsealError::Legacy)?;
    // serde_json may quote the offending value; report only where it went wrong.
    let document: SecretDocument = serde_json::from_slice(&plain).map_err(|e| {
        UnsealError::LegacyFormat(format!(
            "bad JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let plain = document
        .into_plain()
        .map_err(|e| UnsealError::LegacyFormat(e.to_string()))?;
    let data = plain
        .items
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.to_vec())))
        .collect();
    let secret = Secret {
        metadata: plain.metadata,
        type_: plain.type_,
        immutable: plain.immutable,
        data: Some(data),
        ..Secret::default()
    };
    Ok((secret, Some(index)))
}
