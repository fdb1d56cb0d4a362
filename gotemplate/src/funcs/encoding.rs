//! Sprig's encodings and digests. Decoders follow Go's `encoding/base64` and
//! `encoding/base32` exactly, including the error text Sprig prints in place of the
//! result (`illegal base64 data at input byte N`).

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, s};
use crate::value::Value;
use aws_lc_rs::digest;
use base64::Engine;

pub(super) fn register(r: &mut Registry) {
    r.add("b64enc", &[P::Str], None, |ctx, a| {
        let t = arg(a);
        ctx.check_len(t.len() / 3 * 4 + 4)?;
        ctx.string(
            base64::engine::general_purpose::STANDARD
                .encode(t)
                .into_bytes(),
        )
    });
    r.add("b64dec", &[P::Str], None, |ctx, a| {
        let out = match b64_decode(arg(a)) {
            Ok(v) => v,
            Err(at) => format!("illegal base64 data at input byte {at}").into_bytes(),
        };
        ctx.string(out)
    });
    r.add("b32enc", &[P::Str], None, |ctx, a| {
        let t = arg(a);
        ctx.check_len(t.len() / 5 * 8 + 8)?;
        ctx.string(b32_encode(t))
    });
    r.add("b32dec", &[P::Str], None, |ctx, a| {
        let out = match b32_decode(arg(a)) {
            Ok(v) => v,
            Err(at) => format!("illegal base32 data at input byte {at}").into_bytes(),
        };
        ctx.string(out)
    });
    r.add("sha1sum", &[P::Str], None, |ctx, a| {
        hex_digest(ctx, &digest::SHA1_FOR_LEGACY_USE_ONLY, arg(a))
    });
    r.add("sha256sum", &[P::Str], None, |ctx, a| {
        hex_digest(ctx, &digest::SHA256, arg(a))
    });
    r.add("sha512sum", &[P::Str], None, |ctx, a| {
        hex_digest(ctx, &digest::SHA512, arg(a))
    });
    r.add("adler32sum", &[P::Str], None, |ctx, a| {
        ctx.string(adler32(arg(a)).to_string().into_bytes())
    });
}

fn arg(a: &[Value]) -> &[u8] {
    a.first().map(s).unwrap_or(b"")
}

fn hex_digest(ctx: &mut Ctx<'_>, alg: &'static digest::Algorithm, data: &[u8]) -> FnResult {
    let d = digest::digest(alg, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    ctx.string(hex.into_bytes())
}

pub(crate) fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &c in chunk {
            a += u32::from(c);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// `base64.StdEncoding.DecodeString`: padding required, `\r`/`\n` skipped, the error
/// is the offset Go reports.
pub(crate) fn b64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut trailing_error = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = b64_value(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                trailing_error = Some(si);
            }
            dlen = j;
            break;
        }
        let val = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(at) = trailing_error {
            return Err(at);
        }
        if dlen < 4 {
            break;
        }
    }
    Ok(out)
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(crate) fn b32_encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len().div_ceil(5) * 8);
    for chunk in src.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for k in 0..8 {
            if k < chars {
                out.push(B32[((bits >> (35 - 5 * k)) & 31) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// `base32.StdEncoding.DecodeString` (newlines removed first, as Go does).
pub(crate) fn b32_decode(input: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = input
        .iter()
        .copied()
        .filter(|c| *c != b'\n' && *c != b'\r')
        .collect();
    let olen = src.len();
    let mut rest: &[u8] = &src;
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            if rest.is_empty() {
                return Err(olen - rest.len() - j);
            }
            let c = rest[0];
            rest = &rest[1..];
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 8 - 1 {
                    return Err(olen);
                }
                for k in 0..8 - 1 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if dlen == 1 || dlen == 3 || dlen == 6 {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            match B32.iter().position(|b| *b == c) {
                Some(v) => dbuf[j] = v as u8,
                None => return Err(olen - rest.len() - 1),
            }
            j += 1;
        }
        let d = dbuf;
        let bytes = [
            (d[0] << 3) | (d[1] >> 2),
            (d[1] << 6) | (d[2] << 1) | (d[3] >> 4),
            (d[3] << 4) | (d[4] >> 1),
            (d[4] << 7) | (d[5] << 2) | (d[6] >> 3),
            (d[6] << 5) | d[7],
        ];
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decoding_matches_go() {
        assert_eq!(b64_decode(b"aGVsbG8="), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode(b"aGVs\nbG8="), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode(b""), Ok(vec![]));
        assert_eq!(b64_decode(b"aGVsbG8"), Err(4));
        assert_eq!(b64_decode(b"a!"), Err(1));
        assert_eq!(b64_decode(b"aGVsbG8=x"), Err(8));
        assert_eq!(b64_decode(b"aG=="), Ok(b"h".to_vec()));
        assert_eq!(b64_decode(b"aG="), Err(3));
        assert_eq!(b64_decode(b"a==="), Err(1));
    }

    #[test]
    fn base32_round_trips_and_complains_like_go() {
        for text in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(b32_decode(&b32_encode(text)), Ok(text.to_vec()));
        }
        assert_eq!(b32_encode(b"foobar"), b"MZXW6YTBOI======");
        assert_eq!(b32_decode(b"MZXW6YTBOI"), Err(8));
        assert_eq!(b32_decode(b"MZ!W6YTB"), Err(2));
    }

    #[test]
    fn checksums() {
        assert_eq!(adler32(b"Wikipedia"), 300286872);
        assert_eq!(adler32(b""), 1);
    }
}
