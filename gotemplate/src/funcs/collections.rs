//! Sprig's lists, dicts and defaults (list.go, dict.go, defaults.go). Dict key order,
//! random in Go, is sorted here (`keys`, `values`): one of the orders Go may give.

use super::math::to_int;
use super::{Ctx, FnResult, P, Registry, i, s};
use crate::value::{MapObj, Value, deep_equal};
use std::collections::BTreeMap;
use std::rc::Rc;

pub(super) fn register(r: &mut Registry) {
    r.add("list", &[], Some(P::Any), |ctx, a| ctx.list(a.to_vec()));
    r.add("tuple", &[], Some(P::Any), |ctx, a| ctx.list(a.to_vec()));
    r.add("dict", &[], Some(P::Any), dict);
    r.add("get", &[P::Map, P::Str], None, get);
    r.add("set", &[P::Map, P::Str, P::Any], None, set);
    r.add("unset", &[P::Map, P::Str], None, unset);
    r.add("hasKey", &[P::Map, P::Str], None, has_key);
    r.add("pluck", &[P::Str], Some(P::Map), pluck);
    r.add("keys", &[], Some(P::Map), keys);
    r.add("pick", &[P::Map], Some(P::Str), pick);
    r.add("omit", &[P::Map], Some(P::Str), omit);
    r.add("values", &[P::Map], None, values);
    r.add("dig", &[], Some(P::Any), dig);
    r.add("deepCopy", &[P::Any], None, deep_copy);
    r.add("mustDeepCopy", &[P::Any], None, deep_copy);

    let list_fns: [(&'static str, super::Call); 14] = [
        ("first", first),
        ("mustFirst", first),
        ("last", last),
        ("mustLast", last),
        ("rest", rest),
        ("mustRest", rest),
        ("initial", initial),
        ("mustInitial", initial),
        ("reverse", reverse),
        ("mustReverse", reverse),
        ("uniq", uniq),
        ("mustUniq", uniq),
        ("compact", compact),
        ("mustCompact", compact),
    ];
    for (name, f) in list_fns {
        r.add(name, &[P::Any], None, f);
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        r.add(name, &[P::Any, P::Any], None, push);
    }
    for name in ["prepend", "mustPrepend"] {
        r.add(name, &[P::Any, P::Any], None, prepend);
    }
    for name in ["without", "mustWithout"] {
        r.add(name, &[P::Any], Some(P::Any), without);
    }
    for name in ["has", "mustHas"] {
        r.add(name, &[P::Any, P::Any], None, has);
    }
    for name in ["slice", "mustSlice"] {
        r.add(name, &[P::Any], Some(P::Any), slice);
    }
    for name in ["chunk", "mustChunk"] {
        r.add(name, &[P::Int, P::Any], None, chunk);
    }
    r.add("concat", &[], Some(P::Any), concat);

    r.add("default", &[P::Any], Some(P::Any), default);
    r.add("empty", &[P::Any], None, |_, a| {
        Ok(Value::Bool(!arg(a, 0).truth()))
    });
    r.add("coalesce", &[], Some(P::Any), |_, a| {
        Ok(a.iter().find(|v| v.truth()).cloned().unwrap_or(Value::Nil))
    });
    r.add("all", &[], Some(P::Any), |_, a| {
        Ok(Value::Bool(a.iter().all(Value::truth)))
    });
    r.add("any", &[], Some(P::Any), |_, a| {
        Ok(Value::Bool(a.iter().any(Value::truth)))
    });
    r.add("ternary", &[P::Any, P::Any, P::Bool], None, |_, a| {
        let pick = if matches!(arg(a, 2), Value::Bool(true)) {
            0
        } else {
            1
        };
        Ok(arg(a, pick).clone())
    });
    r.add("fail", &[P::Str], None, fail);
}

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

fn rest_args(a: &[Value]) -> &[Value] {
    a.get(1..).unwrap_or(&[])
}

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The items of a Go slice argument, or Sprig's complaint for `what`.
fn items<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
    match v {
        Value::List(l) => Ok(l),
        Value::Missing | Value::Nil => Err(NIL_DEREF.into()),
        other => Err(format!("Cannot {what} on type {}", other.kind_name())),
    }
}

fn dict(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut entries = BTreeMap::new();
    for pair in a.chunks(2) {
        let (key, value) = match pair {
            [k, v] => (k, v.clone()),
            [k] => (k, Value::str("")),
            _ => continue,
        };
        entries.insert(ctx.strval(key)?, value);
    }
    ctx.check_len(entries.len())?;
    Ok(ctx.map(false, entries))
}

fn map_arg(v: &Value) -> Option<&Rc<MapObj>> {
    match v {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

fn get(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(map_arg(arg(a, 0))
        .and_then(|m| m.get(s(arg(a, 1))))
        .unwrap_or_else(|| Value::str("")))
}

fn set(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let Some(m) = map_arg(arg(a, 0)) else {
        return Err("assignment to entry in nil map".into());
    };
    ctx.check_len(m.len() + 1)?;
    ctx.charge(32)?;
    if !m.insert(s(arg(a, 1)).to_vec(), arg(a, 2).clone()) {
        return Err("concurrent map writes".into());
    }
    Ok(Value::Map(m.clone()))
}

fn unset(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    match map_arg(arg(a, 0)) {
        Some(m) => {
            m.remove(s(arg(a, 1)));
            Ok(Value::Map(m.clone()))
        }
        None => Ok(Value::Nil),
    }
}

fn has_key(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(
        map_arg(arg(a, 0)).is_some_and(|m| m.contains(s(arg(a, 1)))),
    ))
}

fn pluck(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let key = s(arg(a, 0));
    let found: Vec<Value> = rest_args(a)
        .iter()
        .filter_map(|d| map_arg(d).and_then(|m| m.get(key)))
        .collect();
    ctx.list(found)
}

fn keys(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut out = Vec::new();
    for d in a {
        if let Some(m) = map_arg(d) {
            out.extend(m.entries().into_iter().map(|(k, _)| k));
        }
    }
    ctx.strings_list(out)
}

fn pick(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut entries = BTreeMap::new();
    if let Some(m) = map_arg(arg(a, 0)) {
        for k in rest_args(a) {
            if let Some(v) = m.get(s(k)) {
                entries.insert(s(k).to_vec(), v);
            }
        }
    }
    Ok(ctx.map(false, entries))
}

fn omit(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let drop: Vec<&[u8]> = rest_args(a).iter().map(s).collect();
    let entries: BTreeMap<Vec<u8>, Value> = map_arg(arg(a, 0))
        .map(|m| m.entries())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !drop.contains(&k.as_slice()))
        .collect();
    Ok(ctx.map(false, entries))
}

fn values(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let vals: Vec<Value> = map_arg(arg(a, 0))
        .map(|m| m.entries().into_iter().map(|(_, v)| v).collect())
        .unwrap_or_default();
    ctx.list(vals)
}

fn dig(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let [path @ .., default, last] = a else {
        return Err("dig needs at least three arguments".into());
    };
    if path.is_empty() {
        return Err("dig needs at least three arguments".into());
    }
    let Some(mut dict) = map_arg(last).filter(|m| !m.strings).cloned() else {
        return Err(format!(
            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
            last.type_name()
        ));
    };
    for (n, key) in path.iter().enumerate() {
        let Value::Str(k) = key else {
            return Err(format!(
                "interface conversion: interface {{}} is {}, not string",
                key.type_name()
            ));
        };
        let Some(step) = dict.get(k) else {
            return Ok(default.clone());
        };
        if n + 1 == path.len() {
            return Ok(step);
        }
        dict = match step {
            Value::Map(m) if !m.strings => m,
            other => {
                return Err(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    other.type_name()
                ));
            }
        };
    }
    Ok(default.clone())
}

fn copy_value(ctx: &mut Ctx<'_>, v: &Value, depth: usize) -> FnResult {
    if depth > ctx.limits.max_depth {
        return Err("value nested too deeply".into());
    }
    ctx.charge(v.shallow_size())?;
    Ok(match v {
        Value::List(l) => {
            let mut out = Vec::with_capacity(l.len());
            for item in l.iter() {
                out.push(copy_value(ctx, item, depth + 1)?);
            }
            Value::list(out)
        }
        Value::Map(m) => {
            let mut entries = BTreeMap::new();
            for (k, item) in m.entries() {
                let copied = copy_value(ctx, &item, depth + 1)?;
                entries.insert(k, copied);
            }
            ctx.map(m.strings, entries)
        }
        other => other.clone(),
    })
}

fn deep_copy(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    copy_value(ctx, arg(a, 0), 0)
}

fn first(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(items(arg(a, 0), "find first")?
        .first()
        .cloned()
        .unwrap_or(Value::Nil))
}

fn last(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(items(arg(a, 0), "find last")?
        .last()
        .cloned()
        .unwrap_or(Value::Nil))
}

fn rest(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    match items(arg(a, 0), "find rest")? {
        [] => Ok(Value::Nil),
        [_, tail @ ..] => ctx.list(tail.to_vec()),
    }
}

fn initial(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    match items(arg(a, 0), "find initial")? {
        [] => Ok(Value::Nil),
        [head @ .., _] => ctx.list(head.to_vec()),
    }
}

fn reverse(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut l = items(arg(a, 0), "find reverse")?.to_vec();
    l.reverse();
    ctx.list(l)
}

fn uniq(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let l = items(arg(a, 0), "find uniq")?;
    ctx.charge(l.len().saturating_mul(l.len()))?;
    let mut out: Vec<Value> = Vec::new();
    for item in l {
        if !out.iter().any(|o| deep_equal(o, item, 0)) {
            out.push(item.clone());
        }
    }
    ctx.list(out)
}

fn compact(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let l = items(arg(a, 0), "compact")?;
    ctx.list(l.iter().filter(|v| v.truth()).cloned().collect())
}

fn push(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut l = items(arg(a, 0), "push")?.to_vec();
    l.push(arg(a, 1).clone());
    ctx.list(l)
}

fn prepend(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let l = items(arg(a, 0), "prepend")?;
    let mut out = Vec::with_capacity(l.len() + 1);
    out.push(arg(a, 1).clone());
    out.extend_from_slice(l);
    ctx.list(out)
}

fn without(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let l = items(arg(a, 0), "find without")?;
    let omit = rest_args(a);
    ctx.charge(l.len().saturating_mul(omit.len()))?;
    let out: Vec<Value> = l
        .iter()
        .filter(|item| !omit.iter().any(|o| deep_equal(o, item, 0)))
        .cloned()
        .collect();
    ctx.list(out)
}

fn has(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let haystack = arg(a, 1);
    if haystack.is_nil() {
        return Ok(Value::Bool(false));
    }
    let l = items(haystack, "find has")?;
    ctx.charge(l.len())?;
    Ok(Value::Bool(
        l.iter().any(|item| deep_equal(arg(a, 0), item, 0)),
    ))
}

fn slice(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let l = match arg(a, 0) {
        Value::List(l) => l,
        Value::Missing | Value::Nil => return Err(NIL_DEREF.into()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            ));
        }
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_int);
    let end = a.get(2).map_or(l.len() as i64, to_int);
    match (usize::try_from(start), usize::try_from(end)) {
        (Ok(s), Ok(e)) if s <= e => match l.get(s..e) {
            Some(part) => ctx.list(part.to_vec()),
            None => Err("reflect: slice index out of range".into()),
        },
        _ => Err("reflect: slice index out of range".into()),
    }
}

fn chunk(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let size = i(arg(a, 0));
    let l = items(arg(a, 1), "chunk")?;
    if size <= 0 {
        return Err("runtime error: makeslice: len out of range".into());
    }
    let chunks: Vec<Value> = l
        .chunks(size as usize)
        .map(|c| Value::list(c.to_vec()))
        .collect();
    ctx.charge(l.len().saturating_mul(16))?;
    ctx.list(chunks)
}

fn concat(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let mut out = Vec::new();
    for list in a {
        match list {
            Value::List(l) => {
                ctx.check_len(out.len() + l.len())?;
                out.extend_from_slice(l);
            }
            Value::Missing | Value::Nil => return Err(NIL_DEREF.into()),
            other => {
                return Err(format!("Cannot concat type {} as list", other.kind_name()));
            }
        }
    }
    ctx.list(out)
}

fn default(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    match a.get(1) {
        Some(given) if given.truth() => Ok(given.clone()),
        _ => Ok(arg(a, 0).clone()),
    }
}

/// The message is shown only when it is a literal of the template: anything computed
/// may hold a secret.
fn fail(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let msg = s(arg(a, 0));
    if ctx.literals.contains(msg) {
        return Err(String::from_utf8_lossy(msg).replace(['\n', '\r'], " "));
    }
    Err("the template failed (message withheld: not a literal of the template)".into())
}
