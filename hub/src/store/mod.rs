//! The hub's one store: it owns the SQLite connection and all the SQL.
//! Sites, tokens and users here; ingest in `ingest.rs`; reads in `query.rs`.

mod alert;
pub mod db;
pub mod docs;
mod ingest;
mod plan;
mod query;
mod sales;
mod users;
pub use users::{Credentials, Role, SessionUser, UserRow};

pub use alert::{
    AlertRow, AlertState, Channel, Evaluated, LineKey, OutboxMessage, PendingMessage, Watch,
};
pub use ingest::{IngestStats, PreparedBatch, prepare};
pub use plan::{
    Decision, DemandSeries, HoldingHistory, HqHolding, POLICY_COLUMNS, PlanDecision, PolicyInputs,
    PolicyLine, SeriesBy, SeriesOf, StoredPolicy,
};
pub use query::{
    GroupBy, InventoryFilter, InventoryRow, MovementRow, MovementsOf, QuarantineRow, SiteRow,
    TransferCounts, TransferRow, TransferState,
};
pub use sales::{ChannelBy, ChannelRow, Flow, SalesFilter, SalesKey, SalesRow, channel_period};

use crate::error::{HubError, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
pub use db::{Backend, Target};
use db::{Db, Sql, vals};
use jxc_shared::docs::automerge::ActorId;
use jxc_shared::{SiteId, SiteKind};
use sha2::{Digest, Sha256};

pub const DB_FILE: &str = "hub.db";

/// Each engine's migrations, in step: version N is the same schema on both.
const MIGRATIONS: db::Migrations = db::Migrations {
    sqlite: &[
        include_str!("migrations/sqlite/0001_hub.sql"),
        include_str!("migrations/sqlite/0002_docs.sql"),
        include_str!("migrations/sqlite/0003_transfer_returns.sql"),
        include_str!("migrations/sqlite/0004_shared_state.sql"),
        include_str!("migrations/sqlite/0005_share_scope.sql"),
        include_str!("migrations/sqlite/0006_balance_total.sql"),
        include_str!("migrations/sqlite/0007_sales_flow.sql"),
        include_str!("migrations/sqlite/0008_policy.sql"),
        include_str!("migrations/sqlite/0009_alerts.sql"),
        include_str!("migrations/sqlite/0010_dashboard.sql"),
        include_str!("migrations/sqlite/0011_planner_actions.sql"),
        include_str!("migrations/sqlite/0012_balance_shared.sql"),
    ],
    postgres: &[
        include_str!("migrations/postgres/0001_hub.sql"),
        include_str!("migrations/postgres/0002_docs.sql"),
        include_str!("migrations/postgres/0003_transfer_returns.sql"),
        include_str!("migrations/postgres/0004_shared_state.sql"),
        include_str!("migrations/postgres/0005_share_scope.sql"),
        include_str!("migrations/postgres/0006_balance_total.sql"),
        include_str!("migrations/postgres/0007_sales_flow.sql"),
        include_str!("migrations/postgres/0008_policy.sql"),
        include_str!("migrations/postgres/0009_alerts.sql"),
        include_str!("migrations/postgres/0010_dashboard.sql"),
        include_str!("migrations/postgres/0011_planner_actions.sql"),
        include_str!("migrations/postgres/0012_balance_shared.sql"),
    ],
};
pub const SCHEMA_VERSION: u32 = MIGRATIONS.sqlite.len() as u32;
const _: () = assert!(MIGRATIONS.sqlite.len() == MIGRATIONS.postgres.len());

/// Who a token was issued for, kept until the agent enrolls.
#[derive(Debug, Clone)]
pub struct NewSite {
    pub id: SiteId,
    pub kind: SiteKind,
    pub name: String,
    pub region: String,
}

/// The site an accepted enrollment token names.
#[derive(Debug, Clone)]
pub struct EnrollingSite {
    pub site: NewSite,
    pub serial: u64,
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn now_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The hub's store: one connection to its database, SQLite or PostgreSQL.
pub struct Store {
    /// Borrowed for one call at a time; a store is used by one thread.
    db: std::cell::RefCell<Db>,
    target: Target,
}

impl Store {
    /// Opens (creating if asked) the hub database at `target`, migrating it.
    pub fn open(target: &Target, create: bool) -> Result<Store> {
        let store = Store {
            db: std::cell::RefCell::new(Db::open(target, create, &MIGRATIONS)?),
            target: target.clone(),
        };
        sales::backfill(&store)?;
        Ok(store)
    }

    pub(crate) fn db(&self) -> std::cell::RefMut<'_, Db> {
        self.db.borrow_mut()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn backend(&self) -> Backend {
        self.db().backend()
    }

    /// Sets how much page cache this connection may use, in KiB.
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.db().set_cache_kib(kib)
    }

    /// Takes the next number of a counter (`transfer_cursor`, `cert_serial`),
    /// or `n` of them, returning the first. The counter's row stays locked
    /// until the transaction ends, so numbers are committed in the order
    /// they were taken, also with several hub processes.
    pub(crate) fn take_numbers(sql: &mut Sql<'_>, counter: &str, n: u64) -> Result<i64> {
        let last: i64 = sql
            .query_one(
                "UPDATE counter SET value = value + ? WHERE name = ? RETURNING value",
                vals![n as i64, counter],
            )?
            .get(0)?;
        Ok(last - n as i64 + 1)
    }

    /// A secret the hub keeps in its database (its CA, its server key).
    pub fn secret(&self, name: &str) -> Result<Option<String>> {
        self.db()
            .read(|sql| sql.scalar("SELECT value FROM hub_secret WHERE name = ?", vals![name]))
    }

    /// Stores the hub's secrets, all or none.
    pub fn put_secrets(&mut self, secrets: &[(&str, &str)]) -> Result<()> {
        self.db().write(|sql| {
            for (name, value) in secrets {
                sql.exec(
                    "INSERT INTO hub_secret (name, value) VALUES (?, ?)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    vals![name, value],
                )?;
            }
            Ok(())
        })
    }

    /// Records a one-time enrollment token for `site`, valid for `ttl`.
    pub fn add_token(
        &mut self,
        id: &str,
        secret: &str,
        site: &NewSite,
        ttl: ChronoDuration,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "INSERT INTO enroll_token (id, secret_sha256, site, kind, name, region, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                vals![
                    id,
                    sha256_hex(secret),
                    site.id.as_str(),
                    site.kind.as_str(),
                    site.name,
                    site.region,
                    now_text(now),
                    now_text(now + ttl)
                ],
            )?;
            Ok(())
        })
    }

    /// Spends a token: refuses one that is unknown, used, expired or whose
    /// secret does not match, all with the same answer (no oracle). `issue`
    /// signs the certificate for the site and serial; only if it succeeds is
    /// the token spent and the site (re-)enrolled with that serial.
    pub fn redeem_token<T>(
        &mut self,
        id: &str,
        secret: &str,
        now: DateTime<Utc>,
        issue: impl FnOnce(&NewSite, u64) -> Result<T>,
    ) -> Result<(EnrollingSite, T)> {
        self.redeem_token_binding(id, secret, None, now, issue)
    }

    /// [`Store::redeem_token`], binding the agent's document actor to the
    /// site in the same transaction (refused, token unspent, if that actor
    /// already writes for another site). Without an actor, the site's first
    /// actor is bound on its first document sync.
    pub fn redeem_token_binding<T>(
        &mut self,
        id: &str,
        secret: &str,
        actor: Option<&ActorId>,
        now: DateTime<Utc>,
        issue: impl FnOnce(&NewSite, u64) -> Result<T>,
    ) -> Result<(EnrollingSite, T)> {
        self.db().write(|sql| {
            // Locked: two hub processes redeeming one token at once must not
            // both spend it.
            let query = format!(
                "SELECT secret_sha256, site, kind, name, region, expires_at, used_at FROM enroll_token WHERE id = ?{}",
                sql.for_update()
            );
            let row = sql.query_opt(&query, vals![id])?;
            let refused = || {
                HubError::Unauthorized(
                    "the enrollment token is unknown, already used or expired".into(),
                )
            };
            let Some(r) = row else {
                return Err(refused());
            };
            let (hash, site, kind, name, region, expires, used): (
                String,
                String,
                String,
                String,
                String,
                String,
                Option<String>,
            ) = (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            );
            let expired = DateTime::parse_from_rfc3339(&expires)
                .map(|e| e < now)
                .unwrap_or(true);
            if used.is_some()
                || expired
                || !constant_time_eq(hash.as_bytes(), sha256_hex(secret).as_bytes())
            {
                return Err(refused());
            }
            sql.exec(
                "UPDATE enroll_token SET used_at = ? WHERE id = ?",
                vals![now_text(now), id],
            )?;
            let serial = Store::take_numbers(sql, "cert_serial", 1)? as u64;
            sql.exec(
                "INSERT INTO site (id, kind, name, region, cert_serial, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET kind = ?2, name = ?3, region = ?4, cert_serial = ?5, enrolled_at = ?6, revoked_at = NULL, actor_open = 1",
                vals![site, kind, name, region, serial as i64, now_text(now)],
            )?;
            if let Some(actor) = actor {
                docs::bind_actor(sql, &SiteId::parse(&site)?, actor, &now_text(now))?;
            }
            let enrolling = EnrollingSite {
                site: NewSite {
                    id: SiteId::parse(&site)?,
                    kind: SiteKind::parse(&kind)?,
                    name,
                    region,
                },
                serial,
            };
            let issued = issue(&enrolling.site, serial)?;
            Ok((enrolling, issued))
        })
    }

    /// Whether a client certificate (site, serial) may sync now.
    pub fn check_client(&self, site: &str, serial: u64) -> Result<()> {
        let row = self.db().read(|sql| {
            sql.query_opt(
                "SELECT cert_serial, revoked_at FROM site WHERE id = ?",
                vals![site],
            )?
            .map(|r| Ok::<_, HubError>((r.get::<Option<i64>>(0)?, r.get::<Option<String>>(1)?)))
            .transpose()
        })?;
        match row {
            None => Err(HubError::Forbidden(format!(
                "site {site} is not enrolled at this hub"
            ))),
            Some((_, Some(at))) => Err(HubError::Forbidden(format!(
                "site {site} was revoked at {at}"
            ))),
            Some((current, None)) if current != Some(serial as i64) => {
                Err(HubError::Forbidden(format!(
                    "this certificate of site {site} (serial {serial}) has been replaced or revoked"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    pub fn revoke(&mut self, site: &SiteId, now: DateTime<Utc>) -> Result<()> {
        self.db().write(|sql| {
            let n = sql.exec(
                "UPDATE site SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                vals![now_text(now), site.as_str()],
            )?;
            if n == 0 {
                let exists = sql
                    .scalar::<i64>("SELECT 1 FROM site WHERE id = ?", vals![site.as_str()])?
                    .is_some();
                return Err(if exists {
                    HubError::Conflict(format!("site {site} is already revoked"))
                } else {
                    HubError::NotFound(format!("site {site:?} is not enrolled at this hub"))
                });
            }
            Ok(())
        })
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
