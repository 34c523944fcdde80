//! A few randomized fault schedules (issue 5): a hub and several agents as
//! real processes under SIGKILLs, restarts, a proxy that cuts, delays,
//! duplicates and replays requests, clock skew and crafted bad records;
//! after healing, the checker proves the invariants of `shared/DESIGN.md`.
//! `cargo run -p jxc-e2e -- --schedules 1000` runs many more.

use jxc_e2e::faults::{Counts, Size, binaries, replay_command, run_sabotaged, run_seed};

/// Seeds run on every `cargo test`: together they apply every fault kind.
const SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];

#[test]
fn fault_schedules_keep_the_invariants() {
    binaries();
    let mut total = Counts::default();
    let mut failures = Vec::new();
    for seed in SEEDS {
        let o = run_seed(seed, Size::default());
        eprintln!(
            "seed {seed}: {} in {:.1} s",
            match &o.result {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("FAILED: {e}"),
            },
            o.elapsed.as_secs_f64()
        );
        if let Err(e) = &o.result {
            failures.push(format!(
                "seed {seed}: {e}\n  replay: {}",
                replay_command(seed)
            ));
        }
        total.add(&o.counts);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The schedules did what they claim: every kind of fault was applied
    // and there was real data to check.
    let applied = total.rows();
    for (label, n) in &applied {
        if label.trim_start() == "skipped (nothing to act on)" {
            continue;
        }
        assert!(*n > 0, "no {label} in seeds {SEEDS:?}: {applied:?}");
    }
    assert!(total.movements_checked >= 200, "{total:?}");
}

#[test]
fn the_checker_notices_a_movement_altered_on_the_way() {
    binaries();
    let small = Size {
        min_steps: 10,
        max_steps: 10,
    };
    let err = run_sabotaged(7, small).expect_err("the checker let an altered movement pass");
    eprintln!("the checker refused, as it must: {err}");
    // The altered copy is held (qty differs from the agent's ledger), or
    // the agent's own retry of it was quarantined as a conflict.
    assert!(
        err.contains("qty differs") || err.contains("quarantine"),
        "{err}"
    );
}
