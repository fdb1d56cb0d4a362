//! The parts of Go's `strconv` the templates rely on: number syntax (base prefixes,
//! underscores), quoting and unquoting, and `FormatFloat`.

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::unicode::{decode_rune, is_print, push_rune};

fn lower(c: u8) -> u8 {
    c | 0x20
}

/// `strconv`'s underscoreOK: underscores only between digits (a base prefix counts).
pub(crate) fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(lower(b[1]), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = lower(b[1]) == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&lower(c))) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, base, 64)`; base 0 reads Go prefixes and underscores.
pub(crate) fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let base0 = base == 0;
    let b = s.as_bytes();
    let (base, digits) = if base0 {
        if b[0] == b'0' {
            match b.get(1).map(|c| lower(*c)) {
                Some(b'b') if b.len() >= 3 => (2, &b[2..]),
                Some(b'o') if b.len() >= 3 => (8, &b[2..]),
                Some(b'x') if b.len() >= 3 => (16, &b[2..]),
                _ => (8, &b[1..]),
            }
        } else {
            (10, b)
        }
    } else {
        (base, b)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' if base0 => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u32::from(c - b'0'),
            _ if lower(c).is_ascii_lowercase() => u32::from(lower(c) - b'a') + 10,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseInt(s, base, 64)`.
pub(crate) fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(rest, base)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseFloat(s, 64)`: None on bad syntax or on overflow to infinity.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lowered = body.to_ascii_lowercase();
    let special = match lowered.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if neg { -v } else { v });
    }
    if body.contains('_') && !underscore_ok(body) {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let v = if clean.len() > 2 && clean.as_bytes()[0] == b'0' && lower(clean.as_bytes()[1]) == b'x'
    {
        parse_hex_float(&clean[2..])?
    } else {
        if !clean
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        clean.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Hex mantissa with a mandatory binary exponent: `1.8p3`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

fn push_escaped_rune(out: &mut Vec<u8>, r: char, quote: u8, ascii_only: bool) {
    if r as u32 == u32::from(quote) || r == '\\' {
        out.push(b'\\');
        push_rune(out, r);
        return;
    }
    if ascii_only {
        if r.is_ascii() && is_print(r) {
            out.push(r as u8);
            return;
        }
    } else if is_print(r) {
        push_rune(out, r);
        return;
    }
    match r {
        '\x07' => out.extend_from_slice(b"\\a"),
        '\x08' => out.extend_from_slice(b"\\b"),
        '\x0c' => out.extend_from_slice(b"\\f"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\x0b' => out.extend_from_slice(b"\\v"),
        _ => {
            let v = r as u32;
            if v < 0x20 || v == 0x7f {
                out.extend_from_slice(b"\\x");
                out.push(LOWER_HEX[(v >> 4) as usize & 0xF]);
                out.push(LOWER_HEX[v as usize & 0xF]);
            } else if v < 0x10000 {
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(LOWER_HEX[(v >> shift) as usize & 0xF]);
                }
            } else {
                out.extend_from_slice(b"\\U");
                for shift in [28, 24, 20, 16, 12, 8, 4, 0] {
                    out.push(LOWER_HEX[(v >> shift) as usize & 0xF]);
                }
            }
        }
    }
}

/// `strconv.Quote` (or `QuoteToASCII`) of a Go string.
pub(crate) fn quote(s: &[u8], ascii_only: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let (r, w) = decode_rune(&s[i..]);
        if w == 1 && r == super::unicode::RUNE_ERROR {
            out.extend_from_slice(b"\\x");
            out.push(LOWER_HEX[usize::from(s[i] >> 4)]);
            out.push(LOWER_HEX[usize::from(s[i] & 0xF)]);
            i += 1;
            continue;
        }
        push_escaped_rune(&mut out, r, b'"', ascii_only);
        i += w.max(1);
    }
    out.push(b'"');
    out
}

/// `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(crate) fn quote_rune(r: char, ascii_only: bool) -> Vec<u8> {
    let mut out = vec![b'\''];
    push_escaped_rune(&mut out, r, b'\'', ascii_only);
    out.push(b'\'');
    out
}

/// `strconv.CanBackquote`.
pub(crate) fn can_backquote(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let (r, w) = decode_rune(&s[i..]);
        i += w.max(1);
        if w > 1 {
            if r == '\u{FEFF}' {
                return false;
            }
            continue;
        }
        if r == super::unicode::RUNE_ERROR {
            return false;
        }
        if (r < ' ' && r != '\t') || r == '`' || r == '\u{7F}' {
            return false;
        }
    }
    true
}

fn unhex(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

/// `strconv.UnquoteChar`: one (possibly escaped) character at the start of `s`:
/// (value, multibyte, rest).
pub(crate) fn unquote_char(s: &[u8], quote: u8) -> Option<(u32, bool, &[u8])> {
    let &c = s.first()?;
    if c == quote && (quote == b'\'' || quote == b'"') {
        return None;
    }
    if c >= 0x80 {
        let (r, w) = decode_rune(s);
        return Some((r as u32, true, &s[w.max(1)..]));
    }
    if c != b'\\' {
        return Some((u32::from(c), false, &s[1..]));
    }
    let &e = s.get(1)?;
    let rest = &s[2..];
    let simple = |v: u8| Some((u32::from(v), false, rest));
    match e {
        b'a' => simple(0x07),
        b'b' => simple(0x08),
        b'f' => simple(0x0c),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(0x0b),
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let mut v: u32 = 0;
            for &d in digits {
                v = (v << 4) | unhex(d)?;
            }
            if e == b'x' {
                return Some((v, false, &rest[n..]));
            }
            char::from_u32(v)?;
            Some((v, true, &rest[n..]))
        }
        b'0'..=b'7' => {
            let mut v = u32::from(e - b'0');
            let digits = rest.get(..2)?;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            if v > 255 {
                return None;
            }
            Some((v, false, &rest[2..]))
        }
        b'\\' => simple(b'\\'),
        b'\'' | b'"' if e == quote => simple(e),
        _ => None,
    }
}

/// `strconv.Unquote` of a double-quoted or raw string literal.
pub(crate) fn unquote(lit: &str) -> Option<Vec<u8>> {
    let b = lit.as_bytes();
    if b.len() < 2 {
        return None;
    }
    match b[0] {
        b'`' => {
            if *b.last()? != b'`' || b[1..b.len() - 1].contains(&b'`') {
                return None;
            }
            Some(
                b[1..b.len() - 1]
                    .iter()
                    .copied()
                    .filter(|c| *c != b'\r')
                    .collect(),
            )
        }
        b'"' => {
            let mut out = Vec::with_capacity(b.len());
            let mut rest = &b[1..];
            while let Some(&c) = rest.first() {
                if c == b'"' {
                    break;
                }
                if c == b'\n' {
                    return None;
                }
                let (v, multibyte, tail) = unquote_char(rest, b'"')?;
                if v < 0x80 || !multibyte {
                    out.push(v as u8);
                } else {
                    push_rune(&mut out, char::from_u32(v)?);
                }
                rest = tail;
            }
            if rest != b"\"" {
                return None;
            }
            Some(out)
        }
        _ => None,
    }
}

/// Decimal digits of a finite non-negative float (Go's `decimal`): no trailing zeros,
/// `dp` is the decimal point position; zero has no digits and `dp` 0.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// Shortest round-trip digits (`sig` None) or `sig` significant digits, rounded.
fn digits(v: f64, sig: Option<usize>) -> Digits {
    let text = match sig {
        None => format!("{v:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v),
    };
    let (mant, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn push_exp(out: &mut String, ch: char, exp: i32) {
    out.push(ch);
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

/// `%e` from digits: one digit, `prec` decimals.
fn fmt_e(out: &mut String, dg: &Digits, prec: usize, ch: char) {
    out.push(char::from(*dg.d.first().unwrap_or(&b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(*dg.d.get(i).unwrap_or(&b'0')));
        }
    }
    let exp = if dg.d.is_empty() { 0 } else { dg.dp - 1 };
    push_exp(out, ch, exp);
}

/// `%f` from digits with `prec` decimals.
fn fmt_f(out: &mut String, dg: &Digits, prec: usize) {
    if dg.dp > 0 {
        let dp = dg.dp as usize;
        for i in 0..dp {
            out.push(char::from(*dg.d.get(i).unwrap_or(&b'0')));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = i64::from(dg.dp) + i - 1;
            let c = usize::try_from(j)
                .ok()
                .and_then(|j| dg.d.get(j))
                .copied()
                .unwrap_or(b'0');
            out.push(char::from(c));
        }
    }
}

/// `strconv.FormatFloat(v, fmt, prec, 64)` for fmt in `b e E f g G x X`; a negative
/// `prec` asks for the shortest representation.
pub(crate) fn format_float(v: f64, fmt: u8, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    match fmt {
        b'b' => {
            let bits = a.to_bits();
            let mut exp = ((bits >> 52) & 0x7FF) as i32;
            let mut mant = bits & ((1 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1 << 52;
            }
            exp += -1023 - 52;
            out.push_str(&mant.to_string());
            out.push('p');
            if exp >= 0 {
                out.push('+');
            }
            out.push_str(&exp.to_string());
        }
        b'x' | b'X' => fmt_x(&mut out, a, prec, fmt),
        b'f' => {
            if prec < 0 {
                out.push_str(&format!("{a}"));
            } else {
                out.push_str(&format!("{:.*}", prec as usize, a));
            }
        }
        b'e' | b'E' => {
            let ch = char::from(fmt);
            if prec < 0 {
                let dg = digits(a, None);
                fmt_e(&mut out, &dg, dg.d.len().saturating_sub(1), ch);
            } else {
                let dg = digits(a, Some(prec as usize + 1));
                fmt_e(&mut out, &dg, prec as usize, ch);
            }
        }
        _ => {
            let ch = if fmt == b'G' { 'E' } else { 'e' };
            let shortest = prec < 0;
            let (dg, mut p) = if shortest {
                let dg = digits(a, None);
                let n = dg.d.len() as i32;
                (dg, n)
            } else {
                let p = prec.max(1);
                (digits(a, Some(p as usize)), p)
            };
            let nd = dg.d.len() as i32;
            let mut eprec = p;
            if eprec > nd && nd >= dg.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dg.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &dg, (p - 1).max(0) as usize, ch);
            } else {
                if p > dg.dp {
                    p = nd;
                }
                fmt_f(&mut out, &dg, (p - dg.dp).max(0) as usize);
            }
        }
    }
    out
}

/// `%x` of a float: `0x1.8p+01`.
fn fmt_x(out: &mut String, a: f64, prec: i32, fmt: u8) {
    let bits = a.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i32;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == b'X' {
        b"0123456789ABCDEF"
    } else {
        LOWER_HEX
    };
    out.push('0');
    out.push(char::from(fmt));
    out.push(char::from(b'0' + ((mant >> 60) & 1) as u8));
    mant <<= 4;
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    }
    out.push(if fmt == b'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_like_go() {
        assert_eq!(parse_int("0x1F", 0), Some(31));
        assert_eq!(parse_int("017", 0), Some(15));
        assert_eq!(parse_int("0o17", 0), Some(15));
        assert_eq!(parse_int("0b101", 0), Some(5));
        assert_eq!(parse_int("1_000", 0), Some(1000));
        assert_eq!(parse_int("1__0", 0), None);
        assert_eq!(parse_int("-9223372036854775808", 0), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", 0), None);
        assert_eq!(parse_int("08", 0), None);
        assert_eq!(parse_int("1_0", 10), None);
        assert_eq!(parse_int("", 0), None);
    }

    #[test]
    fn floats_read_like_go() {
        assert_eq!(parse_float("1.5"), Some(1.5));
        assert_eq!(parse_float("1_000.5"), Some(1000.5));
        assert_eq!(parse_float("0x1.8p1"), Some(3.0));
        assert_eq!(parse_float("0x1.8"), None);
        assert_eq!(parse_float("1e400"), None);
        assert_eq!(parse_float("abc"), None);
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn quoting_matches_strconv() {
        assert_eq!(
            quote(b"a\"b\\\n\x01\xff", false),
            b"\"a\\\"b\\\\\\n\\x01\\xff\""
        );
        assert_eq!(
            quote("é\u{a0}😀".as_bytes(), false),
            "\"é\\u00a0😀\"".as_bytes()
        );
        assert_eq!(quote("é".as_bytes(), true), b"\"\\u00e9\"");
        assert_eq!(quote_rune('\'', false), b"'\\''");
        assert!(can_backquote(b"a\tb") && !can_backquote(b"a`b"));
    }

    #[test]
    fn unquoting_matches_strconv() {
        assert_eq!(
            unquote(r#""a\tb\x41\101\u00e9""#),
            Some(b"a\tbAA\xc3\xa9".to_vec())
        );
        assert_eq!(unquote(r#""\xff""#), Some(vec![0xff]));
        assert_eq!(unquote("`a\r\nb`"), Some(b"a\nb".to_vec()));
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r#""\400""#), None);
        assert_eq!(unquote(r#""\ud800""#), None);
        assert_eq!(unquote_char(b"\\'x", b'\''), Some((39, false, &b"x"[..])));
    }

    #[test]
    fn floats_format_like_strconv() {
        let cases: &[(f64, u8, i32, &str)] = &[
            (1e6, b'g', -1, "1e+06"),
            (123456.0, b'g', -1, "123456"),
            (1234567.0, b'g', -1, "1.234567e+06"),
            (0.0001, b'g', -1, "0.0001"),
            (0.00001, b'g', -1, "1e-05"),
            (0.0, b'g', -1, "0"),
            (-0.0, b'g', -1, "-0"),
            (3.5, b'g', -1, "3.5"),
            (1.0, b'g', 3, "1"),
            (1234.5678, b'g', 3, "1.23e+03"),
            (0.5, b'f', 0, "0"),
            (2.5, b'f', 0, "2"),
            (1.5, b'f', 2, "1.50"),
            (1.5, b'e', 6, "1.500000e+00"),
            (123.0, b'E', 2, "1.23E+02"),
            (0.0, b'e', 2, "0.00e+00"),
            (1e21, b'f', -1, "1000000000000000000000"),
            (1.0, b'b', -1, "4503599627370496p-52"),
            (1.0, b'x', -1, "0x1p+00"),
            (3.0, b'x', -1, "0x1.8p+01"),
            (1.0, b'x', 2, "0x1.00p+00"),
            (f64::INFINITY, b'g', -1, "+Inf"),
            (f64::NAN, b'g', -1, "NaN"),
            (100.0, b'g', 2, "1e+02"),
            (1e-7, b'e', -1, "1e-07"),
        ];
        for (v, f, p, want) in cases {
            assert_eq!(
                format_float(*v, *f, *p),
                *want,
                "{v} {} {p}",
                char::from(*f)
            );
        }
    }
}
