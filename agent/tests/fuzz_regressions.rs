//! Replays every committed fuzz input of the CSV importers (crashers found in
//! `fuzz/regressions/csv_import/`, the seed corpus in
//! `fuzz/corpus-seed/csv_import/`) through the same harness the fuzz target
//! runs, on stable, so a fixed crash stays fixed.

#[path = "../../fuzz/harness/replay.rs"]
mod replay;

#[path = "../../fuzz/harness/scratch.rs"]
mod scratch;

#[path = "../../fuzz/harness/csv_import.rs"]
mod csv_import;

#[test]
fn csv_import_inputs_replay() {
    replay::replay("csv_import", csv_import::run);
}
