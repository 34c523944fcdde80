//! libFuzzer entry point for the enrollment CSR path (hub/tests/fuzz_regressions.rs replays its inputs).
#![no_main]

#[path = "../harness/enroll_csr.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
