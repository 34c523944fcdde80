//! Ledger benchmarks: latency of one durable sale through the library, and a
//! 1,000,000-row import through the real `jxc-agent` binary (throughput and
//! peak RSS). Run: `cargo bench -p jxc-agent --bench ledger`.
//! `JXC_BENCH_ROWS` and `JXC_BENCH_SALES` shrink or grow the runs.

use chrono::{FixedOffset, TimeZone, Utc};
use jxc_agent::store::{Location, SiteInfo, Store};
use jxc_shared::movement::DraftInput;
use jxc_shared::rng::Rng;
use jxc_shared::{LocationId, MovementDraft, MovementKind, Product, SiteId, SiteKind};
use nix::sys::resource::{UsageWho, getrusage};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn new_site(dir: &Path) -> Store {
    let site = SiteInfo {
        id: SiteId::parse("BJ01").unwrap(),
        kind: SiteKind::Branch,
        name: "bench".into(),
        region: "north".into(),
    };
    Store::init(
        dir,
        site,
        Duration::from_secs(60),
        Utc::now().fixed_offset(),
    )
    .unwrap()
}

/// Records `n` sales one by one, each its own durable transaction
/// (synchronous=FULL), exactly as `jxc-agent sell` does.
fn durable_sale_latency(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_site(dir.path());
    let loc = LocationId::parse("main").unwrap();
    store
        .add_location(&Location {
            id: loc.clone(),
            name: "main".into(),
            allow_negative: false,
        })
        .unwrap();
    let skus: Vec<Product> = (0..100)
        .map(|i| Product::new(&format!("SKU-{i:05}"), "茶叶", None, None, None, 2, false).unwrap())
        .collect();
    store.upsert_products(&skus).unwrap();
    let now = Utc::now().fixed_offset();
    let mut ledger = store.ledger(now).unwrap();
    for p in &skus {
        let input = DraftInput {
            unit_cost: Some("12.5"),
            ..Default::default()
        };
        let d = MovementDraft::build(
            MovementKind::Opening,
            loc.clone(),
            p,
            "1000000",
            &input,
            now,
        )
        .unwrap();
        ledger.apply(d).unwrap();
    }
    ledger.commit().unwrap();

    let input = DraftInput {
        unit_price: Some("19.9"),
        counterparty: Some("张三, Ltd"),
        ..Default::default()
    };
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let p = &skus[i % skus.len()];
        let start = Instant::now();
        let now = Utc::now().fixed_offset();
        let d =
            MovementDraft::build(MovementKind::Sale, loc.clone(), p, "1.25", &input, now).unwrap();
        let mut ledger = store.ledger(now).unwrap();
        ledger.apply(d).unwrap();
        ledger.commit().unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "durable sale (library, synchronous=FULL, {n} sales): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

const LOCATIONS: [&str; 4] = ["main", "north", "south", "shop"];

fn write_import_file(path: &Path, rows: usize, skus: usize) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(
        w,
        "type,location,sku,qty,lot,unit_cost,unit_price,counterparty,ref,occurred_at"
    )
    .unwrap();
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let start = tz.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
    let mut rng = Rng::new(1);
    let mut written = 0;
    // Opening balances first, so sales never run out.
    'open: for loc in LOCATIONS {
        for s in 0..skus {
            if written == rows {
                break 'open;
            }
            writeln!(
                w,
                "opening,{loc},SKU-{s:05},1000000,,{}.{:02},,,OB-1,{}",
                5 + s % 90,
                s % 100,
                start.to_rfc3339()
            )
            .unwrap();
            written += 1;
        }
    }
    while written < rows {
        let loc = LOCATIONS[(rng.next_u64() % 4) as usize];
        let sku = rng.skewed(skus);
        let t = start + chrono::Duration::seconds((written as i64) * 20);
        let qty = format!("{}.{}", 1 + rng.next_u64() % 5, rng.next_u64() % 10);
        match rng.next_u64() % 20 {
            0..=5 => writeln!(w, "receipt,{loc},SKU-{sku:05},{qty},,{}.5,,\"杭州供应商, \"\"一厂\"\"\",PO-{written},{}", 5 + sku % 90, t.to_rfc3339()),
            6..=17 => writeln!(w, "sale,{loc},SKU-{sku:05},{qty},,,29.90,\"客户 {}, Ltd\",SO-{written},{}", rng.next_u64() % 5000, t.to_rfc3339()),
            18 => writeln!(w, "customer_return,{loc},SKU-{sku:05},1,,,29.90,客户 7,RT-{written},{}", t.to_rfc3339()),
            _ => writeln!(w, "scrap,{loc},SKU-{sku:05},0.5,,,,,SC-{written},{}", t.to_rfc3339()),
        }
        .unwrap();
        written += 1;
    }
    w.flush().unwrap();
}

fn agent(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_jxc-agent"))
        .arg("--data")
        .arg(dir)
        .args(args)
        .env_remove("JXC_AGENT_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jxc-agent {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Imports `rows` generated rows through the real binary and reports rows/s
/// and the child's peak RSS.
fn import_throughput(rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.as_path();
    let skus = 10_000;
    agent(data, &["init", "--site", "BJ01", "--kind", "branch"]);
    for l in LOCATIONS {
        agent(data, &["location", "add", l]);
    }
    let products = dir.path().join("products.csv");
    let mut w = BufWriter::new(std::fs::File::create(&products).unwrap());
    writeln!(w, "sku,name,unit,category,brand,decimals").unwrap();
    for s in 0..skus {
        writeln!(w, "SKU-{s:05},\"茶叶 {s}, 特级\",盒,tea,西湖,2").unwrap();
    }
    w.flush().unwrap();
    agent(data, &["product", "import", products.to_str().unwrap()]);

    let file = dir.path().join("movements.csv");
    write_import_file(&file, rows, skus);
    let size = std::fs::metadata(&file).unwrap().len();

    let start = Instant::now();
    agent(data, &["import", file.to_str().unwrap()]);
    let secs = start.elapsed().as_secs_f64();
    // ru_maxrss of the largest child waited for: the import is by far the largest.
    let rss_kib = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss();
    println!(
        "import {rows} rows ({:.0} MB CSV, {skus} SKUs x {} locations): {secs:.2} s, {:.0} rows/s, peak RSS {:.1} MB",
        size as f64 / 1e6,
        LOCATIONS.len(),
        rows as f64 / secs,
        rss_kib as f64 / 1024.0
    );
    let verify = agent(data, &["verify"]);
    print!(
        "  verify after import: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: run a
    // tiny version then so the code stays exercised without taking minutes.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (sales, rows) = if quick {
        (50, 2_000)
    } else {
        (5_000, 1_000_000)
    };
    durable_sale_latency(env_usize("JXC_BENCH_SALES", sales));
    import_throughput(env_usize("JXC_BENCH_ROWS", rows));
}
