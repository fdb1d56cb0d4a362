//! text/template's own functions (Go's funcs.go). `and`/`or` short-circuit in the
//! executor; `slice` is Sprig's (Sprig's map overrides the builtin).

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, fmt_error, s};
use crate::gofmt;
use crate::unicode::{decode_rune, is_print};
use crate::value::Value;

pub(super) fn register(r: &mut Registry) {
    r.add("and", &[P::Value], Some(P::Value), short_circuit);
    r.add("or", &[P::Value], Some(P::Value), short_circuit);
    r.add("not", &[P::Value], None, not);
    r.add("len", &[P::Value], None, length);
    r.add("index", &[P::Value], Some(P::Value), index);
    r.add("print", &[], Some(P::Any), print);
    r.add("printf", &[P::Str], Some(P::Any), printf);
    r.add("println", &[], Some(P::Any), println);
    r.add("html", &[], Some(P::Any), html);
    r.add("js", &[], Some(P::Any), js);
    r.add("urlquery", &[], Some(P::Any), urlquery);
    r.add("eq", &[P::Value], Some(P::Value), eq);
    r.add("ne", &[P::Value, P::Value], None, ne);
    r.add("lt", &[P::Value, P::Value], None, lt);
    r.add("le", &[P::Value, P::Value], None, le);
    r.add("gt", &[P::Value, P::Value], None, gt);
    r.add("ge", &[P::Value, P::Value], None, ge);
    r.add("call", &[P::Value], Some(P::Value), call);
}

/// Never reached: the executor evaluates `and`/`or` lazily itself.
fn short_circuit(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(a.last().cloned().unwrap_or(Value::Missing))
}

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

fn not(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(!arg(a, 0).truth()))
}

fn length(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let n = match arg(a, 0) {
        Value::Missing => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Value::Nil => return Err("len of nil pointer".into()),
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

/// Position for `index`; messages leave the number out (it may come from a secret).
fn index_arg(idx: &Value, len: usize) -> Result<usize, String> {
    match idx {
        Value::Int(x) => match usize::try_from(*x) {
            Ok(x) if x < len => Ok(x),
            _ => Err("index out of range".into()),
        },
        Value::Missing | Value::Nil => Err("cannot index slice/array with nil".into()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        )),
    }
}

fn index(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut item = arg(a, 0).clone();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for idx in a.iter().skip(1) {
        item = match &item {
            Value::Missing | Value::Nil => return Err("index of nil pointer".into()),
            Value::Str(s) => match s.get(index_arg(idx, s.len())?) {
                Some(b) => Value::Int(i64::from(*b)),
                None => return Err("index out of range".into()),
            },
            Value::List(l) => match l.get(index_arg(idx, l.len())?) {
                Some(v) => v.clone(),
                None => return Err("index out of range".into()),
            },
            Value::Map(m) => match idx {
                Value::Str(k) => m.get(k).unwrap_or(if m.strings {
                    Value::str("")
                } else {
                    Value::Nil
                }),
                Value::Missing | Value::Nil => {
                    return Err("value is nil; should be of type string".into());
                }
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn print(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let out = ctx.sprint(a)?;
    ctx.string(out)
}

fn printf(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let out = gofmt::sprintf(
        s(arg(a, 0)),
        a.get(1..).unwrap_or(&[]),
        ctx.limits.max_string,
    )
    .map_err(fmt_error)?;
    ctx.string(out)
}

fn println(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let out = gofmt::sprintln(a, ctx.limits.max_string).map_err(fmt_error)?;
    ctx.string(out)
}

/// text/template's evalArgs: a lone string as is, else `fmt.Sprint`.
fn eval_args(ctx: &mut Ctx<'_>, a: &[Value]) -> Result<Vec<u8>, String> {
    if let [Value::Str(s)] = a {
        return Ok(s.to_vec());
    }
    ctx.sprint(a)
}

/// `template.HTMLEscapeString`.
pub(crate) fn html_escape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            _ => out.push(c),
        }
    }
    out
}

fn html(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let text = eval_args(ctx, a)?;
    ctx.check_len(text.len().saturating_mul(6))?;
    ctx.string(html_escape(&text))
}

/// `template.JSEscapeString`.
pub(crate) fn js_escape(b: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'<' => out.extend_from_slice(b"\\u003C"),
                b'>' => out.extend_from_slice(b"\\u003E"),
                b'&' => out.extend_from_slice(b"\\u0026"),
                b'=' => out.extend_from_slice(b"\\u003D"),
                c if c < b' ' => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 0xF)]);
                }
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        let (r, w) = decode_rune(&b[i..]);
        let w = w.max(1);
        if is_print(r) {
            out.extend_from_slice(&b[i..i + w]);
        } else {
            out.extend_from_slice(format!("\\u{:04X}", r as u32).as_bytes());
        }
        i += w;
    }
    out
}

fn js(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let text = eval_args(ctx, a)?;
    ctx.check_len(text.len().saturating_mul(6))?;
    ctx.string(js_escape(&text))
}

/// `url.QueryEscape`.
pub(crate) fn query_escape(b: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xF)]);
            }
        }
    }
    out
}

fn urlquery(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let text = eval_args(ctx, a)?;
    ctx.check_len(text.len().saturating_mul(3))?;
    ctx.string(query_escape(&text))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 != k2 {
        if !a.is_nil() && !b.is_nil() {
            return Err(BAD_COMPARISON.into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ if a.is_nil() || b.is_nil() => a.is_nil() && b.is_nil(),
        _ if a.kind_name() != b.kind_name() => {
            return Err(format!(
                "non-comparable types {}, {}",
                a.type_name(),
                b.type_name()
            ));
        }
        _ => return Err(format!("non-comparable type {}", b.type_name())),
    })
}

fn eq(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let [first, rest @ ..] = a else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for other in rest {
        if equal(first, other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(!equal(arg(a, 0), arg(a, 1))?))
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return Err(BAD_COMPARISON.into());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err(BAD_COMPARISON_TYPE.into()),
    }
}

fn lt(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(less(arg(a, 0), arg(a, 1))?))
}

fn less_or_equal(a: &Value, b: &Value) -> Result<bool, String> {
    if less(a, b)? {
        return Ok(true);
    }
    equal(a, b)
}

fn le(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(less_or_equal(arg(a, 0), arg(a, 1))?))
}

fn gt(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(!less_or_equal(arg(a, 0), arg(a, 1))?))
}

fn ge(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(!less(arg(a, 0), arg(a, 1))?))
}

/// There are no function values here, so `call` can only fail, as Go's would.
fn call(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    match arg(a, 0) {
        Value::Missing | Value::Nil => Err("call of nil".into()),
        other => Err(format!("non-function of type {}", other.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapers_match_go() {
        assert_eq!(
            html_escape(b"<a href=\"x\">'&'\0"),
            b"&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;\xef\xbf\xbd"
        );
        assert_eq!(
            js_escape("a'b\"c<d>&=\\\n\u{2028}é".as_bytes()),
            "a\\'b\\\"c\\u003Cd\\u003E\\u0026\\u003D\\\\\\u000A\\u2028é".as_bytes()
        );
        assert_eq!(query_escape(b"a b&c=d/e~f"), b"a+b%26c%3Dd%2Fe~f");
    }

    #[test]
    fn comparisons_follow_go() {
        let (i, f, s) = (Value::Int(1), Value::Float(1.0), Value::str("1"));
        assert_eq!(equal(&i, &Value::Int(1)), Ok(true));
        assert_eq!(equal(&i, &f), Err(BAD_COMPARISON.into()));
        assert_eq!(equal(&Value::Missing, &s), Ok(false));
        assert_eq!(equal(&Value::Missing, &Value::Missing), Ok(true));
        assert!(equal(&Value::list(vec![]), &Value::list(vec![])).is_err());
        assert_eq!(less(&Value::str("a"), &Value::str("b")), Ok(true));
        assert_eq!(
            less(&Value::Bool(true), &Value::Bool(false)),
            Err(BAD_COMPARISON_TYPE.into())
        );
        assert_eq!(less(&i, &f), Err(BAD_COMPARISON.into()));
        assert_eq!(less(&Value::Missing, &i), Err(BAD_COMPARISON_TYPE.into()));
    }
}
