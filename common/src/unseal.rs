//! SealedSecret -> Secret, as the upstream controller and `kubeseal --recovery-unseal`
//! build it.

use crate::backend::RsaPrivateKey;
use crate::crypto::{DecryptError, LastHitFirst, RsaBudget, open_value_within};
use crate::scope::SKIP_SET_OWNER_REFERENCES_ANNOTATION;
use crate::seal::normalize_metadata;
use crate::sealed_secret::{API_VERSION, KIND, SealedSecret};
use crate::secret::{SecretDebug, SecretDocument};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroize;

/// Renders `spec.template.data` values (Go text/template in upstream). The engine is
/// given the decrypted items by name, as bytes: Go strings are bytes, so binary items
/// and results must not go through UTF-8. The Go engine lives in its own crate
/// (`gotemplate`); with this crate's feature `gotemplate`, `gotemplate::Engine` is one.
pub trait TemplateEngine {
    /// Starts rendering the templates of one SealedSecret over its decrypted items: the
    /// renders of one batch share one budget, so an object's cost does not grow with
    /// its number of templates.
    fn batch<'a>(&'a self, items: &'a BTreeMap<String, Vec<u8>>) -> Box<dyn TemplateBatch + 'a>;
}

/// The renders of one SealedSecret.
pub trait TemplateBatch {
    /// Renders one template; errors are one line without secret values.
    fn render(&mut self, key: &str, template: &str) -> Result<Vec<u8>, TemplateError>;
}

/// Why a template gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// It did not parse or failed, in the engine's words; the other templates are still
    /// rendered and their failures reported with this one.
    Failed(String),
    /// The SealedSecret's budget ran out while rendering it, e.g. "more than 8
    /// bcrypt/htpasswd calls": nothing more is rendered.
    OverBudget(String),
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
    #[error(
        "SealedSecret {object} has {items} sealed values and {keys} keys to try: opening it needs more than {limit} RSA decryptions, the limit per SealedSecret"
    )]
    OverBudget {
        /// `namespace/name`, quoted.
        object: String,
        items: usize,
        keys: usize,
        limit: usize,
    },
    /// The templates ran out of the object's budget at `key`: the same spec fails the
    /// same way every time.
    #[error("template {key:?}: {what} in one SealedSecret")]
    TemplateBudget { key: String, what: String },
}

impl UnsealError {
    /// The budget ran out while opening `sealed` with `keys`.
    pub fn over_budget(sealed: &SealedSecret, keys: usize, limit: usize) -> UnsealError {
        let name = sealed.metadata.name.as_deref().unwrap_or_default();
        let object = match sealed.metadata.namespace.as_deref() {
            Some(ns) => format!("{:?}", format!("{ns}/{name}")),
            None => format!("{name:?}"),
        };
        let items = if sealed.spec.data.is_some() {
            1
        } else {
            sealed.spec.encrypted_data.len()
        };
        UnsealError::OverBudget {
            object,
            items,
            keys,
            limit,
        }
    }
}

/// The Secret and which of the given keys opened it. The Secret holds the plaintext in
/// `ByteString`s, which do not wipe themselves: [`crate::secret::wipe_secret`] it when done. `Debug`
/// prints item names and lengths only.
#[derive(Clone)]
pub struct Unsealed {
    pub secret: Secret,
    /// Position in the key list of the key that opened the values (`None` when there
    /// was nothing to open).
    pub key_index: Option<usize>,
}

impl fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsealed")
            .field("secret", &SecretDebug(&self.secret))
            .field("key_index", &self.key_index)
            .finish()
    }
}

/// Opens `sealed` with `keys`, tried in the order given, within the default RSA budget
/// ([`crate::crypto::MAX_RSA_DECRYPTIONS`]).
pub fn unseal(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    options: UnsealOptions<'_>,
) -> Result<Unsealed, UnsealError> {
    unseal_within(sealed, keys, options, &RsaBudget::default())
}

/// [`unseal`], every RSA decryption taken from `budget` (which then tells how many
/// were made). Every value is tried, so the error names every one that does not open.
pub fn unseal_within(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    options: UnsealOptions<'_>,
    budget: &RsaBudget,
) -> Result<Unsealed, UnsealError> {
    let label = sealed.label();
    let opened = match &sealed.spec.data {
        None => open_items(sealed, keys, &label, options, budget),
        Some(_) if !options.accept_v1_data => return Err(UnsealError::DeprecatedData),
        Some(_) if !sealed.spec.encrypted_data.is_empty() => {
            return Err(UnsealError::BothDataFields);
        }
        Some(blob) => open_legacy(blob, keys, &label, budget),
    };
    let (mut secret, key_index) = match opened {
        Err(Stop::OverBudget) => {
            return Err(UnsealError::over_budget(sealed, keys.len(), budget.limit()));
        }
        Err(Stop::Failed(e)) => return Err(e),
        Ok(pair) => pair,
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

/// Why opening stopped: the object's own fault, or the budget ran out.
enum Stop {
    Failed(UnsealError),
    OverBudget,
}

impl From<UnsealError> for Stop {
    fn from(e: UnsealError) -> Stop {
        Stop::Failed(e)
    }
}

fn open_items(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    label: &[u8],
    options: UnsealOptions<'_>,
    budget: &RsaBudget,
) -> Result<(Secret, Option<usize>), Stop> {
    let template = &sealed.spec.template;
    let mut errors = ItemErrors::default();
    let mut data = Wiped::default();
    let mut key_index = None;
    let mut opener = LastHitFirst::new(keys, budget);
    for (item, value) in &sealed.spec.encrypted_data {
        match opener.open(value, label) {
            Ok((mut plain, index)) => {
                key_index.get_or_insert(index);
                data.insert(item.clone(), std::mem::take(&mut *plain));
            }
            Err(DecryptError::OverBudget(_)) => return Err(Stop::OverBudget),
            Err(e) => errors.0.push((item.clone(), e.to_string())),
        }
    }

    if let Some(templates) = &template.data {
        // Upstream renders from the decrypted items only, never from earlier templates.
        let items = Wiped(data.0.clone());
        let mut batch = options.templates.map(|engine| engine.batch(&items.0));
        for (key, value) in templates {
            let Some(text) = value else {
                data.remove(key);
                continue;
            };
            let rendered = match batch.as_mut() {
                Some(batch) => batch.render(key, text),
                None if !text.contains("{{") => Ok(text.clone().into_bytes()),
                None => Err(TemplateError::Failed("template actions are rendered by the controller only; this tool cannot render them".to_owned())),
            };
            match rendered {
                Ok(out) => data.insert(key.clone(), out),
                Err(TemplateError::Failed(message)) => errors.0.push((key.clone(), message)),
                Err(TemplateError::OverBudget(what)) => {
                    return Err(UnsealError::TemplateBudget {
                        key: key.clone(),
                        what,
                    }
                    .into());
                }
            }
        }
    }

    if !errors.0.is_empty() {
        return Err(UnsealError::Items(errors).into());
    }
    // The buffers move into the Secret: no copy is left behind.
    let data = std::mem::take(&mut data.0)
        .into_iter()
        .map(|(k, v)| (k, ByteString(v)))
        .collect();
    let secret = Secret {
        metadata: template.metadata.clone().unwrap_or_default(),
        type_: template.type_.clone(),
        immutable: template.immutable,
        data: Some(data),
        ..Secret::default()
    };
    Ok((secret, key_index))
}

/// Plaintext items while they are gathered, wiped on every way out (an error, a
/// replaced or removed item) except the one that hands them over.
#[derive(Default)]
struct Wiped(BTreeMap<String, Vec<u8>>);

impl Wiped {
    fn insert(&mut self, key: String, value: Vec<u8>) {
        if let Some(mut old) = self.0.insert(key, value) {
            old.zeroize();
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(mut old) = self.0.remove(key) {
            old.zeroize();
        }
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.values_mut().for_each(Zeroize::zeroize);
    }
}

fn open_legacy(
    blob: &str,
    keys: &[&RsaPrivateKey],
    label: &[u8],
    budget: &RsaBudget,
) -> Result<(Secret, Option<usize>), Stop> {
    let (plain, index) = match open_value_within(keys.iter().copied(), blob, label, budget) {
        Ok(opened) => opened,
        Err(DecryptError::OverBudget(_)) => return Err(Stop::OverBudget),
        Err(e) => return Err(UnsealError::Legacy(e).into()),
    };
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
    // The buffers move into the Secret: no copy is left behind.
    let data = plain
        .items
        .into_iter()
        .map(|(k, mut v)| (k, ByteString(std::mem::take(&mut *v))))
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

/// The Go engine: one `gotemplate::Renderer` per SealedSecret, so its limits on steps,
/// work, bcrypt hashes and output hold for the object, not for each value.
#[cfg(feature = "gotemplate")]
impl TemplateEngine for gotemplate::Engine {
    fn batch<'a>(&'a self, items: &'a BTreeMap<String, Vec<u8>>) -> Box<dyn TemplateBatch + 'a> {
        Box::new(self.renderer(items))
    }
}

#[cfg(feature = "gotemplate")]
impl TemplateBatch for gotemplate::Renderer {
    fn render(&mut self, key: &str, template: &str) -> Result<Vec<u8>, TemplateError> {
        gotemplate::Renderer::render(self, key, template).map_err(|e| match e.exhausted() {
            Some(what) => TemplateError::OverBudget(what.to_string()),
            None => TemplateError::Failed(e.to_string()),
        })
    }
}
