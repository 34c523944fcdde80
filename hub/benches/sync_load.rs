//! Load generator for the hub: the real `jxc-hub` binary on loopback, driven
//! by many simulated agents (real enrollment, real mutual TLS, real protocol
//! bodies) and, for sale visibility, by the real `jxc-agent` binary.
//!
//! Run: `cargo bench -p jxc-hub --bench sync_load` (build the agent first:
//! `cargo build --release -p jxc-agent`). Figures, one line each:
//!   1. sustained ingest of 100 agents pushing 5,000-movement batches, with the
//!      raw SQLite insert baseline of this machine measured in the same run;
//!   2. catch-up of one site that worked offline (100,000 movements);
//!   3. request bytes per movement on the wire (figure 1's bodies);
//!   4. sale visibility: `jxc-agent sell` exit → the hub serves the movement;
//!   5. peak RSS of a hub with 1,000 enrolled, synced sites.
//!
//! Environment: `JXC_LOAD_ONLY=ingest|catchup|visibility|rss` (comma list
//! allowed) runs a subset; `JXC_LOAD_AGENTS`, `JXC_LOAD_BATCHES` and
//! `JXC_LOAD_BATCH_SIZE` size figure 1, `JXC_LOAD_CATCHUP` figure 2,
//! `JXC_LOAD_SALES` figure 4 and `JXC_LOAD_SITES` figure 5.
//! Without `--bench` (as `cargo test --benches` runs it) every figure runs
//! tiny, so the code stays exercised without taking minutes.
//!
//! The hub and this generator share the machine's cores: figures are for
//! both on one box, and the hub's CPU time is printed next to them.

mod common;
use chrono::Duration as ChronoDuration;
use common::{
    CLOCK_TICKS_PER_SEC, Proc, STOP_TIMEOUT, cpu_secs, dir_mb, env_usize, grouped, listening_url,
    ms, percentile, status_mb, verdict,
};
use jxc_hub::store::NewSite;
use jxc_shared::costing::{self, CostState};
use jxc_shared::protocol::{
    self, CONTENT_TYPE, EnrollRequest, EnrollResponse, EnrollToken, PROTOCOL_HEADER,
    PROTOCOL_VERSION, SyncRequest, SyncResponse, WireLocation, WireMovement,
};
use jxc_shared::rng::Rng;
use jxc_shared::{Money, MovementKind, Quantity, SiteId, SiteKind};
use nix::sys::resource::{UsageWho, getrusage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HUB_BIN: &str = env!("CARGO_BIN_EXE_jxc-hub");
/// Concurrent enrollments.
const ENROLL_CONCURRENCY: usize = 16;
/// Longest wait for a started hub to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Processes

/// Machine-wide (busy, total) CPU seconds from /proc/stat, all cores.
fn machine_cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    // idle and iowait are fields 4 and 5.
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (
        (total - idle) / CLOCK_TICKS_PER_SEC,
        total / CLOCK_TICKS_PER_SEC,
    )
}

/// This generator's own CPU seconds (user + system).
fn self_cpu_secs() -> f64 {
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// A hub created with `jxc_hub::cli::init` and served by the real binary.
struct HubUnderTest {
    // Field order: the process stops before its directory is removed.
    proc: Proc,
    url: String,
    admin: String,
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl HubUnderTest {
    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Creates a hub and one-time tokens for `sites`, then serves it.
    fn start(sites: &[String]) -> (HubUnderTest, Vec<EnrollToken>) {
        let dir = tempfile::Builder::new()
            .prefix("jxc-load-hub-")
            .tempdir()
            .expect("temporary directory");
        let (_, admin) = jxc_hub::cli::init(&jxc_hub::config::HubHome::sqlite(dir.path()), &[])
            .expect("jxc_hub::cli::init");
        let tokens = sites
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let site = NewSite {
                    id: SiteId::parse(id).expect("generated site ids are valid"),
                    // Branches: the generator sends raw ledger batches, which is
                    // what a branch sends. A dealer's records must be HQ catalog
                    // products its sharing policy covers, or the hub refuses them.
                    kind: SiteKind::Branch,
                    name: format!("门店 {id}"),
                    region: ["north", "south", "east", "west"][i % 4].into(),
                };
                jxc_hub::cli::make_token(
                    &jxc_hub::config::HubHome::sqlite(dir.path()),
                    site,
                    ChronoDuration::hours(2),
                )
                .expect("jxc_hub::cli::make_token")
            })
            .collect();
        let ca_pem = std::fs::read_to_string(dir.path().join(jxc_hub::cli::CA_CERT))
            .expect("read the hub's ca.pem");

        let mut child = Command::new(HUB_BIN)
            .arg("--data")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env("JXC_LOG", "warn")
            .env_remove("JXC_HUB_CONFIG")
            .env_remove("JXC_HUB_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start jxc-hub serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let proc = Proc::new(child, "jxc-hub");
        let url = listening_url(stdout, START_TIMEOUT);
        (
            HubUnderTest {
                proc,
                url,
                admin,
                ca_pem,
                dir,
            },
            tokens,
        )
    }

    fn cpu_secs(&self) -> f64 {
        cpu_secs(self.pid())
    }
}

fn site_ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i:04}")).collect()
}

fn run_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------
// HTTP

/// Enrolls `site` as an agent does (key and CSR here, only the CSR sent) and
/// returns that site's mutual-TLS client.
async fn enroll(
    http: &reqwest::Client,
    url: &str,
    ca_pem: &str,
    site: &str,
    token: &EnrollToken,
) -> reqwest::Client {
    let (key_pem, csr_pem) = jxc_agent::tls::new_key_and_csr(site).expect("key and CSR");
    let body = serde_json::to_vec(&EnrollRequest {
        token: token.to_string(),
        csr_pem,
        // These clients sync movements only, never documents.
        doc_actor: None,
        site: None,
        kind: None,
        region: None,
    })
    .expect("an enroll request serializes");
    let resp = http
        .post(format!("{url}/v1/enroll"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("enroll {site}: {e}"));
    let status = resp.status();
    let bytes = resp.bytes().await.expect("enroll answer body");
    assert!(
        status.is_success(),
        "enroll {site}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let answer: EnrollResponse = serde_json::from_slice(&bytes).expect("enroll answer JSON");
    assert_eq!(answer.site, site, "the hub enrolled another site");
    jxc_agent::tls::client(ca_pem, Some((&answer.cert_pem, &key_pem))).expect("site client")
}

/// Enrolls every site, [`ENROLL_CONCURRENCY`] at a time; clients in order.
async fn enroll_all(
    hub_url: &str,
    ca_pem: &str,
    sites: &[String],
    tokens: Vec<EnrollToken>,
) -> Vec<reqwest::Client> {
    let http = jxc_agent::tls::client(ca_pem, None).expect("enrollment client");
    let sem = Arc::new(tokio::sync::Semaphore::new(ENROLL_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, (site, token)) in sites.iter().cloned().zip(tokens).enumerate() {
        let (http, sem) = (http.clone(), sem.clone());
        let (url, ca) = (hub_url.to_owned(), ca_pem.to_owned());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            (i, enroll(&http, &url, &ca, &site, &token).await)
        });
    }
    let mut clients: Vec<Option<reqwest::Client>> = vec![None; sites.len()];
    while let Some(r) = set.join_next().await {
        let (i, c) = r.expect("an enrollment task failed");
        clients[i] = Some(c);
    }
    clients.into_iter().map(|c| c.expect("enrolled")).collect()
}

/// Sends one pre-encoded sync body and checks the answer: every movement
/// accepted, none quarantined, hwm at the batch's last seq.
async fn push(client: &reqwest::Client, url: &str, site: &str, batch: Batch) -> SyncResponse {
    let resp = client
        .post(format!("{url}/v1/sync"))
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .body(batch.body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("sync {site} from {}: {e}", batch.from_seq));
    let status = resp.status();
    let bytes = resp.bytes().await.expect("sync answer body");
    assert!(
        status.is_success(),
        "sync {site} from {}: {status}: {}",
        batch.from_seq,
        String::from_utf8_lossy(&bytes)
    );
    let answer: SyncResponse = protocol::decode("sync response", &bytes).expect("sync answer");
    let last = batch.from_seq + batch.count as u64 - 1;
    assert!(
        answer.accepted as usize == batch.count
            && answer.hwm == last
            && answer.quarantined.is_empty()
            && answer.duplicates == 0,
        "sync {site} from {}: expected {} accepted and hwm {last}, got {} accepted, {} duplicates, {} quarantined ({:?}), hwm {}",
        batch.from_seq,
        batch.count,
        answer.accepted,
        answer.duplicates,
        answer.quarantined.len(),
        answer.quarantined.first(),
        answer.hwm
    );
    answer
}

/// The hwm the hub reports for each site (GET /v1/sites, admin token).
async fn hub_hwms(hub: &HubUnderTest) -> std::collections::HashMap<String, u64> {
    let http = jxc_agent::tls::client(&hub.ca_pem, None).expect("admin client");
    let resp = http
        .get(format!("{}/v1/sites", hub.url))
        .bearer_auth(&hub.admin)
        .send()
        .await
        .expect("GET /v1/sites");
    assert!(
        resp.status().is_success(),
        "GET /v1/sites: {}",
        resp.status()
    );
    let v: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("sites body")).expect("sites JSON");
    v.as_array()
        .expect("a JSON array of sites")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["hwm"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Movements

const SKUS_PER_SITE: usize = 1_000;
const FAMILIES: [&str; 5] = ["TEA", "RICE", "OIL", "SNACK", "WINE"];

struct Item {
    sku: String,
    /// The supplier's list cost in cents.
    cost_cents: u64,
    price: String,
    cost: CostState,
}

/// One site's ledger activity as its agent would send it: sales (about
/// 70%) valued at the moving-average cost, receipts with a stated cost,
/// a few customer returns and scrap, over ~1,000 Pareto-skewed SKUs at
/// `SITE/main`, business time in +08:00.
struct SiteActivity {
    rng: Rng,
    location: String,
    items: Vec<Item>,
    seq: u64,
    t_ms: i64,
    sales: u64,
    receipts: u64,
    others: u64,
}

impl SiteActivity {
    fn new(site: &str, seed: u64) -> SiteActivity {
        let items = (0..SKUS_PER_SITE)
            .map(|i| {
                let cost_cents = 300 + (i as u64 * 7919) % 20_000;
                let price_cents = cost_cents * 16 / 10;
                Item {
                    sku: format!("{}-{:04}", FAMILIES[i % FAMILIES.len()], i),
                    cost_cents,
                    price: format!("{}.{}", price_cents / 100, (price_cents % 100) / 10),
                    cost: CostState::default(),
                }
            })
            .collect();
        SiteActivity {
            rng: Rng::new(seed),
            location: format!("{site}/main"),
            items,
            seq: 0,
            // 2026-01-05T09:00:00+08:00
            t_ms: 1_767_574_800_000,
            sales: 0,
            receipts: 0,
            others: 0,
        }
    }

    fn next(&mut self) -> WireMovement {
        self.seq += 1;
        self.t_ms += 5_000 + self.rng.below(115_000) as i64;
        let i = self.rng.skewed(SKUS_PER_SITE);
        let roll = self.rng.below(100);
        let units = 1 + self.rng.below(5) as i64;
        let on_hand = self.items[i].cost.qty.to_micro() / 1_000_000;
        // About 70% sales, 25% receipts, 5% customer returns and scrap once
        // the catalogue is stocked (the first sale of a SKU is a receipt).
        let restock = 20 + self.rng.below(100) as i64;
        let (kind, qty) = match roll {
            // A sale the shelf cannot cover is a restock instead.
            0..73 if on_hand >= units => (MovementKind::Sale, -units),
            0..96 => (MovementKind::Receipt, restock),
            96..98 if on_hand > 0 => (MovementKind::CustomerReturn, 1),
            _ if on_hand > 0 => (MovementKind::Scrap, -1),
            _ => (MovementKind::Receipt, restock),
        };
        let qty = Quantity::from_micro(qty * 1_000_000);
        let item = &mut self.items[i];
        let stated = (kind == MovementKind::Receipt).then(|| {
            // Supplier costs drift a little from one delivery to the next.
            let c = item.cost_cents + self.rng.below(item.cost_cents / 10 + 1);
            Money::parse("cost", &format!("{}.{:02}", c / 100, c % 100)).expect("valid cost")
        });
        let (unit_cost, state) = costing::apply(item.cost, qty, stated);
        item.cost = state;
        let n = self.rng.below(5_000);
        let (unit_price, counterparty, reference, reason) = match kind {
            MovementKind::Sale => {
                self.sales += 1;
                (
                    Some(item.price.clone()),
                    Some(format!("客户 {n}")),
                    Some(format!("SO-{}", self.sales)),
                    None,
                )
            }
            MovementKind::Receipt => {
                self.receipts += 1;
                (
                    None,
                    Some(format!("供应商 {}", n % 40)),
                    Some(format!("PO-{}", self.receipts)),
                    None,
                )
            }
            MovementKind::CustomerReturn => {
                self.others += 1;
                (
                    Some(item.price.clone()),
                    Some(format!("客户 {n}")),
                    Some(format!("RT-{}", self.others)),
                    None,
                )
            }
            _ => {
                self.others += 1;
                (None, None, None, Some("破损".to_owned()))
            }
        };
        WireMovement {
            seq: self.seq,
            kind,
            location: self.location.clone(),
            sku: item.sku.clone(),
            lot: String::new(),
            qty_micro: qty.to_micro(),
            unit_cost: unit_cost.to_string(),
            unit_price,
            counterparty,
            reference,
            reason,
            transfer_id: None,
            occurred_ms: self.t_ms,
            offset_min: 480,
            // `jxc-agent sell` without --at: recorded when it occurred.
            recorded_ms: self.t_ms,
        }
    }
}

/// One sync request, encoded before any timing starts.
struct Batch {
    from_seq: u64,
    count: usize,
    body: Vec<u8>,
}

/// A site's first `total` movements as consecutive batches of `batch_size`
/// (the last one shorter), each encoded as the agent would send it. Returns
/// the batches, the postcard bytes before compression, (when `keep`) the
/// movements themselves, and how many were sales, receipts and others.
fn site_batches(
    site: &str,
    seed: u64,
    total: usize,
    batch_size: usize,
    keep: bool,
) -> (Vec<Batch>, usize, Vec<WireMovement>, [u64; 3]) {
    let mut activity = SiteActivity::new(site, seed);
    let mut out = Vec::with_capacity(total.div_ceil(batch_size));
    let mut raw = 0;
    let mut kept = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(batch_size);
        left -= n;
        let movements: Vec<WireMovement> = (0..n).map(|_| activity.next()).collect();
        let req = SyncRequest {
            from_seq: movements[0].seq,
            agent_last_seq: total as u64,
            transfers_cursor: 0,
            // The agent names its locations in a session's first round.
            locations: if out.is_empty() {
                vec![WireLocation {
                    id: "main".into(),
                    name: "main".into(),
                }]
            } else {
                Vec::new()
            },
            agent_time_ms: movements[n - 1].recorded_ms + 60_000,
            movements,
        };
        raw += postcard::to_stdvec(&req).expect("serializes").len();
        out.push(Batch {
            from_seq: req.from_seq,
            count: n,
            body: protocol::encode(&req),
        });
        if keep {
            kept.extend(req.movements);
        }
    }
    (
        out,
        raw,
        kept,
        [activity.sales, activity.receipts, activity.others],
    )
}

/// Encodes every site's batches on all cores (the agents' work, not the hub's).
fn encode_all(
    sites: &[String],
    batches: usize,
    batch_size: usize,
) -> (Vec<Vec<Batch>>, usize, [u64; 3]) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = sites.len().div_ceil(threads).max(1);
    let parts: Vec<(Vec<Vec<Batch>>, usize, [u64; 3])> = std::thread::scope(|s| {
        let handles: Vec<_> = sites
            .chunks(chunk)
            .enumerate()
            .map(|(c, ids)| {
                s.spawn(move || {
                    let mut all = Vec::new();
                    let mut raw = 0;
                    let mut mix = [0u64; 3];
                    for (j, id) in ids.iter().enumerate() {
                        let (b, r, _, m) = site_batches(
                            id,
                            (c * chunk + j) as u64 + 1,
                            batches * batch_size,
                            batch_size,
                            false,
                        );
                        all.push(b);
                        raw += r;
                        for k in 0..3 {
                            mix[k] += m[k];
                        }
                    }
                    (all, raw, mix)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("encoder thread"))
            .collect()
    });
    let mut all = Vec::new();
    let mut raw = 0;
    let mut mix = [0u64; 3];
    for (b, r, m) in parts {
        all.extend(b);
        raw += r;
        for k in 0..3 {
            mix[k] += m[k];
        }
    }
    (all, raw, mix)
}

// ---------------------------------------------------------------------------
// Figure 1 and 3: sustained ingest, bytes per movement; raw SQLite baseline

fn ingest(quick: bool) {
    let agents = env_usize("JXC_LOAD_AGENTS", 100).max(1);
    let batches = env_usize("JXC_LOAD_BATCHES", if quick { 1 } else { 4 }).max(1);
    let batch_size = env_usize("JXC_LOAD_BATCH_SIZE", if quick { 1_000 } else { 5_000 })
        .clamp(1, protocol::MAX_BATCH_MOVEMENTS);
    let total = agents * batches * batch_size;
    let sites = site_ids("LD", agents);

    eprintln!("ingest: encoding {total} movements for {agents} sites…");
    let t = Instant::now();
    let (bodies, raw_bytes, mix) = encode_all(&sites, batches, batch_size);
    let wire_bytes: usize = bodies.iter().flatten().map(|b| b.body.len()).sum();
    eprintln!("  encoded in {:.1} s", t.elapsed().as_secs_f64());

    let (hub, tokens) = HubUnderTest::start(&sites);
    let rt = run_time();
    let (secs, latencies, hub_cpu, gen_cpu, machine, version) = rt.block_on(async {
        let t = Instant::now();
        let clients = enroll_all(&hub.url, &hub.ca_pem, &sites, tokens).await;
        eprintln!(
            "  enrolled {agents} sites in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // Each agent's connection (TLS with its client certificate) is up
        // before the clock starts, as it is for agents that sync all day.
        let mut version = None;
        for c in &clients {
            let r = c
                .get(format!("{}/healthz", hub.url))
                .send()
                .await
                .expect("GET /healthz");
            assert!(r.status().is_success());
            version = Some(r.version());
        }

        let hub_cpu0 = hub.cpu_secs();
        let gen_cpu0 = self_cpu_secs();
        let machine0 = machine_cpu_secs();
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for ((site, client), site_bodies) in sites.iter().cloned().zip(clients).zip(bodies) {
            let url = hub.url.clone();
            set.spawn(async move {
                let mut times = Vec::with_capacity(site_bodies.len());
                for batch in site_bodies {
                    let t = Instant::now();
                    push(&client, &url, &site, batch).await;
                    times.push(t.elapsed());
                }
                times
            });
        }
        let mut latencies = Vec::with_capacity(agents * batches);
        while let Some(r) = set.join_next().await {
            latencies.extend(r.expect("an agent task failed"));
        }
        let secs = start.elapsed().as_secs_f64();
        let hub_cpu = hub.cpu_secs() - hub_cpu0;
        let gen_cpu = self_cpu_secs() - gen_cpu0;
        let machine1 = machine_cpu_secs();
        let machine = (machine1.0 - machine0.0, machine1.1 - machine0.1);

        let hwms = hub_hwms(&hub).await;
        for s in &sites {
            assert_eq!(
                hwms.get(s).copied(),
                Some((batches * batch_size) as u64),
                "the hub's hwm of {s}"
            );
        }
        (secs, latencies, hub_cpu, gen_cpu, machine, version)
    });
    rt.shutdown_timeout(STOP_TIMEOUT);
    let hub_rss = status_mb(hub.pid(), "VmHWM:");
    let db_mb = dir_mb(hub.data());
    drop(hub);

    let rate = total as f64 / secs;
    let mut latencies = latencies;
    latencies.sort();
    println!(
        "1. sustained ingest, {agents} agents x {batches} batches x {batch_size} movements ({} movements): {secs:.2} s, {} movements/s (target >= 150,000/s: {})",
        grouped(total as f64),
        grouped(rate),
        verdict(rate, 150_000.0, true)
    );
    println!(
        "   {:?} over mutual TLS; every answer checked (accepted = batch, hwm = last seq); request latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        version.unwrap_or_default(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("latencies"))
    );
    println!(
        "   hub CPU {:.1} s = {:.0}% of one core over the run (peak RSS {:.0} MB, database {:.0} MB); generator CPU {:.1} s ({:.0}%); machine busy {:.0}% of its {} cores (other processes {:.1} CPU s)",
        hub_cpu,
        hub_cpu / secs * 100.0,
        hub_rss,
        db_mb,
        gen_cpu,
        gen_cpu / secs * 100.0,
        machine.0 / machine.1.max(1e-9) * 100.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (machine.0 - hub_cpu - gen_cpu).max(0.0)
    );
    let n = (mix[0] + mix[1] + mix[2]).max(1) as f64;
    println!(
        "   mix: {:.0}% sales, {:.0}% receipts, {:.0}% returns and scrap; {SKUS_PER_SITE} Pareto-skewed SKUs per site",
        mix[0] as f64 / n * 100.0,
        mix[1] as f64 / n * 100.0,
        mix[2] as f64 / n * 100.0
    );

    let raw_rate = raw_sqlite(&sites, batches, batch_size);
    println!(
        "   raw SQLite baseline (rusqlite, WAL, synchronous=NORMAL, 1000 rows per transaction, movement-shaped WITHOUT ROWID table, {} rows): {} rows/s; hub ingest = {:.0}% of it",
        grouped(total as f64),
        grouped(raw_rate),
        rate / raw_rate * 100.0
    );

    let per = wire_bytes as f64 / total as f64;
    println!(
        "3. bytes per movement on the wire (figure 1's {} request bodies, zstd(postcard)): {per:.1} B (target <= 40: {}); {:.1} B before compression",
        agents * batches,
        verdict(per, 40.0, false),
        raw_bytes as f64 / total as f64
    );
}

/// One row of the hub's `movement` table, as text and numbers ready to bind.
struct RawRow {
    seq: i64,
    kind: &'static str,
    location: String,
    sku: String,
    qty: i64,
    unit_cost: String,
    unit_price: Option<String>,
    counterparty: Option<String>,
    reference: Option<String>,
    reason: Option<String>,
    occurred_at: String,
    recorded_at: String,
    digest: Vec<u8>,
}

/// rows/s of plain inserts of the same rows into a fresh database: WAL,
/// synchronous=NORMAL, 1000 rows per transaction, the hub's table shape, in
/// the order the hub receives them (batch by batch, site after site).
fn raw_sqlite(sites: &[String], batches: usize, batch_size: usize) -> f64 {
    // One site's rows, reused with each site id (the key is (site, seq)).
    let (_, _, movements, _) = site_batches("LD0000", 1, batches * batch_size, batch_size, true);
    let rows: Vec<RawRow> = movements
        .iter()
        .map(|w| {
            let m = w
                .validate(&SiteId::parse("LD0000").expect("valid"))
                .expect("generated movements are valid");
            RawRow {
                seq: w.seq as i64,
                kind: w.kind.as_str(),
                location: m.draft.location.to_string(),
                sku: w.sku.clone(),
                qty: w.qty_micro,
                unit_cost: w.unit_cost.clone(),
                unit_price: w.unit_price.clone(),
                counterparty: w.counterparty.clone(),
                reference: w.reference.clone(),
                reason: w.reason.clone(),
                occurred_at: jxc_shared::time::format_time(&m.draft.occurred_at),
                recorded_at: jxc_shared::time::format_time(&m.recorded_at),
                digest: Sha256::digest(postcard::to_stdvec(w).expect("serializes")).to_vec(),
            }
        })
        .collect();
    drop(movements);

    let dir = tempfile::Builder::new()
        .prefix("jxc-load-raw-")
        .tempdir()
        .expect("temporary directory");
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open raw.db");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("WAL");
    assert!(mode.eq_ignore_ascii_case("wal"));
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL;
         CREATE TABLE movement (
             site TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
             location TEXT NOT NULL, sku TEXT NOT NULL, lot TEXT NOT NULL,
             qty INTEGER NOT NULL, unit_cost TEXT NOT NULL, unit_price TEXT,
             counterparty TEXT, ref TEXT, reason TEXT, transfer_id TEXT,
             occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL, digest BLOB NOT NULL,
             PRIMARY KEY (site, seq)
         ) WITHOUT ROWID;",
    )
    .expect("create the movement table");
    let mut conn = conn;
    let total = sites.len() * batches * batch_size;
    let start = Instant::now();
    for b in 0..batches {
        for site in sites {
            for chunk in rows[b * batch_size..(b + 1) * batch_size].chunks(1000) {
                let tx = conn.transaction().expect("begin");
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT INTO movement (site, seq, kind, location, sku, lot, qty, unit_cost, unit_price,
                             counterparty, ref, reason, transfer_id, occurred_at, recorded_at, digest)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        )
                        .expect("prepare");
                    for r in chunk {
                        stmt.execute(rusqlite::params![
                            site,
                            r.seq,
                            r.kind,
                            r.location,
                            r.sku,
                            "",
                            r.qty,
                            r.unit_cost,
                            r.unit_price,
                            r.counterparty,
                            r.reference,
                            r.reason,
                            None::<String>,
                            r.occurred_at,
                            r.recorded_at,
                            r.digest,
                        ])
                        .expect("insert");
                    }
                }
                tx.commit().expect("commit");
            }
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------
// Figure 2: catch-up

fn catchup(quick: bool) {
    let n = env_usize("JXC_LOAD_CATCHUP", if quick { 10_000 } else { 100_000 }).max(1);
    let batch_size = protocol::MAX_BATCH_MOVEMENTS;
    let site = "OFF0001".to_owned();
    // The offline site's ledger as rounds of 5,000, encoded beforehand.
    let (bodies, _, _, _) = site_batches(&site, 7, n, batch_size, false);
    let rounds = bodies.len();

    let (hub, tokens) = HubUnderTest::start(std::slice::from_ref(&site));
    let rt = run_time();
    let (secs, hub_cpu) = rt.block_on(async {
        let client = enroll_all(&hub.url, &hub.ca_pem, std::slice::from_ref(&site), tokens)
            .await
            .remove(0);
        let cpu0 = hub.cpu_secs();
        // The clock includes the new connection: the site was offline.
        let start = Instant::now();
        let mut next = 1;
        for batch in bodies {
            assert_eq!(batch.from_seq, next, "rounds go on from hwm + 1");
            next = push(&client, &hub.url, &site, batch).await.hwm + 1;
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(next - 1, n as u64, "the hub holds everything");
        (secs, hub.cpu_secs() - cpu0)
    });
    rt.shutdown_timeout(STOP_TIMEOUT);
    drop(hub);
    println!(
        "2. catch-up of one site back online with {} offline movements ({rounds} sequential rounds of up to {batch_size}): {secs:.2} s, {} movements/s (target <= 2 s: {}); hub CPU {:.0}% of one core",
        grouped(n as f64),
        grouped(n as f64 / secs),
        verdict(secs, 2.0, false),
        hub_cpu / secs * 100.0
    );
}

// ---------------------------------------------------------------------------
// Figure 4: sale visibility through the real agent

fn agent_bin() -> PathBuf {
    Path::new(HUB_BIN)
        .parent()
        .expect("the hub binary has a directory")
        .join("jxc-agent")
}

struct AgentSite {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl AgentSite {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data")
            .arg(self.dir.path().join("data"))
            .args(args)
            .current_dir(self.dir.path())
            .env("JXC_LOG", "warn")
            .env_remove("JXC_AGENT_CONFIG")
            .env_remove("JXC_AGENT_DATA")
            .stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run jxc-agent");
        assert!(
            out.status.success(),
            "jxc-agent {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Whether the hub serves movement `seq` of `site` (GET /v1/movements).
async fn hub_has(http: &reqwest::Client, hub: &HubUnderTest, site: &str, seq: u64) -> bool {
    let url = format!(
        "{}/v1/movements?site={site}&after={site}:{}&limit=1",
        hub.url,
        seq - 1
    );
    let Ok(resp) = http.get(url).bearer_auth(&hub.admin).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let Ok(bytes) = resp.bytes().await else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["movements"][0]["seq"].as_u64())
        == Some(seq)
}

/// Polls every 20 ms until the hub serves `seq`; the time it took, or None
/// after 10 s.
async fn wait_visible(
    http: &reqwest::Client,
    hub: &HubUnderTest,
    site: &str,
    seq: u64,
    since: Instant,
) -> Option<Duration> {
    let deadline = since + Duration::from_secs(10);
    while Instant::now() < deadline {
        if hub_has(http, hub, site, seq).await {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Returns false when the agent binary is missing (the figure is skipped).
fn visibility(quick: bool) -> bool {
    let bin = agent_bin();
    if !bin.is_file() {
        println!(
            "4. sale visibility: SKIPPED: {} is missing; build it first with `cargo build{} -p jxc-agent`",
            bin.display(),
            if quick { "" } else { " --release" }
        );
        return false;
    }
    let sales = env_usize("JXC_LOAD_SALES", if quick { 5 } else { 40 }).max(1);
    let site = "VIS01".to_owned();
    let (hub, mut tokens) = HubUnderTest::start(std::slice::from_ref(&site));
    let agent = AgentSite {
        bin,
        dir: tempfile::Builder::new()
            .prefix("jxc-load-agent-")
            .tempdir()
            .expect("temporary directory"),
    };
    agent.ok(&["init", "--site", &site, "--kind", "branch"]);
    agent.ok(&["location", "add", "main"]);
    agent.ok(&["product", "add", "A", "--name", "a"]);
    agent.ok(&[
        "receive",
        "--location",
        "main",
        "--sku",
        "A",
        "--qty",
        "1000",
        "--cost",
        "10",
    ]);
    let token = tokens.remove(0).to_string();
    agent.ok(&["enroll", "--hub", &hub.url, "--token", &token]);
    let run = agent
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start jxc-agent run");
    let mut run = Proc::new(run, "jxc-agent run");

    let rt = run_time();
    let (times, missed) = rt.block_on(async {
        let http = jxc_agent::tls::client(&hub.ca_pem, None).expect("admin client");
        // The receipt (#1) reaches the hub on the agent's first sync.
        let t = Instant::now();
        assert!(
            wait_visible(&http, &hub, &site, 1, t).await.is_some(),
            "`jxc-agent run` did not sync its first movement within 10 s"
        );
        let mut times = Vec::with_capacity(sales);
        let mut missed = 0;
        for i in 0..sales {
            let started = Instant::now();
            let out = agent
                .command(&[
                    "sell",
                    "--location",
                    "main",
                    "--sku",
                    "A",
                    "--qty",
                    "1",
                    "--price",
                    "12.5",
                    "--counterparty",
                    &format!("客户 {i}"),
                    "--ref",
                    &format!("SO-{}", i + 1),
                ])
                .output()
                .expect("run jxc-agent sell");
            let exited = Instant::now();
            assert!(
                out.status.success(),
                "jxc-agent sell: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let seq: u64 = stdout
                .trim_start()
                .strip_prefix('#')
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("sell printed no `#SEQ`: {stdout}"));
            match wait_visible(&http, &hub, &site, seq, exited).await {
                Some(d) => times.push(d),
                None => missed += 1,
            }
            // The next sale about 250 ms after this one was recorded or seen.
            let gap = Duration::from_millis(250).saturating_sub(started.elapsed());
            tokio::time::sleep(gap.max(Duration::from_millis(50))).await;
        }
        (times, missed)
    });
    rt.shutdown_timeout(STOP_TIMEOUT);
    run.stop();
    drop(hub);

    let mut times = times;
    times.sort();
    if times.is_empty() {
        println!(
            "4. sale visibility (real jxc-agent run, {sales} sales): none of the sales reached the hub within 10 s (target p99 <= 1 s: MISSED)"
        );
        return true;
    }
    let p99 = percentile(&times, 0.99);
    println!(
        "4. sale visibility (jxc-agent sell exit -> hub serves it; real jxc-agent run, {sales} sales ~250 ms apart, 20 ms polling): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms{} (target p99 <= 1 s: {})",
        ms(percentile(&times, 0.5)),
        ms(p99),
        ms(*times.last().expect("times")),
        if missed > 0 {
            format!(", {missed} not seen within 10 s")
        } else {
            String::new()
        },
        if missed > 0 {
            "MISSED".to_owned()
        } else {
            verdict(p99.as_secs_f64(), 1.0, false)
        }
    );
    true
}

// ---------------------------------------------------------------------------
// Figure 5: hub RSS with many enrolled sites

fn rss(quick: bool) {
    let n = env_usize("JXC_LOAD_SITES", if quick { 20 } else { 1_000 }).max(1);
    let per_site = 50;
    let sites = site_ids("RS", n);
    let (bodies, _, _) = encode_all(&sites, 1, per_site);
    let (hub, tokens) = HubUnderTest::start(&sites);
    let rt = run_time();
    let (secs, clients) = rt.block_on(async {
        let start = Instant::now();
        let http = jxc_agent::tls::client(&hub.ca_pem, None).expect("enrollment client");
        let sem = Arc::new(tokio::sync::Semaphore::new(ENROLL_CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for ((site, token), mut site_bodies) in sites.iter().cloned().zip(tokens).zip(bodies) {
            let (http, sem) = (http.clone(), sem.clone());
            let (url, ca) = (hub.url.clone(), hub.ca_pem.clone());
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore");
                let client = enroll(&http, &url, &ca, &site, &token).await;
                push(&client, &url, &site, site_bodies.remove(0)).await;
                // The client (and its connection to the hub) stays open, as
                // a running agent's does.
                client
            });
        }
        let mut clients = Vec::with_capacity(n);
        while let Some(r) = set.join_next().await {
            clients.push(r.expect("a site task failed"));
        }
        (start.elapsed().as_secs_f64(), clients)
    });
    let hwms = rt.block_on(hub_hwms(&hub));
    assert!(
        sites
            .iter()
            .all(|s| hwms.get(s) == Some(&(per_site as u64))),
        "every site synced"
    );
    let peak = status_mb(hub.pid(), "VmHWM:");
    let now = status_mb(hub.pid(), "VmRSS:");
    drop(clients);
    rt.shutdown_timeout(STOP_TIMEOUT);
    drop(hub);
    println!(
        "5. hub peak RSS (VmHWM) with {n} enrolled sites, each synced {per_site} movements and still connected: {peak:.1} MB, {now:.1} MB now (target <= 256 MB: {}); enroll + sync took {secs:.1} s, {ENROLL_CONCURRENCY} at a time",
        verdict(peak, 256.0, false)
    );
}

// ---------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: run a
    // tiny version then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let only = std::env::var("JXC_LOAD_ONLY").unwrap_or_default();
    let wanted = |name: &str| {
        only.trim().is_empty() || only.split(',').any(|o| o.trim().eq_ignore_ascii_case(name))
    };
    let known = ["ingest", "catchup", "visibility", "rss"];
    if let Some(bad) = only
        .split(',')
        .map(str::trim)
        .find(|o| !o.is_empty() && !known.contains(&o.to_ascii_lowercase().as_str()))
    {
        eprintln!("JXC_LOAD_ONLY={bad:?} is not valid: use ingest, catchup, visibility or rss");
        std::process::exit(2);
    }
    println!(
        "sync_load{}: hub {HUB_BIN}; hub and generator share {} cores; load average at start {}",
        if quick {
            " (quick mode, not --bench: tiny sizes, maybe a debug build; verdicts mean nothing)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut skipped = false;
    if wanted("ingest") {
        ingest(quick);
    }
    if wanted("catchup") {
        catchup(quick);
    }
    if wanted("visibility") && !visibility(quick) {
        skipped = true;
    }
    if wanted("rss") {
        rss(quick);
    }
    if skipped && !quick {
        std::process::exit(1);
    }
}
