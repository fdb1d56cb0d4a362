// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Replays every saved input of the `template` fuzz target on stable, so CI runs the
//! corpus (seeds and the inputs that once failed) without the nightly toolchain
//! `cargo fuzz` needs. See docs/fuzzing.md.

mod fuzz_harness;

use std::path::Path;

#[test]
fn template_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/template");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus files", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| fuzz_harness::template(&data));
        assert!(outcome.is_ok(), "{} fails", file.display());
    }
}
