//! What a template sees: the handful of Go types the data map and the function library
//! produce. Strings are bytes, as in Go.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub(crate) type Bytes = Rc<[u8]>;

#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Go's invalid `reflect.Value`: a missing map key; prints `<no value>`.
    Missing,
    /// An untyped nil interface value.
    Nil,
    Bool(bool),
    /// Go's `int`/`int64` (not told apart here).
    Int(i64),
    Float(f64),
    Str(Bytes),
    List(Rc<ListObj>),
    Map(Rc<MapObj>),
}

/// A Go `[]interface{}`. Dropped iteratively: a template can nest lists (or maps)
/// far deeper than the stack would allow a recursive drop.
#[derive(Debug, Default)]
pub(crate) struct ListObj(Vec<Value>);

impl std::ops::Deref for ListObj {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl Drop for ListObj {
    fn drop(&mut self) {
        dismantle(std::mem::take(&mut self.0));
    }
}

/// Drops values without recursion: containers we hold the last reference to are
/// emptied onto a heap stack first.
fn dismantle(mut stack: Vec<Value>) {
    while let Some(v) = stack.pop() {
        match v {
            Value::List(rc) => {
                if let Ok(mut l) = Rc::try_unwrap(rc) {
                    stack.append(&mut l.0);
                }
            }
            Value::Map(rc) => {
                if let Ok(m) = Rc::try_unwrap(rc)
                    && let Ok(mut e) = m.entries.try_borrow_mut()
                {
                    stack.extend(std::mem::take(&mut *e).into_values());
                }
            }
            _ => {}
        }
    }
}

/// A Go map with string keys; shared and mutable like Go maps (`set` changes it in
/// place). Keys sort bytewise, as Go sorts map keys when printing.
#[derive(Debug)]
pub(crate) struct MapObj {
    /// `map[string]string` (the data map, `split`) rather than `map[string]interface{}`:
    /// a missing key indexes as "" instead of nil.
    pub(crate) strings: bool,
    entries: RefCell<BTreeMap<Vec<u8>, Value>>,
}

impl MapObj {
    pub(crate) fn new(strings: bool, entries: BTreeMap<Vec<u8>, Value>) -> Self {
        MapObj {
            strings,
            entries: RefCell::new(entries),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Value> {
        self.entries.try_borrow().ok()?.get(key).cloned()
    }

    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.entries
            .try_borrow()
            .map(|e| e.contains_key(key))
            .unwrap_or(false)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.try_borrow().map(|e| e.len()).unwrap_or(0)
    }

    /// A copy of the entries in key order (no borrow outlives the call).
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, Value)> {
        self.entries
            .try_borrow()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub(crate) fn insert(&self, key: Vec<u8>, value: Value) -> bool {
        match self.entries.try_borrow_mut() {
            Ok(mut e) => {
                e.insert(key, value);
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn remove(&self, key: &[u8]) -> bool {
        match self.entries.try_borrow_mut() {
            Ok(mut e) => {
                e.remove(key);
                true
            }
            Err(_) => false,
        }
    }

    /// Drops every entry; breaks reference cycles a template may have built.
    pub(crate) fn clear(&self) {
        let taken = match self.entries.try_borrow_mut() {
            Ok(mut e) => std::mem::take(&mut *e),
            Err(_) => return,
        };
        dismantle(taken.into_values().collect());
    }
}

impl Drop for MapObj {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Value {
    pub(crate) fn str(s: impl AsRef<[u8]>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }

    pub(crate) fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(ListObj(items)))
    }

    /// Go's type name, for messages and `%T`.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(m) if m.strings => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// Go's `reflect.Kind` name, for Sprig's "Cannot ... on type X" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
        }
    }

    /// text/template's truth: not the zero value of its type.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => m.len() > 0,
        }
    }

    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Str(s) => s,
            _ => b"",
        }
    }

    pub(crate) fn as_int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            _ => 0,
        }
    }

    /// A rough size, charged against the work budget.
    pub(crate) fn shallow_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(l) => l.len().saturating_mul(16),
            Value::Map(m) => m.len().saturating_mul(32),
            _ => 8,
        }
    }
}

/// Go's `reflect.DeepEqual` for these types (int and int64 are one type here).
pub(crate) fn deep_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > 100 {
        return false;
    }
    match (a, b) {
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            Rc::ptr_eq(x, y)
                || (x.len() == y.len()
                    && x.iter()
                        .zip(y.iter())
                        .all(|(p, q)| deep_equal(p, q, depth + 1)))
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (ex, ey) = (x.entries(), y.entries());
            x.strings == y.strings
                && ex.len() == ey.len()
                && ex
                    .iter()
                    .zip(ey.iter())
                    .all(|((kx, vx), (ky, vy))| kx == ky && deep_equal(vx, vy, depth + 1))
        }
        _ => false,
    }
}
