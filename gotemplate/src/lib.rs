//! Go's `text/template` with Sprig v3's `GenericFuncMap` minus `env`, `expandenv` and
//! `getHostByName`, as the Sealed Secrets controller renders `spec.template.data`: a
//! template named `name` executed over a map of names to byte strings, with Go's default
//! `missingkey` (a missing key prints `<no value>`). The crate knows nothing of secrets;
//! the binaries hand [`render`] to `sealed_common::unseal`.
//!
//! Written here rather than taken from the `gtmpl` crate: gtmpl 0.7 runs a `range`'s
//! `else` branch after a non-empty range, iterates maps unsorted, lacks `$x = ...`,
//! `break`/`continue` and `slice`, prints `%q`/`%05.2f`/hex literals wrongly and
//! overflows the stack (aborting the process) on recursive `{{template}}` calls.
//!
//! Hostile templates are bounded: output per value, size of any intermediate string or
//! list, total bytes processed, execution steps, nesting depth and bcrypt hashes (see
//! [`Limits`]). No input makes the engine panic. Errors are one line, Go-shaped
//! (`template: key:1:12: executing "key" at <.b>: ...`) and never quote runtime values.

mod ast;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod strconv;
mod unicode;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write;
use value::{MapObj, Value};

/// Bounds on rendering. Steps, work, bcrypt hashes and output are budgets that every
/// render of one [`Renderer`] draws from (one SealedSecret's templates share them); the
/// others bound each render on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of rendered output, all renders together (a Secret is at most 1 MiB anyway).
    pub max_output: usize,
    /// Bytes of any one intermediate string, or elements of a list.
    pub max_string: usize,
    /// Bytes handled by functions in total (arguments plus results), all renders together.
    pub max_work: usize,
    /// Executed nodes, function calls and loop iterations, plus 10 per lexed token, all
    /// renders together.
    pub max_steps: u64,
    /// Nesting of blocks, parentheses and `{{template}}` calls (parse and execution).
    pub max_depth: usize,
    /// `bcrypt`/`htpasswd` hashes (each ~2^10 Blowfish key setups), all renders together.
    pub max_bcrypt: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: 1 << 20,
            max_string: 4 << 20,
            max_work: 64 << 20,
            max_steps: 1_000_000,
            max_depth: 100,
            max_bcrypt: 8,
        }
    }
}

/// A shared budget that ran out, with its limit. The text reads "more than 8
/// bcrypt/htpasswd calls", for a caller to say in what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    Steps(u64),
    Work(usize),
    Bcrypt(u32),
    Output(usize),
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exhausted::Steps(n) => write!(f, "more than {n} template steps"),
            Exhausted::Work(n) => write!(f, "more than {n} bytes processed by template functions"),
            Exhausted::Bcrypt(n) => write!(f, "more than {n} bcrypt/htpasswd calls"),
            Exhausted::Output(n) => write!(f, "more than {n} bytes of template output"),
        }
    }
}

/// A template that did not parse or failed to execute, in Go's words; it never quotes
/// a runtime value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
    exhausted: Option<Exhausted>,
}

impl Error {
    /// The shared budget that ran out, when that is why the render failed: every
    /// later render of the same [`Renderer`] that needs more of it fails too.
    pub fn exhausted(&self) -> Option<Exhausted> {
        self.exhausted
    }
}

impl Error {
    /// Go prints a template's own text (a malformed constant, a key name) raw, line
    /// breaks included; here they are escaped as `%q` would, so an error stays one log
    /// line.
    fn new(message: String, exhausted: Option<Exhausted>) -> Error {
        if !message.contains(LINE_BREAKS) {
            return Error { message, exhausted };
        }
        let mut out = String::with_capacity(message.len() + 8);
        for c in message.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if LINE_BREAKS.contains(&c) => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        Error {
            message: out,
            exhausted,
        }
    }
}

/// Characters that end a line for a terminal or a log reader.
const LINE_BREAKS: [char; 7] = [
    '\n', '\r', '\u{0b}', '\u{0c}', '\u{85}', '\u{2028}', '\u{2029}',
];

/// The engine with its [`Limits`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Engine {
    limits: Limits,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: Limits) -> Self {
        Engine { limits }
    }

    /// A renderer of several templates over `data`, with one budget for them all.
    pub fn renderer(&self, data: &BTreeMap<String, Vec<u8>>) -> Renderer {
        let entries: BTreeMap<Vec<u8>, Value> = data
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
            .collect();
        Renderer {
            limits: self.limits,
            // Templates cannot change a map[string]string (`set` wants a
            // map[string]interface{}), so every render may see this one.
            data: Value::Map(std::rc::Rc::new(MapObj::new(true, entries))),
            spent: Spent::default(),
        }
    }

    /// Renders `text` (the template named `name`) over `data` with a budget of its
    /// own; Go strings are bytes, so binary values pass through untouched.
    pub fn render(
        &self,
        name: &str,
        text: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        self.renderer(data).render(name, text)
    }
}

/// Steps charged per lexed token: a token holds about 100 bytes (and its syntax tree
/// node) until the render ends, so the step budget also bounds a render's memory.
const TOKEN_STEPS: u64 = 10;

/// What the renders of one [`Renderer`] have used of the shared budgets.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spent {
    pub(crate) steps: u64,
    pub(crate) work: usize,
    pub(crate) bcrypt: u32,
    pub(crate) output: usize,
}

/// Renders templates over one data map; the renders draw on one budget of steps, work,
/// bcrypt hashes and output (see [`Limits`]), so many small templates cost no more than
/// one big one.
pub struct Renderer {
    limits: Limits,
    data: Value,
    spent: Spent,
}

impl Renderer {
    /// Renders `text` as the template named `name`. A failed render charges the budget
    /// for what it did before failing.
    pub fn render(&mut self, name: &str, text: &str) -> Result<Vec<u8>, Error> {
        let has_func = |name: &str| funcs::lookup(name).is_some();
        let room = self.limits.max_steps.saturating_sub(self.spent.steps) / TOKEN_STEPS;
        let parsed = match parse::parse(name, text, &has_func, self.limits.max_depth, room) {
            Ok(parsed) => parsed,
            Err(parse::Failure::Syntax { message, tokens }) => {
                self.charge_tokens(tokens);
                return Err(Error::new(message, None));
            }
            Err(parse::Failure::Tokens) => {
                self.spent.steps = self.limits.max_steps.saturating_add(1);
                let exhausted = Exhausted::Steps(self.limits.max_steps);
                return Err(Error::new(
                    format!("template: {name}: {exhausted}"),
                    Some(exhausted),
                ));
            }
        };
        self.charge_tokens(parsed.tokens);
        let mut ctx = funcs::Ctx::new(self.limits, self.spent, &parsed.literals);
        let result = exec::execute(&parsed, text, name, self.data.clone(), &mut ctx);
        self.spent = ctx.spent;
        match result {
            Ok(out) => {
                self.spent.output = self.spent.output.saturating_add(out.len());
                Ok(out)
            }
            Err(message) => Err(Error::new(message, ctx.exhausted)),
        }
    }

    fn charge_tokens(&mut self, tokens: u64) {
        let steps = tokens.saturating_mul(TOKEN_STEPS);
        self.spent.steps = self.spent.steps.saturating_add(steps);
    }
}

/// [`Engine::render`] with the default [`Limits`]: one template with a budget of its own.
pub fn render(name: &str, text: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, Error> {
    Engine::new().render(name, text, data)
}

#[cfg(test)]
mod tests;
