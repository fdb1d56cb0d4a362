//! Sprig's random and password functions: `uuidv4`, `rand*`, `shuffle`, `randInt`,
//! `bcrypt`, `htpasswd`. Randomness comes from the system CSPRNG; bcrypt work is
//! capped per render (each hash costs ~2^10 Blowfish key setups).

use super::{Ctx, FnResult, P, Registry, i, s};
use crate::Exhausted;
use crate::unicode::{push_rune, runes};
use crate::value::Value;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;

pub(super) fn register(r: &mut Registry) {
    r.add("uuidv4", &[], None, uuidv4);
    r.add("randAlphaNum", &[P::Int], None, |ctx, a| {
        random_string(
            ctx,
            i(arg(a, 0)),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )
    });
    r.add("randAlpha", &[P::Int], None, |ctx, a| {
        random_string(
            ctx,
            i(arg(a, 0)),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
    });
    r.add("randNumeric", &[P::Int], None, |ctx, a| {
        random_string(ctx, i(arg(a, 0)), b"0123456789")
    });
    r.add("randAscii", &[P::Int], None, |ctx, a| {
        let printable: Vec<u8> = (32u8..127).collect();
        random_string(ctx, i(arg(a, 0)), &printable)
    });
    r.add("randBytes", &[P::Int], None, rand_bytes);
    r.add("randInt", &[P::Int, P::Int], None, rand_int);
    r.add("shuffle", &[P::Str], None, shuffle);
    r.add("bcrypt", &[P::Str], None, |ctx, a| {
        let h = bcrypt_hash(ctx, s(arg(a, 0)))?;
        ctx.string(h)
    });
    r.add("htpasswd", &[P::Str, P::Str], None, htpasswd);
}

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

fn fill(buf: &mut [u8]) -> Result<(), String> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| "random source unavailable".to_string())
}

/// Uniform in 0..n (n > 0), by rejection sampling.
fn below(n: u64) -> Result<u64, String> {
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let mut b = [0u8; 8];
        fill(&mut b)?;
        let v = u64::from_le_bytes(b);
        if v < zone {
            return Ok(v % n);
        }
    }
}

fn uuidv4(ctx: &mut Ctx<'_>, _: &[Value]) -> FnResult {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    // RFC 4122 version 4, variant 10.
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x40;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    let mut text = String::with_capacity(36);
    for (k, x) in b.iter().enumerate() {
        if matches!(k, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{x:02x}"));
    }
    ctx.string(text.into_bytes())
}

/// goutils' CryptoRandom over `set`; a negative count gives "" (Sprig drops the error).
fn random_string(ctx: &mut Ctx<'_>, n: i64, set: &[u8]) -> FnResult {
    if n <= 0 {
        return ctx.string(Vec::new());
    }
    let n = n as usize;
    ctx.check_len(n)?;
    ctx.charge(n.saturating_mul(8))?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let k = below(set.len() as u64)? as usize;
        out.extend(set.get(k));
    }
    ctx.string(out)
}

fn rand_bytes(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let n = i(arg(a, 0));
    if n < 0 {
        return Err("runtime error: makeslice: len out of range".into());
    }
    ctx.check_len((n as usize).saturating_mul(2))?;
    let mut buf = vec![0u8; n as usize];
    fill(&mut buf)?;
    ctx.string(
        base64::engine::general_purpose::STANDARD
            .encode(buf)
            .into_bytes(),
    )
}

fn rand_int(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (min, max) = (i(arg(a, 0)), i(arg(a, 1)));
    let span = i128::from(max) - i128::from(min);
    if span <= 0 {
        return Err("invalid argument to Intn".into());
    }
    let v = below(u64::try_from(span).unwrap_or(u64::MAX))?;
    Ok(Value::Int((i128::from(min) + i128::from(v)) as i64))
}

/// xstrings.Shuffle: the runes in random order.
fn shuffle(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut chars: Vec<char> = runes(s(arg(a, 0))).map(|(_, c, _)| c).collect();
    ctx.charge(chars.len().saturating_mul(8))?;
    for k in (1..chars.len()).rev() {
        let j = below(k as u64 + 1)? as usize;
        chars.swap(k, j);
    }
    let mut out = Vec::with_capacity(chars.len());
    for c in chars {
        push_rune(&mut out, c);
    }
    ctx.string(out)
}

/// golang.org/x/crypto/bcrypt at DefaultCost, `$2a$` form; Sprig prints errors.
fn bcrypt_hash(ctx: &mut Ctx<'_>, password: &[u8]) -> Result<Vec<u8>, String> {
    if ctx.spent.bcrypt >= ctx.limits.max_bcrypt {
        return Err(ctx.exhaust(Exhausted::Bcrypt(ctx.limits.max_bcrypt)));
    }
    ctx.spent.bcrypt += 1;
    if password.len() > 72 {
        return Ok(
            b"failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
                .to_vec(),
        );
    }
    match bcrypt::hash_with_result(password, 10) {
        Ok(parts) => Ok(parts.format_for_version(bcrypt::Version::TwoA).into_bytes()),
        Err(e) => Ok(format!("failed to encrypt string with bcrypt: {e}").into_bytes()),
    }
}

fn htpasswd(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let user = s(arg(a, 0));
    if user.contains(&b':') {
        let mut out = b"invalid username: ".to_vec();
        out.extend_from_slice(user);
        return ctx.string(out);
    }
    let hash = bcrypt_hash(ctx, s(arg(a, 1)))?;
    let mut out = user.to_vec();
    out.push(b':');
    out.extend_from_slice(&hash);
    ctx.string(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Spent;
    use std::collections::HashSet;

    #[test]
    fn random_values_have_the_right_shape() {
        let lits = HashSet::new();
        let mut ctx = Ctx::new(crate::Limits::default(), Spent::default(), &lits);
        let u = uuidv4(&mut ctx, &[]).unwrap();
        let u = String::from_utf8(u.as_bytes().to_vec()).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        let v = random_string(&mut ctx, 20, b"01").unwrap();
        assert!(v.as_bytes().len() == 20 && v.as_bytes().iter().all(|c| *c == b'0' || *c == b'1'));
        assert_eq!(random_string(&mut ctx, -3, b"01").unwrap().as_bytes(), b"");
        for _ in 0..50 {
            let n = rand_int(&mut ctx, &[Value::Int(-2), Value::Int(3)])
                .unwrap()
                .as_int();
            assert!((-2..3).contains(&n));
        }
        assert!(rand_int(&mut ctx, &[Value::Int(3), Value::Int(3)]).is_err());
    }

    #[test]
    fn bcrypt_hashes_verify_and_are_capped() {
        let lits = HashSet::new();
        let limits = crate::Limits {
            max_bcrypt: 1,
            ..Default::default()
        };
        let mut ctx = Ctx::new(limits, Spent::default(), &lits);
        let line = htpasswd(&mut ctx, &[Value::str("admin"), Value::str("s3cret")]).unwrap();
        let line = String::from_utf8(line.as_bytes().to_vec()).unwrap();
        let hash = line.strip_prefix("admin:").unwrap();
        assert!(hash.starts_with("$2a$10$"));
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert_eq!(
            htpasswd(&mut ctx, &[Value::str("a"), Value::str("b")]).unwrap_err(),
            "more than 1 bcrypt/htpasswd calls"
        );
        assert_eq!(ctx.exhausted, Some(Exhausted::Bcrypt(1)));
        let bad = htpasswd(&mut ctx, &[Value::str("a:b"), Value::str("b")]).unwrap();
        assert_eq!(bad.as_bytes(), b"invalid username: a:b");
    }
}
