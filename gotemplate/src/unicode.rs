//! Go's `unicode` and `unicode/utf8` rules over byte strings: Go strings are bytes, an
//! invalid byte decodes as U+FFFD of width 1, and the character classes are general
//! categories (not Rust's derived properties, which differ for e.g. `ª` or `Ⓐ`).

use std::sync::LazyLock;

pub(crate) const RUNE_ERROR: char = '\u{FFFD}';

/// The first rune of `b` and its width, as `utf8.DecodeRune`: `(U+FFFD, 1)` for an
/// invalid byte, `(U+FFFD, 0)` for empty input.
pub(crate) fn decode_rune(b: &[u8]) -> (char, usize) {
    let Some(&first) = b.first() else {
        return (RUNE_ERROR, 0);
    };
    let n = match first {
        0x00..=0x7F => return (char::from(first), 1),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (RUNE_ERROR, 1),
    };
    match b
        .get(..n)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.chars().next())
    {
        Some(c) => (c, n),
        None => (RUNE_ERROR, 1),
    }
}

/// The last rune of `b` and its width, as `utf8.DecodeLastRune`.
pub(crate) fn decode_last_rune(b: &[u8]) -> (char, usize) {
    if b.is_empty() {
        return (RUNE_ERROR, 0);
    }
    let lim = b.len().saturating_sub(4);
    let mut start = b.len() - 1;
    while start > lim && b.get(start).is_some_and(|x| (x & 0xC0) == 0x80) {
        start -= 1;
    }
    let (c, w) = decode_rune(b.get(start..).unwrap_or_default());
    if start + w == b.len() {
        (c, w)
    } else {
        (RUNE_ERROR, 1)
    }
}

/// Runes of a Go string with their byte offsets and widths.
pub(crate) fn runes(b: &[u8]) -> Runes<'_> {
    Runes { b, pos: 0 }
}

pub(crate) struct Runes<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Iterator for Runes<'_> {
    /// (offset, rune, width)
    type Item = (usize, char, usize);
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.b.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let (c, w) = decode_rune(rest);
        let at = self.pos;
        self.pos += w.max(1);
        Some((at, c, w.max(1)))
    }
}

pub(crate) fn push_rune(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Go's `strings.Map` with a rune mapping (invalid bytes become U+FFFD).
pub(crate) fn map_runes(b: &[u8], f: impl Fn(char) -> char) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for (_, c, _) in runes(b) {
        push_rune(&mut out, f(c));
    }
    out
}

pub(crate) fn rune_count(b: &[u8]) -> usize {
    runes(b).count()
}

struct Table(Vec<(u32, u32)>);

impl Table {
    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.0
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

/// A general-category table taken from regex-syntax's Unicode data; empty (never a
/// panic) should the class fail to parse.
fn table(class: &str) -> Table {
    use regex_syntax::hir::{Class, HirKind};
    let ranges = regex_syntax::Parser::new()
        .parse(class)
        .ok()
        .and_then(|hir| match hir.kind() {
            HirKind::Class(Class::Unicode(cls)) => Some(
                cls.ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default();
    Table(ranges)
}

static UPPER: LazyLock<Table> = LazyLock::new(|| table(r"\p{Lu}"));
static LOWER: LazyLock<Table> = LazyLock::new(|| table(r"\p{Ll}"));
static TITLE: LazyLock<Table> = LazyLock::new(|| table(r"\p{Lt}"));
static LETTER: LazyLock<Table> = LazyLock::new(|| table(r"\p{L}"));
static DIGIT: LazyLock<Table> = LazyLock::new(|| table(r"\p{Nd}"));
static NUMBER: LazyLock<Table> = LazyLock::new(|| table(r"\p{N}"));
static PUNCT: LazyLock<Table> = LazyLock::new(|| table(r"\p{P}"));
static PRINT: LazyLock<Table> = LazyLock::new(|| table(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]"));

pub(crate) fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    UPPER.contains(c)
}

pub(crate) fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    LOWER.contains(c)
}

pub(crate) fn is_title(c: char) -> bool {
    !c.is_ascii() && TITLE.contains(c)
}

pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    LETTER.contains(c)
}

pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    DIGIT.contains(c)
}

pub(crate) fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    NUMBER.contains(c)
}

pub(crate) fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    PUNCT.contains(c)
}

/// `unicode.IsSpace`: the White_Space property, as Rust's.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `strconv.IsPrint` / `unicode.IsPrint`: L, M, N, P, S and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    PRINT.contains(c)
}

/// `unicode.ToUpper`: the simple mapping (Rust's is the full one; where that gives
/// several characters Go keeps the rune or uses its titlecase form).
pub(crate) fn to_upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => greek_iota_title(c).unwrap_or(c),
    }
}

pub(crate) fn to_lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if c == '\u{130}' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// `unicode.ToTitle`: the uppercase mapping except for the Latin digraphs (which have
/// own titlecase letters) and Georgian Mkhedruli (whose titlecase is itself).
pub(crate) fn to_title(c: char) -> char {
    match c as u32 {
        0x1C4..=0x1C6 => '\u{1C5}',
        0x1C7..=0x1C9 => '\u{1C8}',
        0x1CA..=0x1CC => '\u{1CB}',
        0x1F1..=0x1F3 => '\u{1F2}',
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        _ => to_upper(c),
    }
}

/// Greek letters with ypogegrammeni: simple uppercase is the titlecase letter.
fn greek_iota_title(c: char) -> Option<char> {
    let u = c as u32;
    let mapped = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF => u,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        0x1FBC | 0x1FCC | 0x1FFC => u,
        _ => return None,
    };
    char::from_u32(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_follows_go() {
        assert_eq!(decode_rune(b"a"), ('a', 1));
        assert_eq!(decode_rune("é".as_bytes()), ('é', 2));
        assert_eq!(decode_rune(b"\xff"), (RUNE_ERROR, 1));
        assert_eq!(decode_rune(b"\xe2\x82"), (RUNE_ERROR, 1));
        assert_eq!(decode_rune(b"\xed\xa0\x80"), (RUNE_ERROR, 1));
        assert_eq!(decode_rune(b""), (RUNE_ERROR, 0));
        assert_eq!(decode_last_rune("aé".as_bytes()), ('é', 2));
        assert_eq!(decode_last_rune(b"a\xff"), (RUNE_ERROR, 1));
        let all: Vec<_> = runes(b"a\xffb").collect();
        assert_eq!(all, vec![(0, 'a', 1), (1, RUNE_ERROR, 1), (2, 'b', 1)]);
    }

    #[test]
    fn classes_are_general_categories() {
        assert!(is_upper('É') && !is_upper('Ⓐ'));
        assert!(is_lower('é') && !is_lower('ª'));
        assert!(is_letter('ª') && is_letter('中'));
        assert!(is_digit('٣') && !is_digit('½') && is_number('½'));
        assert!(is_punct('!') && is_punct('¿') && !is_punct('+'));
        assert!(is_print('é') && is_print(' ') && !is_print('\u{a0}') && !is_print('\u{200b}'));
        assert!(is_title('ǅ'));
    }

    #[test]
    fn case_mapping_is_simple() {
        assert_eq!(to_upper('ß'), 'ß');
        assert_eq!(to_upper('é'), 'É');
        assert_eq!(to_upper('ᾳ'), 'ᾼ');
        assert_eq!(to_lower('İ'), 'i');
        assert_eq!(to_title('ǆ'), 'ǅ');
        assert_eq!(to_upper('ǆ'), 'Ǆ');
    }
}
