//! The `jxc-agent` command line: argument definitions, dispatch to the store,
//! and the human, JSON and CSV renderings of what comes back.

use crate::config::AgentConfig;
use crate::error::{AgentError, Result};
use crate::import;
use crate::store::{CountReport, Location, MoveFilter, SendRequest, SiteInfo, StockFilter, Store};
use crate::sync;
use chrono::{DateTime, FixedOffset};
use clap::{Args, Parser, Subcommand};
pub use jxc_runtime::cli::ListFormat;
use jxc_runtime::shutdown::shutdown_signal;
use jxc_shared::ids::GlobalLocation;
use jxc_shared::movement::DraftInput;
use jxc_shared::product::check_text;
use jxc_shared::time::{check_not_future, format_time, parse_business_time, show_in_zone};
use jxc_shared::{
    LocationId, Lot, Money, Movement, MovementDraft, MovementKind, Product, SiteId, SiteKind, Sku,
};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Parser)]
#[command(
    name = "jxc-agent",
    version,
    about = "jxc agent: this site's stock ledger, durable and offline-first",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid input, 4 refused by a ledger rule, 5 data directory problem, 6 verify found differences."
)]
pub struct Cli {
    /// Data directory holding the ledger [default: data_dir from the config, else ./jxc-data]
    #[arg(long, global = true, env = "JXC_AGENT_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Configuration file [default: ./jxc-agent.toml if it exists]
    #[arg(long, global = true, env = "JXC_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this site's ledger.
    Init {
        #[arg(long)]
        site: String,
        #[arg(long, value_name = "branch|dealer|hq")]
        kind: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
    /// Locations owned by this site.
    #[command(subcommand)]
    Location(LocationCmd),
    /// Products known to this site.
    #[command(subcommand)]
    Product(ProductCmd),
    /// Customers (客户): shared with HQ (a dealer's only if it shares identity).
    #[command(subcommand)]
    Customer(crate::cli_docs::CustomerCmd),
    /// A dealer's sharing policy: what leaves this machine for HQ.
    #[command(subcommand)]
    Share(crate::cli_docs::ShareCmd),
    /// A dealer's own product codes mapped to HQ SKUs.
    #[command(subcommand, name = "sku-map")]
    SkuMap(crate::cli_docs::SkuMapCmd),
    /// The shared documents as Automerge files (export, merge, compact).
    #[command(subcommand)]
    Doc(crate::cli_docs::DocCmd),
    /// Goods received from a supplier (采购入库).
    Receive {
        #[command(flatten)]
        m: MoveArgs,
        /// Unit cost; without it the units come in at the current average cost.
        #[arg(long, allow_negative_numbers = true)]
        cost: Option<String>,
    },
    /// Goods sold to a customer (销售出库).
    Sell {
        #[command(flatten)]
        m: MoveArgs,
        /// Unit selling price.
        #[arg(long, allow_negative_numbers = true)]
        price: Option<String>,
    },
    /// A customer returned goods (销售退货).
    Return {
        #[command(flatten)]
        m: MoveArgs,
        /// Unit price refunded.
        #[arg(long, allow_negative_numbers = true)]
        price: Option<String>,
        /// Unit cost to value the returned goods at [default: the named
        /// sale's cost, else the location's average, else the site's]
        #[arg(long, allow_negative_numbers = true)]
        cost: Option<String>,
        /// The seq of the sale being returned (see `moves`): the goods come
        /// back at the cost that sale recorded.
        #[arg(long)]
        sale: Option<u64>,
    },
    /// Goods returned to the supplier (采购退货).
    ReturnToSupplier {
        #[command(flatten)]
        m: MoveArgs,
    },
    /// Goods written off (报损).
    Scrap {
        #[command(flatten)]
        m: MoveArgs,
        #[arg(long)]
        reason: String,
    },
    /// A quantity correction (盘点盈亏); --qty is signed, e.g. --qty -2.
    Adjust {
        #[command(flatten)]
        m: MoveArgs,
        #[arg(long)]
        reason: String,
        /// Unit cost for a positive adjustment [default: current average]
        #[arg(long, allow_negative_numbers = true)]
        cost: Option<String>,
    },
    /// An opening balance (期初).
    Opening {
        #[command(flatten)]
        m: MoveArgs,
        #[arg(long, allow_negative_numbers = true)]
        cost: Option<String>,
    },
    /// Transfers to other locations (调拨).
    #[command(subcommand)]
    Transfer(TransferCmd),
    /// Stocktakes (盘点).
    #[command(subcommand)]
    Count(CountCmd),
    /// On hand by location, sku and lot.
    Stock {
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        #[arg(long)]
        lot: Option<String>,
        /// Also show lines whose balance is zero.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// The movements of the ledger, in seq order.
    Moves {
        /// Only movements after this seq.
        #[arg(long, default_value_t = 0)]
        since: u64,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        sku: Option<String>,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Rebuild every balance from the ledger and compare (exit 6 on a difference).
    Verify,
    /// Rewrite every balance and cost from the ledger (after a `verify` failure).
    Rebuild,
    /// Enroll this site with a hub, once, with a token from `jxc-hub token`.
    Enroll {
        /// The hub's address, https://HOST:PORT
        #[arg(long)]
        hub: String,
        #[arg(long)]
        token: String,
    },
    /// Sync once with the hub (exit 0 if the hub was reached and holds everything, 7 if unreachable).
    Sync {
        /// Movements per request (at most 5000).
        #[arg(long, default_value_t = jxc_shared::protocol::MAX_BATCH_MOVEMENTS)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// Keep syncing: on a timer, soon after local writes, backing off while the hub is away.
    Run {
        #[arg(long, default_value_t = jxc_shared::protocol::MAX_BATCH_MOVEMENTS)]
        batch: usize,
    },
    /// What this site's ledger holds.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The sites and locations the hub knows, as of the last sync: where
    /// `transfer send --to` may go.
    Directory {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Import movements from a CSV (or .csv.gz) file.
    Import {
        file: PathBuf,
        /// Write good rows and put bad ones in this CSV instead of refusing the file.
        #[arg(long, value_name = "REJECTS.csv")]
        skip_bad: Option<PathBuf>,
        /// Import a file whose content was imported before.
        #[arg(long)]
        again: bool,
    },
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    #[arg(long)]
    pub location: String,
    #[arg(long)]
    pub sku: String,
    #[arg(long, allow_negative_numbers = true)]
    pub qty: String,
    #[arg(long)]
    pub lot: Option<String>,
    /// Customer or supplier.
    #[arg(long)]
    pub counterparty: Option<String>,
    /// Document number.
    #[arg(long = "ref")]
    pub reference: Option<String>,
    /// Business time: 2026-12-01, 2026/12/01 14:30, 2026-12-01 14:30 (in
    /// the site's time zone) or RFC 3339 with an offset [default: now]
    #[arg(long)]
    pub at: Option<String>,
    /// Accept a business time more than a day in the future.
    #[arg(long)]
    pub allow_future: bool,
}

#[derive(Debug, Subcommand)]
pub enum LocationCmd {
    Add {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Let stock at this location go below zero.
        #[arg(long)]
        allow_negative: bool,
    },
    List {
        #[command(flatten)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProductCmd {
    Add {
        sku: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        unit: Option<String>,
        /// Decimal places a quantity may have (0-6).
        #[arg(long, default_value_t = 0)]
        decimals: u32,
        #[arg(long)]
        lot_tracked: bool,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        brand: Option<String>,
    },
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// CSV with header sku,name,unit,category,brand (optional decimals,lot_tracked).
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum TransferCmd {
    /// Send stock to another location, of this site or of another.
    Send {
        #[arg(long)]
        from: String,
        /// SITE/LOCATION
        #[arg(long)]
        to: String,
        #[arg(long)]
        sku: String,
        #[arg(long, allow_negative_numbers = true)]
        qty: String,
        #[arg(long)]
        lot: Option<String>,
        #[arg(long = "ref")]
        reference: Option<String>,
        /// Business time, written as for `receive --at` [default: now]
        #[arg(long)]
        at: Option<String>,
        /// Accept a business time more than a day in the future.
        #[arg(long)]
        allow_future: bool,
        /// Send even to a site or location the hub's directory does not list
        /// (one created since the last sync).
        #[arg(long)]
        unlisted: bool,
    },
    /// Cancel a transfer this site sent to another: the goods come back to
    /// the location they left.
    Cancel { id: String },
    /// Close an incoming transfer short: what remains never arrived (it is
    /// received and scrapped as lost in transit).
    Close { id: String },
    /// Transfers sent from this site, or with --incoming those sent to it.
    List {
        #[arg(long)]
        incoming: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Receive an incoming transfer: all that remains, or --qty of it.
    Receive {
        id: String,
        #[arg(long)]
        qty: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CountCmd {
    Start {
        #[arg(long)]
        location: String,
    },
    /// Record a counted quantity (the book quantity is taken now).
    Set {
        sku: String,
        #[arg(allow_negative_numbers = true)]
        qty: String,
        #[arg(long)]
        lot: Option<String>,
        /// Needed only when counts are open at several locations.
        #[arg(long)]
        location: Option<String>,
    },
    /// CSV with header sku,qty (optional lot).
    Import {
        file: PathBuf,
        #[arg(long)]
        location: Option<String>,
        /// Import a file whose content was imported into a count before.
        #[arg(long)]
        again: bool,
    },
    /// Abandon the open count: nothing is posted.
    Cancel {
        #[arg(long)]
        location: Option<String>,
    },
    /// Write the adjustments and print the variance report.
    Post {
        #[arg(long)]
        location: Option<String>,
        #[command(flatten)]
        format: ListFormat,
    },
}

/// Column names of `moves --csv`, in the order of [`MoveOut`]'s fields.
const MOVE_COLUMNS: [&str; 14] = [
    "seq",
    "type",
    "location",
    "sku",
    "lot",
    "qty",
    "unit_cost",
    "unit_price",
    "counterparty",
    "ref",
    "reason",
    "transfer_id",
    "occurred_at",
    "recorded_at",
];

/// A movement as `moves` prints it in JSON and CSV.
#[derive(Debug, Serialize)]
pub(crate) struct MoveOut<'a> {
    pub(crate) seq: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) location: &'a str,
    pub(crate) sku: &'a str,
    pub(crate) lot: &'a str,
    /// Signed change to on hand.
    pub(crate) qty: String,
    pub(crate) unit_cost: String,
    pub(crate) unit_price: Option<String>,
    pub(crate) counterparty: Option<&'a str>,
    #[serde(rename = "ref")]
    pub(crate) reference: Option<&'a str>,
    pub(crate) reason: Option<&'a str>,
    pub(crate) transfer_id: Option<&'a str>,
    pub(crate) occurred_at: String,
    pub(crate) recorded_at: String,
}

impl<'a> From<&'a Movement> for MoveOut<'a> {
    fn from(m: &'a Movement) -> Self {
        let d = &m.draft;
        MoveOut {
            seq: m.seq,
            kind: d.kind.as_str(),
            location: d.location.as_str(),
            sku: d.sku.as_str(),
            lot: d.lot.as_ref().map_or("", Lot::as_str),
            qty: d.qty.to_string(),
            unit_cost: m.unit_cost.to_string(),
            unit_price: d.unit_price.map(|p| p.to_string()),
            counterparty: d.counterparty.as_deref(),
            reference: d.reference.as_deref(),
            reason: d.reason.as_deref(),
            transfer_id: d.transfer_id.as_deref(),
            occurred_at: format_time(&d.occurred_at),
            recorded_at: format_time(&m.recorded_at),
        }
    }
}

use crate::clock::now;

/// `--at` as people write it, in the site's zone; more than a day ahead of
/// the agent's clock only with `--allow-future`.
fn at_or_now(
    at: Option<&str>,
    allow_future: bool,
    now: DateTime<FixedOffset>,
) -> Result<DateTime<FixedOffset>> {
    Ok(match at {
        Some(t) => {
            let at = parse_business_time("at", t, crate::clock::zone())?;
            if !allow_future {
                check_not_future("at", t, at, now)?;
            }
            at
        }
        None => now,
    })
}

/// A stored time as tables show it: in the site's zone.
fn shown(stored: &str) -> String {
    show_in_zone(stored, crate::clock::zone())
}

fn opt_location(s: Option<&str>) -> Result<Option<LocationId>> {
    Ok(s.map(LocationId::parse).transpose()?)
}

pub(crate) fn io_err(e: std::io::Error) -> AgentError {
    AgentError::io("<stdout>", e)
}

/// Prints rows as aligned columns.
fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    out.write_all(jxc_shared::text::table(header, rows).as_bytes())
        .map_err(io_err)
}

/// Prints rows as CSV for Excel (see [`jxc_shared::text::csv_table`]).
fn csv_rows(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    out.write_all(jxc_shared::text::csv_table(header, rows).as_bytes())
        .map_err(io_err)
}

/// Prints `items` as a JSON array, as CSV, or as a table with one row per
/// item.
pub(crate) fn listing<T: Serialize>(
    out: &mut dyn Write,
    format: ListFormat,
    items: &[T],
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<()> {
    if format.json {
        return json(out, &items);
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    if format.csv {
        return csv_rows(out, header, &rows);
    }
    table(out, header, &rows)
}

pub(crate) fn json(out: &mut dyn Write, v: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| io_err(e.into()))?;
    writeln!(out).map_err(io_err)
}

/// Runs one command. `out` receives results, `err` row-level reports.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let config = AgentConfig::load(cli.config.as_deref())?;
    let dir = cli.data.clone().unwrap_or_else(|| config.data_dir.clone());
    let busy = config.busy_timeout();
    crate::clock::set_zone(config.zone());
    let now = now();

    if let Command::Init {
        site,
        kind,
        name,
        region,
    } = &cli.command
    {
        let id = SiteId::parse(site)?;
        let info = SiteInfo {
            kind: SiteKind::parse(kind)?,
            name: check_text("name", name.as_deref().unwrap_or(id.as_str()), 200)?,
            region: check_text("region", region.as_deref().unwrap_or(""), 100)?,
            id,
        };
        let store = Store::init(&dir, info, busy, now)?;
        writeln!(
            out,
            "initialized site {} ({}) in {}",
            store.site().id,
            store.site().kind.as_str(),
            store.path().display()
        )
        .map_err(io_err)?;
        return Ok(());
    }

    let mut store = Store::open(&dir, busy)?;
    match cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::Location(cmd) => location(&mut store, cmd, out),
        Command::Product(cmd) => product(&mut store, cmd, out, err),
        Command::Customer(cmd) => crate::cli_docs::customer(&mut store, cmd, out),
        Command::Share(cmd) => crate::cli_docs::share(&mut store, cmd, out),
        Command::SkuMap(cmd) => crate::cli_docs::sku_map(&mut store, cmd, out, err),
        Command::Doc(cmd) => crate::cli_docs::doc(&mut store, cmd, out),
        Command::Receive { m, cost } => record(
            &mut store,
            MovementKind::Receipt,
            &m,
            DraftInput {
                unit_cost: cost.as_deref(),
                ..Default::default()
            },
            now,
            out,
        ),
        Command::Sell { m, price } => record(
            &mut store,
            MovementKind::Sale,
            &m,
            DraftInput {
                unit_price: price.as_deref(),
                ..Default::default()
            },
            now,
            out,
        ),
        Command::Return {
            m,
            price,
            cost,
            sale,
        } => record_return(
            &mut store,
            &m,
            DraftInput {
                unit_price: price.as_deref(),
                unit_cost: cost.as_deref(),
                ..Default::default()
            },
            sale,
            now,
            out,
            err,
        ),
        Command::ReturnToSupplier { m } => record(
            &mut store,
            MovementKind::SupplierReturn,
            &m,
            DraftInput::default(),
            now,
            out,
        ),
        Command::Scrap { m, reason } => record(
            &mut store,
            MovementKind::Scrap,
            &m,
            DraftInput {
                reason: Some(&reason),
                ..Default::default()
            },
            now,
            out,
        ),
        Command::Adjust { m, reason, cost } => record(
            &mut store,
            MovementKind::Adjustment,
            &m,
            DraftInput {
                reason: Some(&reason),
                unit_cost: cost.as_deref(),
                ..Default::default()
            },
            now,
            out,
        ),
        Command::Opening { m, cost } => record(
            &mut store,
            MovementKind::Opening,
            &m,
            DraftInput {
                unit_cost: cost.as_deref(),
                ..Default::default()
            },
            now,
            out,
        ),
        Command::Transfer(cmd) => transfer(&mut store, cmd, now, out),
        Command::Count(cmd) => count(&mut store, cmd, now, out, err),
        Command::Stock {
            location,
            sku,
            lot,
            all,
            format,
        } => {
            let filter = StockFilter {
                location: opt_location(location.as_deref())?,
                sku: sku.as_deref().map(Sku::parse).transpose()?,
                lot: lot.as_deref().map(Lot::parse).transpose()?,
                all,
            };
            listing(
                out,
                format,
                &store.stock(&filter)?,
                &["location", "sku", "lot", "qty", "unit", "avg_cost", "value"],
                |r| {
                    vec![
                        r.location.to_string(),
                        r.sku.to_string(),
                        r.lot.as_ref().map(|l| l.to_string()).unwrap_or_default(),
                        r.qty.to_string(),
                        r.unit.clone(),
                        r.avg_cost.to_string(),
                        r.value.to_string(),
                    ]
                },
            )
        }
        Command::Moves {
            since,
            location,
            sku,
            format,
        } => {
            let filter = MoveFilter {
                since,
                limit: None,
                location: opt_location(location.as_deref())?,
                sku: sku.as_deref().map(Sku::parse).transpose()?,
            };
            moves(&store, &filter, format, out)
        }
        Command::Verify => {
            let report = store.verify()?.into_result()?;
            writeln!(
                out,
                "ok: {} movements, seq gapless; {} balances and every moving-average cost agree with the ledger",
                report.movements, report.balances
            )
            .map_err(io_err)
        }
        Command::Rebuild => {
            let report = store.rebuild()?;
            writeln!(
                out,
                "rebuilt {} balances from {} movements",
                report.balances, report.movements
            )
            .map_err(io_err)
        }
        Command::Enroll { hub, token } => {
            let store = Arc::new(Mutex::new(store));
            let answer = runtime()?.block_on(sync::enroll(&store, &dir, &hub, &token))?;
            writeln!(
                out,
                "enrolled site {} ({}) with the hub at {}; run `jxc-agent sync` or `jxc-agent run`",
                answer.site,
                answer.kind,
                hub.trim_end_matches('/')
            )
            .map_err(io_err)
        }
        Command::Sync {
            batch,
            json: as_json,
        } => {
            let url = hub_url(&store)?;
            let client = sync::HubClient::from_data_dir(&dir, &url)?;
            let store = Arc::new(Mutex::new(store));
            let report = runtime()?.block_on(sync::sync_once(
                &store,
                &client,
                batch.clamp(1, jxc_shared::protocol::MAX_BATCH_MOVEMENTS),
            ))?;
            if as_json {
                return json(out, &report);
            }
            writeln!(
                out,
                "synced with {url}: sent {}, accepted {}, already held {}, quarantined {}; {} incoming transfer(s); the hub holds up to #{}",
                report.sent, report.accepted, report.duplicates, report.quarantined.len(), report.incoming, report.hwm
            )
            .map_err(io_err)?;
            for q in &report.quarantined {
                writeln!(out, "  quarantined #{}: {}", q.seq, q.reason).map_err(io_err)?;
            }
            Ok(())
        }
        Command::Run { batch } => {
            let url = hub_url(&store)?;
            let hub = sync::HubClient::from_data_dir(&dir, &url)?;
            let worker = sync::Worker {
                store: Arc::new(Mutex::new(store)),
                hub,
                interval: std::time::Duration::from_secs(config.sync_interval_secs),
                batch: batch.clamp(1, jxc_shared::protocol::MAX_BATCH_MOVEMENTS),
            };
            runtime()?.block_on(async move {
                let (tx, rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown_signal().await;
                    let _ = tx.send(true);
                });
                tracing::info!(hub = %url, "running; syncing until SIGINT or SIGTERM");
                worker.run(rx).await
            })
        }
        Command::Directory { format } => {
            let (sites, fetched) = store.directory()?;
            if !format.json && !format.csv {
                match &fetched {
                    Some(t) => writeln!(out, "the hub's directory as of {t}"),
                    None => writeln!(out, "no directory yet: run `jxc-agent sync`"),
                }
                .map_err(io_err)?;
            }
            listing(
                out,
                format,
                &sites,
                &[
                    "site",
                    "kind",
                    "name",
                    "region",
                    "shares_costs",
                    "locations",
                ],
                |s| {
                    vec![
                        s.id.clone(),
                        s.kind.clone(),
                        s.name.clone(),
                        s.region.clone(),
                        s.shares_costs.to_string(),
                        s.locations.join(" "),
                    ]
                },
            )
        }
        Command::Status { json: as_json } => {
            let s = store.status()?;
            let sync = store.sync_state()?;
            // A dealer's hwm counts its outbound stream, not its ledger.
            let unsynced = store.outbound_last_seq()?.saturating_sub(sync.hwm);
            if as_json {
                let mut v = serde_json::to_value(&s).map_err(|e| io_err(e.into()))?;
                v["sync"] = serde_json::to_value(&sync).map_err(|e| io_err(e.into()))?;
                v["sync"]["unsynced"] = unsynced.into();
                v["doc_actor"] = store.actor()?.to_hex_string().into();
                v["time_zone"] = crate::clock::zone().to_string().into();
                return json(out, &v);
            }
            let rows = vec![
                vec![
                    "site".into(),
                    format!("{} ({}) {}", s.site.id, s.site.kind.as_str(), s.site.name),
                ],
                vec!["region".into(), s.site.region.clone()],
                vec![
                    "ledger".into(),
                    format!("{} (schema {})", s.ledger, s.schema_version),
                ],
                vec!["locations".into(), s.locations.to_string()],
                vec!["products".into(), s.products.to_string()],
                vec!["movements".into(), s.movements.to_string()],
                vec![
                    "last recorded".into(),
                    s.last_recorded_at
                        .as_deref()
                        .map_or_else(|| "never".into(), shown),
                ],
                vec!["open counts".into(), s.open_counts.to_string()],
                vec!["time zone".into(), crate::clock::zone().to_string()],
                vec!["document actor".into(), store.actor()?.to_hex_string()],
                vec![
                    "transfers in transit".into(),
                    s.transfers_in_transit.to_string(),
                ],
                vec![
                    "hub".into(),
                    sync.hub_url
                        .clone()
                        .unwrap_or_else(|| "not enrolled".into()),
                ],
                vec!["hub holds up to".into(), format!("#{}", sync.hwm)],
                vec!["unsynced".into(), unsynced.to_string()],
                vec![
                    "last sync".into(),
                    sync.last_sync_at
                        .as_deref()
                        .map_or_else(|| "never".into(), shown),
                ],
                vec![
                    "last sync error".into(),
                    sync.last_error.clone().unwrap_or_default(),
                ],
            ];
            for r in rows {
                writeln!(out, "{:<22}{}", r[0], r[1]).map_err(io_err)?;
            }
            Ok(())
        }
        Command::Import {
            file,
            skip_bad,
            again,
        } => {
            let progress = std::io::stderr().is_terminal();
            let sum = import::import_movements(
                &mut store,
                &file,
                skip_bad.as_deref(),
                progress,
                again,
                now,
                err,
            )?;
            let range = match (sum.first_seq, sum.last_seq) {
                (Some(a), Some(b)) => format!(" (#{a}-#{b})"),
                _ => String::new(),
            };
            write!(
                out,
                "imported {} movements{range} from {}",
                sum.written,
                file.display()
            )
            .map_err(io_err)?;
            if let Some(r) = &skip_bad {
                write!(
                    out,
                    "; {} bad row(s) written to {}",
                    sum.rejected,
                    r.display()
                )
                .map_err(io_err)?;
            }
            writeln!(out).map_err(io_err)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AgentError::io("<runtime>", e))
}

fn hub_url(store: &Store) -> Result<String> {
    store.sync_state()?.hub_url.ok_or_else(|| {
        AgentError::DataDir(
            "this site is not enrolled with a hub: run `jxc-agent enroll --hub URL --token T`"
                .into(),
        )
    })
}

fn location(store: &mut Store, cmd: LocationCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        LocationCmd::Add {
            id,
            name,
            allow_negative,
        } => {
            let id = LocationId::parse(&id)?;
            let name = check_text("name", name.as_deref().unwrap_or(id.as_str()), 200)?;
            store.add_location(&Location {
                id: id.clone(),
                name,
                allow_negative,
            })?;
            writeln!(out, "added location {}/{id}", store.site().id).map_err(io_err)
        }
        LocationCmd::List { format } => {
            let site = store.site().id.clone();
            listing(
                out,
                format,
                &store.locations()?,
                &["location", "name", "negative stock"],
                |l| {
                    vec![
                        format!("{site}/{}", l.id),
                        l.name.clone(),
                        if l.allow_negative { "allowed" } else { "no" }.into(),
                    ]
                },
            )
        }
    }
}

fn product(
    store: &mut Store,
    cmd: ProductCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match cmd {
        ProductCmd::Add {
            sku,
            name,
            unit,
            decimals,
            lot_tracked,
            category,
            brand,
        } => {
            let p = Product::new(
                &sku,
                &name,
                unit.as_deref(),
                category.as_deref(),
                brand.as_deref(),
                decimals,
                lot_tracked,
            )?;
            store.add_product(&p)?;
            writeln!(out, "added product {} {}", p.sku, p.name).map_err(io_err)
        }
        ProductCmd::List { format } => listing(
            out,
            format,
            &store.products()?,
            &[
                "sku", "name", "unit", "decimals", "lots", "category", "brand",
            ],
            |p| {
                vec![
                    p.sku.to_string(),
                    p.name.clone(),
                    p.unit.clone(),
                    p.decimals.to_string(),
                    if p.lot_tracked { "yes" } else { "no" }.into(),
                    p.category.clone(),
                    p.brand.clone(),
                ]
            },
        ),
        ProductCmd::Import { file } => {
            let (added, updated) = import::import_products(store, &file, err)?;
            writeln!(
                out,
                "imported {} products from {} ({added} added, {updated} updated)",
                added + updated,
                file.display()
            )
            .map_err(io_err)
        }
    }
}

/// The draft a movement command describes.
fn draft_from<'a>(
    store: &Store,
    kind: MovementKind,
    m: &'a MoveArgs,
    mut input: DraftInput<'a>,
    now: DateTime<FixedOffset>,
) -> Result<(jxc_shared::Product, MovementDraft)> {
    let location = LocationId::parse(&m.location)?;
    let product = store.require_product(&Sku::parse(&m.sku)?)?;
    input.lot = m.lot.as_deref();
    input.counterparty = m.counterparty.as_deref();
    input.reference = m.reference.as_deref();
    let at = at_or_now(m.at.as_deref(), m.allow_future, now)?;
    let draft = MovementDraft::build(kind, location, &product, &m.qty, &input, at)?;
    Ok((product, draft))
}

fn record<'a>(
    store: &mut Store,
    kind: MovementKind,
    m: &'a MoveArgs,
    input: DraftInput<'a>,
    now: DateTime<FixedOffset>,
    out: &mut dyn Write,
) -> Result<()> {
    let (product, draft) = draft_from(store, kind, m, input, now)?;
    let mut ledger = store.ledger(now)?;
    let mv = ledger.apply(draft)?;
    let d = &mv.draft;
    let on_hand = ledger.on_hand(&d.location, &d.sku, &d.lot)?;
    ledger.commit()?;
    recorded(out, &product, &mv, on_hand)?;
    if let (MovementKind::Sale, Some(c)) = (kind, d.counterparty.as_deref()) {
        customer_terms(store, c, d.occurred_at, out)?;
    }
    Ok(())
}

/// `return`: valued as `store::returns` says, with a warning on stderr when
/// the customer returns more than this site sold it.
#[allow(clippy::too_many_arguments)]
fn record_return<'a>(
    store: &mut Store,
    m: &'a MoveArgs,
    input: DraftInput<'a>,
    sale: Option<u64>,
    now: DateTime<FixedOffset>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let (product, draft) = draft_from(store, MovementKind::CustomerReturn, m, input, now)?;
    let r = store.customer_return(draft, sale, now)?;
    recorded(out, &product, &r.movement, r.on_hand)?;
    if let Some(w) = r.warning {
        writeln!(err, "warning: {w}").map_err(io_err)?;
    }
    Ok(())
}

/// The line every movement command prints.
fn recorded(
    out: &mut dyn Write,
    product: &jxc_shared::Product,
    mv: &Movement,
    on_hand: jxc_shared::Quantity,
) -> Result<()> {
    let d = &mv.draft;
    let lot = d
        .lot
        .as_ref()
        .map(|l| format!(" lot {l}"))
        .unwrap_or_default();
    writeln!(
        out,
        "#{} {} {} {} of {}{lot} at {}: unit cost {}, value {}; on hand now {}",
        mv.seq,
        d.kind.as_str(),
        d.qty,
        product.unit,
        d.sku,
        d.location,
        mv.unit_cost,
        Money::total(d.qty, mv.unit_cost),
        on_hand
    )
    .map_err(io_err)
}

/// A sale to a registered customer: its payment terms apply (the due date),
/// and the sales still within terms are shown against its credit limit.
fn customer_terms(
    store: &Store,
    id: &str,
    at: DateTime<FixedOffset>,
    out: &mut dyn Write,
) -> Result<()> {
    let Some(c) = store.customer(id)? else {
        return Ok(());
    };
    let Some(days) = c.terms_days else {
        return writeln!(out, "customer {} ({}): no payment terms set", c.id, c.name)
            .map_err(io_err);
    };
    let due = at.date_naive() + chrono::Days::new(u64::from(days));
    write!(
        out,
        "customer {} ({}): payment due {due} ({days} days)",
        c.id, c.name
    )
    .map_err(io_err)?;
    if let Some(limit) = c.credit_limit {
        let open = store.open_sales_value(id, at - chrono::Duration::days(i64::from(days)))?;
        let over = if open > limit.decimal() {
            " — OVER THE CREDIT LIMIT"
        } else {
            ""
        };
        write!(out, "; within terms {open} of credit limit {limit}{over}").map_err(io_err)?;
    }
    writeln!(out).map_err(io_err)
}

fn transfer(
    store: &mut Store,
    cmd: TransferCmd,
    now: DateTime<FixedOffset>,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        TransferCmd::Send {
            from,
            to,
            sku,
            qty,
            lot,
            reference,
            at,
            allow_future,
            unlisted,
        } => {
            let from = LocationId::parse(&from)?;
            let to = GlobalLocation::parse("to", &to)?;
            let sku = Sku::parse(&sku)?;
            let at = at_or_now(at.as_deref(), allow_future, now)?;
            let t = store.transfer_send(
                &SendRequest {
                    from: &from,
                    to: &to,
                    sku: &sku,
                    qty: &qty,
                    lot: lot.as_deref(),
                    reference: reference.as_deref(),
                    at,
                    unlisted,
                },
                now,
            )?;
            let state = if t.status == "received" {
                format!("received at {}", t.to)
            } else {
                format!("sent; in transit until {} receives it", to.site)
            };
            writeln!(
                out,
                "{}: {} of {} from {} to {} ({state})",
                t.id, t.qty, t.sku, t.from_location, t.to
            )
            .map_err(io_err)?;
            writeln!(out, "{}", t.id).map_err(io_err)
        }
        TransferCmd::List {
            incoming: true,
            format,
        } => listing(
            out,
            format,
            &store.incoming_transfers(false)?,
            &[
                "id",
                "from",
                "to",
                "sku",
                "lot",
                "qty",
                "received",
                "short",
                "remaining",
                "status",
                "sent_at",
            ],
            |t| {
                vec![
                    t.id.clone(),
                    t.from.clone(),
                    t.to_location.clone(),
                    t.sku.clone(),
                    t.lot.clone(),
                    t.qty.to_string(),
                    t.received.to_string(),
                    t.short.to_string(),
                    t.remaining.to_string(),
                    t.status.to_owned(),
                    shown(&t.sent_at),
                ]
            },
        ),
        TransferCmd::Cancel { id } => {
            let m = store.transfer_cancel(&id, now)?;
            writeln!(
                out,
                "#{} transfer {id} cancelled: {} of {} back at {}",
                m.seq, m.draft.qty, m.draft.sku, m.draft.location
            )
            .map_err(io_err)
        }
        TransferCmd::Close { id } => {
            let (arrived, lost) = store.transfer_close(&id, now)?;
            writeln!(
                out,
                "#{} #{} transfer {id} closed short: {} of {} never arrived, scrapped as lost in transit at {} (value {})",
                arrived.seq,
                lost.seq,
                arrived.draft.qty,
                arrived.draft.sku,
                arrived.draft.location,
                Money::total(arrived.draft.qty, lost.unit_cost)
            )
            .map_err(io_err)
        }
        TransferCmd::Receive { id, qty } => {
            let m = store.transfer_receive(&id, qty.as_deref(), now)?;
            writeln!(
                out,
                "#{} received {} of {} from transfer {id} at {}",
                m.seq, m.draft.qty, m.draft.sku, m.draft.location
            )
            .map_err(io_err)
        }
        TransferCmd::List {
            incoming: false,
            format,
        } => listing(
            out,
            format,
            &store.transfers()?,
            &[
                "id", "from", "to", "sku", "lot", "qty", "received", "status", "sent_at",
            ],
            |t| {
                vec![
                    t.id.clone(),
                    t.from_location.to_string(),
                    t.to.clone(),
                    t.sku.to_string(),
                    t.lot.clone().unwrap_or_default(),
                    t.qty.to_string(),
                    t.received_qty.to_string(),
                    t.status.clone(),
                    shown(&t.sent_at),
                ]
            },
        ),
    }
}

fn count(
    store: &mut Store,
    cmd: CountCmd,
    now: DateTime<FixedOffset>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match cmd {
        CountCmd::Start { location } => {
            let c = store.count_start(&LocationId::parse(&location)?, now)?;
            writeln!(out, "count #{} started at location {}", c.id, c.location).map_err(io_err)
        }
        CountCmd::Set {
            sku,
            qty,
            lot,
            location,
        } => {
            let c = store.open_count(opt_location(location.as_deref())?.as_ref())?;
            let entry = store.count_entry(&sku, &qty, lot.as_deref())?;
            let line = store.count_record(&c, &[entry], now)?.remove(0);
            writeln!(
                out,
                "count #{}: {} counted {} (book {}, variance {})",
                c.id, line.sku, line.counted, line.book, line.variance
            )
            .map_err(io_err)
        }
        CountCmd::Import {
            file,
            location,
            again,
        } => {
            let c = store.open_count(opt_location(location.as_deref())?.as_ref())?;
            let n = import::import_count(store, &c, &file, again, now, err)?;
            writeln!(
                out,
                "count #{}: recorded {n} counted lines from {}",
                c.id,
                file.display()
            )
            .map_err(io_err)
        }
        CountCmd::Cancel { location } => {
            let c = store.open_count(opt_location(location.as_deref())?.as_ref())?;
            store.count_cancel(&c, now)?;
            writeln!(
                out,
                "count #{} at location {} cancelled: nothing posted",
                c.id, c.location
            )
            .map_err(io_err)
        }
        CountCmd::Post { location, format } => {
            let c = store.open_count(opt_location(location.as_deref())?.as_ref())?;
            let report = store.count_post(&c, now)?;
            if format.json {
                return json(out, &report);
            }
            print_count_report(&report, format.csv, out)
        }
    }
}

/// The variance report: a table with a heading and a total, or with `csv`
/// only its lines.
fn print_count_report(r: &CountReport, csv: bool, out: &mut dyn Write) -> Result<()> {
    const COLUMNS: [&str; 8] = [
        "sku",
        "lot",
        "book",
        "counted",
        "variance",
        "unit_cost",
        "value",
        "movement",
    ];
    let rows: Vec<Vec<String>> = r
        .lines
        .iter()
        .map(|l| {
            vec![
                l.sku.to_string(),
                l.lot.as_ref().map(|x| x.to_string()).unwrap_or_default(),
                l.book.to_string(),
                l.counted.to_string(),
                l.variance.to_string(),
                l.unit_cost.to_string(),
                l.value.to_string(),
                l.seq.map(|s| format!("#{s}")).unwrap_or_default(),
            ]
        })
        .collect();
    if csv {
        return csv_rows(out, &COLUMNS, &rows);
    }
    writeln!(
        out,
        "count #{} at location {} posted",
        r.count.id, r.count.location
    )
    .map_err(io_err)?;
    table(out, &COLUMNS, &rows)?;
    writeln!(out, "total variance value: {}", r.total_value).map_err(io_err)
}

fn moves(
    store: &Store,
    filter: &MoveFilter,
    format: ListFormat,
    out: &mut dyn Write,
) -> Result<()> {
    if format.csv {
        // Streamed, so memory does not grow with the ledger; the BOM and the
        // header are written even when no movement matches.
        out.write_all(jxc_shared::text::UTF8_BOM.as_bytes())
            .map_err(io_err)?;
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        w.write_record(MOVE_COLUMNS).map_err(|e| io_err(e.into()))?;
        store.moves(filter, |m| {
            w.serialize(MoveOut::from(&m)).map_err(|e| io_err(e.into()))
        })?;
        return w.flush().map_err(io_err);
    }
    if format.json {
        // Streamed as one JSON array so memory does not grow with the ledger.
        write!(out, "[").map_err(io_err)?;
        let mut first = true;
        store.moves(filter, |m| {
            let sep = if first { "\n" } else { ",\n" };
            first = false;
            write!(out, "{sep}").map_err(io_err)?;
            serde_json::to_writer(&mut *out, &MoveOut::from(&m)).map_err(|e| io_err(e.into()))
        })?;
        return writeln!(out, "\n]").map_err(io_err);
    }
    let header = [
        "seq",
        "type",
        "location",
        "sku",
        "lot",
        "qty",
        "unit_cost",
        "unit_price",
        "counterparty",
        "ref",
        "occurred_at",
    ];
    writeln!(out, "{}", header.join("  ")).map_err(io_err)?;
    store.moves(filter, |m| {
        let o = MoveOut::from(&m);
        writeln!(
            out,
            "{}  {}  {}  {}  {}  {}  {}  {}  {}  {}  {}",
            o.seq,
            o.kind,
            o.location,
            o.sku,
            o.lot,
            o.qty,
            o.unit_cost,
            o.unit_price.unwrap_or_default(),
            o.counterparty.unwrap_or(""),
            o.reference.unwrap_or(""),
            shown(&o.occurred_at)
        )
        .map_err(io_err)
    })
}
