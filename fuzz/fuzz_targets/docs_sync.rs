//! libFuzzer entry point for the shared-documents door (hub/tests/fuzz_regressions.rs replays its inputs).
#![no_main]

#[path = "../harness/docs_sync.rs"]
mod harness;

#[path = "../harness/scratch.rs"]
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
