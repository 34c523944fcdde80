//! Replays every committed fuzz input of the hub's targets (crashers found in
//! `fuzz/regressions/`, the seed corpus in `fuzz/corpus-seed/`) through the
//! same harness the fuzz target runs, on stable, so a fixed crash stays fixed.

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

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every committed input of `target`, in a stable order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["regressions", "corpus-seed"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no committed fuzz inputs for {target}");
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in inputs(target) {
        // Printed before the run, so a failure names its input.
        eprintln!("replaying {}", path.display());
        run(&std::fs::read(&path).unwrap());
    }
}

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
