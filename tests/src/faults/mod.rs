//! Randomized, seeded fault schedules against real processes: a hub and
//! several agents (HQ, branches and a dealer), SIGKILLs (also mid-sync), restarts, a proxy that cuts,
//! delays, duplicates and replays requests, clock skew and crafted bad
//! records and document changes, while HQ edits its catalog and credit terms
//! and the sites their customers; then everything heals and a checker proves
//! the invariants of `shared/DESIGN.md` for the ledgers and the shared
//! documents. `jxc-faults --seed N` replays one schedule.

pub mod checker;
pub mod crafted;
pub mod docs;
pub mod driver;
pub mod proxy;
pub mod schedule;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use schedule::Size;

/// Declares [`Counts`] with a label per counter, in table order.
macro_rules! counts {
    ($($field:ident: $label:expr,)*) => {
        /// How often each fault and kind of work was applied.
        #[derive(Debug, Default, Clone)]
        pub struct Counts {
            $(pub $field: u64,)*
        }

        impl Counts {
            /// (label, value) of every counter, in table order.
            pub fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![$(($label, self.$field),)*]
            }

            pub fn add(&mut self, other: &Counts) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

counts! {
    local_ops: "local operations",
    skipped_ops: "  skipped (nothing to act on)",
    stocktakes: "  stocktakes",
    transfers_local: "  transfers within a site",
    transfers_sent: "  transfers between sites",
    dealer_transfers: "    to or from the dealer",
    transfers_received: "  transfer receipts",
    transfers_cancelled: "  transfers cancelled by their sender",
    transfers_closed: "  transfers closed short by their receiver",
    catalog_receipts: "  receipts of catalog products",
    sales_registered: "  sales to registered customers",
    sales_walk_in: "  sales to unregistered counterparties",
    catalog_edits: "catalog edits by HQ (add, set, import row)",
    catalog_imports: "  CSV imports",
    customer_edits: "customer edits at sites (add, set)",
    credit_edits: "credit edits by HQ on branch customers",
    concurrent_credit: "  concurrent with the branch editing it",
    doc_skipped: "  skipped (no customer at the hub yet)",
    doc_compactions: "document compactions at sites",
    syncs: "one-shot syncs",
    agent_kills_mid_sync: "agent SIGKILL mid-sync",
    agent_kills_mid_docs: "  during the document exchange",
    agent_kills_idle: "agent SIGKILL (sync not reached)",
    daemon_kills: "jxc-agent run SIGKILL",
    hub_kills: "hub SIGKILL",
    hub_kills_mid_sync: "hub SIGKILL mid-sync",
    hub_kills_mid_docs: "  during the document exchange",
    hub_restarts: "hub restarts",
    net_refused: "connections cut",
    answers_dropped: "answers dropped after the hub acted",
    delayed: "requests delayed",
    duplicated: "requests duplicated",
    replayed: "stale requests replayed",
    doc_faults: "  of the four above, on document requests",
    skewed_agents: "agents with a skewed clock",
    crafted_bad: "crafted bad records",
    crafted_docs: "crafted bad document changes",
    movements_checked: "movements checked",
    dealer_records_checked: "  published by the dealer",
    transfers_checked: "transfers checked",
    catalog_checked: "catalog products checked (site x product)",
    customers_checked: "customers checked",
    customer_conflicts: "customer fields in conflict (same everywhere)",
}

/// The real binaries the driver runs.
pub struct Binaries {
    pub agent: PathBuf,
    pub hub: PathBuf,
}

/// Finds `jxc-agent` and `jxc-hub` for the profile this executable was built
/// with. Under `cargo test` they are the binaries cargo built for the
/// workspace's own integration tests (see [`crate::binary`]): building them
/// again here would resolve features for two packages only and compile a
/// second copy of the dependencies. `cargo run -p jxc-e2e` does not build
/// other packages' binaries, so the driver builds them once per process.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().expect("own executable path");
        // target/<profile>/jxc-faults or target/<profile>/deps/<test>
        let dir = exe.parent().expect("executable dir").to_path_buf();
        if dir.ends_with("deps") {
            return Binaries {
                agent: crate::binary("jxc-agent"),
                hub: crate::binary("jxc-hub"),
            };
        }
        let mut build = std::process::Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "jxc-agent", "-p", "jxc-hub"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of jxc-agent and jxc-hub failed"
        );
        Binaries {
            agent: dir.join("jxc-agent"),
            hub: dir.join("jxc-hub"),
        }
    })
}

/// How one schedule went.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub result: Result<(), String>,
    pub counts: Counts,
    pub elapsed: Duration,
    pub steps: usize,
    /// The steps that ran, for a failure report.
    pub trace: Vec<String>,
}

/// The one-line command that replays a seed.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p jxc-e2e -- --seed {seed}")
}

/// Runs the schedule of `seed` and checks the invariants. A panic in the
/// harness (a helper's assertion) is a failure of the seed, not of the run.
pub fn run_seed(seed: u64, size: Size) -> Outcome {
    run_seed_on(seed, size, 1)
}

/// [`run_seed`] with `hubs` hub processes: more than one share a
/// PostgreSQL database behind HAProxy, and each hub kill of the schedule
/// takes down one of them (in turn) while the others serve.
pub fn run_seed_on(seed: u64, size: Size, hubs: usize) -> Outcome {
    let start = Instant::now();
    match std::panic::catch_unwind(|| run_seed_inner(seed, size, hubs)) {
        Ok(o) => o,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            Outcome {
                seed,
                result: Err(format!("panicked: {msg}")),
                counts: Counts::default(),
                elapsed: start.elapsed(),
                steps: 0,
                trace: Vec::new(),
            }
        }
    }
}

/// Runs the schedule of `seed` with one movement altered on its way to the
/// hub at the end; the checker must refuse it (a test of the checker).
pub fn run_sabotaged(seed: u64, size: Size) -> Result<(), String> {
    let mut driver = driver::Driver::new(schedule::generate(seed, size))?;
    driver.sabotage = true;
    driver.run()?;
    checker::check(&driver).map(|_| ())
}

/// Runs the schedule of `seed` with one record of the dealer's outbound
/// stream altered on its way to the hub at the end; the checker must refuse
/// it (a test of the dealer's checks).
pub fn run_sabotaged_dealer(seed: u64, size: Size) -> Result<(), String> {
    let mut driver = driver::Driver::new(schedule::generate(seed, size))?;
    driver.sabotage_dealer = true;
    driver.run()?;
    checker::check(&driver).map(|_| ())
}

/// Runs the schedule of `seed`, then has HQ set a branch customer's credit
/// limit without telling the driver; the checker must notice the value
/// nobody it knows of set (a test of the document checks).
pub fn run_sabotaged_docs(seed: u64, size: Size) -> Result<(), String> {
    let mut driver = driver::Driver::new(schedule::generate(seed, size))?;
    driver.sabotage_docs = true;
    driver.run()?;
    checker::check(&driver).map(|_| ())
}

fn run_seed_inner(seed: u64, size: Size, hubs: usize) -> Outcome {
    let start = Instant::now();
    let schedule = schedule::generate(seed, size);
    let steps = schedule.steps.len();
    let mut driver = match driver::Driver::with_hubs(schedule, hubs) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                seed,
                result: Err(format!("set-up: {e}")),
                counts: Counts::default(),
                elapsed: start.elapsed(),
                steps,
                trace: Vec::new(),
            };
        }
    };
    let result = driver.run().and_then(|()| checker::check(&driver));
    let mut counts = driver.counts.clone();
    for a in &driver.agents {
        use proxy::ProxyStats;
        let s = a.proxy.stats();
        counts.net_refused += ProxyStats::get(&s.refused);
        counts.answers_dropped += ProxyStats::get(&s.dropped_answers);
        counts.delayed += ProxyStats::get(&s.delayed);
        counts.duplicated += ProxyStats::get(&s.duplicated);
        counts.replayed += ProxyStats::get(&s.replayed);
        counts.doc_faults += ProxyStats::get(&s.doc_faults);
    }
    let result = result.map(|checked| {
        counts.movements_checked = checked.movements;
        counts.dealer_records_checked = checked.dealer_records;
        counts.transfers_checked = checked.transfers;
        counts.catalog_checked = checked.catalog;
        counts.customers_checked = checked.customers;
        counts.customer_conflicts = checked.conflicts;
    });
    Outcome {
        seed,
        result,
        counts,
        elapsed: start.elapsed(),
        steps,
        trace: std::mem::take(&mut driver.trace),
    }
}
