//! Replays every committed fuzz input of the hub's targets (crashers found in
//! `fuzz/regressions/`, the seed corpus in `fuzz/corpus-seed/`) through the
//! same harness the fuzz target runs, on stable, so a fixed crash stays fixed.

#[path = "../../fuzz/harness/replay.rs"]
mod replay;

#[path = "../../fuzz/harness/scratch.rs"]
mod scratch;

#[path = "../../fuzz/harness/sync_decode.rs"]
mod sync_decode;

#[path = "../../fuzz/harness/enroll_csr.rs"]
mod enroll_csr;

#[path = "../../fuzz/harness/docs_sync.rs"]
mod docs_sync;

#[path = "../../fuzz/seedgen/docs_seeds.rs"]
mod docs_seeds;

use replay::{fuzz_dir, replay};

#[test]
fn sync_decode_inputs_replay() {
    replay("sync_decode", sync_decode::run);
}

#[test]
fn enroll_csr_inputs_replay() {
    replay("enroll_csr", enroll_csr::run);
}

#[test]
fn docs_sync_inputs_replay() {
    replay("docs_sync", docs_sync::run);
}

/// Not a check: rewrites `fuzz/corpus-seed/docs_sync/` from the harness's
/// fixtures (run it with `--ignored` after changing one).
#[test]
#[ignore]
fn write_docs_sync_seeds() {
    docs_seeds::write(&fuzz_dir().join("corpus-seed/docs_sync"));
}
