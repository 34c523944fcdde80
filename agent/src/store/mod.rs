//! The agent's one store: it owns the SQLite connection and all the SQL.
//!
//! One file per data directory (`ledger.db`), WAL mode, schema migrations
//! embedded in the binary. Every write runs in a `BEGIN IMMEDIATE`
//! transaction with `synchronous=FULL`, so a command that printed success has
//! its data on disk, and a second process waits its turn instead of failing.

mod count;
mod directory;
mod docs;
mod imports;
mod incoming;
mod ledger;
mod query;
mod returns;
mod share;
mod sync;
mod transfer;

pub use count::{CountEntry, CountLine, CountReport, CountSession};
pub use imports::{FileImport, ImportKind};
pub use incoming::IncomingRow;
pub use ledger::LedgerTx;
pub use query::{BalanceRow, MoveFilter, Status, StockFilter, VerifyReport};
pub use sync::SyncState;
pub use transfer::{SendRequest, Transfer};

use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::time::format_time;
use jxc_shared::{DomainError, LocationId, Product, SiteId, SiteKind, Sku};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DB_FILE: &str = "ledger.db";

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: [&str; 7] = [
    include_str!("migrations/0001_ledger.sql"),
    include_str!("migrations/0002_transfers_counts.sql"),
    include_str!("migrations/0003_sync.sql"),
    include_str!("migrations/0004_docs.sql"),
    include_str!("migrations/0005_imports.sql"),
    include_str!("migrations/0006_share_revenue.sql"),
    include_str!("migrations/0007_directory.sql"),
];
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

#[derive(Debug, Clone, Serialize)]
pub struct SiteInfo {
    pub id: SiteId,
    pub kind: SiteKind,
    pub name: String,
    pub region: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
    pub allow_negative: bool,
}

pub struct Store {
    conn: Connection,
    site: SiteInfo,
    path: PathBuf,
}

/// Creates the data directory (0700) and the ledger file (0600) before
/// SQLite opens it: the ledger holds customers, costs and prices. SQLite
/// gives its `-wal` and `-shm` files the same mode. An existing directory
/// keeps its mode (it may be one the operator chose, such as the cwd).
fn create_private(dir: &Path, ledger: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| AgentError::io(dir, e))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(ledger)
        .map_err(|e| AgentError::io(ledger, e))?;
    Ok(())
}

fn connect(path: &Path, busy: Duration) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy)?;
    // journal_mode needs the lock only when it changes; it persists in the file.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => AgentError::DataDir(format!(
                "{} is not a jxc ledger (not a SQLite database)",
                path.display()
            )),
            _ => e.into(),
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(AgentError::DataDir(format!(
            "{}: could not switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA journal_size_limit=67108864;",
    )?;
    Ok(conn)
}

fn schema_version(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema up to `target`, one migration per step, all in one
/// transaction so a crash leaves the old version intact.
fn migrate(conn: &mut Connection, target: u32) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = schema_version(&tx)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn check_version(path: &Path, found: u32) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(AgentError::DataDir(format!(
            "{} was written by a newer jxc-agent (schema {found}; this one knows up to {SCHEMA_VERSION}): upgrade jxc-agent",
            path.display()
        )));
    }
    Ok(())
}

impl Store {
    /// Creates the data directory and its ledger for a new site.
    pub fn init(
        dir: &Path,
        site: SiteInfo,
        busy: Duration,
        now: DateTime<FixedOffset>,
    ) -> Result<Store> {
        let path = dir.join(DB_FILE);
        create_private(dir, &path)?;
        let mut conn = connect(&path, busy)?;
        check_version(&path, schema_version(&conn)?)?;
        migrate(&mut conn, SCHEMA_VERSION)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row("SELECT id FROM site", [], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            return Err(AgentError::Conflict(format!(
                "{} already holds the ledger of site {id}; nothing changed",
                dir.display()
            )));
        }
        tx.execute(
            "INSERT INTO site (singleton, id, kind, name, region, created_at, actor, share_key) VALUES (1, ?, ?, ?, ?, ?, randomblob(16), randomblob(32))",
            params![site.id.as_str(), site.kind.as_str(), site.name, site.region, format_time(&now)],
        )?;
        tx.commit()?;
        Ok(Store { conn, site, path })
    }

    /// Opens an existing ledger, migrating it if an older version made it.
    pub fn open(dir: &Path, busy: Duration) -> Result<Store> {
        let path = dir.join(DB_FILE);
        if !path.is_file() {
            return Err(AgentError::DataDir(format!(
                "no ledger at {}: run `jxc-agent init --site ID --kind branch` first (or pass --data DIR)",
                path.display()
            )));
        }
        let mut conn = connect(&path, busy)?;
        let found = schema_version(&conn)?;
        check_version(&path, found)?;
        if found < SCHEMA_VERSION {
            migrate(&mut conn, SCHEMA_VERSION)?;
        }
        let site = conn
            .query_row("SELECT id, kind, name, region FROM site", [], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .optional()?;
        let Some((id, kind, name, region)) = site else {
            return Err(AgentError::DataDir(format!(
                "{} has no site: run `jxc-agent init` first",
                path.display()
            )));
        };
        let corrupt = |e: DomainError| AgentError::DataDir(format!("{}: {e}", path.display()));
        let site = SiteInfo {
            id: SiteId::parse(&id).map_err(corrupt)?,
            kind: SiteKind::parse(&kind).map_err(corrupt)?,
            name,
            region,
        };
        Ok(Store { conn, site, path })
    }

    pub fn site(&self) -> &SiteInfo {
        &self.site
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction on the ledger. Dropping it without
    /// `commit` writes nothing.
    pub fn ledger(&mut self, now: DateTime<FixedOffset>) -> Result<LedgerTx<'_>> {
        LedgerTx::begin(&mut self.conn, self.site.id.clone(), now)
    }

    /// Sets how much page cache SQLite may use, in KiB (bulk imports).
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -(kib as i64))?;
        Ok(())
    }

    pub fn add_location(&mut self, loc: &Location) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "INSERT INTO location (id, name, allow_negative) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            params![loc.id.as_str(), loc.name, loc.allow_negative],
        )?;
        if n == 0 {
            return Err(AgentError::Conflict(format!(
                "location {} already exists at site {}",
                loc.id, self.site.id
            )));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn locations(&self) -> Result<Vec<Location>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, allow_negative FROM location ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Location {
                id: stored(0, LocationId::parse(&r.get::<_, String>(0)?))?,
                name: r.get(1)?,
                allow_negative: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn location(&self, id: &LocationId) -> Result<Option<Location>> {
        Ok(self.locations()?.into_iter().find(|l| &l.id == id))
    }

    /// Adds one new product; refuses an SKU that exists (naming HQ's
    /// catalog when it is one of its products) or that holds whitespace.
    pub fn add_product(&mut self, p: &Product) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        check_product_write(&tx, p)?;
        let n = insert_product(&tx, p)?;
        if n == 0 {
            return Err(AgentError::Conflict(format!(
                "product {} already exists",
                p.sku
            )));
        }
        tx.commit()?;
        Ok(())
    }

    /// Why this site may not write `p`, as a row error (see
    /// [`check_product_write`]); `Ok` when it may.
    pub fn check_product(&self, p: &Product) -> Result<()> {
        check_product_write(&self.conn, p)
    }

    /// Adds or updates many products in one transaction. An existing product
    /// keeps its lot tracking, and its decimals may only grow, so quantities
    /// already in the ledger stay valid. HQ's catalog products are refused:
    /// only HQ changes them. Returns (added, updated).
    pub fn upsert_products(&mut self, products: &[Product]) -> Result<(usize, usize)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut added, mut updated) = (0, 0);
        {
            let mut get = tx.prepare("SELECT decimals, lot_tracked FROM product WHERE sku = ?")?;
            let mut upd = tx.prepare(
                "UPDATE product SET name = ?2, unit = ?3, category = ?4, brand = ?5, decimals = ?6 WHERE sku = ?1",
            )?;
            for p in products {
                check_product_write(&tx, p)?;
                let old: Option<(u32, bool)> = get
                    .query_row([p.sku.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match old {
                    None => {
                        insert_product(&tx, p)?;
                        added += 1;
                    }
                    Some((decimals, lot_tracked)) => {
                        if lot_tracked != p.lot_tracked {
                            return Err(AgentError::Conflict(format!(
                                "product {}: lot tracking cannot change once the product exists",
                                p.sku
                            )));
                        }
                        upd.execute(params![
                            p.sku.as_str(),
                            p.name,
                            p.unit,
                            p.category,
                            p.brand,
                            p.decimals.max(decimals)
                        ])?;
                        updated += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok((added, updated))
    }

    pub fn products(&self) -> Result<Vec<Product>> {
        let mut stmt = self.conn.prepare(
            "SELECT sku, name, unit, category, brand, decimals, lot_tracked FROM product ORDER BY sku",
        )?;
        let rows = stmt.query_map([], product_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    pub fn product(&self, sku: &Sku) -> Result<Option<Product>> {
        product(&self.conn, sku)
    }

    /// Looks a product up, or says which SKU is unknown.
    pub fn require_product(&self, sku: &Sku) -> Result<Product> {
        require_product(&self.conn, sku)
    }

    /// Looks a location up, or says which location is unknown.
    pub fn require_location(&self, id: &LocationId) -> Result<Location> {
        self.location(id)?
            .ok_or_else(|| AgentError::Invalid(jxc_shared::row::unknown_location(id)))
    }
}

/// A product as stored, read on `conn` (a write transaction's, say).
fn product(conn: &Connection, sku: &Sku) -> Result<Option<Product>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sku, name, unit, category, brand, decimals, lot_tracked FROM product WHERE sku = ?",
    )?;
    Ok(stmt
        .query_row([sku.as_str()], product_from_row)
        .optional()?)
}

/// Looks a product up on `conn`, or says which SKU is unknown.
fn require_product(conn: &Connection, sku: &Sku) -> Result<Product> {
    if let Some(p) = product(conn, sku)? {
        return Ok(p);
    }
    let mut stmt = conn.prepare_cached("SELECT sku FROM product")?;
    let known: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut e = jxc_shared::row::unknown_sku(sku);
    e.reason.push_str(&jxc_shared::suggest::did_you_mean(
        sku.as_str(),
        known.iter().map(String::as_str),
    ));
    Err(AgentError::Invalid(e))
}

/// Refuses a write of `p` by this site: an HQ catalog product is read-only
/// here (sync would not restore a local change), and a new SKU may not hold
/// whitespace (it could not be typed back on a command line). An existing
/// own SKU stays writable whatever it holds, so older ledgers keep working.
fn check_product_write(conn: &Connection, p: &Product) -> Result<()> {
    let origin: Option<String> = conn
        .prepare_cached("SELECT origin FROM product WHERE sku = ?")?
        .query_row([p.sku.as_str()], |r| r.get(0))
        .optional()?;
    match origin.as_deref() {
        Some("hq") => Err(AgentError::Refused(DomainError::new(
            "sku",
            p.sku.as_str(),
            "is a product of HQ's catalog, read-only at this site (HQ changes it with `jxc-hub product set`)",
        ))),
        Some(_) => Ok(()),
        None if p.sku.as_str().chars().any(char::is_whitespace) => {
            Err(AgentError::Invalid(DomainError::new(
                "sku",
                p.sku.as_str(),
                "must not contain spaces (use - or _ instead)",
            )))
        }
        None => Ok(()),
    }
}

/// Inserts a product unless its SKU exists; returns the rows inserted.
fn insert_product(conn: &Connection, p: &Product) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO product (sku, name, unit, category, brand, decimals, lot_tracked)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            p.sku.as_str(),
            p.name,
            p.unit,
            p.category,
            p.brand,
            p.decimals,
            p.lot_tracked
        ])?)
}

/// Turns stored text back into a domain id; a failure means the file was
/// edited by hand, and surfaces as a conversion error naming the column.
pub(crate) fn stored<T>(
    col: usize,
    parsed: std::result::Result<T, DomainError>,
) -> rusqlite::Result<T> {
    parsed.map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn product_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        sku: stored(0, Sku::parse(&r.get::<_, String>(0)?))?,
        name: r.get(1)?,
        unit: r.get(2)?,
        category: r.get(3)?,
        brand: r.get(4)?,
        decimals: r.get(5)?,
        lot_tracked: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn site() -> SiteInfo {
        SiteInfo {
            id: SiteId::parse("BJ01").unwrap(),
            kind: SiteKind::Branch,
            name: "北京分公司".into(),
            region: "north".into(),
        }
    }

    #[test]
    fn an_older_schema_is_migrated_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            // What schema version 1 wrote.
            let mut conn = connect(&path, Duration::from_secs(5)).unwrap();
            migrate(&mut conn, 1).unwrap();
            conn.execute(
                "INSERT INTO site VALUES (1, 'BJ01', 'branch', 'b', 'north', '2026-01-01T00:00:00Z')",
                [],
            )
            .unwrap();
            conn.execute("INSERT INTO location VALUES ('main', 'Main', 0)", [])
                .unwrap();
        }
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        assert_eq!(schema_version(&store.conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(store.locations().unwrap().len(), 1);
        let n: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM count_session", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Store::init(
            dir.path(),
            site(),
            Duration::from_secs(5),
            Utc::now().fixed_offset(),
        )
        .unwrap();
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = Store::open(dir.path(), Duration::from_secs(5))
            .err()
            .unwrap();
        assert!(err.to_string().contains("newer jxc-agent"), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::DATA_DIR);
    }

    #[test]
    fn verify_catches_a_tampered_balance_and_rebuild_repairs_it() {
        use jxc_shared::movement::DraftInput;
        use jxc_shared::{MovementDraft, MovementKind};
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now().fixed_offset();
        let mut store = Store::init(dir.path(), site(), Duration::from_secs(5), now).unwrap();
        let loc = LocationId::parse("main").unwrap();
        store
            .add_location(&Location {
                id: loc.clone(),
                name: "m".into(),
                allow_negative: false,
            })
            .unwrap();
        let p = Product::new("A", "a", None, None, None, 1, false).unwrap();
        store.add_product(&p).unwrap();
        let mut ledger = store.ledger(now).unwrap();
        let input = DraftInput {
            unit_cost: Some("2.5"),
            ..Default::default()
        };
        let d = MovementDraft::build(MovementKind::Receipt, loc, &p, "4.5", &input, now).unwrap();
        ledger.apply(d).unwrap();
        ledger.commit().unwrap();
        assert!(store.verify().unwrap().differences.is_empty());

        store
            .conn
            .execute("UPDATE balance SET qty = qty + 1", [])
            .unwrap();
        store
            .conn
            .execute("UPDATE item_cost SET avg_cost = '9'", [])
            .unwrap();
        let diffs = store.verify().unwrap().differences;
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert!(store.verify().unwrap().into_result().is_err());

        store.rebuild().unwrap();
        assert!(store.verify().unwrap().differences.is_empty());
        let err = store.conn.execute("DELETE FROM movement", []).unwrap_err();
        assert!(err.to_string().contains("immutable"), "{err}");
    }

    #[test]
    fn init_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now().fixed_offset();
        Store::init(dir.path(), site(), Duration::from_secs(5), now).unwrap();
        let err = Store::init(dir.path(), site(), Duration::from_secs(5), now)
            .err()
            .unwrap();
        assert!(matches!(err, AgentError::Conflict(_)));
    }
}
