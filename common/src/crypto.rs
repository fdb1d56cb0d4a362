//! The sealed-secrets hybrid encryption format, byte for byte as upstream writes it:
//!
//! ```text
//! u16 big-endian len(rsa) || rsa = RSA-OAEP(SHA-256, label)(session key) || AES-256-GCM(plaintext) || tag
//! ```
//!
//! A fresh 32-byte session key per value, so the GCM nonce is all zeros; no AAD.
//! A value may also have several recipients (the `envelope` module has the layout;
//! `recipients` seals it); the functions here open both layouts.

use crate::backend::{self, BackendError, RsaPrivateKey, RsaPublicKey};
use crate::envelope::{self, Envelope, LayoutError};
use base64::Engine;
use std::sync::atomic::{AtomicUsize, Ordering};
use zeroize::Zeroizing;

/// RSA decryptions allowed for one SealedSecret (one reconcile, one `/v1/verify` or
/// `/v1/rotate` request). etcd holds objects up to 1.5 MiB, so a real SealedSecret has
/// at most about 4,300 values sealed with 2048-bit keys (2,200 with 4096-bit keys),
/// each opened by one decryption once the key that sealed its neighbour is tried first.
/// Twice that covers any real object; past it the work is refused, not done.
pub const MAX_RSA_DECRYPTIONS: usize = 8_192;

/// Counts the RSA decryptions spent on one object and refuses those past a limit.
/// A key whose size does not match the ciphertext costs nothing and is not counted.
#[derive(Debug)]
pub struct RsaBudget {
    limit: usize,
    used: AtomicUsize,
}

impl RsaBudget {
    pub const fn new(limit: usize) -> RsaBudget {
        RsaBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// RSA decryptions made so far.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn spend(&self) -> Result<(), DecryptError> {
        let used = self.used.load(Ordering::Relaxed);
        if used >= self.limit {
            return Err(DecryptError::OverBudget(self.limit));
        }
        self.used.store(used + 1, Ordering::Relaxed);
        Ok(())
    }
}

impl Default for RsaBudget {
    fn default() -> RsaBudget {
        RsaBudget::new(MAX_RSA_DECRYPTIONS)
    }
}

/// Why a sealed value could not be opened. Each cause has its own text; none of them
/// carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("invalid base64 ({0})")]
    Base64(String),
    /// The lengths in the value do not add up (crate::envelope).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("no key could decrypt secret")]
    NoKey,
    /// The object's RSA budget ran out before this value was tried with every key.
    #[error("gave up: more than {0} RSA decryptions for one SealedSecret")]
    OverBudget(usize),
    #[error(
        "the value is corrupted: AES-GCM authentication failed after the session key was recovered (modified or truncated ciphertext)"
    )]
    Corrupted,
}

/// Seals `plaintext` to `key` under the OAEP `label`.
pub fn hybrid_encrypt(
    key: &RsaPublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, BackendError> {
    let session_key = backend::random_session_key()?;
    let rsa = key.oaep_encrypt(session_key.as_ref(), label)?;
    let rsa_len = u16::try_from(rsa.len()).map_err(|_| BackendError::RsaEncrypt)?;
    let mut out = Vec::with_capacity(2 + rsa.len() + plaintext.len() + backend::GCM_TAG_LEN);
    out.extend_from_slice(&rsa_len.to_be_bytes());
    out.extend_from_slice(&rsa);
    backend::gcm_seal_append(&session_key, plaintext, &mut out)?;
    Ok(out)
}

/// Opens a sealed value with the first of `keys` that can, in the order given.
/// Returns the plaintext and the position of the key that opened it.
pub fn hybrid_decrypt<'a, I>(
    keys: I,
    data: &[u8],
    label: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError>
where
    I: IntoIterator<Item = &'a RsaPrivateKey>,
{
    hybrid_decrypt_within(keys, data, label, &RsaBudget::new(usize::MAX))
}

/// [`hybrid_decrypt`], each RSA decryption taken from `budget`. Opens either layout:
/// upstream's is tried with every key of the right size; ours only
/// with the keys its wraps name, so one RSA decryption per value.
pub fn hybrid_decrypt_within<'a, I>(
    keys: I,
    data: &[u8],
    label: &[u8],
    budget: &RsaBudget,
) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError>
where
    I: IntoIterator<Item = &'a RsaPrivateKey>,
{
    let envelope = envelope::parse(data)?;
    let opened = open_session_key(keys, &envelope, label, budget)?;
    // OAEP succeeded, so this is the right key: a GCM failure now means the value
    // itself is damaged, and no other key can do better.
    backend::gcm_open(&opened.session_key, envelope.payload)
        .map(|plain| (plain, opened.key_index))
        .map_err(|_| DecryptError::Corrupted)
}

/// A session key recovered from one wrap of a value.
pub struct OpenedKey {
    pub session_key: Zeroizing<[u8; backend::SESSION_KEY_LEN]>,
    /// Position of the key that opened it, in the order the keys were given.
    pub key_index: usize,
    /// Which wrap of the value it came from.
    pub wrap_index: usize,
}

/// Finds the first of `keys` that unwraps the session key of `envelope`.
pub fn open_session_key<'a, I>(
    keys: I,
    envelope: &Envelope<'_>,
    label: &[u8],
    budget: &RsaBudget,
) -> Result<OpenedKey, DecryptError>
where
    I: IntoIterator<Item = &'a RsaPrivateKey>,
{
    for (key_index, key) in keys.into_iter().enumerate() {
        for (wrap_index, wrap) in envelope.wraps.iter().enumerate() {
            let named_other = wrap.id.is_some_and(|id| id != key.public_key().id());
            if named_other || key.size_bytes() != wrap.rsa.len() {
                // Cannot be this key's ciphertext: no RSA work.
                continue;
            }
            budget.spend()?;
            if let Some(session_key) = key.oaep_decrypt_session_key(wrap.rsa, label) {
                return Ok(OpenedKey {
                    session_key,
                    key_index,
                    wrap_index,
                });
            }
        }
    }
    Err(DecryptError::NoKey)
}

/// Decodes standard padded base64, ignoring embedded CR and LF as Go's decoder does.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, DecryptError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let result = if text.contains(['\r', '\n']) {
        // A copy of a secret value (base64 is no protection): wiped when dropped.
        let cleaned: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| *c != '\r' && *c != '\n').collect());
        engine.decode(cleaned.as_bytes())
    } else {
        engine.decode(text)
    };
    result.map_err(|e| DecryptError::Base64(e.to_string()))
}

/// Encodes standard padded base64.
pub fn encode_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Base64-decodes and opens one `encryptedData` value.
pub fn open_value<'a, I>(
    keys: I,
    value: &str,
    label: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError>
where
    I: IntoIterator<Item = &'a RsaPrivateKey>,
{
    let raw = decode_base64(value)?;
    hybrid_decrypt(keys, &raw, label)
}

/// [`open_value`], each RSA decryption taken from `budget`.
pub fn open_value_within<'a, I>(
    keys: I,
    value: &str,
    label: &[u8],
    budget: &RsaBudget,
) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError>
where
    I: IntoIterator<Item = &'a RsaPrivateKey>,
{
    let raw = decode_base64(value)?;
    hybrid_decrypt_within(keys, &raw, label, budget)
}

/// Opens the values of one object in turn. Its values are usually sealed with one
/// key, so the key that opened the previous value is tried first. Every RSA decryption
/// is taken from one budget for the whole object.
pub struct LastHitFirst<'k> {
    keys: &'k [&'k RsaPrivateKey],
    order: Vec<usize>,
    budget: &'k RsaBudget,
}

impl<'k> LastHitFirst<'k> {
    pub fn new(keys: &'k [&'k RsaPrivateKey], budget: &'k RsaBudget) -> LastHitFirst<'k> {
        LastHitFirst {
            keys,
            order: (0..keys.len()).collect(),
            budget,
        }
    }

    /// Opens one base64 value; returns the plaintext and the key's position in `keys`.
    pub fn open(
        &mut self,
        value: &str,
        label: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError> {
        let keys = self.keys;
        let ordered = self.order.iter().filter_map(|i| keys.get(*i).copied());
        let (plain, position) = open_value_within(ordered, value, label, self.budget)?;
        if position < self.order.len() {
            let index = self.order.remove(position);
            self.order.insert(0, index);
        }
        let index = self.order.first().copied().unwrap_or(position);
        Ok((plain, index))
    }
}

/// Seals and base64-encodes one value, as it appears in `encryptedData` and `--raw` output.
pub fn seal_value(
    key: &RsaPublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<String, BackendError> {
    hybrid_encrypt(key, plaintext, label).map(|b| encode_base64(&b))
}
