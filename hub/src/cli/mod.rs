//! The `jxc-hub` command line: set-up (init, tokens, users, revocation), the
//! server, and reads of the hub store for operators. `docs.rs` holds the
//! catalog, customer and sharing commands, `sales.rs` the sales flow.

pub mod alert;
pub mod docs;
pub mod plan;
pub mod sales;

use crate::config::{HubConfig, HubHome};
use crate::error::{HubError, Result};
use crate::http::api::{self, Hub};
use crate::http::views;
use crate::pki::Ca;
use crate::store::{Backend, GroupBy, InventoryFilter, NewSite, Role, Store};
use chrono::{Duration as ChronoDuration, Utc};
use clap::{Parser, Subcommand};
pub use jxc_runtime::cli::ListFormat;
use jxc_runtime::shutdown::shutdown_signal;
use jxc_shared::Quantity;
use jxc_shared::product::check_text;
use jxc_shared::protocol::EnrollToken;
use jxc_shared::text::{csv_table, table};
use jxc_shared::{SiteId, SiteKind};
use rand::RngCore;
use serde::Serialize;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";

#[derive(Debug, Parser)]
#[command(
    name = "jxc-hub",
    version,
    about = "jxc hub: consolidated channel inventory and secure sync for jxc agents",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid input, 4 refused, 5 data directory problem."
)]
pub struct Cli {
    /// Directory holding the hub's database and certificates [default: data_dir from the config, else ./jxc-hub-data]
    #[arg(long, global = true, env = "JXC_HUB_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The hub's PostgreSQL database, postgres://user@host:port/dbname [default: database_url from the config, else hub.db in the data directory]
    #[arg(long, global = true, env = "JXC_HUB_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Configuration file [default: ./jxc-hub.toml if it exists]
    #[arg(long, global = true, env = "JXC_HUB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the hub: its CA, a server certificate and a first admin token.
    Init {
        /// A DNS name or IP address agents use to reach the hub (repeatable) [default: localhost, 127.0.0.1]
        #[arg(long = "hostname")]
        hostnames: Vec<String>,
    },
    /// Serve HTTPS until SIGTERM or SIGINT.
    Serve {
        /// [default: listen from the config, else 127.0.0.1:8443]
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Print a one-time enrollment token for a site.
    Token {
        #[arg(long)]
        site: String,
        #[arg(long, value_name = "branch|dealer|hq")]
        kind: String,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// How long the token stays valid: 30m, 24h, 7d
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// Refuse every further request from a site.
    Revoke {
        #[arg(long)]
        site: String,
    },
    /// HQ users of the dashboard and API.
    #[command(subcommand)]
    User(UserCmd),
    /// Enrolled sites and how fresh their data is.
    Sites {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Consolidated on hand, in transit and value.
    Inventory {
        #[arg(long)]
        sku: Option<String>,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        /// Group by one or more of sku, site, location, region, kind, lot (comma-separated)
        #[arg(long, default_value = "sku", value_name = "KEY[,KEY…]")]
        by: String,
        #[command(flatten)]
        format: ListFormat,
    },
    /// The sales flow 销售流向: qty, returns, revenue, cost of goods and
    /// gross margin, grouped by any keys, from the daily sums ingest keeps.
    Sales(sales::SalesArgs),
    /// Sell-in against sell-through per dealer: what HQ and branches shipped
    /// in, what the dealer sold, and the weeks its stock covers.
    Channel(sales::ChannelArgs),
    /// Planning: sunk stock, forecasts and their backtest, stock policy and reorder suggestions.
    #[command(subcommand)]
    Plan(plan::PlanCmd),
    /// Stock alerts: open and cleared, newest first.
    Alerts {
        /// Only alerts whose condition still holds.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Alert rules and deliveries.
    #[command(subcommand)]
    Alert(alert::AlertCmd),
    /// Transfers between sites.
    Transfers {
        /// Only transfers still in transit, or disputed.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Run a hub and sites on this machine with a month of realistic activity.
    #[cfg(feature = "demo")]
    Demo {
        /// How many sites: an HQ warehouse, then branches and dealers.
        #[arg(long, default_value_t = 5)]
        agents: usize,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Seed of the simulated activity.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Keep serving after the simulation until Ctrl-C.
        #[arg(long)]
        serve: bool,
    },
    /// Records the hub would not apply, and why.
    Quarantine {
        /// Refused document changes instead of movements.
        #[arg(long)]
        documents: bool,
        #[command(flatten)]
        format: ListFormat,
    },
    /// The HQ catalog (shared with every site).
    #[command(subcommand)]
    Product(docs::ProductCmd),
    /// Customers the sites share; credit fields of branch customers.
    #[command(subcommand)]
    Customer(docs::CustomerCmd),
    /// The sharing policy each dealer has set.
    Share {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Write the hub's CA certificate and key and its server certificate and
    /// key (keys 0600) from its database into DIR, for a backup or a tool
    /// that must present the hub's certificate.
    ExportCerts {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user and print their API bearer token once. Asks for a
    /// dashboard password on a terminal; without one the user has the API
    /// token only.
    Add {
        name: String,
        #[arg(long, value_name = "admin|planner|viewer")]
        role: String,
        /// Read the dashboard password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's dashboard password (their signed-in browsers are signed
    /// out).
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// The HQ users and their roles.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Remove a user: their token stops working at once.
    Remove { name: String },
}

fn io_err(e: std::io::Error) -> HubError {
    HubError::io("<stdout>", e)
}

/// A dashboard password: the first line of standard input with
/// `--password-stdin`, else asked for twice on the terminal without echo;
/// `None` when there is no terminal to ask on.
fn read_password(from_stdin: bool) -> Result<Option<String>> {
    use std::io::{BufRead, IsTerminal};
    let stdin_err = |e: std::io::Error| HubError::io("<stdin>", e);
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(stdin_err)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("dashboard password: ").map_err(stdin_err)?;
        let again = rpassword::prompt_password("again: ").map_err(stdin_err)?;
        if first != again {
            return Err(HubError::Invalid(
                "password: the two entries differ; nothing changed".into(),
            ));
        }
        first
    } else {
        return Ok(None);
    };
    if password.is_empty() {
        return Err(HubError::Invalid(
            "password \"\" is not valid: give one of at least 8 characters".into(),
        ));
    }
    Ok(Some(password))
}

/// `bytes` random bytes, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Writes a secret file readable only by its owner.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| HubError::io(path, e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| HubError::io(path, e))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            HubError::DataDir(format!(
                "{} is missing: run `jxc-hub init` first (or pass --data DIR)",
                path.display()
            ))
        } else {
            HubError::io(path, e)
        }
    })
}

/// Parses a duration such as `30m`, `24h` or `7d`.
pub(crate) fn parse_ttl(s: &str) -> Result<ChronoDuration> {
    let bad = || {
        HubError::Invalid(format!(
            "ttl {s:?} is not valid: write a number with m, h or d, such as 24h"
        ))
    };
    let (n, unit) = s.trim().split_at(s.trim().len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "m" => ChronoDuration::minutes(n),
        "h" => ChronoDuration::hours(n),
        "d" => ChronoDuration::days(n),
        _ => return Err(bad()),
    };
    if n <= 0 || d > ChronoDuration::days(365) {
        return Err(bad());
    }
    Ok(d)
}

/// Creates a hub (its database, CA, server certificate and first admin)
/// and returns the CA and the admin's bearer token. The CA and the server
/// key live in the database, so every hub process on it can serve and
/// enroll; the data directory gets `ca.pem` for operators (on SQLite, where
/// the directory is the hub, the key files too, as before).
pub fn init(home: &HubHome, hostnames: &[String]) -> Result<(Ca, String)> {
    let dir = &home.dir;
    let sqlite = home.db.backend() == Backend::Sqlite;
    if sqlite && (dir.join(CA_CERT).exists() || dir.join(crate::store::DB_FILE).exists()) {
        return Err(HubError::Conflict(format!(
            "{} already holds a hub; nothing changed",
            dir.display()
        )));
    }
    let hostnames: Vec<String> = if hostnames.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into()]
    } else {
        hostnames.to_vec()
    };
    let ca = Ca::generate("jxc hub CA").map_err(|e| HubError::Internal(e.to_string()))?;
    let (cert, key) = ca
        .server_cert(&hostnames, 825)
        .map_err(|e| HubError::Invalid(e.to_string()))?;
    let mut store = Store::open(&home.db, true)?;
    if store.secret(CA_CERT)?.is_some() {
        return Err(HubError::Conflict(format!(
            "the database {} already holds a hub; nothing changed",
            home.db.display()
        )));
    }
    let token = format!("jxch_{}", random_hex(24));
    store.add_user("admin", Role::Admin, &token, None, Utc::now())?;
    store.put_secrets(&[
        (CA_CERT, ca.cert_pem()),
        (CA_KEY, ca.key_pem()),
        (SERVER_CERT, &cert),
        (SERVER_KEY, &key),
    ])?;
    crate::store::db::private_dir(dir)?;
    std::fs::write(dir.join(CA_CERT), ca.cert_pem())
        .map_err(|e| HubError::io(dir.join(CA_CERT), e))?;
    if sqlite {
        write_private(&dir.join(CA_KEY), ca.key_pem())?;
        write_private(&dir.join(SERVER_KEY), &key)?;
        std::fs::write(dir.join(SERVER_CERT), cert)
            .map_err(|e| HubError::io(dir.join(SERVER_CERT), e))?;
    }
    Ok((ca, token))
}

/// A secret from the hub's database; a hub made before they moved there
/// has them as files in its data directory, and they are copied in.
fn secret(store: &mut Store, home: &HubHome, name: &str) -> Result<String> {
    if let Some(v) = store.secret(name)? {
        return Ok(v);
    }
    let v = read(&home.dir.join(name))?;
    store.put_secrets(&[(name, &v)])?;
    Ok(v)
}

pub fn load_ca(home: &HubHome) -> Result<Ca> {
    let mut store = Store::open(&home.db, false)?;
    load_ca_from(&mut store, home)
}

fn load_ca_from(store: &mut Store, home: &HubHome) -> Result<Ca> {
    Ca::from_pem(
        &secret(store, home, CA_CERT)?,
        &secret(store, home, CA_KEY)?,
    )
    .map_err(|e| HubError::DataDir(format!("{}: {e}", home.db.display())))
}

/// Writes the hub's certificates and keys into `to` (created 0700 if
/// missing); an existing file is replaced.
pub fn export_certs(home: &HubHome, to: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut store = Store::open(&home.db, false)?;
    let files: Vec<(&str, String)> = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY]
        .into_iter()
        .map(|name| Ok((name, secret(&mut store, home, name)?)))
        .collect::<Result<_>>()?;
    crate::store::db::private_dir(to)?;
    for (name, pem) in files {
        let path = to.join(name);
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .map_err(|e| HubError::io(&path, e))?;
    }
    Ok(())
}

/// Makes a one-time enrollment token for a site.
pub fn make_token(home: &HubHome, site: NewSite, ttl: ChronoDuration) -> Result<EnrollToken> {
    let mut store = Store::open(&home.db, false)?;
    let ca = load_ca_from(&mut store, home)?;
    issue_token(&mut store, &ca, &site, ttl)
}

/// A one-time enrollment token for `site`, valid for `ttl`, stored (its
/// secret hashed) in `store`: what `jxc-hub token` and the dashboard's
/// sites page print.
pub fn issue_token(
    store: &mut Store,
    ca: &Ca,
    site: &NewSite,
    ttl: ChronoDuration,
) -> Result<EnrollToken> {
    let token = EnrollToken {
        id: random_hex(4),
        secret: random_hex(16),
        ca_fingerprint: ca.fingerprint(),
    };
    store.add_token(&token.id, &token.secret, site, ttl, Utc::now())?;
    Ok(token)
}

/// A new site as `jxc-hub token` and the dashboard take it: its id, kind
/// (`branch`, `dealer`, `hq`), name (the id when not given) and region,
/// each checked.
pub fn new_site(id: &str, kind: &str, name: Option<&str>, region: Option<&str>) -> Result<NewSite> {
    let id = SiteId::parse(id)?;
    Ok(NewSite {
        kind: SiteKind::parse(kind)?,
        name: check_text("name", name.unwrap_or(id.as_str()), 200)?,
        region: check_text("region", region.unwrap_or(""), 100)?,
        id,
    })
}

/// Serves until `shutdown` resolves. `ready` receives the bound address.
pub async fn serve(
    home: &HubHome,
    config: &HubConfig,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Connecting to the database blocks: off the async threads.
    let (home_, config_) = (home.clone(), config.clone());
    let (hub, tls) = api::blocking(move || {
        let mut store = Store::open(&home_.db, false)?;
        let ca = load_ca_from(&mut store, &home_)?;
        let tls = crate::tls::server_config(
            &ca,
            &secret(&mut store, &home_, SERVER_CERT)?,
            &secret(&mut store, &home_, SERVER_KEY)?,
        )
        .map_err(|e| HubError::DataDir(format!("{}: {e}", home_.db.display())))?;
        let hub = Hub::open(&home_.db, ca, &config_)?.with_limits(config_.limits.clone());
        Ok((hub, tls))
    })
    .await?;
    let hub = Arc::new(hub);
    tokio::spawn(crate::plan::policy::refresh_daily(hub.clone()));
    {
        let h = hub.clone();
        api::blocking(move || {
            crate::alert::warn_unknown_scopes(&api::lock(&h.reads), &h.config.alerts);
            crate::alert::close_orphans(&mut api::lock(&h.store), &h.config.alerts).map(|_| ())
        })
        .await?;
    }
    // The alert worker runs beside the server and stops with it.
    let (stop_alerts, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(crate::alert::deliver::AlertWorker::new(hub.clone())?.run(stopped));
    let shutdown = async move {
        shutdown.await;
        let _ = stop_alerts.send(true);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| HubError::io(listen.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| HubError::io(listen.to_string(), e))?;
    ready(addr);
    tracing::info!(%addr, "serving");
    let served = crate::tls::serve(listener, tls, api::router(hub), &config.limits, shutdown)
        .await
        .map_err(|e| HubError::io(addr.to_string(), e));
    // A message being sent finishes or, unmarked, is sent again after restart.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), worker).await;
    served
}

pub(crate) fn json(out: &mut dyn Write, v: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(|e| io_err(e.into()))?;
    writeln!(out).map_err(io_err)
}

/// Prints rows as an aligned table, or with `--csv` as CSV for Excel.
pub(crate) fn print_table(
    out: &mut dyn Write,
    format: ListFormat,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<()> {
    let text = if format.csv {
        csv_table(header, rows)
    } else {
        table(header, rows)
    };
    out.write_all(text.as_bytes()).map_err(io_err)
}

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    let config = HubConfig::load(cli.config.as_deref())?;
    let dir = cli.data.clone().unwrap_or_else(|| config.data_dir.clone());
    let home = HubHome::new(
        dir.clone(),
        cli.database.as_deref().or(config.database_url.as_deref()),
    )?;
    let db = &home.db;
    match cli.command {
        Command::Init { hostnames } => {
            let (ca, token) = init(&home, &hostnames)?;
            writeln!(out, "initialized hub in {}", home.db.display()).map_err(io_err)?;
            writeln!(out, "CA fingerprint (sha256): {}", ca.fingerprint()).map_err(io_err)?;
            writeln!(
                out,
                "CA certificate (for curl --cacert): {}",
                dir.join(CA_CERT).display()
            )
            .map_err(io_err)?;
            writeln!(out, "admin token (shown once; store it safely): {token}").map_err(io_err)
        }
        Command::Serve { listen } => {
            let listen = listen.unwrap_or(config.listen);
            let rt =
                tokio::runtime::Runtime::new().map_err(|e| HubError::Internal(e.to_string()))?;
            rt.block_on(serve(
                &home,
                &config,
                listen,
                |addr| {
                    // Tests and scripts read this line to learn the port.
                    println!("listening on https://{addr}");
                    let _ = std::io::stdout().flush();
                },
                shutdown_signal(),
            ))
        }
        Command::Token {
            site,
            kind,
            region,
            name,
            ttl,
        } => {
            let site = new_site(&site, &kind, name.as_deref(), region.as_deref())?;
            let token = make_token(&home, site, parse_ttl(&ttl)?)?;
            writeln!(out, "{token}").map_err(io_err)
        }
        Command::Revoke { site } => {
            Store::open(db, false)?.revoke(&SiteId::parse(&site)?, Utc::now())?;
            writeln!(out, "revoked site {site}: its next request is refused").map_err(io_err)
        }
        Command::User(UserCmd::Add {
            name,
            role,
            password_stdin,
        }) => {
            let role = Role::parse(&role)?;
            let name = check_text("name", &name, 100)?;
            if name.is_empty() {
                return Err(HubError::Invalid(
                    "name \"\" is not valid: a user needs a name".into(),
                ));
            }
            let mut store = Store::open(db, false)?;
            let hash = read_password(password_stdin)?
                .map(|p| crate::web::password::hash(&p))
                .transpose()?;
            if hash.is_none() {
                eprintln!(
                    "note: {name} has no dashboard password and can use the API token only; set one with `jxc-hub user passwd {name}`"
                );
            }
            let token = format!("jxch_{}", random_hex(24));
            store.add_user(&name, role, &token, hash.as_deref(), Utc::now())?;
            writeln!(out, "{token}").map_err(io_err)
        }
        Command::User(UserCmd::Passwd {
            name,
            password_stdin,
        }) => {
            let mut store = Store::open(db, false)?;
            let password = read_password(password_stdin)?.ok_or_else(|| {
                HubError::Invalid(
                    "password: standard input is not a terminal: pass --password-stdin and the password on its first line".into(),
                )
            })?;
            store.set_password(&name, &crate::web::password::hash(&password)?)?;
            writeln!(
                out,
                "password of {name} set: they sign in to the dashboard with it"
            )
            .map_err(io_err)
        }
        Command::User(UserCmd::List { format }) => {
            let users = Store::open(db, false)?.users()?;
            if format.json {
                return json(out, &views::all::<_, views::UserView>(users));
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| vec![u.name.clone(), u.role.clone(), u.created_at.clone()])
                .collect();
            print_table(out, format, &["name", "role", "created_at"], &rows)
        }
        Command::User(UserCmd::Remove { name }) => {
            Store::open(db, false)?.remove_user(&name)?;
            writeln!(out, "removed user {name}: their token no longer works").map_err(io_err)
        }
        Command::Sites { format } => {
            let rows = Store::open(db, false)?.sites(Utc::now(), config.stale_after_secs)?;
            if format.json {
                return json(out, &views::all::<_, views::SiteView>(rows));
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|s| {
                    vec![
                        s.id.clone(),
                        s.kind.clone(),
                        s.region.clone(),
                        s.hwm.to_string(),
                        s.unsynced_at_agent.to_string(),
                        s.last_sync_at.clone().unwrap_or_else(|| "never".into()),
                        s.freshness.to_owned(),
                        if s.revoked_at.is_some() {
                            "revoked"
                        } else {
                            ""
                        }
                        .into(),
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &[
                    "site",
                    "kind",
                    "region",
                    "hwm",
                    "unsynced",
                    "last sync",
                    "freshness",
                    "",
                ],
                &rows,
            )
        }
        Command::Inventory {
            sku,
            site,
            region,
            kind,
            by,
            format,
        } => {
            let filter = InventoryFilter {
                sku,
                site,
                region,
                kind,
                by: GroupBy::parse_list(&by)?,
            };
            let keys = filter.keys();
            let rows = Store::open(db, false)?.inventory(&filter)?;
            if format.json {
                let rows: Vec<views::InventoryView> = rows
                    .into_iter()
                    .map(|r| views::InventoryView::new(&keys, r))
                    .collect();
                return json(out, &rows);
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row = r.keys.clone();
                    row.extend([
                        r.on_hand.to_string(),
                        r.in_transit.to_string(),
                        r.value.to_string(),
                        blank_zero(r.not_updated),
                        blank_zero(r.unvalued),
                        blank_zero(r.undeliverable),
                    ]);
                    row
                })
                .collect();
            let mut header: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            header.extend([
                "on_hand",
                "in_transit",
                "value",
                "not_updated",
                "unvalued",
                "undeliverable",
            ]);
            print_table(out, format, &header, &rows)
        }
        Command::Sales(args) => sales::sales(&home, args, out),
        Command::Channel(args) => sales::channel(&home, args, out),
        Command::Plan(cmd) => plan::run(&home, &config, cmd, out),
        Command::Alerts { open, format } => alert::alerts(&home, open, format, out),
        Command::Alert(cmd) => alert::run(&home, &config, cmd, out),
        Command::Transfers { open, format } => {
            let rows = Store::open(db, false)?.transfers(open)?;
            if format.json {
                return json(out, &views::all::<_, views::TransferView>(rows));
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.from.clone(),
                        t.to.clone(),
                        t.sku.clone(),
                        t.qty.to_string(),
                        t.received.to_string(),
                        blank_zero(t.returned),
                        t.in_transit.to_string(),
                        match &t.undeliverable {
                            Some(why) => format!("{}: {why}", t.status),
                            None if !t.disputed.is_zero() => format!(
                                "{}: {} both received and taken back; adjust at the side in error",
                                t.status, t.disputed
                            ),
                            None => t.status.to_owned(),
                        },
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &[
                    "id",
                    "from",
                    "to",
                    "sku",
                    "qty",
                    "received",
                    "returned",
                    "in_transit",
                    "status",
                ],
                &rows,
            )
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            agents,
            days,
            seed,
            serve,
        } => {
            // The demo works in a fresh directory and leaves it for inspection.
            let base = match cli.data {
                Some(d) => d,
                None => tempfile::Builder::new()
                    .prefix("jxc-demo-")
                    .tempdir()
                    .map_err(|e| HubError::io(std::env::temp_dir(), e))?
                    .keep(),
            };
            crate::demo::run(
                &base,
                &crate::demo::DemoOptions {
                    agents,
                    days,
                    seed,
                    serve,
                },
                out,
            )
        }
        Command::Quarantine {
            documents: true,
            format,
        } => docs::doc_refusals(&home, format, out),
        Command::Product(cmd) => docs::product(&home, cmd, out),
        Command::Customer(cmd) => docs::customer(&home, cmd, out),
        Command::Share { format } => docs::share_list(&home, format, out),
        Command::ExportCerts { dir: to } => {
            export_certs(&home, &to)?;
            writeln!(
                out,
                "wrote {CA_CERT}, {CA_KEY}, {SERVER_CERT} and {SERVER_KEY} to {}",
                to.display()
            )
            .map_err(io_err)
        }
        Command::Quarantine { format, .. } => {
            let rows = Store::open(db, false)?.quarantine()?;
            if format.json {
                return json(out, &views::all::<_, views::QuarantineView>(rows));
            }
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|q| {
                    vec![
                        q.site.clone(),
                        q.seq.to_string(),
                        q.kind.clone(),
                        q.reason.clone(),
                        q.received_at.clone(),
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &["site", "seq", "kind", "reason", "received_at"],
                &rows,
            )
        }
    }
}

/// A quantity for a table cell that is usually zero: empty when it is.
fn blank_zero(q: Quantity) -> String {
    if q.is_zero() {
        String::new()
    } else {
        q.to_string()
    }
}
