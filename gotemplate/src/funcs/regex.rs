//! Sprig's regex functions on Go's RE2 syntax. Rust's engine is also RE2-like and
//! linear-time; `\d \w \s \b` are rewritten to Go's ASCII meanings, and compiled
//! patterns are size-limited and cached per render.

use super::{Ctx, FnResult, P, Registry, i, s};
use crate::value::Value;
use ::regex::bytes::{NoExpand, Regex, RegexBuilder};
use std::rc::Rc;

pub(super) fn register(r: &mut Registry) {
    r.add("regexMatch", &[P::Str, P::Str], None, |ctx, a| {
        Ok(Value::Bool(
            compile(ctx, s(arg(a, 0))).is_ok_and(|re| re.is_match(s(arg(a, 1)))),
        ))
    });
    r.add("mustRegexMatch", &[P::Str, P::Str], None, |ctx, a| {
        let re = compile(ctx, s(arg(a, 0)))?;
        Ok(Value::Bool(re.is_match(s(arg(a, 1)))))
    });
    for name in ["regexFindAll", "mustRegexFindAll"] {
        r.add(name, &[P::Str, P::Str, P::Int], None, find_all);
    }
    for name in ["regexFind", "mustRegexFind"] {
        r.add(name, &[P::Str, P::Str], None, |ctx, a| {
            let re = compile(ctx, s(arg(a, 0)))?;
            let found = re.find(s(arg(a, 1))).map(|m| m.as_bytes().to_vec());
            ctx.string(found.unwrap_or_default())
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        r.add(name, &[P::Str, P::Str, P::Str], None, |ctx, a| {
            replace(ctx, a, true)
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        r.add(name, &[P::Str, P::Str, P::Str], None, |ctx, a| {
            replace(ctx, a, false)
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        r.add(name, &[P::Str, P::Str, P::Int], None, split);
    }
    r.add("regexQuoteMeta", &[P::Str], None, |ctx, a| {
        let mut out = Vec::new();
        for &c in s(arg(a, 0)) {
            if br"\.+*?()|[]{}^$".contains(&c) {
                out.push(b'\\');
            }
            out.push(c);
        }
        ctx.string(out)
    });
}

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

/// Go's Perl classes are ASCII-only; Rust's are Unicode. Rewrites them (outside and
/// inside brackets) to explicit ASCII classes.
pub(crate) fn go_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(e) = chars.next() else {
                out.push('\\');
                break;
            };
            let (outside, inside) = match e {
                'd' => ("[0-9]", "0-9"),
                'D' => ("[^0-9]", "\\x00-/:-\\x{10FFFF}"),
                'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
                'W' => ("[^0-9A-Za-z_]", "\\x00-/:-@\\[-\\^`{-\\x{10FFFF}"),
                's' => ("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "),
                'S' => (
                    "[^\\t\\n\\f\\r ]",
                    "\\x00-\\x08\\x0B\\x0E-\\x1F!-\\x{10FFFF}",
                ),
                'b' if !in_class => ("(?-u:\\b)", ""),
                'B' if !in_class => ("(?-u:\\B)", ""),
                _ => {
                    out.push('\\');
                    out.push(e);
                    class_start = false;
                    continue;
                }
            };
            out.push_str(if in_class { inside } else { outside });
            class_start = false;
            continue;
        }
        if in_class {
            if c == '[' && chars.peek() == Some(&':') {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
                class_start = false;
                continue;
            }
            if c == ']' && !class_start {
                in_class = false;
            }
            if !(c == '^' && class_start) {
                class_start = false;
            }
            out.push(c);
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
        }
        out.push(c);
    }
    out
}

fn compile(ctx: &mut Ctx<'_>, pattern: &[u8]) -> Result<Rc<Regex>, String> {
    if let Some(cached) = ctx.regexes.get(pattern) {
        return cached
            .clone()
            .ok_or_else(|| "error parsing regexp".to_string());
    }
    // Compiling costs up to the program size limit whatever the pattern's length.
    ctx.charge((64 << 10) + pattern.len().saturating_mul(64))?;
    let compiled = std::str::from_utf8(pattern).ok().and_then(|p| {
        RegexBuilder::new(&go_syntax(p))
            .size_limit(256 << 10)
            .dfa_size_limit(256 << 10)
            .nest_limit(100)
            .build()
            .ok()
            .map(Rc::new)
    });
    if ctx.regexes.len() < 16 {
        ctx.regexes.insert(pattern.to_vec(), compiled.clone());
    }
    compiled.ok_or_else(|| "error parsing regexp".to_string())
}

fn find_all(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let re = compile(ctx, s(arg(a, 0)))?;
    let n = i(arg(a, 2));
    let hay = s(arg(a, 1));
    if n == 0 {
        return ctx.list(Vec::new());
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let found: Vec<Vec<u8>> = re
        .find_iter(hay)
        .take(limit)
        .map(|m| m.as_bytes().to_vec())
        .collect();
    ctx.check_len(found.len())?;
    ctx.strings_list(found)
}

fn replace(ctx: &mut Ctx<'_>, a: &[Value], expand: bool) -> FnResult {
    let re = compile(ctx, s(arg(a, 0)))?;
    let (hay, repl) = (s(arg(a, 1)), s(arg(a, 2)));
    let matches = re.find_iter(hay).count();
    ctx.check_len(
        hay.len()
            .saturating_add(matches.saturating_mul(repl.len().max(1) * 4)),
    )?;
    let out = if expand {
        re.replace_all(hay, repl).into_owned()
    } else {
        re.replace_all(hay, NoExpand(repl)).into_owned()
    };
    ctx.string(out)
}

/// Go's Regexp.Split.
fn split(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let re = compile(ctx, s(arg(a, 0)))?;
    let (hay, n) = (s(arg(a, 1)), i(arg(a, 2)));
    if n == 0 {
        return ctx.list(Vec::new());
    }
    if !s(arg(a, 0)).is_empty() && hay.is_empty() {
        return ctx.strings_list(vec![Vec::new()]);
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out: Vec<Vec<u8>> = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(hay).take(limit) {
        if n > 0 && out.len() == limit - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(hay.get(beg..end).unwrap_or_default().to_vec());
        }
        beg = m.end();
    }
    if end != hay.len() {
        out.push(hay.get(beg..).unwrap_or_default().to_vec());
    }
    ctx.check_len(out.len())?;
    ctx.strings_list(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(go_syntax(r"\d+"), "[0-9]+");
        assert_eq!(go_syntax(r"[\d.]"), "[0-9.]");
        assert_eq!(go_syntax(r"\bx\\d"), r"(?-u:\b)x\\d");
        assert_eq!(go_syntax(r"[]\w]"), "[]0-9A-Za-z_]");
        assert_eq!(go_syntax(r"[[:alpha:]\s]x"), "[[:alpha:]\\t\\n\\f\\r ]x");
        let re = Regex::new(&go_syntax(r"^\w+$")).unwrap();
        assert!(re.is_match(b"abc_1") && !re.is_match("é".as_bytes()));
        let re = Regex::new(&go_syntax(r"^[\W]+$")).unwrap();
        assert!(re.is_match("é-".as_bytes()) && !re.is_match(b"a"));
    }
}
