//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` (verbs, flags,
//! width, precision, `[n]` indexes and the `%!v(MISSING)` style complaints) and the
//! `%v` form text/template prints. Output is bounded by a byte limit.

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::strconv::{can_backquote, format_float, quote, quote_rune};
use super::unicode::{decode_rune, is_print, push_rune, rune_count};
use super::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FmtError {
    /// The result would pass the byte limit.
    TooLarge,
    /// Values nested too deeply (or a map that contains itself).
    TooDeep,
}

const MAX_DEPTH: usize = 100;

/// `%U` with `#`: `U+00E9 'é'`.
pub(crate) fn sharp_u(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[derive(Default, Clone, Copy)]
struct Flags {
    wid: Option<usize>,
    prec: Option<usize>,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
}

struct Printer {
    buf: Vec<u8>,
    limit: usize,
    f: Flags,
    err: Option<FmtError>,
}

impl Printer {
    fn new(limit: usize) -> Self {
        Printer {
            buf: Vec::new(),
            limit,
            f: Flags::default(),
            err: None,
        }
    }

    fn room(&mut self, n: usize) -> bool {
        if self.err.is_some() {
            return false;
        }
        if self.buf.len().saturating_add(n) > self.limit {
            self.err = Some(FmtError::TooLarge);
            return false;
        }
        true
    }

    fn write(&mut self, b: &[u8]) {
        if self.room(b.len()) {
            self.buf.extend_from_slice(b);
        }
    }

    fn finish(self) -> Result<Vec<u8>, FmtError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }

    fn write_padding(&mut self, n: usize) {
        if n == 0 || !self.room(n) {
            return;
        }
        let byte = if self.f.zero && !self.f.minus {
            b'0'
        } else {
            b' '
        };
        self.buf.resize(self.buf.len() + n, byte);
    }

    fn pad(&mut self, b: &[u8]) {
        let Some(wid) = self.f.wid.filter(|w| *w > 0) else {
            self.write(b);
            return;
        };
        let width = wid.saturating_sub(rune_count(b));
        if self.f.minus {
            self.write(b);
            self.write_padding(width);
        } else {
            self.write_padding(width);
            self.write(b);
        }
    }

    fn without_zero(&mut self, op: impl FnOnce(&mut Self)) {
        let old = self.f.zero;
        self.f.zero = false;
        op(self);
        self.f.zero = old;
    }

    fn fmt_boolean(&mut self, v: bool) {
        self.pad(if v { b"true" } else { b"false" });
    }

    fn truncate<'b>(&self, s: &'b [u8]) -> &'b [u8] {
        if let Some(mut n) = self.f.prec {
            let mut i = 0;
            while i < s.len() {
                if n == 0 {
                    return &s[..i];
                }
                n -= 1;
                i += decode_rune(&s[i..]).1.max(1);
            }
        }
        s
    }

    fn fmt_s(&mut self, s: &[u8]) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_sx(&mut self, s: &[u8], upper: bool) {
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let x = if upper { b'X' } else { b'x' };
        let mut length = s.len();
        if let Some(p) = self.f.prec {
            length = length.min(p);
        }
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if let Some(w) = self.f.wid {
                self.write_padding(w);
            }
            return;
        }
        let wid = self.f.wid.unwrap_or(0);
        if wid > width && !self.f.minus {
            self.write_padding(wid - width);
        }
        if !self.room(width) {
            return;
        }
        if self.f.sharp {
            self.buf.extend_from_slice(&[b'0', x]);
        }
        for (i, &c) in s[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(b' ');
                if self.f.sharp {
                    self.buf.extend_from_slice(&[b'0', x]);
                }
            }
            self.buf.push(digits[usize::from(c >> 4)]);
            self.buf.push(digits[usize::from(c & 0xF)]);
        }
        if wid > width && self.f.minus {
            self.write_padding(wid - width);
        }
    }

    fn fmt_q(&mut self, s: &[u8]) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            let mut q = Vec::with_capacity(s.len() + 2);
            q.push(b'`');
            q.extend_from_slice(s);
            q.push(b'`');
            self.pad(&q);
            return;
        }
        let q = quote(s, self.f.plus);
        self.pad(&q);
    }

    fn fmt_integer(&mut self, v: i64, base: u64, signed: bool, verb: u8, upper: bool) {
        let digits: &[u8; 17] = if upper {
            b"0123456789ABCDEFX"
        } else {
            b"0123456789abcdefx"
        };
        let negative = signed && v < 0;
        let mut u = if negative { v.unsigned_abs() } else { v as u64 };
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let wid = self.f.wid.unwrap_or(0);
                self.without_zero(|p| p.write_padding(wid));
                return;
            }
        } else if self.f.zero
            && !self.f.minus
            && let Some(w) = self.f.wid
        {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        if !self.room(prec) {
            return;
        }
        let mut num: Vec<u8> = Vec::with_capacity(prec.max(24));
        loop {
            num.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while num.len() < prec {
            num.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => num.extend_from_slice(b"b0"),
                8 if num.last() != Some(&b'0') => num.push(b'0'),
                16 => {
                    num.push(digits[16]);
                    num.push(b'0');
                }
                _ => {}
            }
        }
        if verb == b'O' {
            num.extend_from_slice(b"o0");
        }
        if negative {
            num.push(b'-');
        } else if self.f.plus {
            num.push(b'+');
        } else if self.f.space {
            num.push(b' ');
        }
        num.reverse();
        self.without_zero(|p| p.pad(&num));
    }

    fn fmt_unicode(&mut self, u: u64) {
        let prec = self.f.prec.filter(|p| *p > 4).unwrap_or(4);
        if !self.room(prec) {
            return;
        }
        let mut s = format!("U+{u:0prec$X}");
        if self.f.sharp
            && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
            && is_print(c)
        {
            s.push_str(&format!(" '{c}'"));
        }
        self.without_zero(|p| p.pad(s.as_bytes()));
    }

    fn rune_of(u: u64) -> char {
        u32::try_from(u)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{FFFD}')
    }

    fn fmt_float(&mut self, v: f64, verb: u8, prec: i32) {
        let prec = self.f.prec.map(|p| p as i32).unwrap_or(prec);
        if prec > 0 && !self.room(prec as usize) {
            return;
        }
        let text = format_float(v, verb, prec);
        let mut num: Vec<u8> = Vec::with_capacity(text.len() + 1);
        if text.starts_with('-') || text.starts_with('+') {
            num.extend_from_slice(text.as_bytes());
        } else {
            num.push(b'+');
            num.extend_from_slice(text.as_bytes());
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num.get(1).is_some_and(|c| *c == b'I' || *c == b'N') {
            let mut out: &[u8] = &num;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                out = &num[1..];
            }
            let out = out.to_vec();
            self.without_zero(|p| p.pad(&out));
            return;
        }
        if self.f.sharp && verb != b'b' {
            let mut digits: i64 = 0;
            if matches!(verb, b'v' | b'g' | b'G' | b'x') {
                digits = i64::from(prec);
                if digits == -1 {
                    digits = 6;
                }
            }
            let mut tail: Vec<u8> = Vec::new();
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_point = true,
                    b'p' | b'P' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    b'e' | b'E' if verb != b'x' && verb != b'X' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        if self.f.plus || num[0] != b'+' {
            let wid = self.f.wid.unwrap_or(0);
            if self.f.zero && !self.f.minus && wid > num.len() {
                self.write(&num[..1]);
                self.write_padding(wid - num.len());
                self.write(&num[1..]);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.write(b"%!");
        let mut b = Vec::new();
        push_rune(&mut b, verb);
        self.write(&b);
        self.write(b"(");
        if v.is_nil() {
            self.write(b"<nil>");
        } else {
            self.write(v.type_name().as_bytes());
            self.write(b"=");
            self.print_arg(v, 'v', 1);
        }
        self.write(b")");
    }

    fn print_arg(&mut self, v: &Value, verb: char, depth: usize) {
        if depth > MAX_DEPTH {
            self.err = Some(FmtError::TooDeep);
            return;
        }
        if self.err.is_some() {
            return;
        }
        if verb == 'T' {
            self.fmt_s(v.type_name().as_bytes());
            return;
        }
        match v {
            Value::Missing | Value::Nil => match verb {
                'v' if depth > 0 => self.write(b"<nil>"),
                'v' => self.pad(b"<nil>"),
                _ => self.bad_verb(verb, v),
            },
            Value::Bool(b) => match verb {
                't' | 'v' => self.fmt_boolean(*b),
                _ => self.bad_verb(verb, v),
            },
            Value::Int(i) => match verb {
                'v' | 'd' => self.fmt_integer(*i, 10, true, b'd', false),
                'b' => self.fmt_integer(*i, 2, true, b'b', false),
                'o' | 'O' => self.fmt_integer(*i, 8, true, verb as u8, false),
                'x' => self.fmt_integer(*i, 16, true, b'x', false),
                'X' => self.fmt_integer(*i, 16, true, b'X', true),
                'c' => {
                    let mut b = Vec::new();
                    push_rune(&mut b, Self::rune_of(*i as u64));
                    self.pad(&b);
                }
                'q' => {
                    let q = quote_rune(Self::rune_of(*i as u64), self.f.plus);
                    self.pad(&q);
                }
                'U' => self.fmt_unicode(*i as u64),
                _ => self.bad_verb(verb, v),
            },
            Value::Float(x) => match verb {
                'v' => self.fmt_float(*x, b'g', -1),
                'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(*x, verb as u8, -1),
                'f' | 'e' | 'E' => self.fmt_float(*x, verb as u8, 6),
                'F' => self.fmt_float(*x, b'f', 6),
                _ => self.bad_verb(verb, v),
            },
            Value::Str(s) => match verb {
                'v' if self.f.sharp_v => self.fmt_q(s),
                'v' | 's' => self.fmt_s(s),
                'x' => self.fmt_sx(s, false),
                'X' => self.fmt_sx(s, true),
                'q' => self.fmt_q(s),
                _ => self.bad_verb(verb, v),
            },
            Value::List(items) => {
                if self.f.sharp_v {
                    self.write(v.type_name().as_bytes());
                    self.write(b"{");
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.write(b", ");
                        }
                        self.print_arg(item, verb, depth + 1);
                    }
                    self.write(b"}");
                    return;
                }
                self.write(b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.write(b" ");
                    }
                    self.print_arg(item, verb, depth + 1);
                }
                self.write(b"]");
            }
            Value::Map(m) => {
                let entries = m.entries();
                if self.f.sharp_v {
                    self.write(v.type_name().as_bytes());
                    self.write(b"{");
                } else {
                    self.write(b"map[");
                }
                for (i, (k, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.write(if self.f.sharp_v { b", " } else { b" " });
                    }
                    self.print_arg(&Value::str(k), verb, depth + 1);
                    self.write(b":");
                    self.print_arg(item, verb, depth + 1);
                }
                self.write(if self.f.sharp_v { b"}" } else { b"]" });
            }
        }
    }

    fn do_print(&mut self, args: &[Value]) {
        let mut prev_string = false;
        for (i, arg) in args.iter().enumerate() {
            let is_string = matches!(arg, Value::Str(_));
            if i > 0 && !is_string && !prev_string {
                self.write(b" ");
            }
            self.print_arg(arg, 'v', 0);
            prev_string = is_string;
        }
    }

    fn do_println(&mut self, args: &[Value]) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.write(b" ");
            }
            self.print_arg(arg, 'v', 0);
        }
        self.write(b"\n");
    }

    fn do_printf(&mut self, format: &[u8], args: &[Value]) {
        let end = format.len();
        let mut arg_num = 0usize;
        let mut after_index;
        let mut reordered = false;
        let mut i = 0;
        'format: while i < end {
            let mut good_arg_num = true;
            let last = i;
            while i < end && format[i] != b'%' {
                i += 1;
            }
            if i > last {
                self.write(&format[last..i]);
            }
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                let c = format[i];
                match c {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => {
                        if c.is_ascii_lowercase() && arg_num < args.len() {
                            if c == b'v' {
                                self.f.sharp_v = self.f.sharp;
                                self.f.sharp = false;
                                self.f.plus_v = self.f.plus;
                                self.f.plus = false;
                            }
                            self.print_arg(&args[arg_num], char::from(c), 0);
                            arg_num += 1;
                            i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                i += 1;
            }
            let (n, ni, found) = arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut good_arg_num,
                &mut reordered,
            );
            arg_num = n;
            i = ni;
            after_index = found;
            if i < end && format[i] == b'*' {
                i += 1;
                let (w, ok, n) = int_from_arg(args, arg_num);
                arg_num = n;
                if !ok {
                    self.write(b"%!(BADWIDTH)");
                    self.f.wid = None;
                } else if w < 0 {
                    self.f.wid = Some(w.unsigned_abs() as usize);
                    self.f.minus = true;
                    self.f.zero = false;
                } else {
                    self.f.wid = Some(w as usize);
                }
                after_index = false;
            } else {
                let (w, present, ni) = parse_num(format, i, end);
                i = ni;
                self.f.wid = present.then_some(w);
                if after_index && present {
                    good_arg_num = false;
                }
            }
            if i + 1 < end && format[i] == b'.' {
                i += 1;
                if after_index {
                    good_arg_num = false;
                }
                let (n, ni, found) = arg_number(
                    arg_num,
                    format,
                    i,
                    args.len(),
                    &mut good_arg_num,
                    &mut reordered,
                );
                arg_num = n;
                i = ni;
                after_index = found;
                if i < end && format[i] == b'*' {
                    i += 1;
                    let (p, ok, n) = int_from_arg(args, arg_num);
                    arg_num = n;
                    if ok && p >= 0 {
                        self.f.prec = Some(p as usize);
                    } else {
                        self.f.prec = None;
                        self.write(b"%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, present, ni) = parse_num(format, i, end);
                    i = ni;
                    self.f.prec = Some(if present { p } else { 0 });
                }
            }
            if !after_index {
                let (n, ni, _) = arg_number(
                    arg_num,
                    format,
                    i,
                    args.len(),
                    &mut good_arg_num,
                    &mut reordered,
                );
                arg_num = n;
                i = ni;
            }
            if i >= end {
                self.write(b"%!(NOVERB)");
                break;
            }
            let (verb, size) = decode_rune(&format[i..]);
            i += size.max(1);
            match verb {
                '%' => self.write(b"%"),
                _ if !good_arg_num => {
                    self.write(b"%!");
                    let mut b = Vec::new();
                    push_rune(&mut b, verb);
                    self.write(&b);
                    self.write(b"(BADINDEX)");
                }
                _ if arg_num >= args.len() => {
                    self.write(b"%!");
                    let mut b = Vec::new();
                    push_rune(&mut b, verb);
                    self.write(&b);
                    self.write(b"(MISSING)");
                }
                _ => {
                    if verb == 'v' {
                        self.f.sharp_v = self.f.sharp;
                        self.f.sharp = false;
                        self.f.plus_v = self.f.plus;
                        self.f.plus = false;
                    }
                    self.print_arg(&args[arg_num], verb, 0);
                    arg_num += 1;
                }
            }
        }
        if !reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.write(b"%!(EXTRA ");
            for (i, arg) in args[arg_num..].iter().enumerate() {
                if i > 0 {
                    self.write(b", ");
                }
                if arg.is_nil() {
                    self.write(b"<nil>");
                } else {
                    self.write(arg.type_name().as_bytes());
                    self.write(b"=");
                    self.print_arg(arg, 'v', 0);
                }
            }
            self.write(b")");
        }
    }
}

/// Go's parsenum: digits at `start`, refusing absurd widths.
fn parse_num(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && s[i].is_ascii_digit() {
        if num >= 1_000_000 {
            return (0, false, end);
        }
        num = num * 10 + usize::from(s[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

fn arg_number(
    arg_num: usize,
    format: &[u8],
    i: usize,
    num_args: usize,
    good: &mut bool,
    reordered: &mut bool,
) -> (usize, usize, bool) {
    if format.len() <= i || format[i] != b'[' {
        return (arg_num, i, false);
    }
    *reordered = true;
    let (index, wid, ok) = parse_arg_number(&format[i..]);
    match index {
        Some(index) if ok && index < num_args => (index, i + wid, true),
        _ => {
            *good = false;
            (arg_num, i + wid, ok)
        }
    }
}

/// `[n]` at the start of `format`: (zero-based index, bytes used, well-formed).
fn parse_arg_number(format: &[u8]) -> (Option<usize>, usize, bool) {
    if format.len() < 3 {
        return (None, 1, false);
    }
    for i in 1..format.len() {
        if format[i] == b']' {
            let (width, ok, newi) = parse_num(format, 1, i);
            if !ok || newi != i {
                return (None, i + 1, false);
            }
            return (width.checked_sub(1), i + 1, true);
        }
    }
    (None, 1, false)
}

fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(n)) if n.unsigned_abs() < 1_000_000 => (*n, true, arg_num + 1),
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

/// `fmt.Sprint`.
pub(crate) fn sprint(args: &[Value], limit: usize) -> Result<Vec<u8>, FmtError> {
    let mut p = Printer::new(limit);
    p.do_print(args);
    p.finish()
}

/// `fmt.Sprintln`.
pub(crate) fn sprintln(args: &[Value], limit: usize) -> Result<Vec<u8>, FmtError> {
    let mut p = Printer::new(limit);
    p.do_println(args);
    p.finish()
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &[u8], args: &[Value], limit: usize) -> Result<Vec<u8>, FmtError> {
    let mut p = Printer::new(limit);
    p.do_printf(format, args);
    p.finish()
}

/// `fmt.Sprint(v)` for one value, as `{{ v }}` prints it (Missing aside).
pub(crate) fn sprint_one(v: &Value, limit: usize) -> Result<Vec<u8>, FmtError> {
    sprint(std::slice::from_ref(v), limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    fn printf(f: &str, args: &[Value]) -> String {
        String::from_utf8(sprintf(f.as_bytes(), args, 1 << 20).unwrap()).unwrap()
    }

    #[test]
    fn sprint_spacing_follows_go() {
        let args = [Value::Int(1), Value::Int(2), s("a"), s("b"), Value::Int(3)];
        assert_eq!(sprint(&args, 100).unwrap(), b"1 2ab3");
        assert_eq!(sprintln(&args, 100).unwrap(), b"1 2 a b 3\n");
        assert_eq!(sprint(&[Value::Nil], 100).unwrap(), b"<nil>");
    }

    #[test]
    fn verbs_and_flags() {
        assert_eq!(printf("%s-%d", &[s("x"), Value::Int(42)]), "x-42");
        assert_eq!(
            printf(
                "%5d|%-5d|%05d",
                &[Value::Int(42), Value::Int(42), Value::Int(-42)]
            ),
            "   42|42   |-0042"
        );
        assert_eq!(
            printf(
                "%x %X %o %O %b %#x",
                &[
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(255)
                ]
            ),
            "ff FF 10 0o10 101 0xff"
        );
        assert_eq!(
            printf("%q %v %x", &[s("hi\n"), s("v"), s("hi")]),
            "\"hi\\n\" v 6869"
        );
        assert_eq!(
            printf(
                "%05.2f %e %g %.3g",
                &[
                    Value::Float(1.5),
                    Value::Float(1234.5),
                    Value::Float(1e6),
                    Value::Float(2.71555)
                ]
            ),
            "01.50 1.234500e+03 1e+06 2.72"
        );
        assert_eq!(
            printf("%t %v", &[Value::Bool(true), Value::Bool(false)]),
            "true false"
        );
        assert_eq!(
            printf(
                "%c %U %#U %q",
                &[
                    Value::Int(65),
                    Value::Int(0xe9),
                    Value::Int(0xe9),
                    Value::Int(97)
                ]
            ),
            "A U+00E9 U+00E9 'é' 'a'"
        );
        assert_eq!(
            printf(
                "%.2s|%6.2f|%-4s|",
                &[s("héllo"), Value::Float(2.71555), s("ab")]
            ),
            "hé|  2.72|ab  |"
        );
        assert_eq!(
            printf(
                "%*d %-*d|",
                &[Value::Int(4), Value::Int(7), Value::Int(3), Value::Int(1)]
            ),
            "   7 1  |"
        );
        assert_eq!(printf("%[2]s %[1]s", &[s("a"), s("b")]), "b a");
        assert_eq!(
            printf(
                "%+d % d %+.1e",
                &[Value::Int(5), Value::Int(5), Value::Float(12345.0)]
            ),
            "+5  5 +1.2e+04"
        );
        assert_eq!(
            printf("%T %T %T", &[s("a"), Value::Int(1), Value::list(vec![])]),
            "string int []interface {}"
        );
        assert_eq!(printf("%#v %#v", &[s("a"), Value::Int(1)]), "\"a\" 1");
        assert_eq!(printf("100%%", &[]), "100%");
    }

    #[test]
    fn complaints_follow_go() {
        assert_eq!(printf("%d", &[s("hi")]), "%!d(string=hi)");
        assert_eq!(printf("%s", &[Value::Int(5)]), "%!s(int=5)");
        assert_eq!(printf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            printf("%d", &[Value::Int(1), s("x")]),
            "1%!(EXTRA string=x)"
        );
        assert_eq!(printf("%", &[]), "%!(NOVERB)");
        assert_eq!(printf("%z", &[Value::Int(1)]), "%!z(int=1)");
        assert_eq!(printf("%[3]d", &[Value::Int(1)]), "%!d(BADINDEX)");
        assert_eq!(printf("%d", &[Value::Nil]), "%!d(<nil>)");
        assert_eq!(printf("%v", &[Value::Nil]), "<nil>");
    }

    #[test]
    fn containers_print_like_go() {
        let list = Value::list(vec![s("a"), Value::Int(1), Value::Nil, Value::Float(2.5)]);
        assert_eq!(sprint_one(&list, 100).unwrap(), b"[a 1 <nil> 2.5]");
        let mut m = BTreeMap::new();
        m.insert(b"b".to_vec(), Value::Int(2));
        m.insert(b"a".to_vec(), s("x"));
        let map = Value::Map(Rc::new(crate::value::MapObj::new(false, m)));
        assert_eq!(sprint_one(&map, 100).unwrap(), b"map[a:x b:2]");
        assert_eq!(
            printf("%q", &[Value::list(vec![s("a"), s("b")])]),
            "[\"a\" \"b\"]"
        );
        assert_eq!(
            printf("%d", &[Value::list(vec![s("a")])]),
            "[%!d(string=a)]"
        );
    }

    #[test]
    fn limits_hold() {
        assert_eq!(
            sprintf(b"%999999d", &[Value::Int(1)], 1000),
            Err(FmtError::TooLarge)
        );
        assert_eq!(
            sprintf(b"%.999999f", &[Value::Float(1.0)], 1000),
            Err(FmtError::TooLarge)
        );
    }
}
