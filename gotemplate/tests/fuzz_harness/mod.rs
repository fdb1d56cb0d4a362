//! Body of the `template` fuzz target. The fuzz crate (`fuzz/fuzz_targets/template.rs`,
//! nightly) and `tests/fuzz_corpus.rs` (stable, every corpus file) both include this
//! file, so CI replays the corpus without a nightly toolchain. A panic here is a
//! finding: the engine panicked or broke one of the promises checked below.
#![allow(dead_code)]

use gotemplate::{Limits, render};
use std::collections::BTreeMap;

/// A value no error message may quote: errors never print runtime values.
const SECRET: &str = "s3cr3t-Value_42";

/// Input: the template text, then optionally a NUL byte and the value of item `x`.
pub fn template(data: &[u8]) {
    let (text, x) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let items = BTreeMap::from([
        ("a".to_owned(), SECRET.as_bytes().to_vec()),
        ("n".to_owned(), b"42".to_vec()),
        ("bin".to_owned(), vec![0xff, 0x00, 0xfe]),
        ("x".to_owned(), x.to_vec()),
    ]);
    match render("k", &text, &items) {
        Ok(out) => assert!(out.len() <= Limits::default().max_output),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains(['\n', '\r']), "not one line: {message:?}");
            assert!(
                text.contains(SECRET) || !message.contains(SECRET),
                "the error quotes a runtime value: {message:?}"
            );
        }
    }
}
