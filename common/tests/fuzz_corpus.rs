// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Replays every saved input of the `fuzz/` targets on stable, so CI runs the corpus
//! (seeds and the inputs that once failed) without the nightly toolchain `cargo fuzz`
//! needs. See docs/fuzzing.md. The `unseal` target needs the template engine and is
//! replayed in cli/tests/fuzz_corpus.rs, where sealed-common and gotemplate meet.

mod fuzz_harness;

use fuzz_harness::replay;

#[test]
fn sealed_blob_corpus() {
    replay("sealed_blob", fuzz_harness::sealed_blob);
}

#[test]
fn pem_keys_corpus() {
    replay("pem_keys", fuzz_harness::pem_keys);
}

#[test]
fn decode_corpus() {
    replay("decode", fuzz_harness::decode);
}
