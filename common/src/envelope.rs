//! The two byte layouts of a sealed value: upstream's, with one RSA-wrapped session
//! key, and ours with one wrap per recipient. docs/design.md ("Several recipients")
//! has the layout and why it is safe.
//!
//! ```text
//! upstream:  u16 len(rsa) || rsa || AES-256-GCM(plaintext) || tag
//! several:   00 00 || version (01) || n || n x (key id [32] || u16 len(rsa) || rsa)
//!            || AES-256-GCM(plaintext) || tag
//! ```
//!
//! A zero RSA length is what no upstream value can have, so an upstream controller
//! reads an empty RSA ciphertext, fails it with every key and reports its ordinary
//! "no key could decrypt secret", and ours knows the layout from the first two bytes.

/// Why the bytes of a value do not make a value of either layout. Nothing was
/// decrypted when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("SealedSecret data is too short: {0} bytes, not even the 2-byte length prefix")]
    TooShort(usize),
    #[error(
        "SealedSecret data is too short: the length prefix announces {announced} bytes of RSA ciphertext but only {available} follow (truncated value?)"
    )]
    Truncated { announced: usize, available: usize },
    /// A value in the several-recipient layout whose lengths do not add up.
    #[error("the multi-recipient value is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "the value is in multi-recipient format version {0}, which this version does not know; upgrade it"
    )]
    UnknownVersion(u8),
}

/// The first two bytes of a value with several recipients.
pub const MARKER: [u8; 2] = [0, 0];
/// The layout version this code writes and reads.
pub const VERSION: u8 = 1;
/// Recipients per value: clusters and escrow keys, with room to spare; bounds the
/// work of parsing what anyone can send.
pub const MAX_RECIPIENTS: usize = 32;
/// Length of a key id: SHA-256 of the recipient's DER SubjectPublicKeyInfo.
pub const KEY_ID_LEN: usize = 32;

pub type KeyId = [u8; KEY_ID_LEN];

/// One RSA-OAEP wrap of the session key. `id` is `None` in upstream's layout, which
/// does not name its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrap<'a> {
    pub id: Option<&'a KeyId>,
    pub rsa: &'a [u8],
}

/// A parsed sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub wraps: Vec<Wrap<'a>>,
    /// `AES-256-GCM(plaintext) || tag`.
    pub payload: &'a [u8],
    /// Whether the value is in our several-recipient layout.
    pub several: bool,
}

/// Splits an upstream-layout value into its RSA and AES parts.
pub fn split(data: &[u8]) -> Result<(&[u8], &[u8]), LayoutError> {
    let [high, low, rest @ ..] = data else {
        return Err(LayoutError::TooShort(data.len()));
    };
    let announced = usize::from(u16::from_be_bytes([*high, *low]));
    rest.split_at_checked(announced)
        .ok_or(LayoutError::Truncated {
            announced,
            available: rest.len(),
        })
}

/// Splits off `n` bytes, or says how many were missing.
fn take<'a>(rest: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], LayoutError> {
    let (head, tail) = rest
        .split_at_checked(n)
        .ok_or(LayoutError::Malformed(what))?;
    *rest = tail;
    Ok(head)
}

fn take_u16(rest: &mut &[u8], what: &'static str) -> Result<usize, LayoutError> {
    match take(rest, 2, what)? {
        [high, low] => Ok(usize::from(u16::from_be_bytes([*high, *low]))),
        _ => Err(LayoutError::Malformed(what)),
    }
}

/// Parses either layout. Checks lengths only; nothing is decrypted.
pub fn parse(data: &[u8]) -> Result<Envelope<'_>, LayoutError> {
    if !data.starts_with(&MARKER) {
        let (rsa, payload) = split(data)?;
        return Ok(Envelope {
            wraps: vec![Wrap { id: None, rsa }],
            payload,
            several: false,
        });
    }
    let mut rest = data.get(MARKER.len()..).unwrap_or_default();
    let header = take(&mut rest, 2, "the header is cut short")?;
    let (version, count) = match header {
        [version, count] => (*version, usize::from(*count)),
        _ => return Err(LayoutError::Malformed("the header is cut short")),
    };
    if version != VERSION {
        return Err(LayoutError::UnknownVersion(version));
    }
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(LayoutError::Malformed(
            "the number of recipients is 0 or more than 32",
        ));
    }
    let mut wraps = Vec::with_capacity(count);
    for _ in 0..count {
        let id = take(&mut rest, KEY_ID_LEN, "a recipient's key id is cut short")?;
        let id: &KeyId = id
            .try_into()
            .map_err(|_| LayoutError::Malformed("a recipient's key id is cut short"))?;
        let len = take_u16(&mut rest, "a recipient's length is cut short")?;
        let rsa = take(&mut rest, len, "a recipient's RSA ciphertext is cut short")?;
        wraps.push(Wrap { id: Some(id), rsa });
    }
    Ok(Envelope {
        wraps,
        payload: rest,
        several: true,
    })
}

/// Writes the several-recipient layout. The caller keeps `wraps` within
/// [`MAX_RECIPIENTS`] and each RSA ciphertext within `u16`.
pub fn encode_several(wraps: &[(KeyId, Vec<u8>)], payload: &[u8]) -> Option<Vec<u8>> {
    let count = u8::try_from(wraps.len())
        .ok()
        .filter(|n| (1..=MAX_RECIPIENTS).contains(&usize::from(*n)))?;
    let size = wraps
        .iter()
        .map(|(_, rsa)| KEY_ID_LEN + 2 + rsa.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(4 + size + payload.len());
    out.extend_from_slice(&MARKER);
    out.push(VERSION);
    out.push(count);
    for (id, rsa) in wraps {
        let len = u16::try_from(rsa.len()).ok()?;
        out.extend_from_slice(id);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(rsa);
    }
    out.extend_from_slice(payload);
    Some(out)
}

/// The key ids a value names (none for upstream's layout), or why it does not parse.
pub fn recipients(data: &[u8]) -> Result<Vec<KeyId>, LayoutError> {
    Ok(parse(data)?
        .wraps
        .iter()
        .filter_map(|w| w.id.copied())
        .collect())
}
