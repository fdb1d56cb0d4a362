//! Case conversions: `strings.Title`, goutils (`untitle`, `swapcase`, `initials`) and
//! huandu/xstrings v1.5.0 (`snakecase`, `kebabcase`, and `camelcase`, which upstream
//! builds as xstrings' PascalCase: `hello_world-foo` -> `HelloWorldFoo`).

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, s};
use crate::unicode::{
    RUNE_ERROR, decode_rune, is_digit, is_letter, is_lower, is_number, is_punct, is_space,
    is_title, is_upper, map_runes, push_rune, runes, to_lower, to_title, to_upper,
};
use crate::value::Value;

pub(super) fn register(r: &mut Registry) {
    r.add("upper", &[P::Str], None, |ctx, a| {
        ctx.string(map_runes(arg(a), to_upper))
    });
    r.add("lower", &[P::Str], None, |ctx, a| {
        ctx.string(map_runes(arg(a), to_lower))
    });
    r.add("title", &[P::Str], None, |ctx, a| ctx.string(title(arg(a))));
    r.add("untitle", &[P::Str], None, |ctx, a| {
        ctx.string(untitle(arg(a)))
    });
    r.add("swapcase", &[P::Str], None, |ctx, a| {
        ctx.string(swapcase(arg(a)))
    });
    r.add("initials", &[P::Str], None, |ctx, a| {
        ctx.string(initials(arg(a)))
    });
    r.add("snakecase", &[P::Str], None, |ctx, a| {
        ctx.string(to_lower_words(arg(a), '_'))
    });
    r.add("kebabcase", &[P::Str], None, |ctx, a| {
        ctx.string(to_lower_words(arg(a), '-'))
    });
    r.add("camelcase", &[P::Str], None, camelcase);
}

fn arg(a: &[Value]) -> &[u8] {
    a.first().map(s).unwrap_or(b"")
}

fn camelcase(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    ctx.string(pascal_case(arg(a)))
}

/// `strings.Title`: upper-cases (title-cases) the first letter of each word.
pub(crate) fn title(b: &[u8]) -> Vec<u8> {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if is_letter(c) || is_digit(c) {
            return false;
        }
        is_space(c)
    }
    let mut prev = ' ';
    let mut out = Vec::with_capacity(b.len());
    for (_, c, _) in runes(b) {
        let mapped = if is_separator(prev) { to_title(c) } else { c };
        prev = c;
        push_rune(&mut out, mapped);
    }
    out
}

/// goutils.Uncapitalize: lower-cases the first letter of each space-separated word.
fn untitle(b: &[u8]) -> Vec<u8> {
    let mut next = true;
    let mut out = Vec::with_capacity(b.len());
    for (_, c, _) in runes(b) {
        let mapped = if is_space(c) {
            next = true;
            c
        } else if next {
            next = false;
            to_lower(c)
        } else {
            c
        };
        push_rune(&mut out, mapped);
    }
    out
}

/// goutils.SwapCase: upper and title become lower; lower becomes title after a space
/// (or at the start), upper elsewhere.
fn swapcase(b: &[u8]) -> Vec<u8> {
    let mut whitespace = true;
    let mut out = Vec::with_capacity(b.len());
    for (_, c, _) in runes(b) {
        let mapped = if is_upper(c) || is_title(c) {
            whitespace = false;
            to_lower(c)
        } else if is_lower(c) {
            if whitespace {
                whitespace = false;
                to_title(c)
            } else {
                to_upper(c)
            }
        } else {
            whitespace = is_space(c);
            c
        };
        push_rune(&mut out, mapped);
    }
    out
}

/// goutils.Initials: bytewise, each byte read as a Latin-1 rune.
fn initials(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut gap = true;
    for &byte in b {
        let c = char::from(byte);
        if is_space(c) {
            gap = true;
        } else if gap {
            push_rune(&mut out, c);
            gap = false;
        }
    }
    out
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' toCamelCase(str, true).
pub(crate) fn pascal_case(b: &[u8]) -> Vec<u8> {
    if b.is_empty() {
        return Vec::new();
    }
    let all: Vec<char> = runes(b).map(|(_, c, _)| c).collect();
    let mut out = Vec::with_capacity(b.len());
    let mut first_upper = false;
    let mut idx = 0;
    let mut r0 = RUNE_ERROR;
    let mut consumed_any = false;
    while idx < all.len() {
        r0 = all[idx];
        idx += 1;
        consumed_any = true;
        if !is_connector(r0) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
            break;
        }
        push_rune(&mut out, r0);
    }
    if idx >= all.len() {
        if consumed_any {
            push_rune(&mut out, r0);
        }
        return out;
    }
    while idx < all.len() {
        let r1 = r0;
        r0 = all[idx];
        idx += 1;
        if is_connector(r0) && is_connector(r1) {
            push_rune(&mut out, r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            push_rune(&mut out, r1);
        }
    }
    push_rune(&mut out, r0);
    out
}

/// xstrings' isAlphabet: a letter, not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !is_letter(c) {
        return false;
    }
    let u = c as u32;
    !((0x4E00..=0x9FCC).contains(&u)
        || (0x3400..=0x4D85).contains(&u)
        || (0x20000..=0x2B81D).contains(&u))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' nextValidRune: the next rune that decodes, with the bytes skipped; at
/// the end `prev` and the bytes seen.
fn next_valid_rune(b: &[u8], prev: char) -> (char, usize) {
    let mut size = 0;
    let mut rest = b;
    while !rest.is_empty() {
        let (c, w) = decode_rune(rest);
        let w = w.max(1);
        size += w;
        if c != RUNE_ERROR {
            return (c, size);
        }
        rest = &rest[w..];
    }
    (prev, size)
}

/// xstrings' nextWord: (type, word, remaining).
fn next_word(b: &[u8]) -> (Word, &[u8], &[u8]) {
    if b.is_empty() {
        return (Word::Invalid, b"", b"");
    }
    let mut remaining = b;
    let (mut r, mut size) = next_valid_rune(remaining, RUNE_ERROR);
    let mut offset = size;
    if r == RUNE_ERROR {
        return (Word::Invalid, &b[..offset], &b[offset..]);
    }
    let wt;
    if is_connector(r) || is_punct(r) {
        let connector = is_connector(r);
        wt = if connector {
            Word::Connector
        } else {
            Word::Punct
        };
        remaining = &remaining[size..];
        while !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            let same = if connector {
                is_connector(r)
            } else {
                is_punct(r)
            };
            if !same {
                break;
            }
            offset += size;
            remaining = &remaining[size..];
        }
    } else if is_upper(r) {
        wt = Word::Upper;
        remaining = &remaining[size..];
        if !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            if is_upper(r) {
                let mut prev_size = size;
                offset += size;
                remaining = &remaining[size..];
                while !remaining.is_empty() {
                    (r, size) = next_valid_rune(remaining, r);
                    if !is_upper(r) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    remaining = &remaining[size..];
                }
                if !remaining.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    remaining = &b[offset..];
                }
            } else if is_alphabet(r) {
                offset += size;
                remaining = &remaining[size..];
                while !remaining.is_empty() {
                    (r, size) = next_valid_rune(remaining, r);
                    if !is_alphabet(r) || is_upper(r) {
                        break;
                    }
                    offset += size;
                    remaining = &remaining[size..];
                }
            }
        }
    } else if is_alphabet(r) || is_number(r) {
        let alpha = is_alphabet(r);
        wt = if alpha { Word::Alphabet } else { Word::Number };
        remaining = &remaining[size..];
        while !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            let same = if alpha {
                is_alphabet(r) && !is_upper(r)
            } else {
                is_number(r)
            };
            if !same {
                break;
            }
            offset += size;
            remaining = &remaining[size..];
        }
    } else {
        wt = Word::Other;
        remaining = &remaining[size..];
        while !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            if size == 0 || is_connector(r) || is_alphabet(r) || is_number(r) || is_punct(r) {
                break;
            }
            offset += size;
            remaining = &remaining[size..];
        }
    }
    (wt, &b[..offset], remaining)
}

/// xstrings' toLower: only upper-case and connector words are rewritten.
fn lower_word(out: &mut Vec<u8>, wt: Word, word: &[u8], connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.extend_from_slice(word);
        return;
    }
    for (_, c, _) in runes(word) {
        if is_connector(c) {
            push_rune(out, connector);
        } else if is_upper(c) {
            push_rune(out, to_lower(c));
        } else {
            push_rune(out, c);
        }
    }
}

/// xstrings' camelCaseToLowerCase (snake and kebab case).
fn to_lower_words(b: &[u8], connector: char) -> Vec<u8> {
    if b.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(b.len() + b.len() / 2);
    let (mut wt, mut word, mut remaining) = next_word(b);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            lower_word(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    push_rune(&mut out, connector);
                }
            }
            Word::Connector => lower_word(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        push_rune(&mut out, connector);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, remaining) = next_word(remaining);
                if wt != Word::Alphabet {
                    lower_word(&mut out, Word::Number, last, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        push_rune(&mut out, connector);
                    }
                    continue;
                }
                push_rune(&mut out, connector);
                lower_word(&mut out, Word::Number, last, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    push_rune(&mut out, connector);
                }
            }
        }
    }
    lower_word(&mut out, wt, word, connector);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn snake_and_kebab_follow_xstrings() {
        for (input, want) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("hello_world-foo", "hello_world_foo"),
            ("", ""),
        ] {
            assert_eq!(st(to_lower_words(input.as_bytes(), '_')), want, "{input}");
        }
        assert_eq!(st(to_lower_words(b"HTTPServer", '-')), "http-server");
        assert_eq!(st(to_lower_words(b"GO PATH", '-')), "go-path");
    }

    #[test]
    fn pascal_case_follows_xstrings() {
        for (input, want) in [
            ("hello_world-foo", "HelloWorldFoo"),
            ("some_words", "SomeWords"),
            ("http_server", "HttpServer"),
            ("_complex__case_", "_Complex_Case_"),
            ("some words", "SomeWords"),
            ("GOLANG_IS_GREAT", "GolangIsGreat"),
            ("a", "A"),
            ("", ""),
        ] {
            assert_eq!(st(pascal_case(input.as_bytes())), want, "{input}");
        }
    }

    #[test]
    fn goutils_and_title_cases() {
        assert_eq!(
            st(title(b"hello wide-world o'neil")),
            "Hello Wide-World O'Neil"
        );
        assert_eq!(st(untitle(b"Hello World")), "hello world");
        assert_eq!(st(swapcase(b"This Is A.Test")), "tHIS iS a.tEST");
        assert_eq!(st(swapcase(b"hello World")), "HELLO wORLD");
        assert_eq!(st(initials(b"John Doe  foo")), "JDf");
    }
}
