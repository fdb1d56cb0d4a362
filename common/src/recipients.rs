//! Sealing one value to several public keys, and changing the recipients of a sealed
//! value without touching its payload: the session key stays, so the wraps of the
//! other recipients stay valid.

use crate::backend::{self, BackendError, RsaPrivateKey, RsaPublicKey};
use crate::crypto::{DecryptError, RsaBudget, decode_base64, encode_base64, open_session_key};
use crate::envelope::{self, KeyId, MAX_RECIPIENTS};
use zeroize::Zeroizing;

/// Why the recipients of a value could not be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientsError {
    #[error("{0}")]
    Open(#[from] DecryptError),
    #[error("encryption failed ({0})")]
    Encrypt(#[from] BackendError),
    #[error("a value has at most {MAX_RECIPIENTS} recipients")]
    TooMany,
}

/// Recipients without repeats (the same certificate given twice gets one wrap).
fn distinct<'a>(keys: &[&'a RsaPublicKey]) -> Vec<&'a RsaPublicKey> {
    let mut out: Vec<&RsaPublicKey> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.iter().any(|k| k.id() == key.id()) {
            out.push(key);
        }
    }
    out
}

fn wrap(
    key: &RsaPublicKey,
    session_key: &[u8],
    label: &[u8],
) -> Result<(KeyId, Vec<u8>), BackendError> {
    Ok((*key.id(), key.oaep_encrypt(session_key, label)?))
}

fn encode(wraps: &[(KeyId, Vec<u8>)], payload: &[u8]) -> Result<Vec<u8>, RecipientsError> {
    envelope::encode_several(wraps, payload).ok_or(RecipientsError::TooMany)
}

/// Seals `plaintext` under `label` for every key of `keys`. One key gives upstream's
/// layout byte for byte (upstream controllers open it); more give ours.
pub fn hybrid_encrypt_for(
    keys: &[&RsaPublicKey],
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, RecipientsError> {
    let keys = distinct(keys);
    match keys.as_slice() {
        [] => Err(RecipientsError::Encrypt(BackendError::RsaEncrypt)),
        [one] => Ok(crate::crypto::hybrid_encrypt(one, plaintext, label)?),
        many => {
            if many.len() > MAX_RECIPIENTS {
                return Err(RecipientsError::TooMany);
            }
            let session_key = backend::random_session_key()?;
            let wraps = many
                .iter()
                .map(|k| wrap(k, session_key.as_ref(), label))
                .collect::<Result<Vec<_>, _>>()?;
            let mut payload = Vec::with_capacity(plaintext.len() + backend::GCM_TAG_LEN);
            backend::gcm_seal_append(&session_key, plaintext, &mut payload)?;
            encode(&wraps, &payload)
        }
    }
}

/// [`hybrid_encrypt_for`], base64-encoded as in `encryptedData`.
pub fn seal_value_for(
    keys: &[&RsaPublicKey],
    plaintext: &[u8],
    label: &[u8],
) -> Result<String, RecipientsError> {
    hybrid_encrypt_for(keys, plaintext, label).map(|b| encode_base64(&b))
}

/// A value whose session key was recovered, ready to have its wraps changed.
struct Opened {
    session_key: Zeroizing<[u8; backend::SESSION_KEY_LEN]>,
    /// The wraps kept, each with the id of its key (for upstream's layout, the id of
    /// the key that opened it).
    wraps: Vec<(KeyId, Vec<u8>)>,
    payload: Vec<u8>,
    /// The wrap that was opened, and the position of its key in the keys given.
    opened_wrap: usize,
    key_index: usize,
}

fn open(
    keys: &[&RsaPrivateKey],
    data: &[u8],
    label: &[u8],
    budget: &RsaBudget,
) -> Result<Opened, RecipientsError> {
    let parsed = envelope::parse(data).map_err(DecryptError::from)?;
    let found = open_session_key(keys.iter().copied(), &parsed, label, budget)?;
    // Check the payload before building on it: a damaged value stays an error.
    backend::gcm_open(&found.session_key, parsed.payload).map_err(|_| DecryptError::Corrupted)?;
    let opener = keys
        .get(found.key_index)
        .map(|k| *k.public_key().id())
        .ok_or(DecryptError::NoKey)?;
    let wraps = parsed
        .wraps
        .iter()
        .map(|w| (w.id.copied().unwrap_or(opener), w.rsa.to_vec()))
        .collect();
    Ok(Opened {
        session_key: found.session_key,
        wraps,
        payload: parsed.payload.to_vec(),
        opened_wrap: found.wrap_index,
        key_index: found.key_index,
    })
}

/// A value with changed recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrapped {
    /// The new value, base64; `None` when nothing had to change.
    pub value: Option<String>,
    /// Position (in the keys given) of the key that opened the value.
    pub key_index: usize,
}

/// Adds `new` recipients to a sealed base64 value that one of `keys` opens. The wraps
/// already there are kept byte for byte; an upstream-layout value becomes a
/// several-recipient value whose first wrap is its old RSA ciphertext.
pub fn add_recipients(
    keys: &[&RsaPrivateKey],
    value: &str,
    label: &[u8],
    new: &[&RsaPublicKey],
    budget: &RsaBudget,
) -> Result<Rewrapped, RecipientsError> {
    let data = decode_base64(value)?;
    let mut opened = open(keys, &data, label, budget)?;
    let mut added = false;
    for key in new {
        if !opened.wraps.iter().any(|(id, _)| id == key.id()) {
            opened
                .wraps
                .push(wrap(key, opened.session_key.as_ref(), label)?);
            added = true;
        }
    }
    let value = if added {
        Some(encode_base64(&encode(&opened.wraps, &opened.payload)?))
    } else {
        None
    };
    Ok(Rewrapped {
        value,
        key_index: opened.key_index,
    })
}

/// Moves the wrap that `keys` open to `newest`: a controller's rotation of its own
/// slot. The other recipients' wraps and the payload are kept byte for byte. For an
/// upstream-layout value the caller seals afresh instead (one recipient either way).
pub fn rewrap_own(
    keys: &[&RsaPrivateKey],
    value: &str,
    label: &[u8],
    newest: &RsaPublicKey,
    budget: &RsaBudget,
) -> Result<Rewrapped, RecipientsError> {
    let data = decode_base64(value)?;
    let mut opened = open(keys, &data, label, budget)?;
    let own = opened
        .wraps
        .get(opened.opened_wrap)
        .map(|(id, _)| *id)
        .ok_or(DecryptError::NoKey)?;
    if own == *newest.id() {
        return Ok(Rewrapped {
            value: None,
            key_index: opened.key_index,
        });
    }
    let fresh = wrap(newest, opened.session_key.as_ref(), label)?;
    // The newest key may already be a recipient: then the old slot just goes.
    opened.wraps.retain(|(id, _)| id != newest.id());
    if let Some(slot) = opened.wraps.iter_mut().find(|(id, _)| *id == own) {
        *slot = fresh;
    }
    Ok(Rewrapped {
        value: Some(encode_base64(&encode(&opened.wraps, &opened.payload)?)),
        key_index: opened.key_index,
    })
}
