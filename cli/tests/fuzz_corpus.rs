// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! Replays every saved input of the `unseal` fuzz target on stable: SealedSecret ->
//! Secret with templates rendered by gotemplate, the pair the binaries wire together.
//! The other targets' corpora run in common/ and gotemplate/. See docs/fuzzing.md.

#[path = "../../common/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

#[test]
fn unseal_corpus() {
    fuzz_harness::replay("unseal", |data| {
        fuzz_harness::unseal_templates(data, &gotemplate::Engine::new())
    });
}
