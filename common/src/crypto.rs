//! The sealed-secrets hybrid encryption format, byte for byte as upstream writes it:
//!
//! ```text
//! u16 big-endian len(rsa) || rsa = RSA-OAEP(SHA-256, label)(session key) || AES-256-GCM(plaintext) || tag
//! ```
//!
//! A fresh 32-byte session key per value, so the GCM nonce is all zeros; no AAD.

use crate::backend::{self, BackendError, RsaPrivateKey, RsaPublicKey};
use base64::Engine;
use zeroize::Zeroizing;

/// Why a sealed value could not be opened. Each cause has its own text; none of them
/// carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("invalid base64 ({0})")]
    Base64(String),
    #[error("SealedSecret data is too short: {0} bytes, not even the 2-byte length prefix")]
    TooShort(usize),
    #[error(
        "SealedSecret data is too short: the length prefix announces {announced} bytes of RSA ciphertext but only {available} follow (truncated value?)"
    )]
    Truncated { announced: usize, available: usize },
    #[error("no key could decrypt secret")]
    NoKey,
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

/// Splits a sealed value into its RSA and AES parts.
pub fn split(data: &[u8]) -> Result<(&[u8], &[u8]), DecryptError> {
    if data.len() < 2 {
        return Err(DecryptError::TooShort(data.len()));
    }
    let announced = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let rest = &data[2..];
    if rest.len() < announced {
        return Err(DecryptError::Truncated {
            announced,
            available: rest.len(),
        });
    }
    Ok(rest.split_at(announced))
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
    let (rsa, aes) = split(data)?;
    for (index, key) in keys.into_iter().enumerate() {
        if let Some(session_key) = key.oaep_decrypt_session_key(rsa, label) {
            // OAEP succeeded, so this is the right key: a GCM failure now means the
            // value itself is damaged, and no other key can do better.
            return backend::gcm_open(&session_key, aes)
                .map(|plain| (plain, index))
                .map_err(|_| DecryptError::Corrupted);
        }
    }
    Err(DecryptError::NoKey)
}

/// Decodes standard padded base64, ignoring embedded CR and LF as Go's decoder does.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, DecryptError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let result = if text.contains(['\r', '\n']) {
        let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        engine.decode(cleaned)
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

/// Opens the values of one object in turn. Its values are usually sealed with one
/// key, so the key that opened the previous value is tried first.
pub struct LastHitFirst<'k> {
    keys: &'k [&'k RsaPrivateKey],
    order: Vec<usize>,
}

impl<'k> LastHitFirst<'k> {
    pub fn new(keys: &'k [&'k RsaPrivateKey]) -> LastHitFirst<'k> {
        LastHitFirst {
            keys,
            order: (0..keys.len()).collect(),
        }
    }

    /// Opens one base64 value; returns the plaintext and the key's position in `keys`.
    pub fn open(
        &mut self,
        value: &str,
        label: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, usize), DecryptError> {
        let keys = self.keys;
        let (plain, position) = open_value(self.order.iter().map(|i| keys[*i]), value, label)?;
        let index = self.order.remove(position);
        self.order.insert(0, index);
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
