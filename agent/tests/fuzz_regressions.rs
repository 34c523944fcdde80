//! Replays every committed fuzz input of the CSV importers (crashers found in
//! `fuzz/regressions/csv_import/`, the seed corpus in
//! `fuzz/corpus-seed/csv_import/`) through the same harness the fuzz target
//! runs, on stable, so a fixed crash stays fixed.

#[path = "../../fuzz/harness/scratch.rs"]
mod scratch;

#[path = "../../fuzz/harness/csv_import.rs"]
mod csv_import;

use std::path::{Path, PathBuf};

/// Every committed input of `target`, in a stable order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for kind in ["regressions", "corpus-seed"] {
        let dir = fuzz.join(kind).join(target);
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

#[test]
fn csv_import_inputs_replay() {
    for path in inputs("csv_import") {
        // Printed before the run, so a failure names its input.
        eprintln!("replaying {}", path.display());
        csv_import::run(&std::fs::read(&path).unwrap());
    }
}
