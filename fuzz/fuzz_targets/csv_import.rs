//! libFuzzer entry point for the agent's CSV importers (agent/tests/fuzz_regressions.rs replays its inputs).
#![no_main]

#[path = "../harness/csv_import.rs"]
mod harness;

#[path = "../harness/scratch.rs"]
mod scratch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
