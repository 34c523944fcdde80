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

/// The committed `fuzz/corpus-seed/docs_sync/` is what the harness's fixtures
/// make today; `JXC_WRITE_SEEDS=1` rewrites it first (after changing one).
#[test]
fn docs_sync_seeds_are_current() {
    let dir = fuzz_dir().join("corpus-seed/docs_sync");
    if std::env::var_os("JXC_WRITE_SEEDS").is_some_and(|v| v == "1") {
        docs_seeds::write(&dir);
    }
    let seeds = docs_seeds::seeds();
    let committed = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(committed, seeds.len(), "seed files in {}", dir.display());
    for (name, bytes) in seeds {
        let on_disk = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == bytes,
            "seed {name} is stale: run with JXC_WRITE_SEEDS=1 to rewrite the seeds"
        );
    }
}
