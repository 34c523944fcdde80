//! Consolidated inventory at scale (issue 10): `Store::inventory` over
//! 1,000 sites × 10,000 SKUs (10,000,000 balance rows) on PostgreSQL, the
//! grouping and sums done in SQL, dealer policies included; target: by
//! region ≤ 500 ms. The same queries on SQLite over 100 sites × 10,000
//! SKUs, for the record.
//!
//! Run: `cargo bench -p jxc-hub --bench inventory_scale`. Each engine gets
//! a fresh database made by `Store::open` (the hub's own migrations); sites,
//! products, balances, site locations and transfers are bulk-loaded with
//! `INSERT … SELECT` (generate_series on PostgreSQL, a recursive CTE on
//! SQLite), then ANALYZEd; dealers' sharing policies are set through the
//! hub's own document path (`Store::hq_edit`), one dealer in ten sites,
//! taking turns: all stock with costs, nothing, a selection (2 of 20
//! categories and 50 SKUs) without costs, and no policy at all.
//! Each query is timed `JXC_INV_RUNS` times (default 7) on one store
//! connection: the first run (new connection: statements prepared, caches
//! as the load left them) is shown apart, then min / median / max of the
//! rest.
//!
//! Environment: `JXC_INV_SITES` (1000), `JXC_INV_SKUS` (10000),
//! `JXC_INV_SQLITE_SITES` (100), `JXC_INV_RUNS` (7). Without `--bench` (as
//! `cargo test --benches` runs it) everything runs tiny, so the code stays
//! exercised without taking minutes. PostgreSQL is the throwaway cluster
//! of `jxc_testkit::PgCluster` (the OS's server binaries, `shared_buffers`
//! 128 MB, default `work_mem`), on the same cores as this process.

#[allow(dead_code)] // the benches share it; this one needs its figures' helpers
mod common;
use common::{env_usize, grouped, ms, verdict};
use jxc_hub::store::{GroupBy, InventoryFilter, InventoryRow, Store, Target};
use jxc_shared::SiteId;
use jxc_shared::docs::{DocId, SellThrough, SharePolicy, StockScope, hub_actor};
use std::time::{Duration, Instant};

const TARGET_BY_REGION_MS: f64 = 500.0;
const REGIONS: [&str; 8] = [
    "north",
    "east",
    "south",
    "west",
    "central",
    "northeast",
    "northwest",
    "southwest",
];

/// The data set's shape, the same on both engines.
#[derive(Clone, Copy)]
struct Shape {
    sites: usize,
    skus: usize,
}

impl Shape {
    fn balances(self) -> usize {
        self.sites * self.skus
    }
    fn transfers(self) -> usize {
        self.sites * 50
    }
}

/// The SQL that fills a fresh hub database, one statement per entry. The
/// few differences between the engines are the row source (`n` and `m`
/// below: numbered rows) and text padding; everything else is shared. The
/// quantity of a balance is a fixed function of (site number, SKU number),
/// 1 to 1021 units at 12.5 each; a site keeps one SKU in four at `back`,
/// the rest at `main`. One transfer in ten is still open, one in 97 goes to
/// a site the hub does not know.
fn load_sql(postgres: bool, shape: Shape) -> Vec<String> {
    let (sites, skus) = (shape.sites, shape.skus);
    let numbers = |n: usize| {
        if postgres {
            format!("(SELECT i FROM generate_series(CAST(1 AS BIGINT), {n}) AS g(i))")
        } else {
            format!(
                "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i FROM c)"
            )
        }
    };
    let site_id = |n: &str| {
        if postgres {
            format!("('S' || lpad(({n})::text, 4, '0'))")
        } else {
            format!("printf('S%04d', {n})")
        }
    };
    let sku_id = |n: &str| {
        if postgres {
            format!("('SKU-' || lpad(({n})::text, 5, '0'))")
        } else {
            format!("printf('SKU-%05d', {n})")
        }
    };
    let regions: Vec<String> = REGIONS
        .iter()
        .enumerate()
        .map(|(i, r)| format!("WHEN {i} THEN '{r}'"))
        .collect();
    let transfers = shape.transfers();
    vec![
        format!(
            "INSERT INTO site (id, kind, name, region, cert_serial, enrolled_at)
             SELECT {id}, CASE WHEN i % 10 = 0 THEN 'dealer' WHEN i % 100 = 1 THEN 'hq' ELSE 'branch' END,
                    'site ' || i, CASE i % 8 {regions} END, i, '2026-12-01T00:00:00.000Z'
             FROM {n} AS n",
            id = site_id("i"),
            regions = regions.join(" "),
            n = numbers(sites),
        ),
        format!(
            "INSERT INTO site_location (site, id, name)
             SELECT s.id, l.id, l.id FROM site s CROSS JOIN (SELECT 'main' AS id UNION ALL SELECT 'back') l"
        ),
        format!(
            "INSERT INTO product (sku, name, unit, decimals, gtin, category, brand, lot_tracked)
             SELECT {sku}, 'product ' || i, 'pcs', 0, '', 'cat-' || (i % 20), 'brand', 0
             FROM {n} AS n",
            sku = sku_id("i"),
            n = numbers(skus),
        ),
        format!(
            "INSERT INTO balance (site, location, sku, lot, qty, value)
             SELECT {site}, CASE WHEN p.i % 4 = 0 THEN 'back' ELSE 'main' END, {sku}, '',
                    ((s.i * 7919 + p.i * 104729) % 1021 + 1) * CAST(1000000 AS BIGINT),
                    ((s.i * 7919 + p.i * 104729) % 1021 + 1) * CAST(12500000 AS BIGINT)
             FROM {sn} AS s CROSS JOIN {pn} AS p",
            site = site_id("s.i"),
            sku = sku_id("p.i"),
            sn = numbers(sites),
            pn = numbers(skus),
        ),
        format!(
            "INSERT INTO transfer (id, cursor, from_site, from_location, to_site, to_location, sku, lot,
                                   qty, received_qty, returned_qty, unit_cost, sent_at)
             SELECT 'T-' || i, i, {from}, 'main',
                    CASE WHEN i % 97 = 0 THEN 'ZZ99' ELSE {to} END, 'main', {sku}, '',
                    5000000, CASE WHEN i % 10 = 0 THEN 0 ELSE 5000000 END, 0, '12.5',
                    '2026-12-01T00:00:00.000Z'
             FROM {n} AS n",
            from = site_id(&format!("i % {sites} + 1")),
            to = site_id(&format!("(i * 7) % {sites} + 1")),
            sku = sku_id(&format!("(i * 13) % {skus} + 1")),
            n = numbers(transfers),
        ),
        format!("UPDATE counter SET value = {transfers} WHERE name = 'transfer_cursor'"),
    ]
}

/// Dealer `n`'s policy: the four cases, in turn (None: it has set none).
fn dealer_policy(n: usize, skus: usize) -> Option<SharePolicy> {
    let policy = |stock, costs_and_prices| SharePolicy {
        stock,
        sell_through: SellThrough::DailyTotals,
        costs_and_prices,
        from: None,
    };
    match n % 4 {
        0 => Some(policy(StockScope::All, true)),
        1 => Some(policy(StockScope::Nothing, false)),
        2 => Some(policy(
            StockScope::Selected {
                categories: ["cat-1".to_owned(), "cat-7".to_owned()].into(),
                skus: (0..50)
                    .map(|k| format!("SKU-{:05}", (k * 197) % skus + 1))
                    .collect(),
            },
            false,
        )),
        _ => None,
    }
}

/// Sets the dealers' policies through the hub's document path.
fn set_policies(store: &mut Store, shape: Shape) -> usize {
    let actor = hub_actor(b"inventory-bench");
    let mut set = 0;
    for i in (10..=shape.sites).step_by(10) {
        let Some(policy) = dealer_policy(i / 10, shape.skus) else {
            continue;
        };
        let id = DocId::Policy(SiteId::parse(&format!("S{i:04}")).expect("site id"));
        store
            .hq_edit(&id, &actor, chrono::Utc::now(), |doc| {
                policy
                    .write(doc)
                    .map_err(|e| jxc_hub::error::HubError::Internal(e.to_string()))
            })
            .expect("policy edit");
        set += 1;
    }
    set
}

/// One query's timings.
struct Timed {
    label: String,
    first: Duration,
    rest: Vec<Duration>,
    rows: usize,
}

impl Timed {
    fn median(&self) -> Duration {
        self.rest[self.rest.len() / 2]
    }

    fn line(&self) -> String {
        format!(
            "  {:<40} {:>6} rows   first {:>8.1} ms   min {:>8.1}   median {:>8.1}   max {:>8.1} ms",
            self.label,
            self.rows,
            ms(self.first),
            ms(self.rest[0]),
            ms(self.median()),
            ms(*self.rest.last().unwrap_or(&self.first)),
        )
    }
}

fn time(
    store: &Store,
    label: &str,
    f: &InventoryFilter,
    runs: usize,
) -> (Timed, Vec<InventoryRow>) {
    let mut times = Vec::with_capacity(runs);
    let mut rows = Vec::new();
    for _ in 0..runs.max(2) {
        let t = Instant::now();
        rows = store.inventory(f).expect("inventory");
        times.push(t.elapsed());
    }
    let first = times.remove(0);
    times.sort();
    let timed = Timed {
        label: label.to_owned(),
        first,
        rest: times,
        rows: rows.len(),
    };
    eprintln!("{}", timed.line());
    (timed, rows)
}

fn filter(by: GroupBy, sku: Option<&str>) -> InventoryFilter {
    InventoryFilter {
        by: vec![by],
        sku: sku.map(str::to_owned),
        ..Default::default()
    }
}

fn total(rows: &[InventoryRow]) -> (String, String) {
    let on_hand: rust_decimal::Decimal = rows.iter().map(|r| r.on_hand.decimal()).sum();
    let transit: rust_decimal::Decimal = rows.iter().map(|r| r.in_transit.decimal()).sum();
    (
        on_hand.normalize().to_string(),
        transit.normalize().to_string(),
    )
}

/// Loads `shape` into a fresh database at `target` and times the queries.
fn run(
    engine: &str,
    target: &Target,
    shape: Shape,
    runs: usize,
    load: impl FnOnce(&[String]),
) -> Vec<Timed> {
    eprintln!(
        "{engine}: {} sites × {} SKUs = {} balance rows, {} transfers…",
        grouped(shape.sites as f64),
        grouped(shape.skus as f64),
        grouped(shape.balances() as f64),
        grouped(shape.transfers() as f64)
    );
    let mut store = Store::open(target, true).expect("a fresh hub database");
    let t = Instant::now();
    load(&load_sql(engine == "postgres", shape));
    let policies = set_policies(&mut store, shape);
    eprintln!(
        "  loaded in {:.1} s ({policies} dealer policies set)",
        t.elapsed().as_secs_f64()
    );
    drop(store);
    // A new connection, as a hub process that starts after the load.
    let store = Store::open(target, false).expect("the hub database");
    let sku = format!("SKU-{:05}", shape.skus / 2 + 1);
    let mut out = Vec::new();
    let (t, by_region) = time(&store, "by region", &filter(GroupBy::Region, None), runs);
    out.push(t);
    let (t, by_site) = time(&store, "by site", &filter(GroupBy::Site, None), runs);
    out.push(t);
    let (t, _) = time(&store, "by kind", &filter(GroupBy::Kind, None), runs);
    out.push(t);
    let (t, _) = time(
        &store,
        "by location",
        &filter(GroupBy::Location, None),
        runs,
    );
    out.push(t);
    let (t, by_sku) = time(&store, "by sku", &filter(GroupBy::Sku, None), runs.min(3));
    out.push(t);
    let (t, _) = time(
        &store,
        &format!("by site, --sku {sku}"),
        &filter(GroupBy::Site, Some(&sku)),
        runs,
    );
    out.push(t);
    let (t, _) = time(
        &store,
        &format!("by region, --sku {sku}"),
        &filter(GroupBy::Region, Some(&sku)),
        runs,
    );
    out.push(t);
    let north = InventoryFilter {
        by: vec![GroupBy::Site],
        region: Some("north".into()),
        kind: Some("dealer".into()),
        ..Default::default()
    };
    let (t, _) = time(
        &store,
        "by site, --region north --kind dealer",
        &north,
        runs,
    );
    out.push(t);
    drop(store);
    out.push(time_overview(target, runs.max(20)));
    // Every grouping adds up to the same channel.
    let totals = total(&by_region);
    assert_eq!(total(&by_site), totals, "by site and by region disagree");
    assert_eq!(total(&by_sku), totals, "by sku and by region disagree");
    eprintln!("  on hand {} units, in transit {}", totals.0, totals.1);
    out
}

/// The dashboard's overview (`GET /` for a signed-in user) through the
/// hub's router, as `serve` answers it: every query the page makes and its
/// rendering, timed from request to the last byte of the body.
fn time_overview(target: &Target, runs: usize) -> Timed {
    use tower::ServiceExt;
    let ca = jxc_hub::pki::Ca::generate("jxc bench CA").expect("a CA");
    let mut store = Store::open(target, false).expect("the hub database");
    store
        .add_user(
            "bench",
            jxc_hub::store::Role::Viewer,
            "bench-token",
            None,
            chrono::Utc::now(),
        )
        .expect("a user");
    store
        .start_session(
            "bench",
            "bench-session",
            "csrf",
            chrono::Utc::now(),
            chrono::Duration::hours(1),
        )
        .expect("a session");
    drop(store);
    let hub = std::sync::Arc::new(
        jxc_hub::http::api::Hub::open(target, ca, &jxc_hub::config::HubConfig::default())
            .expect("a hub"),
    );
    let app = jxc_hub::http::api::router(hub);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let req = axum::http::Request::get("/")
            .header("cookie", "jxc_session=bench-session")
            .body(axum::body::Body::empty())
            .expect("a request");
        let t = Instant::now();
        let body = rt.block_on(async {
            let res = app.clone().oneshot(req).await.expect("an answer");
            assert_eq!(res.status(), 200, "the overview answers");
            axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("a body")
        });
        times.push(t.elapsed());
        bytes = body.len();
    }
    let first = times.remove(0);
    times.sort();
    let p95 = times[(times.len() * 95).div_ceil(100).saturating_sub(1)];
    eprintln!(
        "  overview: first {:.1} ms, p95 {:.1} ms over {} runs, {} bytes of HTML",
        ms(first),
        ms(p95),
        times.len(),
        grouped(bytes as f64)
    );
    Timed {
        label: format!("overview p95 {:.0} ms, {} KB", ms(p95), bytes / 1024),
        first,
        rest: times,
        rows: 1,
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let pg_shape = Shape {
        sites: env_usize("JXC_INV_SITES", if quick { 40 } else { 1000 }).clamp(10, 9999),
        skus: env_usize("JXC_INV_SKUS", if quick { 200 } else { 10_000 }).clamp(100, 99_999),
    };
    let sqlite_shape = Shape {
        sites: env_usize("JXC_INV_SQLITE_SITES", if quick { 20 } else { 100 }).clamp(10, 9999),
        skus: pg_shape.skus,
    };
    let runs = env_usize("JXC_INV_RUNS", if quick { 3 } else { 7 }).max(2);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "inventory_scale{}: {runs} runs per query; {cores} cores shared with the database server",
        if quick {
            " (quick mode, not --bench: tiny sizes, maybe a debug build; verdicts mean nothing)"
        } else {
            ""
        }
    );

    let cluster = jxc_testkit::PgCluster::start().expect("PostgreSQL for the benchmark");
    let url = cluster.create_database("inventory");
    let pg = run(
        "postgres",
        &Target::Postgres(url.clone()),
        pg_shape,
        runs,
        |sql| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            for s in sql {
                c.batch_execute(s).expect("load");
            }
            c.batch_execute("VACUUM ANALYZE").expect("analyze");
            // Written out now, not by the checkpointer while queries are timed.
            c.batch_execute("CHECKPOINT").expect("checkpoint");
        },
    );

    let dir = tempfile::Builder::new()
        .prefix("jxc-inventory-")
        .tempdir()
        .expect("temporary directory");
    let sqlite = run(
        "sqlite",
        &Target::Sqlite(dir.path().to_path_buf()),
        sqlite_shape,
        runs,
        |sql| {
            let c =
                rusqlite::Connection::open(dir.path().join(jxc_hub::store::DB_FILE)).expect("open");
            c.execute_batch("BEGIN").expect("begin");
            for s in sql {
                c.execute_batch(s).expect("load");
            }
            c.execute_batch("COMMIT; ANALYZE").expect("analyze");
        },
    );

    println!();
    println!(
        "PostgreSQL, {} balance rows ({} sites × {} SKUs):",
        grouped(pg_shape.balances() as f64),
        grouped(pg_shape.sites as f64),
        grouped(pg_shape.skus as f64)
    );
    for t in &pg {
        println!("{}", t.line());
    }
    println!(
        "SQLite, {} balance rows ({} sites × {} SKUs):",
        grouped(sqlite_shape.balances() as f64),
        grouped(sqlite_shape.sites as f64),
        grouped(sqlite_shape.skus as f64)
    );
    for t in &sqlite {
        println!("{}", t.line());
    }
    let by_region = ms(pg[0].median());
    println!(
        "by region on PostgreSQL: median {by_region:.1} ms (target <= {TARGET_BY_REGION_MS} ms): {}",
        verdict(by_region, TARGET_BY_REGION_MS, false)
    );
}
