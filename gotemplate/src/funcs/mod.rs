//! The function map: Go's text/template builtins plus Sprig v3's `GenericFuncMap`
//! minus `env`, `expandenv` and `getHostByName` (as upstream's controller builds it).
//! Each function declares Go parameter types so the executor can apply Go's argument
//! rules; errors are one line and carry no runtime values.

mod builtins;
mod case;
mod collections;
mod encoding;
mod json;
mod math;
mod paths;
mod random;
mod regex;
mod strings;

use super::gofmt::{self, FmtError};
use super::value::{MapObj, Value};
use super::{Exhausted, Limits, Spent};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::LazyLock;

pub(crate) type FnResult = Result<Value, String>;
pub(crate) type Call = fn(&mut Ctx<'_>, &[Value]) -> FnResult;

/// A Go parameter type, as far as argument checking goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum P {
    /// `interface{}`: a missing value arrives as nil.
    Any,
    /// `reflect.Value` (the comparison builtins): a missing value stays missing.
    Value,
    Str,
    Int,
    Float,
    Bool,
    /// `map[string]interface{}`
    Map,
}

impl P {
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            P::Any => "interface {}",
            P::Value => "reflect.Value",
            P::Str => "string",
            P::Int => "int",
            P::Float => "float64",
            P::Bool => "bool",
            P::Map => "map[string]interface {}",
        }
    }
}

pub(crate) struct Func {
    pub(crate) params: &'static [P],
    pub(crate) variadic: Option<P>,
    pub(crate) call: Call,
}

pub(crate) struct Registry(HashMap<&'static str, Func>);

impl Registry {
    fn add(&mut self, name: &'static str, params: &'static [P], variadic: Option<P>, call: Call) {
        self.0.insert(
            name,
            Func {
                params,
                variadic,
                call,
            },
        );
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry(HashMap::new());
    builtins::register(&mut r);
    strings::register(&mut r);
    case::register(&mut r);
    paths::register(&mut r);
    encoding::register(&mut r);
    json::register(&mut r);
    collections::register(&mut r);
    math::register(&mut r);
    regex::register(&mut r);
    random::register(&mut r);
    r
});

pub(crate) fn lookup(name: &str) -> Option<&'static Func> {
    REGISTRY.0.get(name)
}

#[cfg(test)]
pub(crate) fn names() -> Vec<&'static str> {
    let mut n: Vec<&'static str> = REGISTRY.0.keys().copied().collect();
    n.sort_unstable();
    n
}

/// Per-render state the functions share: budgets, maps made (to break cycles when
/// done), compiled regexes, the template's literals.
pub(crate) struct Ctx<'a> {
    pub(crate) limits: Limits,
    /// The shared budgets used so far, by earlier renders too.
    pub(crate) spent: Spent,
    /// The shared budget that ran out, if one did.
    pub(crate) exhausted: Option<Exhausted>,
    maps: Vec<Rc<MapObj>>,
    pub(crate) regexes: HashMap<Vec<u8>, Option<Rc<::regex::bytes::Regex>>>,
    pub(crate) literals: &'a HashSet<Vec<u8>>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(limits: Limits, spent: Spent, literals: &'a HashSet<Vec<u8>>) -> Self {
        Ctx {
            limits,
            spent,
            exhausted: None,
            maps: Vec::new(),
            regexes: HashMap::new(),
            literals,
        }
    }

    /// Records that a shared budget ran out; the message says which.
    pub(crate) fn exhaust(&mut self, what: Exhausted) -> String {
        self.exhausted = Some(what);
        what.to_string()
    }

    /// Counts `n` bytes of work; fails once the renders have done too much.
    pub(crate) fn charge(&mut self, n: usize) -> Result<(), String> {
        self.spent.work = self.spent.work.saturating_add(n);
        if self.spent.work > self.limits.max_work {
            return Err(self.exhaust(Exhausted::Work(self.limits.max_work)));
        }
        Ok(())
    }

    /// Refuses a single string or list of `n` bytes (or elements) before building it.
    pub(crate) fn check_len(&self, n: usize) -> Result<(), String> {
        if n > self.limits.max_string {
            return Err(format!(
                "result too large (limit {} bytes)",
                self.limits.max_string
            ));
        }
        Ok(())
    }

    pub(crate) fn string(&mut self, s: Vec<u8>) -> FnResult {
        self.check_len(s.len())?;
        self.charge(s.len())?;
        Ok(Value::str(s))
    }

    pub(crate) fn list(&mut self, items: Vec<Value>) -> FnResult {
        self.check_len(items.len())?;
        self.charge(items.len().saturating_mul(16))?;
        Ok(Value::list(items))
    }

    pub(crate) fn strings_list(&mut self, items: Vec<Vec<u8>>) -> FnResult {
        let total: usize = items.iter().map(Vec::len).sum();
        self.charge(total)?;
        self.list(items.into_iter().map(Value::str).collect())
    }

    /// A new Go map, remembered so cycles built through `set` are broken at the end.
    pub(crate) fn map(&mut self, strings: bool, entries: BTreeMap<Vec<u8>, Value>) -> Value {
        let m = Rc::new(MapObj::new(strings, entries));
        self.maps.push(m.clone());
        Value::Map(m)
    }

    /// Sprig's strval: a string as is, anything else as `fmt.Sprintf("%v")`.
    pub(crate) fn strval(&mut self, v: &Value) -> Result<Vec<u8>, String> {
        match v {
            Value::Str(s) => Ok(s.to_vec()),
            other => {
                let out = gofmt::sprint_one(other, self.limits.max_string).map_err(fmt_error)?;
                self.charge(out.len())?;
                Ok(out)
            }
        }
    }

    pub(crate) fn sprint(&mut self, args: &[Value]) -> Result<Vec<u8>, String> {
        let out = gofmt::sprint(args, self.limits.max_string).map_err(fmt_error)?;
        self.charge(out.len())?;
        Ok(out)
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for m in &self.maps {
            m.clear();
        }
    }
}

pub(crate) fn fmt_error(e: FmtError) -> String {
    match e {
        FmtError::TooLarge => "result too large".into(),
        FmtError::TooDeep => "value nested too deeply".into(),
    }
}

/// The string inside a value the executor has already checked to be one.
pub(crate) fn s(v: &Value) -> &[u8] {
    v.as_bytes()
}

/// The int inside a value the executor has already checked to be one.
pub(crate) fn i(v: &Value) -> i64 {
    v.as_int()
}
