//! `spec.template.data` rendering as upstream does it: each value is a Go
//! `text/template` named after its key, with Sprig's `GenericFuncMap()` minus `env`,
//! `expandenv` and `getHostByName`, executed over the decrypted items (name -> value)
//! with Go's default `missingkey` (a missing key prints `<no value>`).
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

use crate::unseal::TemplateEngine;
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

/// The Go text/template + Sprig engine for [`crate::unseal::UnsealOptions::templates`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GoTemplates {
    limits: Limits,
}

impl GoTemplates {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: Limits) -> Self {
        GoTemplates { limits }
    }

    /// Renders `template` (named `key`) over the items; Go strings are bytes, so
    /// binary items pass through untouched.
    pub fn render_items(
        &self,
        key: &str,
        template: &str,
        items: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let has_func = |name: &str| funcs::lookup(name).is_some();
        let parsed = parse::parse(key, template, &has_func, self.limits.max_depth)?;
        let mut ctx = funcs::Ctx::new(self.limits, &parsed.literals);
        let entries: BTreeMap<Vec<u8>, Value> = items
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Value::str(v)))
            .collect();
        let data = ctx.map(true, entries);
        exec::execute(&parsed, template, key, data, ctx)
    }
}

impl TemplateEngine for GoTemplates {
    fn render(
        &self,
        key: &str,
        template: &str,
        items: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let items: BTreeMap<String, Vec<u8>> = items
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        self.render_items(key, template, &items)
            .map(|out| String::from_utf8_lossy(&out).into_owned())
    }

    fn render_bytes(
        &self,
        key: &str,
        template: &str,
        items: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        self.render_items(key, template, items)
    }
}

#[cfg(test)]
mod tests;
