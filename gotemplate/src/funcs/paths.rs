//! Go's `path` functions (and `path/filepath`, identical on Linux) as Sprig exposes them.

// Byte-indexed ports of Go code, bounds checked by hand; not yet rewritten with `get`
// like the rest of the workspace (the remainder of issue 12's panic-free lints).
#![allow(clippy::indexing_slicing)]

use super::{Ctx, FnResult, P, Registry, s};
use crate::value::Value;

pub(super) fn register(r: &mut Registry) {
    for name in ["base", "osBase"] {
        r.add(name, &[P::Str], None, |ctx, a| ctx.string(base(arg(a))));
    }
    for name in ["dir", "osDir"] {
        r.add(name, &[P::Str], None, |ctx, a| ctx.string(dir(arg(a))));
    }
    for name in ["clean", "osClean"] {
        r.add(name, &[P::Str], None, |ctx, a| ctx.string(clean(arg(a))));
    }
    for name in ["ext", "osExt"] {
        r.add(name, &[P::Str], None, |ctx, a| {
            ctx.string(ext(arg(a)).to_vec())
        });
    }
    for name in ["isAbs", "osIsAbs"] {
        r.add(name, &[P::Str], None, is_abs);
    }
}

fn arg(a: &[Value]) -> &[u8] {
    a.first().map(s).unwrap_or(b"")
}

fn is_abs(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    Ok(Value::Bool(arg(a).first() == Some(&b'/')))
}

/// `path.Clean`: lexical `.`/`..`/`//` removal.
pub(crate) fn clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let n = p.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            r += 1;
        } else if p[r] == b'.' && p[r + 1] == b'.' && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out.last() != Some(&b'/') {
                    out.pop();
                }
                if out.len() > dotdot {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return b".".to_vec();
    }
    out
}

fn base(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let mut p = p;
    while let Some(rest) = p.strip_suffix(b"/") {
        p = rest;
    }
    if let Some(i) = p.iter().rposition(|c| *c == b'/') {
        p = &p[i + 1..];
    }
    if p.is_empty() {
        return b"/".to_vec();
    }
    p.to_vec()
}

fn dir(p: &[u8]) -> Vec<u8> {
    let cut = p.iter().rposition(|c| *c == b'/').map_or(0, |i| i + 1);
    clean(&p[..cut])
}

fn ext(p: &[u8]) -> &[u8] {
    for i in (0..p.len()).rev() {
        match p[i] {
            b'/' => break,
            b'.' => return &p[i..],
            _ => {}
        }
    }
    b""
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn paths_follow_go() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a//b/./c/", "a/b/c"),
            ("/", "/"),
            ("a/..", "."),
            ("abc/def/../../..", ".."),
        ] {
            assert_eq!(st(clean(input.as_bytes())), want, "{input}");
        }
        assert_eq!(st(base(b"/a/b.txt/")), "b.txt");
        assert_eq!(st(base(b"///")), "/");
        assert_eq!(st(dir(b"/a/b/c")), "/a/b");
        assert_eq!(st(dir(b"c")), ".");
        assert_eq!(ext(b"a/b.tar.gz"), b".gz");
        assert_eq!(ext(b"a.d/b"), b"");
    }
}
