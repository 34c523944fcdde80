//! The stock policy at scale (issue 11): `plan policy --site S` for one site
//! of 30,000 SKUs (target ≤ 1 s), and a full plan — every site's forecasts
//! and policy, computed and stored as `serve` does once a day — for 100
//! sites × 10,000 SKUs with a year of daily history (target ≤ 60 s, peak RSS
//! ≤ 1 GB), on SQLite. On the one site it also times, for the record,
//! `plan forecast --by location,sku --horizon 28` and `plan sunk --by line`.
//!
//! Run: `cargo bench -p jxc-hub --bench plan_scale`. Each case gets a fresh
//! database made by `Store::open` (the hub's migrations); sites, products,
//! balances and a year of `sales_day` rows are bulk-loaded with SQL. A SKU
//! `p` sells on one day in `k = 2 + p % 14` (an intermittent catalogue:
//! about one day in six on average, 1 to 3 units a day), so 100 × 10,000
//! SKUs hold about 60 million daily rows. Peak RSS is the process's
//! high-water mark, reset (`/proc/self/clear_refs`) after the load; the full
//! plan runs first, so no earlier case's memory counts.
//!
//! Environment: `JXC_PLAN_ONE_SKUS` (30000), `JXC_PLAN_SITES` (100),
//! `JXC_PLAN_SKUS` (10000), `JXC_PLAN_RUNS` (3, one-site runs). Without
//! `--bench` (as `cargo test --benches` runs it) everything runs tiny.

#[allow(dead_code)] // the benches share it; this one needs its figures' helpers
mod common;
use common::{env_usize, grouped, ms, status_mb, verdict};
use jxc_hub::config::HubConfig;
use jxc_hub::plan::policy::{self, PolicyParams};
use jxc_hub::plan::sunk::SunkBy;
use jxc_hub::store::{SalesFilter, SalesKey, SeriesBy, Store, Target};
use std::time::{Duration, Instant};

const TARGET_ONE_SITE_MS: f64 = 1000.0;
const TARGET_FULL_S: f64 = 60.0;
const TARGET_RSS_MB: f64 = 1024.0;
const TARGET_SALES_MS: f64 = 200.0;

fn as_of() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

/// Fills a fresh database with `sites` sites of `skus` SKUs each.
fn load(dir: &std::path::Path, sites: usize, skus: usize) -> (f64, usize) {
    drop(Store::open(&Target::Sqlite(dir.to_path_buf()), true).expect("a fresh hub database"));
    let c = rusqlite::Connection::open(dir.join(jxc_hub::store::DB_FILE)).expect("open");
    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF")
        .expect("pragmas");
    let t = Instant::now();
    let n = skus.max(sites).max(400);
    c.execute_batch(&format!(
        "CREATE TEMP TABLE nums (i INTEGER PRIMARY KEY);
         INSERT INTO nums WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < {last})
             SELECT i FROM c;
         CREATE TEMP TABLE days (d INTEGER PRIMARY KEY, day TEXT NOT NULL);
         INSERT INTO days SELECT i, date('{as_of}', printf('-%d days', i)) FROM nums WHERE i <= 366;
         INSERT INTO site (id, kind, name, region, cert_serial, enrolled_at)
             SELECT printf('S%04d', i + 1), CASE WHEN i = 0 THEN 'hq' WHEN i % 10 = 9 THEN 'dealer' ELSE 'branch' END,
                    'site ' || i, 'north', i + 1, '2026-12-01T00:00:00.000Z'
             FROM nums WHERE i < {sites};
         INSERT INTO share_scope (site, stock, costs) SELECT id, 'all', 1 FROM site WHERE kind = 'dealer';
         INSERT INTO product (sku, name, unit, decimals, gtin, category, brand, lot_tracked,
                              list_price, dealer_price, lead_time_days, min_order_qty, pack_size)
             SELECT printf('SKU-%05d', i), 'product ' || i, 'pcs', 0, '', 'cat-' || (i % 20), 'brand', 0,
                    '20', '15', 3 + i % 12, '10', '6'
             FROM nums WHERE i < {skus};
         INSERT INTO balance (site, location, sku, lot, qty, value)
             SELECT printf('S%04d', s.i + 1), 'main', printf('SKU-%05d', p.i), '',
                    ((s.i * 7919 + p.i * 104729) % 61) * 1000000,
                    ((s.i * 7919 + p.i * 104729) % 61) * 12500000
             FROM nums s JOIN nums p ON p.i < {skus} WHERE s.i < {sites};",
        last = n - 1,
        as_of = as_of(),
    ))
    .expect("load sites, products and balances");
    for s in 0..sites {
        c.execute_batch(&format!(
            "INSERT INTO sales_day (site, location, sku, day, customer, week, sold, returned, revenue,
                                    refunds, cogs, return_cogs, unpriced_sold, unpriced_returned)
             SELECT 'S{site:04}', 'main', printf('SKU-%05d', p.i), d.day, '', d.day,
                    (1 + ({s} + p.i + j.i) % 3) * 1000000, 0,
                    (1 + ({s} + p.i + j.i) % 3) * 20000000, 0,
                    (1 + ({s} + p.i + j.i) % 3) * 12500000, 0, 0, 0
             FROM nums p JOIN nums j ON j.i < 365 / (2 + p.i % 14)
                  JOIN days d ON d.d = 1 + j.i * (2 + p.i % 14) + p.i % (2 + p.i % 14)
             WHERE p.i < {skus}",
            site = s + 1,
        ))
        .expect("load sales");
    }
    c.execute_batch(
        "INSERT INTO sales_site_day (site, day, week, sold, returned, revenue, refunds, cogs,
                                     return_cogs, unpriced_sold, unpriced_returned, sell_in)
             SELECT site, day, MIN(week), SUM(sold), SUM(returned), SUM(revenue), SUM(refunds),
                    SUM(cogs), SUM(return_cogs), SUM(unpriced_sold), SUM(unpriced_returned), 0
             FROM sales_day GROUP BY site, day;
         UPDATE counter SET value = 1 WHERE name = 'sales_flow_backfilled';
         ANALYZE",
    )
    .expect("site days and analyze");
    let rows: i64 = c
        .query_row("SELECT COUNT(*) FROM sales_day", [], |r| r.get(0))
        .expect("count");
    (t.elapsed().as_secs_f64(), rows as usize)
}

/// Resets the process's peak RSS to its current RSS.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let one_skus = env_usize("JXC_PLAN_ONE_SKUS", if quick { 500 } else { 30_000 }).max(10);
    let sites = env_usize("JXC_PLAN_SITES", if quick { 4 } else { 100 }).max(1);
    let skus = env_usize("JXC_PLAN_SKUS", if quick { 300 } else { 10_000 }).max(10);
    let runs = env_usize("JXC_PLAN_RUNS", 3).max(1);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "plan_scale{}: {cores} cores",
        if quick {
            " (quick mode, not --bench: tiny sizes, maybe a debug build; verdicts mean nothing)"
        } else {
            ""
        }
    );
    let config = HubConfig::default();
    let params = PolicyParams::new(&config.plan, as_of(), None, None, None).expect("params");
    let pid = std::process::id();

    // The full plan: every site's policy computed and stored.
    let dir = tempfile::Builder::new()
        .prefix("jxc-plan-full-")
        .tempdir()
        .expect("temporary directory");
    let (secs, rows) = load(dir.path(), sites, skus);
    eprintln!(
        "{sites} sites × {} SKUs: {} daily rows loaded in {secs:.1} s",
        grouped(skus as f64),
        grouped(rows as f64)
    );
    let target = Target::Sqlite(dir.path().to_path_buf());
    let read = Store::open(&target, false).expect("store");
    let mut write = Store::open(&target, false).expect("store");
    reset_peak();
    let before = status_mb(pid, "VmRSS:");
    let t = Instant::now();
    let stored =
        policy::save(&read, &mut write, &config, None, &params, |_| {}).expect("full plan");
    let took: Duration = t.elapsed();
    let peak = status_mb(pid, "VmHWM:");
    println!(
        "full plan ({sites} sites × {} SKUs, {} lines stored, {} daily rows): {:.1} s  {}",
        grouped(skus as f64),
        grouped(stored as f64),
        grouped(rows as f64),
        took.as_secs_f64(),
        verdict(took.as_secs_f64(), TARGET_FULL_S, false)
    );
    println!(
        "  peak RSS {peak:.0} MB (RSS before {before:.0} MB)  {}",
        verdict(peak, TARGET_RSS_MB, false)
    );

    // `jxc-hub sales --by region,month` over the same year.
    let by = |keys: &[SalesKey]| SalesFilter {
        by: keys.to_vec(),
        from: None,
        to: None,
        site: None,
        region: None,
        kind: None,
        category: None,
        sku: None,
    };
    for (name, filter, target) in [
        (
            "sales --by region,month",
            by(&[SalesKey::Region, SalesKey::Month]),
            Some(TARGET_SALES_MS),
        ),
        (
            "sales --by category,month",
            by(&[SalesKey::Category, SalesKey::Month]),
            None,
        ),
    ] {
        let mut times = Vec::new();
        let mut groups = 0;
        // The by-category read scans the daily rows: one timed run is enough.
        let n = if target.is_some() { runs } else { 1 };
        for _ in 0..=n {
            let t = Instant::now();
            groups = read.sales(&filter).expect("sales").len();
            times.push(t.elapsed());
        }
        let first = times.remove(0);
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{name} ({} daily rows, {groups} groups): first {:.0} ms, min {:.0} ms, median {:.0} ms, max {:.0} ms  {}",
            grouped(rows as f64),
            ms(first),
            ms(times[0]),
            ms(median),
            ms(times[times.len() - 1]),
            target.map_or("(for the record)".to_owned(), |t| verdict(
                ms(median),
                t,
                false
            ))
        );
    }
    drop(read);
    drop(write);
    drop(dir);

    // One site of `one_skus` SKUs: `plan policy --site S0001`.
    let dir = tempfile::Builder::new()
        .prefix("jxc-plan-one-")
        .tempdir()
        .expect("temporary directory");
    let (secs, rows) = load(dir.path(), 1, one_skus);
    eprintln!(
        "one site × {} SKUs: {} daily rows loaded in {secs:.1} s",
        grouped(one_skus as f64),
        grouped(rows as f64)
    );
    let store = Store::open(&Target::Sqlite(dir.path().to_path_buf()), false).expect("store");
    let mut times = Vec::new();
    let mut lines = 0;
    for run in 0..=runs {
        let t = Instant::now();
        let rows = policy::policy(&store, &config, Some("S0001"), None, &params).expect("policy");
        let took = t.elapsed();
        lines = rows.len();
        if run > 0 {
            times.push(took);
        } else {
            eprintln!("  first run {:.0} ms", ms(took));
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    // Its two parts: the store's read, and the forecasts and formulas.
    let from = as_of() - chrono::Duration::days(policy::POLICY_HISTORY_DAYS);
    let t = Instant::now();
    let inputs = store
        .policy_inputs(Some("S0001"), None, from, as_of())
        .expect("inputs");
    let read_ms = ms(t.elapsed());
    let t = Instant::now();
    let n = policy::compute(&inputs, &params, &config.plan, &Default::default()).len();
    eprintln!(
        "  of which: read {read_ms:.0} ms, forecasts and formulas {:.0} ms ({n} lines)",
        ms(t.elapsed())
    );
    println!(
        "plan policy --site (1 site × {} SKUs, {} lines, {} daily rows): min {:.0} ms, median {:.0} ms, max {:.0} ms  {}",
        grouped(one_skus as f64),
        grouped(lines as f64),
        grouped(rows as f64),
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
        verdict(ms(median), TARGET_ONE_SITE_MS, false)
    );

    // The site's other plans, on the same data, for the record (no target):
    // `plan forecast --by location,sku --horizon 28` and `plan sunk`.
    let t = Instant::now();
    let forecasts = jxc_hub::plan::forecasts(
        &store,
        SeriesBy::LocationSku,
        &jxc_hub::store::SeriesOf::site(Some("S0001")),
        as_of(),
        28,
        i64::MAX,
    )
    .expect("forecasts");
    println!(
        "plan forecast --by location,sku --site --horizon 28 (1 site × {} SKUs, {} series): {:.0} ms  (for the record)",
        grouped(one_skus as f64),
        grouped(forecasts.len() as f64),
        ms(t.elapsed())
    );
    let t = Instant::now();
    let sunk =
        jxc_hub::plan::sunk(&store, None, SunkBy::Line, 90, as_of(), i64::MAX).expect("sunk");
    println!(
        "plan sunk --by line (1 site × {} SKUs, {} rows): {:.0} ms  (for the record)",
        grouped(one_skus as f64),
        grouped(sunk.len() as f64),
        ms(t.elapsed())
    );
    drop(store);
    drop(dir);
}
