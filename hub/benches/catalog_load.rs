//! Load benchmark of the shared documents (issue 4): the real `jxc-hub serve`
//! on loopback holding a 50,000-SKU HQ catalog imported with the real
//! `jxc-hub product import`; a brand-new real `jxc-agent` fetching it; and a
//! fleet of 100 agents (the jxc-agent library in this process: real
//! enrollment, real mutual TLS, the agent's own `sync_once`) that fetch it
//! together and then take one HQ edit.
//!
//! Run: `cargo build --release -p jxc-agent && cargo bench -p jxc-hub --bench catalog_load`.
//! Figures, in the order of the issue:
//!   1. HQ's import of the catalog CSV (a one-off; no target);
//!   2. a new agent's first `jxc-agent sync`, until every catalog product is
//!      in its product table (target <= 5 s);
//!   3. a fresh `jxc-agent` process answering `product list` and `status`
//!      on a ledger holding the catalog, median and p95 (target <= 200 ms);
//!   4. one HQ edit (`jxc-hub product set`), then one sync session per
//!      online agent: every agent must hold the edit after one documents
//!      round (target: none needs more), and how long that round took;
//!   5. the hub's peak RSS (VmHWM of a freshly started `serve`) while the
//!      fleet fetches the catalog (target <= 256 MB), and its RSS after.
//!
//! Environment: `JXC_CATALOG_SKUS` (default 50000), `JXC_CATALOG_AGENTS`
//! (100), `JXC_CATALOG_STARTS` (runs per command in figure 3, 20) and
//! `JXC_CATALOG_CONCURRENCY` (fleet agents syncing at once, 8: twice the
//! hub's 4 sync slots, so the slots stay busy while agents apply what they
//! got). Without `--bench` (as `cargo test --benches` runs it) everything
//! runs tiny, so the code stays exercised without taking minutes.
//!
//! The hub, the fleet and the agent processes share the machine's cores;
//! the hub's CPU time is printed next to the figures it serves.

mod common;
use chrono::Duration as ChronoDuration;
use common::{
    Proc, STOP_TIMEOUT, cpu_secs, dir_mb, env_usize, grouped, listening_url, ms, percentile,
    status_mb, verdict,
};
use jxc_agent::store::SiteInfo;
use jxc_agent::sync::{self, HubClient, SharedStore, SyncReport};
use jxc_hub::store::NewSite;
use jxc_shared::protocol::EnrollToken;
use jxc_shared::rng::Rng;
use jxc_shared::{Money, SiteId, SiteKind, Sku};
use nix::sys::resource::{UsageWho, getrusage};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HUB_BIN: &str = env!("CARGO_BIN_EXE_jxc-hub");
/// Concurrent enrollments of the fleet (not timed).
const ENROLL_CONCURRENCY: usize = 16;
/// Longest wait for a started hub to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The agents' SQLite busy timeout (the CLI's default).
const BUSY: Duration = Duration::from_secs(120);
/// Movements per sync round (the CLI's default; the fleet has none to send).
const BATCH: usize = 5_000;

const TARGET_FIRST_SYNC_S: f64 = 5.0;
const TARGET_START_MS: f64 = 200.0;
const TARGET_RSS_MB: f64 = 256.0;

// ---------------------------------------------------------------------------
// Processes

/// Peak RSS of the children this process has reaped so far, in MB.
fn children_peak_mb() -> f64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |u| u.max_rss() as f64 * 1024.0 / 1e6)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command to its end; panics with its stderr unless it succeeded.
fn run_ok(mut cmd: Command, what: &str) -> (Output, Duration) {
    let start = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("start {what}: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, took)
}

/// A hub made with `jxc_hub::cli::init`, served by the real binary, and
/// driven by the real `jxc-hub` CLI for HQ's catalog commands.
struct Hub {
    // Field order: the process stops before its directory is removed.
    proc: Option<Proc>,
    url: String,
    dir: tempfile::TempDir,
}

impl Hub {
    fn create() -> Hub {
        let dir = tempfile::Builder::new()
            .prefix("jxc-catalog-hub-")
            .tempdir()
            .expect("temporary directory");
        jxc_hub::cli::init(&jxc_hub::config::HubHome::sqlite(dir.path()), &[])
            .expect("jxc_hub::cli::init");
        Hub {
            proc: None,
            url: String::new(),
            dir,
        }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    /// A one-time enrollment token for a new branch.
    fn token(&self, site: &str) -> EnrollToken {
        let site = NewSite {
            id: SiteId::parse(site).expect("generated site ids are valid"),
            kind: SiteKind::Branch,
            name: format!("分公司 {site}"),
            region: "east".into(),
        };
        jxc_hub::cli::make_token(
            &jxc_hub::config::HubHome::sqlite(self.data()),
            site,
            ChronoDuration::hours(4),
        )
        .expect("jxc_hub::cli::make_token")
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(HUB_BIN);
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .current_dir(self.data())
            .env("JXC_LOG", "warn")
            .env_remove("JXC_HUB_CONFIG")
            .env_remove("JXC_HUB_DATA")
            .stdin(Stdio::null());
        c
    }

    /// Starts `jxc-hub serve` on a free loopback port (a new process, so its
    /// VmHWM counts from here).
    fn serve(&mut self) {
        assert!(self.proc.is_none(), "the hub is already serving");
        let mut child = self
            .cli(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start jxc-hub serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let proc = Proc::new(child, "jxc-hub serve");
        self.url = listening_url(stdout, START_TIMEOUT);
        self.proc = Some(proc);
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }

    fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, Proc::pid)
    }
}

// ---------------------------------------------------------------------------
// The catalog

/// One generated catalog row, as the CSV holds it.
struct Row {
    sku: String,
    name: String,
    unit: &'static str,
    decimals: u32,
    gtin: String,
    category: &'static str,
    brand: &'static str,
    lot_tracked: bool,
    list_price: String,
    dealer_price: String,
    lead_time_days: u32,
    min_order_qty: &'static str,
    pack_size: &'static str,
}

/// SKU prefix, category, base names, units (the last sold by weight).
type Family = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const FAMILIES: &[Family] = &[
    (
        "TEA",
        "茶叶/绿茶",
        &["西湖龙井", "洞庭碧螺春", "黄山毛峰", "信阳毛尖"],
        &["盒", "罐", "kg"],
    ),
    (
        "BLK",
        "茶叶/红茶",
        &["祁门红茶", "正山小种", "滇红金芽", "Earl Grey"],
        &["盒", "罐"],
    ),
    (
        "RICE",
        "粮油/大米",
        &["五常稻花香", "泰国香米", "东北珍珠米"],
        &["袋", "kg"],
    ),
    (
        "OIL",
        "粮油/食用油",
        &["压榨花生油", "菜籽油", "Extra Virgin Olive Oil"],
        &["瓶", "桶"],
    ),
    (
        "BAI",
        "酒水/白酒",
        &["53度 酱香型", "52度 浓香型", "42度 清香型"],
        &["瓶", "箱"],
    ),
    (
        "WINE",
        "酒水/葡萄酒",
        &["赤霞珠干红", "Cabernet Sauvignon", "霞多丽干白"],
        &["瓶", "箱"],
    ),
    (
        "NUT",
        "零食/坚果",
        &["每日坚果", "碧根果", "开心果", "夏威夷果"],
        &["袋", "盒", "kg"],
    ),
    (
        "SAU",
        "调味品",
        &["特级生抽", "山西老陈醋", "蚝油", "郫县豆瓣酱"],
        &["瓶", "袋"],
    ),
];
const BRANDS: &[&str] = &[
    "西湖牌",
    "狮峰",
    "金龙鱼",
    "福临门",
    "张裕",
    "三只松鼠",
    "海天",
    "\"老字号\" 食品",
    "Acme Foods, Inc.",
    "",
];
const GRADES: &[&str] = &[
    "特级",
    "一级",
    "\"明前\" 特级",
    "礼盒装",
    "家庭装, 实惠",
    "Premium \"Gold\"",
];
const SIZES: &[&str] = &[
    "250g", "500g", "1kg", "5kg", "500ml", "750ml", "1.8L", "6×500ml",
];
const MOQ: &[&str] = &["", "1", "6", "12", "0.5", "24"];
const PACK: &[&str] = &["", "1", "6", "12", "24", "1.5"];

/// An EAN-13 from a 12-digit body (Chinese 69x prefix), with its check digit.
fn ean13(body: u64) -> String {
    let digits = format!("69{:010}", body % 10_000_000_000);
    let sum: u32 = digits
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

fn cents_text(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// `n` catalog rows, the same for the same `n`: Chinese and English names
/// with commas and quotes, categories, brands, decimal prices, GTINs (a few
/// missing), some products sold by weight or tracked by lot.
fn catalog_rows(n: usize) -> Vec<Row> {
    let mut rng = Rng::new(4);
    (0..n)
        .map(|i| {
            let (code, category, names, units) = FAMILIES[i % FAMILIES.len()];
            let base = names[rng.below(names.len() as u64) as usize];
            let unit = units[rng.below(units.len() as u64) as usize];
            let brand = BRANDS[rng.below(BRANDS.len() as u64) as usize];
            let grade = GRADES[rng.below(GRADES.len() as u64) as usize];
            let size = SIZES[rng.below(SIZES.len() as u64) as usize];
            let list = 150 + rng.below(299_850);
            let dealer = list * (70 + rng.below(16)) / 100;
            Row {
                sku: format!("{code}-{i:06}"),
                name: format!("{base} {grade}, {size} (#{i})"),
                unit,
                decimals: if unit == "kg" { 3 } else { 0 },
                gtin: if rng.below(20) == 0 {
                    String::new()
                } else {
                    ean13(i as u64 * 7 + 1)
                },
                category,
                brand,
                lot_tracked: code == "WINE" || (code == "TEA" && rng.below(4) == 0),
                list_price: cents_text(list),
                dealer_price: cents_text(dealer),
                lead_time_days: 1 + rng.below(45) as u32,
                min_order_qty: MOQ[rng.below(MOQ.len() as u64) as usize],
                pack_size: PACK[rng.below(PACK.len() as u64) as usize],
            }
        })
        .collect()
}

/// Writes the rows as `jxc-hub product import` reads them; the file's size.
fn write_csv(path: &Path, rows: &[Row]) -> u64 {
    let mut w = csv::Writer::from_path(path).expect("create the catalog CSV");
    w.write_record(jxc_shared::docs::CATALOG_COLUMNS)
        .expect("write the header");
    for r in rows {
        w.write_record([
            r.sku.as_str(),
            r.name.as_str(),
            r.unit,
            &r.decimals.to_string(),
            &r.gtin,
            r.category,
            r.brand,
            if r.lot_tracked { "true" } else { "false" },
            &r.list_price,
            &r.dealer_price,
            &r.lead_time_days.to_string(),
            r.min_order_qty,
            r.pack_size,
        ])
        .expect("write a row");
    }
    w.flush().expect("flush the catalog CSV");
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Checks that a ledger's product table holds exactly the catalog, field by
/// field (the text survived CSV, Automerge, the wire and SQLite).
fn check_products(store: &jxc_agent::Store, rows: &[Row]) {
    let products = store.products().expect("the agent's products");
    assert_eq!(
        products.len(),
        rows.len(),
        "the agent holds every catalog product and nothing else"
    );
    let by_sku: std::collections::HashMap<&str, &jxc_shared::Product> =
        products.iter().map(|p| (p.sku.as_str(), p)).collect();
    for r in rows {
        let p = by_sku
            .get(r.sku.as_str())
            .unwrap_or_else(|| panic!("product {} missing at the agent", r.sku));
        assert!(
            p.name == r.name
                && p.unit == r.unit
                && p.category == r.category
                && p.brand == r.brand
                && p.decimals == r.decimals
                && p.lot_tracked == r.lot_tracked,
            "product {} differs at the agent: {p:?}",
            r.sku
        );
    }
}

// ---------------------------------------------------------------------------
// The real agent binary (figures 2 and 3)

fn agent_bin() -> PathBuf {
    Path::new(HUB_BIN)
        .parent()
        .expect("the hub binary has a directory")
        .join("jxc-agent")
}

struct AgentProcSite {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl AgentProcSite {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .current_dir(self.dir.path())
            .env("JXC_LOG", "warn")
            .env_remove("JXC_AGENT_CONFIG")
            .env_remove("JXC_AGENT_DATA")
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> (String, Duration) {
        let (out, took) = run_ok(self.command(args), &format!("jxc-agent {args:?}"));
        (String::from_utf8_lossy(&out.stdout).into_owned(), took)
    }
}

struct FirstSync {
    secs: f64,
    rounds: u64,
    hub_cpu: f64,
    agent_db_mb: f64,
}

/// Figure 2: `jxc-agent sync` of a brand-new, enrolled agent.
fn first_sync(hub: &Hub, agent: &AgentProcSite, token: &EnrollToken, rows: &[Row]) -> FirstSync {
    agent.ok(&["init", "--site", "NEW01", "--kind", "branch"]);
    agent.ok(&["enroll", "--hub", &hub.url, "--token", &token.to_string()]);
    let cpu0 = cpu_secs(hub.pid());
    let (out, took) = agent.ok(&["sync", "--json"]);
    let hub_cpu = cpu_secs(hub.pid()) - cpu0;
    let report: serde_json::Value = serde_json::from_str(&out).expect("sync --json prints JSON");
    let rounds = report["docs"]["rounds"].as_u64().unwrap_or(0);
    // `sync` returned: what it received is committed. Prove it is all there.
    let store = jxc_agent::Store::open(&agent.data(), BUSY).expect("open the new agent's ledger");
    check_products(&store, rows);
    drop(store);
    FirstSync {
        secs: took.as_secs_f64(),
        rounds,
        hub_cpu,
        agent_db_mb: dir_mb(&agent.data()),
    }
}

struct Starts {
    list: Vec<Duration>,
    status: Vec<Duration>,
}

/// Figure 3: fresh processes answering commands that read the catalog.
fn starts(agent: &AgentProcSite, runs: usize, skus: usize) -> Starts {
    let mut list = Vec::with_capacity(runs);
    let mut status = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (out, took) = agent.ok(&["product", "list"]);
        // A header, a rule and one line per product.
        let lines = out.lines().count();
        assert!(
            lines > skus,
            "`product list` printed {lines} lines for {skus} products"
        );
        list.push(took);
        let (out, took) = agent.ok(&["status"]);
        assert!(
            out.lines()
                .any(|l| l.starts_with("products") && l.trim_end().ends_with(&skus.to_string())),
            "`status` does not count {skus} products:\n{out}"
        );
        status.push(took);
    }
    list.sort();
    status.sort();
    Starts { list, status }
}

// ---------------------------------------------------------------------------
// The fleet (figures 4 and 5): the agent library, in this process

struct FleetAgent {
    site: String,
    store: SharedStore,
    hub: HubClient,
}

fn run_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Creates each agent's ledger and enrolls it the way `jxc-agent enroll`
/// does, [`ENROLL_CONCURRENCY`] at a time.
async fn enroll_fleet(
    root: &Path,
    url: &str,
    sites: &[String],
    tokens: Vec<EnrollToken>,
) -> Vec<Arc<FleetAgent>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(ENROLL_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, (site, token)) in sites.iter().cloned().zip(tokens).enumerate() {
        let sem = sem.clone();
        let dir = root.join(&site);
        let url = url.to_owned();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let info = SiteInfo {
                id: SiteId::parse(&site).expect("generated site ids are valid"),
                kind: SiteKind::Branch,
                name: format!("分公司 {site}"),
                region: "east".into(),
            };
            let now = chrono::Utc::now().fixed_offset();
            let store = jxc_agent::Store::init(&dir, info, BUSY, now).expect("init an agent");
            let store: SharedStore = Arc::new(Mutex::new(store));
            sync::enroll(&store, &dir, &url, &token.to_string())
                .await
                .unwrap_or_else(|e| panic!("enroll {site}: {e}"));
            let hub = HubClient::from_data_dir(&dir, &url).expect("the agent's hub client");
            (i, Arc::new(FleetAgent { site, store, hub }))
        });
    }
    let mut agents: Vec<Option<Arc<FleetAgent>>> = vec![None; sites.len()];
    while let Some(r) = set.join_next().await {
        let (i, a) = r.expect("an enrollment task failed");
        agents[i] = Some(a);
    }
    agents.into_iter().map(|a| a.expect("enrolled")).collect()
}

/// One sync session (`sync_once`, as `jxc-agent sync` and `run` do) of every
/// agent, `concurrency` at a time; then `check` on each agent's store. The
/// wall time, and per agent its session time, report and check result.
async fn fleet_sync<T: Send + 'static>(
    agents: &[Arc<FleetAgent>],
    concurrency: usize,
    check: impl Fn(&mut jxc_agent::Store) -> T + Send + Sync + 'static,
) -> (Duration, Vec<(Duration, SyncReport, T)>) {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let check = Arc::new(check);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in agents.iter().enumerate() {
        let (a, sem, check) = (a.clone(), sem.clone(), check.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let t = Instant::now();
            let report = sync::sync_once(&a.store, &a.hub, BATCH)
                .await
                .unwrap_or_else(|e| panic!("sync of {}: {e}", a.site));
            let took = t.elapsed();
            let found = sync::with_store(&a.store, move |s| Ok(check(s)))
                .await
                .expect("read the agent's store");
            (i, took, report, found)
        });
    }
    let mut out: Vec<Option<(Duration, SyncReport, T)>> = (0..agents.len()).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, took, report, found) = r.expect("a fleet sync task failed");
        out[i] = Some((took, report, found));
    }
    let wall = start.elapsed();
    (wall, out.into_iter().map(|o| o.expect("synced")).collect())
}

/// Samples the hub's VmRSS every 20 ms until stopped; the highest seen.
fn rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(status_mb(pid, "VmRSS:"));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

struct FleetFetch {
    wall: Duration,
    per_agent: Vec<Duration>,
    max_rounds: u32,
    hub_cpu: f64,
    rss_start: f64,
    hwm: f64,
    sampled_peak: f64,
    rss_after: f64,
}

struct EditRound {
    wall: Duration,
    per_agent: Vec<Duration>,
    set_took: Duration,
    needed_more: usize,
    hub_cpu: f64,
    rss_after: f64,
    hwm_after: f64,
}

/// Figures 5 then 4, on a freshly started hub process.
fn fleet(hub: &mut Hub, rows: &[Row], n: usize, concurrency: usize) -> (FleetFetch, EditRound) {
    let sites: Vec<String> = (1..=n).map(|i| format!("FL{i:04}")).collect();
    let tokens: Vec<EnrollToken> = sites.iter().map(|s| hub.token(s)).collect();
    let root = tempfile::Builder::new()
        .prefix("jxc-catalog-fleet-")
        .tempdir()
        .expect("temporary directory");

    // A new process, so VmHWM counts only what follows: enrollment (small)
    // and the fleet fetching the catalog.
    hub.stop();
    hub.serve();
    let pid = hub.pid();
    let rt = run_time();
    let t = Instant::now();
    let agents = rt.block_on(enroll_fleet(root.path(), &hub.url, &sites, tokens));
    eprintln!(
        "  enrolled {n} fleet agents in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Figure 5: every agent's first sync, `concurrency` at a time.
    let rss_start = status_mb(pid, "VmRSS:");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid, stop.clone());
    let cpu0 = cpu_secs(pid);
    let (wall, results) = rt.block_on(fleet_sync(&agents, concurrency, |s| {
        s.status().map(|st| st.products).unwrap_or(0)
    }));
    let hub_cpu = cpu_secs(pid) - cpu0;
    stop.store(true, Ordering::Relaxed);
    let sampled_peak = sampler.join().expect("RSS sampler");
    let hwm = status_mb(pid, "VmHWM:");
    let rss_after = status_mb(pid, "VmRSS:");
    for (a, (_, _, products)) in agents.iter().zip(&results) {
        assert_eq!(
            *products as usize,
            rows.len(),
            "{} holds every catalog product after its first sync",
            a.site
        );
    }
    // One agent's copy, field by field, as for figure 2.
    {
        let store = agents[0].store.lock().unwrap_or_else(|p| p.into_inner());
        check_products(&store, rows);
    }
    let mut per_agent: Vec<Duration> = results.iter().map(|r| r.0).collect();
    per_agent.sort();
    let fetch = FleetFetch {
        wall,
        per_agent,
        max_rounds: results.iter().map(|r| r.1.docs.rounds).max().unwrap_or(0),
        hub_cpu,
        rss_start,
        hwm,
        sampled_peak,
        rss_after,
    };

    // Figure 4: HQ changes one product; every online agent syncs once.
    let edited = &rows[rows.len() / 2];
    let new_price = "1234.50";
    let new_name = format!("{} \"新包装\", 限量", edited.name);
    let (out, set_took) = run_ok(
        hub.cli(&[
            "product",
            "set",
            &edited.sku,
            "--list-price",
            new_price,
            "--name",
            &new_name,
        ]),
        "jxc-hub product set",
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("updated"), "product set: {out}");
    let sku = Sku::parse(&edited.sku).expect("valid sku");
    let price = Money::parse("list_price", new_price).expect("valid price");
    let cpu0 = cpu_secs(pid);
    let (wall, results) = rt.block_on(fleet_sync(&agents, concurrency, {
        let new_name = new_name.clone();
        move |s| {
            s.catalog_item(&sku)
                .ok()
                .flatten()
                .is_some_and(|i| i.product.name == new_name && i.list_price == Some(price))
        }
    }));
    let hub_cpu = cpu_secs(pid) - cpu0;
    let needed_more = results
        .iter()
        .filter(|(_, report, has_edit)| !has_edit || report.docs.rounds > 1)
        .count();
    for (a, (_, report, has_edit)) in agents.iter().zip(&results) {
        if !has_edit || report.docs.rounds > 1 {
            eprintln!(
                "  {}: edit {}after its sync ({} documents rounds)",
                a.site,
                if *has_edit { "present " } else { "MISSING " },
                report.docs.rounds
            );
        }
    }
    let mut per_agent: Vec<Duration> = results.iter().map(|r| r.0).collect();
    per_agent.sort();
    let edit = EditRound {
        wall,
        per_agent,
        set_took,
        needed_more,
        hub_cpu,
        rss_after: status_mb(pid, "VmRSS:"),
        hwm_after: status_mb(pid, "VmHWM:"),
    };
    drop(agents);
    rt.shutdown_timeout(STOP_TIMEOUT);
    (fetch, edit)
}

// ---------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: run a
    // tiny version then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let skus = env_usize("JXC_CATALOG_SKUS", if quick { 500 } else { 50_000 }).max(2);
    let n_agents = env_usize("JXC_CATALOG_AGENTS", if quick { 4 } else { 100 }).max(1);
    let runs = env_usize("JXC_CATALOG_STARTS", if quick { 3 } else { 20 }).max(1);
    let concurrency = env_usize("JXC_CATALOG_CONCURRENCY", 8).max(1);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "catalog_load{}: hub {HUB_BIN}; {} SKUs, {n_agents} fleet agents ({concurrency} syncing at once), {runs} starts per command; hub, agents and generator share {cores} cores; load average at start {}",
        if quick {
            " (quick mode, not --bench: tiny sizes, maybe a debug build; verdicts mean nothing)"
        } else {
            ""
        },
        grouped(skus as f64),
        load_average()
    );

    let rows = catalog_rows(skus);
    let mut hub = Hub::create();
    let new_token = hub.token("NEW01");
    let csv_path = hub.data().join("catalog.csv");
    let csv_bytes = write_csv(&csv_path, &rows);
    hub.serve();

    // Figure 1: HQ's import, through the real CLI, while the hub serves.
    eprintln!("import: {} rows…", grouped(skus as f64));
    let (out, import_took) = run_ok(
        hub.cli(&["product", "import", &csv_path.to_string_lossy()]),
        "jxc-hub product import",
    );
    let import_peak = children_peak_mb();
    let out = String::from_utf8_lossy(&out.stdout);
    let expected = format!("{skus} products read, {skus} added or changed");
    assert!(out.contains(&expected), "product import said: {out}");
    let hub_db_mb = dir_mb(hub.data());

    // Figures 2 and 3: the real agent binary.
    let bin = agent_bin();
    let agent = bin.is_file().then(|| AgentProcSite {
        bin: bin.clone(),
        dir: tempfile::Builder::new()
            .prefix("jxc-catalog-agent-")
            .tempdir()
            .expect("temporary directory"),
    });
    let (first, start_times) = match &agent {
        Some(agent) => {
            eprintln!("first sync of a new agent…");
            let first = first_sync(&hub, agent, &new_token, &rows);
            eprintln!("  {:.2} s; starts…", first.secs);
            (Some(first), Some(starts(agent, runs, skus)))
        }
        None => (None, None),
    };

    // Figures 5 and 4: the fleet, on a freshly started hub.
    eprintln!("fleet: {n_agents} agents fetch the catalog, then one edit…");
    let (fetch, edit) = fleet(&mut hub, &rows, n_agents, concurrency);
    hub.stop();

    // The table.
    let mut missed = Vec::new();
    let mut table: Vec<[String; 4]> = Vec::new();
    table.push([
        "1. HQ import of the catalog CSV (`jxc-hub product import`, hub serving)".into(),
        "— (one-off)".into(),
        format!(
            "{:.2} s, {:.0} rows/s; CSV {:.1} MB; import peak RSS {:.0} MB; hub database {:.0} MB",
            import_took.as_secs_f64(),
            skus as f64 / import_took.as_secs_f64(),
            csv_bytes as f64 / 1e6,
            import_peak,
            hub_db_mb
        ),
        "—".into(),
    ]);
    match (&first, &start_times) {
        (Some(f), Some(s)) => {
            let v = verdict(f.secs, TARGET_FIRST_SYNC_S, false);
            if v != "met" {
                missed.push(format!("2 (new agent's first sync {:.2} s)", f.secs));
            }
            table.push([
                "2. new agent's first `jxc-agent sync`, every product in its table".into(),
                "≤ 5 s".into(),
                format!(
                    "{:.2} s ({} documents rounds, hub CPU {:.2} s, agent ledger {:.0} MB)",
                    f.secs, f.rounds, f.hub_cpu, f.agent_db_mb
                ),
                v,
            ]);
            for (name, times) in [("product list", &s.list), ("status", &s.status)] {
                let p95 = ms(percentile(times, 0.95));
                let v = verdict(p95, TARGET_START_MS, false);
                if v != "met" {
                    missed.push(format!("3 (`{name}` p95 {p95:.0} ms)"));
                }
                table.push([
                    format!("3. fresh `jxc-agent {name}` with the catalog loaded ({runs} runs)"),
                    "≤ 200 ms".into(),
                    format!(
                        "median {:.0} ms, p95 {p95:.0} ms, max {:.0} ms",
                        ms(percentile(times, 0.5)),
                        ms(*times.last().expect("runs"))
                    ),
                    v,
                ]);
            }
        }
        _ => {
            missed.push("2 and 3 (SKIPPED)".into());
            table.push([
                "2, 3. new agent's first sync; agent start".into(),
                "≤ 5 s; ≤ 200 ms".into(),
                format!(
                    "SKIPPED: {} is missing; build it first with `cargo build{} -p jxc-agent`",
                    bin.display(),
                    if quick { "" } else { " --release" }
                ),
                "SKIPPED".into(),
            ]);
        }
    }
    let v = if edit.needed_more == 0 {
        "met".to_owned()
    } else {
        missed.push(format!(
            "4 ({} agents needed more than one round)",
            edit.needed_more
        ));
        "MISSED".to_owned()
    };
    table.push([
        format!("4. one HQ edit (`jxc-hub product set`), then one sync of each of {n_agents} online agents"),
        "every agent has it after one round".into(),
        format!(
            "{} of {n_agents} needed more than one round; round across all agents {:.2} s ({concurrency} at once; per agent p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; hub CPU {:.2} s); `product set` {:.2} s",
            edit.needed_more,
            edit.wall.as_secs_f64(),
            ms(percentile(&edit.per_agent, 0.5)),
            ms(percentile(&edit.per_agent, 0.95)),
            ms(*edit.per_agent.last().expect("agents")),
            edit.hub_cpu,
            edit.set_took.as_secs_f64()
        ),
        v,
    ]);
    let v = verdict(fetch.hwm, TARGET_RSS_MB, false);
    if v != "met" {
        missed.push(format!("5 (hub peak RSS {:.0} MB)", fetch.hwm));
    }
    table.push([
        format!("5. hub peak RSS (VmHWM of a fresh `serve`) while {n_agents} new agents fetch the catalog, {concurrency} at once"),
        "≤ 256 MB".into(),
        format!(
            "{:.1} MB (VmRSS {:.1} MB before, sampled peak {:.1} MB, {:.1} MB after the fetch, {:.1} MB after figure 4); fetch of all {:.1} s, per agent p50 {:.2} s, max {:.2} s, up to {} documents rounds; hub CPU {:.1} s",
            fetch.hwm,
            fetch.rss_start,
            fetch.sampled_peak,
            fetch.rss_after,
            edit.rss_after,
            fetch.wall.as_secs_f64(),
            percentile(&fetch.per_agent, 0.5).as_secs_f64(),
            fetch.per_agent.last().expect("agents").as_secs_f64(),
            fetch.max_rounds,
            fetch.hub_cpu
        ),
        v,
    ]);
    if edit.hwm_after > fetch.hwm {
        println!(
            "note: the hub's VmHWM rose to {:.1} MB during figure 4",
            edit.hwm_after
        );
    }

    println!();
    println!("| figure | target | measured | verdict |");
    println!("|---|---|---|---|");
    for [a, b, c, d] in &table {
        println!("| {a} | {b} | {c} | {d} |");
    }
    println!();
    if missed.is_empty() {
        println!("all targets met");
    } else {
        println!("TARGETS MISSED: {}", missed.join("; "));
    }
    if agent.is_none() && !quick {
        std::process::exit(1);
    }
}
