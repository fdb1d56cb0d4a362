#![no_main]

#[path = "../../gotemplate/tests/fuzz_harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::template(data));
