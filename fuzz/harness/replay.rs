//! Replays committed fuzz inputs on stable, for the owning crates'
//! `tests/fuzz_regressions.rs`: every crasher kept in
//! `fuzz/regressions/TARGET/` and every seed in `fuzz/corpus-seed/TARGET/`.

use std::path::{Path, PathBuf};

/// The fuzz workspace, seen from the crate whose test includes this file.
pub(crate) fn fuzz_dir() -> PathBuf {
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

/// Runs `target`'s harness on each of its committed inputs.
pub(crate) fn replay(target: &str, run: fn(&[u8])) {
    for path in inputs(target) {
        // Printed before the run, so a failure names its input.
        eprintln!("replaying {}", path.display());
        run(&std::fs::read(&path).unwrap());
    }
}
