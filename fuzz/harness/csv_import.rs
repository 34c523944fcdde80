//! Fuzz harness for the agent's CSV importers: the bytes become a file
//! (`.csv.gz` when they start like gzip) that a fresh ledger imports as
//! movements (all or nothing, then with `--skip-bad`), as products and as
//! counted lines of a stocktake, the way the `import`, `product import` and
//! `count import` commands do. Compiled by `fuzz/fuzz_targets/csv_import.rs`
//! and by `agent/tests/fuzz_regressions.rs`, which replays committed inputs.
//!
//! Besides "no panic" it checks: a refusal is a clear input error, never a
//! database or IO failure; an all-or-nothing import that fails writes
//! nothing; the counts of a summary add up; the rejects file holds one row
//! per rejected row; and `verify` finds the ledger and its balances agree.

use chrono::{DateTime, FixedOffset, TimeZone};
use jxc_agent::AgentError;
use jxc_agent::import::{import_count, import_movements, import_products};
use jxc_agent::store::{Location, SiteInfo, Store};
use jxc_shared::{LocationId, Product, SiteId, SiteKind};
use std::path::Path;
use std::time::Duration;

use crate::scratch::scratch_dir;

pub(crate) fn run(data: &[u8]) {
    let dir = scratch_dir();
    let now = now();
    let mut store = ledger(&dir.path().join("ledger"), now);
    let gz = data.starts_with(&[0x1f, 0x8b]);
    let file = dir.path().join(if gz { "in.csv.gz" } else { "in.csv" });
    std::fs::write(&file, data).expect("write the input file");
    let mut report = Vec::new();

    // All or nothing.
    let before = store.last_seq().unwrap();
    match import_movements(&mut store, &file, None, false, false, now, &mut report) {
        Ok(sum) => {
            assert_eq!((sum.written, sum.rejected), (sum.rows, 0), "{sum:?}");
            assert_eq!(store.last_seq().unwrap(), before + sum.written);
        }
        Err(e) => {
            input_error(&e);
            assert_eq!(
                store.last_seq().unwrap(),
                before,
                "a failed import wrote: {e}"
            );
        }
    }

    // Good rows written, bad ones copied out.
    let rejects = dir.path().join("rejects.csv");
    let before = store.last_seq().unwrap();
    match import_movements(
        &mut store,
        &file,
        Some(&rejects),
        false,
        true,
        now,
        &mut report,
    ) {
        Ok(sum) => {
            assert_eq!(sum.written + sum.rejected, sum.rows, "{sum:?}");
            assert_eq!(store.last_seq().unwrap(), before + sum.written);
            let copied = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(&rejects)
                .expect("the rejects file exists")
                .byte_records()
                .count() as u64;
            assert_eq!(copied, sum.rejected, "rejects file rows");
        }
        Err(e) => input_error(&e),
    }

    if let Err(e) = import_products(&mut store, &file, &mut report) {
        input_error(&e);
    }

    let main = LocationId::parse("main").unwrap();
    let count = store.count_start(&main, now).expect("start a count");
    match import_count(&mut store, &count, &file, false, now, &mut report) {
        Ok(_) => {
            if let Err(e) = store.count_post(&count, now) {
                input_error(&e);
            }
        }
        Err(e) => input_error(&e),
    }

    let report = store.verify().expect("verify runs");
    assert!(
        report.differences.is_empty(),
        "ledger and balances disagree: {:?}",
        report.differences
    );
}

/// Bad input must be refused as bad input (exit 3 or 4), not fail as if the
/// disk or the database had.
fn input_error(e: &AgentError) {
    assert!(
        matches!(
            e,
            AgentError::Invalid(_)
                | AgentError::Refused(_)
                | AgentError::BadFile(_)
                | AgentError::Conflict(_)
        ),
        "bad input failed as something else: {e:?}"
    );
    assert!(!e.to_string().trim().is_empty());
}

fn now() -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 22, 16, 0, 0)
        .unwrap()
}

/// A branch with a normal and a may-go-negative location, a decimal product
/// and a lot-tracked one, some stock of each.
fn ledger(dir: &Path, now: DateTime<FixedOffset>) -> Store {
    let site = SiteInfo {
        id: SiteId::parse("BJ01").unwrap(),
        kind: SiteKind::Branch,
        name: "北京分公司".into(),
        region: "north".into(),
    };
    let mut store = Store::init(dir, site, Duration::from_secs(5), now).expect("init a ledger");
    for (id, allow_negative) in [("main", false), ("neg", true)] {
        store
            .add_location(&Location {
                id: LocationId::parse(id).unwrap(),
                name: id.into(),
                allow_negative,
            })
            .unwrap();
    }
    for p in [
        Product::new("TEA-1", "龙井, 特级", Some("盒"), None, None, 2, false).unwrap(),
        Product::new("LOT-1", "lotted", None, None, None, 0, true).unwrap(),
    ] {
        store.add_product(&p).unwrap();
    }
    let seed = "type,location,sku,qty,lot,unit_cost,unit_price,counterparty,ref,occurred_at\n\
                receipt,main,TEA-1,10,,120,,,PO-1,2026-11-01T09:00:00+08:00\n\
                receipt,main,LOT-1,5,L1,3.5,,,PO-2,2026-11-01T09:00:00+08:00\n";
    let path = dir.join("seed.csv");
    std::fs::write(&path, seed).unwrap();
    import_movements(
        &mut store,
        &path,
        None,
        false,
        false,
        now,
        &mut std::io::sink(),
    )
    .expect("seed stock");
    store
}
