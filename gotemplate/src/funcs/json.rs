//! Sprig's JSON functions with Go's `encoding/json` output: sorted keys, `<>&` escaped
//! (except `toRawJson`), floats as Go writes them, invalid UTF-8 as `\ufffd`; decoding
//! into map/list/float64/string/bool/nil. Parse errors name a byte offset, not content.

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, s};
use crate::strconv::{format_float, parse_float};
use crate::unicode::{RUNE_ERROR, decode_rune, push_rune};
use crate::value::Value;
use std::collections::BTreeMap;

pub(super) fn register(r: &mut Registry) {
    r.add("toJson", &[P::Any], None, |ctx, a| {
        lenient(ctx, a, Style::Compact)
    });
    r.add("toPrettyJson", &[P::Any], None, |ctx, a| {
        lenient(ctx, a, Style::Pretty)
    });
    r.add("toRawJson", &[P::Any], None, |ctx, a| {
        lenient(ctx, a, Style::Raw)
    });
    r.add("mustToJson", &[P::Any], None, |ctx, a| {
        strict(ctx, a, Style::Compact)
    });
    r.add("mustToPrettyJson", &[P::Any], None, |ctx, a| {
        strict(ctx, a, Style::Pretty)
    });
    r.add("mustToRawJson", &[P::Any], None, |ctx, a| {
        strict(ctx, a, Style::Raw)
    });
    r.add("fromJson", &[P::Str], None, |ctx, a| {
        Ok(decode(ctx, arg_bytes(a)).unwrap_or(Value::Nil))
    });
    r.add("mustFromJson", &[P::Str], None, |ctx, a| {
        decode(ctx, arg_bytes(a))
    });
}

fn arg_bytes(a: &[Value]) -> &[u8] {
    a.first().map(s).unwrap_or(b"")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Compact,
    Pretty,
    Raw,
}

/// Go's Marshal errors are swallowed by the non-`must` forms (they print "").
fn lenient(ctx: &mut Ctx<'_>, a: &[Value], style: Style) -> FnResult {
    match encode_value(ctx, a.first().unwrap_or(&Value::Nil), style) {
        Ok(out) => ctx.string(out),
        Err(Fail::Limit(e)) => Err(e),
        Err(Fail::Json(_)) => ctx.string(Vec::new()),
    }
}

fn strict(ctx: &mut Ctx<'_>, a: &[Value], style: Style) -> FnResult {
    match encode_value(ctx, a.first().unwrap_or(&Value::Nil), style) {
        Ok(out) => ctx.string(out),
        Err(Fail::Limit(e) | Fail::Json(e)) => Err(e),
    }
}

enum Fail {
    /// A json.Marshal error (NaN, infinity, nesting).
    Json(String),
    /// Our size limit.
    Limit(String),
}

fn encode_value(ctx: &mut Ctx<'_>, v: &Value, style: Style) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    let limit = ctx.limits.max_string;
    let depth = ctx.limits.max_depth;
    let mut enc = Encoder {
        out: &mut out,
        html: style != Style::Raw,
        pretty: style == Style::Pretty,
        limit,
        max_depth: depth,
    };
    enc.value(v, 0)?;
    ctx.charge(out.len()).map_err(Fail::Limit)?;
    Ok(out)
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    html: bool,
    pretty: bool,
    limit: usize,
    max_depth: usize,
}

impl Encoder<'_> {
    fn check(&self) -> Result<(), Fail> {
        if self.out.len() > self.limit {
            return Err(Fail::Limit(format!(
                "result too large (limit {} bytes)",
                self.limit
            )));
        }
        Ok(())
    }

    fn newline(&mut self, level: usize) {
        if self.pretty {
            self.out.push(b'\n');
            for _ in 0..level {
                self.out.extend_from_slice(b"  ");
            }
        }
    }

    fn value(&mut self, v: &Value, level: usize) -> Result<(), Fail> {
        if level > self.max_depth {
            return Err(Fail::Json(format!(
                "json: unsupported value: encountered a cycle via {}",
                v.type_name()
            )));
        }
        self.check()?;
        match v {
            Value::Missing | Value::Nil => self.out.extend_from_slice(b"null"),
            Value::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => self.out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => {
                if !f.is_finite() {
                    return Err(Fail::Json(format!(
                        "json: unsupported value: {}",
                        format_float(*f, b'g', -1)
                    )));
                }
                self.out.extend_from_slice(json_float(*f).as_bytes());
            }
            Value::Str(s) => self.string(s),
            Value::List(items) => {
                self.out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.newline(level + 1);
                    self.value(item, level + 1)?;
                }
                if !items.is_empty() {
                    self.newline(level);
                }
                self.out.push(b']');
            }
            Value::Map(m) => {
                let entries = m.entries();
                self.out.push(b'{');
                for (i, (k, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.newline(level + 1);
                    self.string(k);
                    self.out.push(b':');
                    if self.pretty {
                        self.out.push(b' ');
                    }
                    self.value(item, level + 1)?;
                }
                if !entries.is_empty() {
                    self.newline(level);
                }
                self.out.push(b'}');
            }
        }
        self.check()
    }

    fn string(&mut self, s: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push(b'"');
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            if b < 0x80 {
                let escape_html = self.html && matches!(b, b'<' | b'>' | b'&');
                if b >= 0x20 && b != b'"' && b != b'\\' && !escape_html {
                    self.out.push(b);
                } else {
                    match b {
                        b'"' | b'\\' => self.out.extend_from_slice(&[b'\\', b]),
                        0x08 => self.out.extend_from_slice(b"\\b"),
                        0x0c => self.out.extend_from_slice(b"\\f"),
                        b'\n' => self.out.extend_from_slice(b"\\n"),
                        b'\r' => self.out.extend_from_slice(b"\\r"),
                        b'\t' => self.out.extend_from_slice(b"\\t"),
                        _ => {
                            self.out.extend_from_slice(b"\\u00");
                            self.out.push(HEX[usize::from(b >> 4)]);
                            self.out.push(HEX[usize::from(b & 0xF)]);
                        }
                    }
                }
                i += 1;
                continue;
            }
            let (c, w) = decode_rune(&s[i..]);
            if c == RUNE_ERROR && w == 1 {
                self.out.extend_from_slice(b"\\ufffd");
                i += 1;
                continue;
            }
            if c == '\u{2028}' || c == '\u{2029}' {
                self.out.extend_from_slice(if c == '\u{2028}' {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
            } else {
                self.out.extend_from_slice(&s[i..i + w]);
            }
            i += w;
        }
        self.out.push(b'"');
    }
}

/// encoding/json's float form: shortest digits, exponent only below 1e-6 or from 1e21.
fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let mut t = format_float(f, b'e', -1);
        let n = t.len();
        let b = t.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            t.remove(n - 2);
        }
        return t;
    }
    format_float(f, b'f', -1)
}

fn decode(ctx: &mut Ctx<'_>, text: &[u8]) -> FnResult {
    let mut p = Decoder {
        b: text,
        i: 0,
        max_depth: ctx.limits.max_depth,
    };
    p.skip_ws();
    let v = p.value(ctx, 0)?;
    p.skip_ws();
    if p.i < p.b.len() {
        return Err(format!(
            "invalid character after top-level value at input byte {}",
            p.i
        ));
    }
    ctx.charge(text.len())?;
    Ok(v)
}

struct Decoder<'a> {
    b: &'a [u8],
    i: usize,
    max_depth: usize,
}

impl Decoder<'_> {
    fn skip_ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn bad(&self) -> String {
        if self.i >= self.b.len() {
            return "unexpected end of JSON input".into();
        }
        format!("invalid character at input byte {}", self.i)
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, String> {
        for &c in word {
            if self.b.get(self.i) != Some(&c) {
                return Err(self.bad());
            }
            self.i += 1;
        }
        Ok(v)
    }

    fn value(&mut self, ctx: &mut Ctx<'_>, depth: usize) -> Result<Value, String> {
        if depth > self.max_depth {
            return Err("exceeded max depth".into());
        }
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut entries = BTreeMap::new();
                self.skip_ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(ctx.map(false, entries));
                }
                loop {
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.bad());
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.bad());
                    }
                    self.i += 1;
                    self.skip_ws();
                    let v = self.value(ctx, depth + 1)?;
                    entries.insert(key, v);
                    self.skip_ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(ctx.map(false, entries));
                        }
                        _ => return Err(self.bad()),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::list(items));
                }
                loop {
                    self.skip_ws();
                    items.push(self.value(ctx, depth + 1)?);
                    self.skip_ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::list(items));
                        }
                        _ => return Err(self.bad()),
                    }
                }
            }
            Some(b'"') => Ok(Value::str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Nil),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.bad()),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.bad()),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.bad());
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.bad());
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        match parse_float(text) {
            Some(f) => Ok(Value::Float(f)),
            None => Err("number out of range for float64".into()),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut v = 0;
        for &d in digits {
            v = (v << 4) | char::from(d).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// A string at `"`; invalid UTF-8 and lone surrogates become U+FFFD, as in Go.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.bad());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.bad());
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let Some(hi) = self.hex4() else {
                                return Err(self.bad());
                            };
                            let mut r = char::from_u32(hi);
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                match self.hex4() {
                                    Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                        r = char::from_u32(
                                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                        );
                                    }
                                    _ => self.i = save,
                                }
                            }
                            push_rune(&mut out, r.unwrap_or(RUNE_ERROR));
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.bad());
                        }
                    }
                }
                c if c < 0x20 => return Err(self.bad()),
                c if c < 0x80 => {
                    out.push(c);
                    self.i += 1;
                }
                _ => {
                    let (r, w) = decode_rune(&self.b[self.i..]);
                    if r == RUNE_ERROR && w == 1 {
                        push_rune(&mut out, RUNE_ERROR);
                    } else {
                        out.extend_from_slice(&self.b[self.i..self.i + w]);
                    }
                    self.i += w.max(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_encoding_json() {
        assert_eq!(json_float(1.0), "1");
        assert_eq!(json_float(1.5), "1.5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e20), "100000000000000000000");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(0.000001), "0.000001");
        assert_eq!(json_float(-0.0), "-0");
    }
}
