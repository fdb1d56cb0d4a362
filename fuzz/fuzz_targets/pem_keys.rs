#![no_main]

#[path = "../../common/tests/fuzz_harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::pem_keys(data));
