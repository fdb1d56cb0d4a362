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
use value::Value;

/// Bounds on one value's rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of rendered output (a Secret is at most 1 MiB anyway).
    pub max_output: usize,
    /// Bytes of any one intermediate string, or elements of a list.
    pub max_string: usize,
    /// Bytes handled by functions in total (arguments plus results).
    pub max_work: usize,
    /// Executed nodes, function calls and loop iterations.
    pub max_steps: u64,
    /// Nesting of blocks, parentheses and `{{template}}` calls (parse and execution).
    pub max_depth: usize,
    /// `bcrypt`/`htpasswd` hashes (each ~2^10 Blowfish key setups).
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

/// A template that did not parse or failed to execute, in Go's words; it never quotes
/// a runtime value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

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

    /// Renders `text` (the template named `name`) over `data`; Go strings are bytes, so
    /// binary values pass through untouched.
    pub fn render(
        &self,
        name: &str,
        text: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        let has_func = |name: &str| funcs::lookup(name).is_some();
        let parsed = parse::parse(name, text, &has_func, self.limits.max_depth).map_err(Error)?;
        let mut ctx = funcs::Ctx::new(self.limits, &parsed.literals);
        let entries: BTreeMap<Vec<u8>, Value> = data
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
            .collect();
        let data = ctx.map(true, entries);
        exec::execute(&parsed, text, name, data, ctx).map_err(Error)
    }
}

/// [`Engine::render`] with the default [`Limits`], the ones the controller and
/// `kubeseal --recovery-unseal` use.
pub fn render(name: &str, text: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, Error> {
    Engine::new().render(name, text, data)
}

#[cfg(test)]
mod tests;
