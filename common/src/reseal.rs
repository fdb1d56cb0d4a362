//! The checks behind the controller's `/v1/verify` and `/v1/rotate`: does a SealedSecret
//! open, and the same SealedSecret re-encrypted with the newest key.
//!
//! Neither renders `spec.template.data`. Templates are not covered by the OAEP label, so
//! rendering them here would let anyone pair a victim's ciphertext with a crafted
//! template and read plaintext bit by bit from the answers (upstream #2019 and #2049).
//! The scope always comes from the object's own `metadata.annotations`, never from
//! `spec.template.metadata` (upstream CVE-2026-22728 widened strict secrets that way).

use crate::backend::{BackendError, RsaPrivateKey, RsaPublicKey};
use crate::crypto::{
    DecryptError, LastHitFirst, RsaBudget, decode_base64, open_value_within, seal_value,
};
use crate::envelope::{self, KeyId};
use crate::recipients::{RecipientsError, add_recipients, rewrap_own, seal_value_for};
use crate::seal::LAST_APPLIED_ANNOTATIONS;
use crate::sealed_secret::SealedSecret;
use crate::unseal::{ItemErrors, UnsealError};
use zeroize::Zeroizing;

/// Why a SealedSecret could not be re-encrypted.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// It does not open with the keys held (the texts are the controller's).
    #[error("{0}")]
    Unseal(#[from] UnsealError),
    #[error("cannot encrypt with the newest key: {0}")]
    Encrypt(#[from] BackendError),
    #[error("cannot change the recipients: {0}")]
    Rewrap(#[from] RecipientsError),
    #[error("no key to seal with")]
    NoSealingKey,
}

/// One opened value: its item name (`None` for the legacy `spec.data` blob), the
/// plaintext, and the position of the key that opened it.
struct OpenedValue {
    item: Option<String>,
    plain: Zeroizing<Vec<u8>>,
    key_index: usize,
}

/// Opens every sealed value of `sealed` with `keys` (tried in the order given), without
/// rendering templates, each RSA decryption taken from `budget`. Stops at the first
/// value that does not open: the answer is no either way, and anyone can send these
/// requests, so a body of garbage costs one value's keys, not every value's.
fn open_values(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    accept_v1_data: bool,
    budget: &RsaBudget,
) -> Result<Vec<OpenedValue>, UnsealError> {
    let over = |_| UnsealError::over_budget(sealed, keys.len(), budget.limit());
    let label = sealed.label();
    if let Some(blob) = &sealed.spec.data {
        if !accept_v1_data {
            return Err(UnsealError::DeprecatedData);
        }
        if !sealed.spec.encrypted_data.is_empty() {
            return Err(UnsealError::BothDataFields);
        }
        let (plain, key_index) = match open_value_within(keys.iter().copied(), blob, &label, budget)
        {
            Ok(opened) => opened,
            Err(DecryptError::OverBudget(limit)) => return Err(over(limit)),
            Err(e) => return Err(UnsealError::Legacy(e)),
        };
        return Ok(vec![OpenedValue {
            item: None,
            plain,
            key_index,
        }]);
    }
    let mut opened = Vec::with_capacity(sealed.spec.encrypted_data.len());
    let mut opener = LastHitFirst::new(keys, budget);
    for (item, value) in &sealed.spec.encrypted_data {
        match opener.open(value, &label) {
            Ok((plain, key_index)) => opened.push(OpenedValue {
                item: Some(item.clone()),
                plain,
                key_index,
            }),
            Err(DecryptError::OverBudget(limit)) => return Err(over(limit)),
            Err(e) => {
                return Err(UnsealError::Items(ItemErrors(vec![(
                    item.clone(),
                    e.to_string(),
                )])));
            }
        }
    }
    Ok(opened)
}

/// Checks that every sealed value opens, within `budget`; the error names the first
/// value that does not. Returns the position of the key that opened the first value
/// (`None` when there is nothing sealed).
pub fn check_opens(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    accept_v1_data: bool,
    budget: &RsaBudget,
) -> Result<Option<usize>, UnsealError> {
    Ok(open_values(sealed, keys, accept_v1_data, budget)?
        .first()
        .map(|v| v.key_index))
}

/// A re-encrypted SealedSecret and what changed.
#[derive(Debug, Clone)]
pub struct Resealed {
    pub sealed: SealedSecret,
    /// Values that were sealed with an older key and are now sealed with the newest.
    pub resealed: usize,
    /// Values already sealed with the newest key, kept byte for byte (no Git churn).
    pub kept: usize,
}

/// Re-encrypts every value of `sealed` that is not yet sealed with `keys[newest]`,
/// under the object's own scope, opening them within `budget`. Templates, labels and
/// annotations are kept as they are; server-set fields and the status are dropped.
pub fn reseal(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    newest: usize,
    accept_v1_data: bool,
    budget: &RsaBudget,
) -> Result<Resealed, ResealError> {
    let Some(newest_key) = keys.get(newest) else {
        return Err(ResealError::NoSealingKey);
    };
    let opened = open_values(sealed, keys, accept_v1_data, budget)?;
    let label = sealed.label();
    let mut out = sealed.clone();
    let (mut resealed, mut kept) = (0, 0);
    for value in opened {
        if value.key_index == newest {
            kept += 1;
            continue;
        }
        let original = match &value.item {
            Some(item) => sealed.spec.encrypted_data.get(item),
            None => sealed.spec.data.as_ref(),
        };
        let fresh = match original {
            // Several recipients: only this controller's wrap moves to the newest key,
            // so the other recipients still open the value.
            Some(text) if has_several_recipients(text) => {
                rewrap_own(keys, text, &label, newest_key.public_key(), budget)?.value
            }
            _ => Some(seal_value(newest_key.public_key(), &value.plain, &label)?),
        };
        let Some(fresh) = fresh else {
            kept += 1;
            continue;
        };
        match value.item {
            Some(item) => {
                out.spec.encrypted_data.insert(item, fresh);
            }
            None => out.spec.data = Some(fresh),
        }
        resealed += 1;
    }
    strip_server_fields(&mut out);
    Ok(Resealed {
        sealed: out,
        resealed,
        kept,
    })
}

/// The keys a value is sealed for: the ids its wraps name, or for upstream's layout the
/// key that opened it.
fn sealed_for(text: &str, opener: &RsaPrivateKey) -> Vec<KeyId> {
    let ids = decode_base64(text)
        .ok()
        .and_then(|data| envelope::recipients(&data).ok())
        .unwrap_or_default();
    if ids.is_empty() {
        vec![*opener.public_key().id()]
    } else {
        ids
    }
}

fn same_keys(a: &[KeyId], b: &[KeyId]) -> bool {
    a.iter().all(|id| b.contains(id)) && b.iter().all(|id| a.contains(id))
}

/// Seals every value of `sealed` for exactly `recipients` (the first one alone gives
/// upstream's layout), after opening it with `keys` within `budget`: moving a
/// repository to another cluster without its controller. Values already sealed for
/// exactly these keys are kept byte for byte; templates, labels and annotations are
/// kept; server-set fields and the status are dropped.
pub fn reseal_for(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    recipients: &[&RsaPublicKey],
    budget: &RsaBudget,
) -> Result<Resealed, ResealError> {
    if recipients.is_empty() {
        return Err(ResealError::NoSealingKey);
    }
    let wanted: Vec<KeyId> = recipients.iter().map(|k| *k.id()).collect();
    let opened = open_values(sealed, keys, true, budget)?;
    let label = sealed.label();
    let mut out = sealed.clone();
    let (mut resealed, mut kept) = (0, 0);
    for value in opened {
        let slot = match &value.item {
            Some(item) => out.spec.encrypted_data.get_mut(item),
            None => out.spec.data.as_mut(),
        };
        let (Some(slot), Some(opener)) = (slot, keys.get(value.key_index)) else {
            continue;
        };
        if same_keys(&sealed_for(slot, opener), &wanted) {
            kept += 1;
            continue;
        }
        *slot = seal_value_for(recipients, &value.plain, &label)?;
        resealed += 1;
    }
    strip_server_fields(&mut out);
    Ok(Resealed {
        sealed: out,
        resealed,
        kept,
    })
}

/// Adds `new` recipients to every value of `sealed` that `keys` open, keeping the
/// wraps already there byte for byte. Stops at the first value that does not open.
pub fn add_recipients_to(
    sealed: &SealedSecret,
    keys: &[&RsaPrivateKey],
    new: &[&RsaPublicKey],
    budget: &RsaBudget,
) -> Result<Resealed, ResealError> {
    let label = sealed.label();
    let mut out = sealed.clone();
    let (mut resealed, mut kept) = (0, 0);
    let legacy = out.spec.data.as_mut().map(|blob| (None, blob));
    let items = out
        .spec
        .encrypted_data
        .iter_mut()
        .map(|(item, value)| (Some(item.as_str()), value));
    for (item, value) in legacy.into_iter().chain(items) {
        let added = match add_recipients(keys, value, &label, new, budget) {
            Ok(added) => added,
            Err(RecipientsError::Open(DecryptError::OverBudget(_))) => {
                return Err(UnsealError::over_budget(sealed, keys.len(), budget.limit()).into());
            }
            Err(RecipientsError::Open(e)) => {
                let failed = match item {
                    Some(item) => {
                        UnsealError::Items(ItemErrors(vec![(item.to_owned(), e.to_string())]))
                    }
                    None => UnsealError::Legacy(e),
                };
                return Err(failed.into());
            }
            Err(other) => return Err(other.into()),
        };
        match added.value {
            Some(fresh) => {
                *value = fresh;
                resealed += 1;
            }
            None => kept += 1,
        }
    }
    strip_server_fields(&mut out);
    Ok(Resealed {
        sealed: out,
        resealed,
        kept,
    })
}

/// Whether a base64 value is in the several-recipient layout.
fn has_several_recipients(text: &str) -> bool {
    decode_base64(text).is_ok_and(|data| data.starts_with(&envelope::MARKER))
}

/// Drops what the API server sets (uid, resourceVersion, timestamps, managedFields...),
/// the status and kubectl's last-applied annotation: what belongs in Git stays.
pub fn strip_server_fields(sealed: &mut SealedSecret) {
    let meta = &mut sealed.metadata;
    meta.uid = None;
    meta.resource_version = None;
    meta.generation = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.managed_fields = None;
    meta.self_link = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        for key in LAST_APPLIED_ANNOTATIONS {
            annotations.remove(key);
        }
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
    sealed.status = None;
}
