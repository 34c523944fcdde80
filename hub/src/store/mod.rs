//! The hub's one store: it owns the SQLite connection and all the SQL.
//! Sites, tokens and users here; ingest in `ingest.rs`; reads in `query.rs`.

pub mod docs;
mod ingest;
mod query;

pub use ingest::{IngestStats, PreparedBatch, prepare};
pub use query::{
    GroupBy, InventoryFilter, InventoryRow, MovementRow, QuarantineRow, SiteRow, TransferCounts,
    TransferRow, TransferState,
};

use crate::error::{HubError, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jxc_shared::docs::automerge::ActorId;
use jxc_shared::{SiteId, SiteKind};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DB_FILE: &str = "hub.db";

const MIGRATIONS: [&str; 3] = [
    include_str!("migrations/0001_hub.sql"),
    include_str!("migrations/0002_docs.sql"),
    include_str!("migrations/0003_transfer_returns.sql"),
];
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// An HQ user's role: admins change things, viewers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(HubError::Invalid(format!(
                "role {s:?} is not valid: use admin or viewer"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

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

/// Makes the data directory readable by its owner only (0700) and creates
/// the database file 0600 before SQLite opens it: it holds customer data and
/// token hashes. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(dir: &Path, db: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| HubError::io(dir, e))?;
    // A directory that existed already (`init` makes it first) is narrowed too.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| HubError::io(dir, e))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(db)
        .map_err(|e| HubError::io(db, e))?;
    Ok(())
}

pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if asked) the hub database in `dir`, migrating it.
    pub fn open(dir: &Path, create: bool) -> Result<Store> {
        let path = dir.join(DB_FILE);
        if !create && !path.is_file() {
            return Err(HubError::DataDir(format!(
                "no hub at {}: run `jxc-hub init` first (or pass --data DIR)",
                path.display()
            )));
        }
        if create {
            create_private(dir, &path)?;
        }
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(60))?;
        // Movement rows are wide; larger pages mean fewer B-tree splits on
        // ingest. Takes effect only when the file is created.
        conn.pragma_update(None, "page_size", 16384)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => {
                    HubError::DataDir(format!("{} is not a jxc hub database", path.display()))
                }
                _ => e.into(),
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(HubError::DataDir(format!(
                "{}: could not switch to WAL mode",
                path.display()
            )));
        }
        // NORMAL in WAL mode keeps every commit atomic and the database
        // consistent; the newest commits may be lost on power failure, which
        // sync repairs: agents always resend from the hwm the hub reports.
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;",
        )?;
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(HubError::DataDir(format!(
                "{} was written by a newer jxc-hub (schema {version}; this one knows up to {SCHEMA_VERSION})",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", i as u32 + 1)?;
            }
            tx.commit()?;
        }
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets how much page cache this connection may use, in KiB.
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -i64::from(kib))?;
        Ok(())
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
        self.conn.execute(
            "INSERT INTO enroll_token (id, secret_sha256, site, kind, name, region, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<TokenRow> = tx
            .query_row(
                "SELECT secret_sha256, site, kind, name, region, expires_at, used_at FROM enroll_token WHERE id = ?",
                [id],
                |r| {
                    Ok(TokenRow {
                        hash: r.get(0)?,
                        site: r.get(1)?,
                        kind: r.get(2)?,
                        name: r.get(3)?,
                        region: r.get(4)?,
                        expires: r.get(5)?,
                        used: r.get(6)?,
                    })
                },
            )
            .optional()?;
        let refused = || {
            HubError::Unauthorized(
                "the enrollment token is unknown, already used or expired".into(),
            )
        };
        let Some(TokenRow {
            hash,
            site,
            kind,
            name,
            region,
            expires,
            used,
        }) = row
        else {
            return Err(refused());
        };
        let expired = DateTime::parse_from_rfc3339(&expires)
            .map(|e| e < now)
            .unwrap_or(true);
        if used.is_some()
            || expired
            || !constant_time_eq(hash.as_bytes(), sha256_hex(secret).as_bytes())
        {
            return Err(refused());
        }
        tx.execute(
            "UPDATE enroll_token SET used_at = ? WHERE id = ?",
            params![now_text(now), id],
        )?;
        let serial: u64 = tx.query_row(
            "SELECT COALESCE(MAX(cert_serial), 0) + 1 FROM site",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        tx.execute(
            "INSERT INTO site (id, kind, name, region, cert_serial, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET kind = ?2, name = ?3, region = ?4, cert_serial = ?5, enrolled_at = ?6, revoked_at = NULL, actor_open = 1",
            params![site, kind, name, region, serial as i64, now_text(now)],
        )?;
        if let Some(actor) = actor {
            docs::bind_actor(&tx, &SiteId::parse(&site)?, actor, &now_text(now))?;
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
        tx.commit()?;
        Ok((enrolling, issued))
    }

    /// Whether a client certificate (site, serial) may sync now.
    pub fn check_client(&self, site: &str, serial: u64) -> Result<()> {
        let row: Option<(Option<i64>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT cert_serial, revoked_at FROM site WHERE id = ?",
                [site],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
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
        let n = self.conn.execute(
            "UPDATE site SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            params![now_text(now), site.as_str()],
        )?;
        if n == 0 {
            let exists: bool = self
                .conn
                .query_row("SELECT 1 FROM site WHERE id = ?", [site.as_str()], |_| {
                    Ok(true)
                })
                .optional()?
                .unwrap_or(false);
            return Err(if exists {
                HubError::Conflict(format!("site {site} is already revoked"))
            } else {
                HubError::NotFound(format!("site {site:?} is not enrolled at this hub"))
            });
        }
        Ok(())
    }

    /// Adds an HQ user and returns nothing; the caller prints the token once.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = self.conn.execute(
            "INSERT INTO hq_user (name, role, token_sha256, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            params![name, role.as_str(), sha256_hex(token), now_text(now)],
        )?;
        if n == 0 {
            return Err(HubError::Conflict(format!("user {name:?} already exists")));
        }
        Ok(())
    }

    /// HQ users: name, role and when each was added (never their tokens).
    pub fn users(&self) -> Result<Vec<UserRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, role, created_at FROM hq_user ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                role: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes an HQ user. Tokens are looked up on every request, so the
    /// user's token stops working at once, also in a running hub.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM hq_user WHERE name = ?", [name])?;
        if n == 0 {
            let names: Vec<String> = self.users()?.into_iter().map(|u| u.name).collect();
            return Err(HubError::NotFound(format!(
                "no HQ user {name:?}{}",
                jxc_shared::suggest::did_you_mean(name, names.iter().map(String::as_str))
            )));
        }
        Ok(())
    }

    /// The user a bearer token belongs to.
    pub fn user_for_token(&self, token: &str) -> Result<Option<(String, Role)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT name, role FROM hq_user WHERE token_sha256 = ?",
                [sha256_hex(token)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(n, r)| Ok((n, Role::parse(&r)?))).transpose()
    }
}

/// An HQ user as `jxc-hub user list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub created_at: String,
}

/// An enrollment token as stored.
struct TokenRow {
    hash: String,
    site: String,
    kind: String,
    name: String,
    region: String,
    expires: String,
    used: Option<String>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
