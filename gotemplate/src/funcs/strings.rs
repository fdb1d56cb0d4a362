//! Sprig's string functions (strings.go and the `strings` package wrappers in
//! functions.go). Byte-oriented where Go is (trunc, substr, abbrev, wrap, nospace).

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, i, s};
use crate::strconv::quote as go_quote;
use crate::unicode::{decode_rune, is_space, rune_count, runes};
use crate::value::Value;
use std::collections::BTreeMap;

pub(super) fn register(r: &mut Registry) {
    r.add("hello", &[], None, |ctx, _| ctx.string(b"Hello!".to_vec()));
    r.add("trim", &[P::Str], None, trim);
    r.add("trimAll", &[P::Str, P::Str], None, trim_all);
    r.add("trimall", &[P::Str, P::Str], None, trim_all);
    r.add("trimPrefix", &[P::Str, P::Str], None, trim_prefix);
    r.add("trimSuffix", &[P::Str, P::Str], None, trim_suffix);
    r.add("trunc", &[P::Int, P::Str], None, trunc);
    r.add("abbrev", &[P::Int, P::Str], None, abbrev);
    r.add("abbrevboth", &[P::Int, P::Int, P::Str], None, abbrevboth);
    r.add("nospace", &[P::Str], None, nospace);
    r.add("repeat", &[P::Int, P::Str], None, repeat);
    r.add("substr", &[P::Int, P::Int, P::Str], None, substr);
    r.add("replace", &[P::Str, P::Str, P::Str], None, replace);
    r.add("contains", &[P::Str, P::Str], None, contains);
    r.add("hasPrefix", &[P::Str, P::Str], None, has_prefix);
    r.add("hasSuffix", &[P::Str, P::Str], None, has_suffix);
    r.add("quote", &[], Some(P::Any), quote);
    r.add("squote", &[], Some(P::Any), squote);
    r.add("cat", &[], Some(P::Any), cat);
    r.add("indent", &[P::Int, P::Str], None, indent);
    r.add("nindent", &[P::Int, P::Str], None, nindent);
    r.add("plural", &[P::Str, P::Str, P::Int], None, plural);
    r.add("wrap", &[P::Int, P::Str], None, wrap);
    r.add("wrapWith", &[P::Int, P::Str, P::Str], None, wrap_with);
    r.add("split", &[P::Str, P::Str], None, split);
    r.add("splitList", &[P::Str, P::Str], None, split_list);
    r.add("splitn", &[P::Str, P::Int, P::Str], None, splitn);
    r.add("join", &[P::Str, P::Any], None, join);
    r.add("toString", &[P::Any], None, to_string);
    r.add("toStrings", &[P::Any], None, to_strings);
    r.add("sortAlpha", &[P::Any], None, sort_alpha);
}

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

/// `strings.TrimFunc`-style trimming on runes (invalid bytes read as U+FFFD).
pub(crate) fn trim_runes(b: &[u8], f: impl Fn(char) -> bool) -> &[u8] {
    let mut start = 0;
    while start < b.len() {
        let (c, w) = decode_rune(&b[start..]);
        if !f(c) {
            break;
        }
        start += w.max(1);
    }
    let mut end = b.len();
    while end > start {
        let (c, w) = crate::unicode::decode_last_rune(&b[start..end]);
        if !f(c) {
            break;
        }
        end -= w.max(1);
    }
    &b[start..end]
}

fn trim(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    ctx.string(trim_runes(s(arg(a, 0)), is_space).to_vec())
}

fn trim_all(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let cutset: Vec<char> = runes(s(arg(a, 0))).map(|(_, c, _)| c).collect();
    let text = s(arg(a, 1));
    if cutset.is_empty() {
        return ctx.string(text.to_vec());
    }
    ctx.string(trim_runes(text, |c| cutset.contains(&c)).to_vec())
}

fn trim_prefix(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (p, t) = (s(arg(a, 0)), s(arg(a, 1)));
    ctx.string(t.strip_prefix(p).unwrap_or(t).to_vec())
}

fn trim_suffix(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (p, t) = (s(arg(a, 0)), s(arg(a, 1)));
    ctx.string(t.strip_suffix(p).unwrap_or(t).to_vec())
}

fn trunc(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (c, t) = (i(arg(a, 0)), s(arg(a, 1)));
    let len = t.len() as i64;
    let out = if c < 0 && len + c > 0 {
        &t[(len + c) as usize..]
    } else if c >= 0 && len > c {
        &t[..c as usize]
    } else {
        t
    };
    ctx.string(out.to_vec())
}

/// goutils.AbbreviateFull; None where goutils returns an error (Sprig prints "").
fn abbreviate_full(s: &[u8], offset: i64, max_width: i64) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if max_width < 4 {
        return None;
    }
    let len = s.len() as i64;
    if len <= max_width {
        return Some(s.to_vec());
    }
    // goutils treats a negative offset like 0.
    let mut offset = offset.clamp(0, len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let mut out = Vec::new();
    if offset <= 4 {
        out.extend_from_slice(&s[..(max_width - 3) as usize]);
        out.extend_from_slice(b"...");
        return Some(out);
    }
    if max_width < 7 {
        return None;
    }
    out.extend_from_slice(b"...");
    if offset + max_width - 3 < len {
        let inner = abbreviate_full(&s[offset as usize..], 0, max_width - 3).unwrap_or_default();
        out.extend_from_slice(&inner);
        return Some(out);
    }
    out.extend_from_slice(&s[(len - (max_width - 3)) as usize..]);
    Some(out)
}

fn abbrev(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (w, t) = (i(arg(a, 0)), s(arg(a, 1)));
    if w < 4 {
        return ctx.string(t.to_vec());
    }
    ctx.string(abbreviate_full(t, 0, w).unwrap_or_default())
}

fn abbrevboth(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (left, right, t) = (i(arg(a, 0)), i(arg(a, 1)), s(arg(a, 2)));
    if right < 4 || (left > 0 && right < 7) {
        return ctx.string(t.to_vec());
    }
    ctx.string(abbreviate_full(t, left, right).unwrap_or_default())
}

/// goutils.DeleteWhiteSpace: bytewise, each byte taken as a Latin-1 rune (so other
/// bytes of a multi-byte character are re-encoded whenever anything is removed).
fn nospace(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let t = s(arg(a, 0));
    let kept: Vec<char> = t
        .iter()
        .map(|b| char::from(*b))
        .filter(|c| !is_space(*c))
        .collect();
    if kept.len() == t.len() {
        return ctx.string(t.to_vec());
    }
    ctx.string(kept.into_iter().collect::<String>().into_bytes())
}

fn repeat(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (n, t) = (i(arg(a, 0)), s(arg(a, 1)));
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    ctx.check_len((n as usize).saturating_mul(t.len()))?;
    ctx.string(t.repeat(n as usize))
}

fn substr(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (start, end, t) = (i(arg(a, 0)), i(arg(a, 1)), s(arg(a, 2)));
    let len = t.len() as i64;
    let bad = || Err("runtime error: slice bounds out of range".to_string());
    let out = if start < 0 {
        if !(0..=len).contains(&end) {
            return bad();
        }
        &t[..end as usize]
    } else if end < 0 || end > len {
        if start > len {
            return bad();
        }
        &t[start as usize..]
    } else {
        if start > end {
            return bad();
        }
        &t[start as usize..end as usize]
    };
    ctx.string(out.to_vec())
}

/// `strings.Replace(s, old, new, -1)`; an empty `old` matches before every rune.
pub(crate) fn replace_all(
    text: &[u8],
    old: &[u8],
    new: &[u8],
    limit: usize,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("result too large (limit {limit} bytes)");
    let mut out = Vec::new();
    if old.is_empty() {
        let n = rune_count(text) + 1;
        if text.len().saturating_add(n.saturating_mul(new.len())) > limit {
            return Err(too_large());
        }
        out.extend_from_slice(new);
        for (at, _, w) in runes(text) {
            out.extend_from_slice(&text[at..at + w]);
            out.extend_from_slice(new);
        }
        return Ok(out);
    }
    let mut rest = text;
    while let Some(pos) = find(rest, old) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(new);
        if out.len() > limit {
            return Err(too_large());
        }
        rest = &rest[pos + old.len()..];
    }
    out.extend_from_slice(rest);
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(out)
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (old, new, src) = (s(arg(a, 0)), s(arg(a, 1)), s(arg(a, 2)));
    let out = replace_all(src, old, new, ctx.limits.max_string)?;
    ctx.string(out)
}

fn contains(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(find(s(arg(a, 1)), s(arg(a, 0))).is_some()))
}

fn has_prefix(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(s(arg(a, 1)).starts_with(s(arg(a, 0)))))
}

fn has_suffix(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(s(arg(a, 1)).ends_with(s(arg(a, 0)))))
}

fn quote(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut parts = Vec::new();
    for v in a.iter().filter(|v| !v.is_nil()) {
        let text = ctx.strval(v)?;
        parts.push(go_quote(&text, false));
    }
    ctx.string(parts.join(&b' '))
}

fn squote(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut parts = Vec::new();
    for v in a.iter().filter(|v| !v.is_nil()) {
        let text = ctx.strval(v)?;
        let mut q = Vec::with_capacity(text.len() + 2);
        q.push(b'\'');
        q.extend_from_slice(&text);
        q.push(b'\'');
        parts.push(q);
    }
    ctx.string(parts.join(&b' '))
}

fn cat(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut parts = Vec::new();
    for v in a.iter().filter(|v| !v.is_nil()) {
        parts.push(ctx.strval(v)?);
    }
    ctx.string(parts.join(&b' '))
}

fn indent_text(ctx: &mut Ctx<'_>, n: i64, t: &[u8], newline: bool) -> FnResult {
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let n = n as usize;
    let lines = t.iter().filter(|b| **b == b'\n').count() + 1;
    ctx.check_len(t.len().saturating_add(lines.saturating_mul(n)))?;
    let pad = vec![b' '; n];
    let mut out = Vec::new();
    if newline {
        out.push(b'\n');
    }
    out.extend_from_slice(&pad);
    for &c in t {
        out.push(c);
        if c == b'\n' {
            out.extend_from_slice(&pad);
        }
    }
    ctx.string(out)
}

fn indent(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    indent_text(ctx, i(arg(a, 0)), s(arg(a, 1)), false)
}

fn nindent(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    indent_text(ctx, i(arg(a, 0)), s(arg(a, 1)), true)
}

fn plural(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let pick = if i(arg(a, 2)) == 1 { 0 } else { 1 };
    ctx.string(s(arg(a, pick)).to_vec())
}

/// goutils.WrapCustom, bytewise.
fn wrap_custom(t: &[u8], wrap_length: i64, newline: &[u8], wrap_long: bool) -> Vec<u8> {
    if t.is_empty() {
        return Vec::new();
    }
    let newline: &[u8] = if newline.is_empty() { b"\n" } else { newline };
    let wl = wrap_length.max(1) as usize;
    let len = t.len();
    let mut offset = 0usize;
    let mut out = Vec::with_capacity(len + len / wl * newline.len());
    while len - offset > wl {
        if t[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = wl + offset + 1;
        match t[offset..end].iter().rposition(|b| *b == b' ') {
            Some(sp) => {
                out.extend_from_slice(&t[offset..offset + sp]);
                out.extend_from_slice(newline);
                offset += sp + 1;
            }
            None if wrap_long => {
                out.extend_from_slice(&t[offset..offset + wl]);
                out.extend_from_slice(newline);
                offset += wl;
            }
            None => {
                let end = wl + offset;
                match t[end..].iter().position(|b| *b == b' ') {
                    Some(sp) => {
                        out.extend_from_slice(&t[offset..end + sp]);
                        out.extend_from_slice(newline);
                        offset = end + sp + 1;
                    }
                    None => {
                        out.extend_from_slice(&t[offset..]);
                        offset = len;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&t[offset..]);
    out
}

fn wrap(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    ctx.string(wrap_custom(s(arg(a, 1)), i(arg(a, 0)), b"", false))
}

fn wrap_with(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let (l, sep, t) = (i(arg(a, 0)), s(arg(a, 1)), s(arg(a, 2)));
    let pieces = t.len() / (l.max(1) as usize) + 1;
    ctx.check_len(t.len().saturating_add(pieces.saturating_mul(sep.len())))?;
    ctx.string(wrap_custom(t, l, sep, true))
}

/// `strings.SplitN(s, sep, n)`; n < 0 means all.
pub(crate) fn split_n(t: &[u8], sep: &[u8], n: i64) -> Vec<Vec<u8>> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let all: Vec<(usize, usize)> = runes(t).map(|(at, _, w)| (at, w)).collect();
        let n = if n < 0 || n as usize > all.len() {
            all.len()
        } else {
            n as usize
        };
        let mut out = Vec::with_capacity(n);
        for (k, (at, w)) in all.iter().enumerate().take(n) {
            if k + 1 == n {
                out.push(t[*at..].to_vec());
            } else {
                out.push(t[*at..at + w].to_vec());
            }
        }
        return out;
    }
    let mut out = Vec::new();
    let mut rest = t;
    while n < 0 || (out.len() as i64) < n - 1 {
        match find(rest, sep) {
            Some(m) => {
                out.push(rest[..m].to_vec());
                rest = &rest[m + sep.len()..];
            }
            None => break,
        }
    }
    out.push(rest.to_vec());
    out
}

fn split_map(ctx: &mut Ctx<'_>, parts: Vec<Vec<u8>>) -> FnResult {
    ctx.check_len(parts.len())?;
    let total: usize = parts.iter().map(Vec::len).sum();
    ctx.charge(total)?;
    let entries: BTreeMap<Vec<u8>, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(k, v)| (format!("_{k}").into_bytes(), Value::str(v)))
        .collect();
    Ok(ctx.map(true, entries))
}

fn split(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let parts = split_n(s(arg(a, 1)), s(arg(a, 0)), -1);
    split_map(ctx, parts)
}

fn split_list(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let parts = split_n(s(arg(a, 1)), s(arg(a, 0)), -1);
    ctx.strings_list(parts)
}

fn splitn(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let parts = split_n(s(arg(a, 2)), s(arg(a, 0)), i(arg(a, 1)));
    split_map(ctx, parts)
}

/// Sprig's strslice: a list's non-nil items as strings; nil is empty; else one item.
pub(crate) fn strslice(ctx: &mut Ctx<'_>, v: &Value) -> Result<Vec<Vec<u8>>, String> {
    match v {
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter().filter(|x| !x.is_nil()) {
                out.push(ctx.strval(item)?);
            }
            Ok(out)
        }
        Value::Missing | Value::Nil => Ok(Vec::new()),
        other => Ok(vec![ctx.strval(other)?]),
    }
}

fn join(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let sep = s(arg(a, 0)).to_vec();
    let parts = strslice(ctx, arg(a, 1))?;
    let total = parts.iter().map(Vec::len).sum::<usize>() + parts.len() * sep.len();
    ctx.check_len(total)?;
    ctx.string(parts.join(sep.as_slice()))
}

fn to_string(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let out = ctx.strval(arg(a, 0))?;
    ctx.string(out)
}

fn to_strings(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let parts = strslice(ctx, arg(a, 0))?;
    ctx.strings_list(parts)
}

fn sort_alpha(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let v = arg(a, 0);
    let mut parts = match v {
        Value::List(_) => strslice(ctx, v)?,
        other => vec![ctx.strval(other)?],
    };
    parts.sort();
    ctx.strings_list(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_follows_go() {
        let v = |parts: Vec<Vec<u8>>| -> Vec<String> {
            parts
                .into_iter()
                .map(|p| String::from_utf8(p).unwrap())
                .collect()
        };
        assert_eq!(v(split_n(b"a,b,c", b",", -1)), ["a", "b", "c"]);
        assert_eq!(v(split_n(b"a,b,c", b",", 2)), ["a", "b,c"]);
        assert_eq!(v(split_n(b"", b",", -1)), [""]);
        assert_eq!(v(split_n("aé".as_bytes(), b"", -1)), ["a", "é"]);
        assert_eq!(v(split_n(b"", b"", -1)), Vec::<String>::new());
        assert!(split_n(b"a", b",", 0).is_empty());
    }

    #[test]
    fn abbreviation_follows_goutils() {
        let ab = |s: &str, o, w| {
            abbreviate_full(s.as_bytes(), o, w).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(
            ab("Now is the time for all good men", 0, 10).as_deref(),
            Some("Now is ...")
        );
        assert_eq!(ab("abcdefghijklmno", 5, 10).as_deref(), Some("...fghi..."));
        assert_eq!(ab("abcdefghijklmno", 12, 10).as_deref(), Some("...ijklmno"));
        assert_eq!(ab("abc", 0, 3), None);
        assert_eq!(ab("abcdefghij", 5, 5), None);
    }

    #[test]
    fn wrapping_follows_goutils() {
        let w = |s: &str, l, nl: &str, long| {
            String::from_utf8(wrap_custom(s.as_bytes(), l, nl.as_bytes(), long)).unwrap()
        };
        assert_eq!(
            w("Here is a sample sentence", 10, "", false),
            "Here is a\nsample\nsentence"
        );
        assert_eq!(
            w("averyveryverylongword and", 5, "", false),
            "averyveryverylongword\nand"
        );
        assert_eq!(w("averyverylong", 5, "<br>", true), "avery<br>veryl<br>ong");
    }

    #[test]
    fn replacing_follows_go() {
        assert_eq!(replace_all(b"aaa", b"a", b"bb", 100).unwrap(), b"bbbbbb");
        assert_eq!(
            replace_all("aé".as_bytes(), b"", b"-", 100).unwrap(),
            "-a-é-".as_bytes()
        );
        assert!(replace_all(b"aaaa", b"a", b"bbbbbbbb", 10).is_err());
    }
}
