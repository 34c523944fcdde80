//! HQ users and their dashboard sessions: who may read and change what at
//! the hub. A user has a bearer token for the API (its SHA-256 is stored)
//! and, to sign in to the dashboard, a password (its argon2 hash, made by
//! `web::password`); a signed-in browser holds a session whose secret is
//! likewise stored only as a SHA-256.

use super::db::vals;
use super::{Store, now_text, sha256_hex};
use crate::error::{HubError, Result};
use chrono::{DateTime, Duration, Utc};

/// An HQ user's role. Viewers read; planners also act on suggestions and
/// alerts; admins also manage users, tokens and sites. Each role may do all
/// that the roles before it may (`Viewer < Planner < Admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Planner,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "planner" => Ok(Role::Planner),
            "viewer" => Ok(Role::Viewer),
            _ => Err(HubError::Invalid(format!(
                "role {s:?} is not valid: use admin, planner or viewer"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Planner => "planner",
            Role::Viewer => "viewer",
        }
    }
}

/// An HQ user as `jxc-hub user list` shows it.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub created_at: String,
    /// Whether the user can sign in to the dashboard.
    pub has_password: bool,
}

/// The user behind a live dashboard session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    /// The language the user chose (`en`, `zh-CN`), if they chose one.
    pub lang: Option<String>,
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: String,
}

/// What signing in checks a password against.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub role: Role,
    /// The argon2 PHC string; `None` for a user of the API token only.
    pub password_hash: Option<String>,
}

impl Store {
    /// Adds an HQ user with their API token and, if given, the hash of their
    /// dashboard password. The caller prints the token once.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        token: &str,
        password_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = self.db().write(|sql| {
            sql.exec(
                "INSERT INTO hq_user (name, role, token_sha256, created_at, password_hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                vals![name, role.as_str(), sha256_hex(token), now_text(now), password_hash],
            )
        })?;
        if n == 0 {
            return Err(HubError::Conflict(format!("user {name:?} already exists")));
        }
        Ok(())
    }

    /// Sets a user's dashboard password (its hash) and ends their sessions,
    /// so a password changed because it leaked locks the holder out.
    pub fn set_password(&mut self, name: &str, password_hash: &str) -> Result<()> {
        let n = self.db().write(|sql| {
            let n = sql.exec(
                "UPDATE hq_user SET password_hash = ? WHERE name = ?",
                vals![password_hash, name],
            )?;
            sql.exec("DELETE FROM hq_session WHERE user_name = ?", vals![name])?;
            Ok(n)
        })?;
        if n == 0 {
            return Err(self.no_user(name));
        }
        Ok(())
    }

    /// HQ users: name, role and when each was added (never their secrets).
    pub fn users(&self) -> Result<Vec<UserRow>> {
        self.db().read(|sql| {
            sql.query(
                "SELECT name, role, created_at, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END FROM hq_user ORDER BY name",
                vals![],
            )?
            .iter()
            .map(|r| {
                Ok(UserRow {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    created_at: r.get(2)?,
                    has_password: r.get(3)?,
                })
            })
            .collect()
        })
    }

    fn no_user(&self, name: &str) -> HubError {
        let names: Vec<String> = match self.users() {
            Ok(users) => users.into_iter().map(|u| u.name).collect(),
            Err(e) => return e,
        };
        HubError::NotFound(format!(
            "no HQ user {name:?}{}",
            jxc_shared::suggest::did_you_mean(name, names.iter().map(String::as_str))
        ))
    }

    /// Removes an HQ user. Tokens and sessions are looked up on every
    /// request, so the user's token and signed-in browsers stop working at
    /// once, also in a running hub.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        let n = self.db().write(|sql| {
            sql.exec("DELETE FROM hq_session WHERE user_name = ?", vals![name])?;
            sql.exec("DELETE FROM hq_user WHERE name = ?", vals![name])
        })?;
        if n == 0 {
            return Err(self.no_user(name));
        }
        Ok(())
    }

    /// The user a bearer token belongs to.
    pub fn user_for_token(&self, token: &str) -> Result<Option<(String, Role)>> {
        let row = self.db().read(|sql| {
            sql.query_opt(
                "SELECT name, role FROM hq_user WHERE token_sha256 = ?",
                vals![sha256_hex(token)],
            )?
            .map(|r| Ok::<_, HubError>((r.get::<String>(0)?, r.get::<String>(1)?)))
            .transpose()
        })?;
        row.map(|(n, r)| Ok((n, Role::parse(&r)?))).transpose()
    }

    /// What a sign-in as `name` checks the password against.
    pub fn credentials(&self, name: &str) -> Result<Option<Credentials>> {
        let row = self.db().read(|sql| {
            sql.query_opt(
                "SELECT role, password_hash FROM hq_user WHERE name = ?",
                vals![name],
            )?
            .map(|r| Ok::<_, HubError>((r.get::<String>(0)?, r.get::<Option<String>>(1)?)))
            .transpose()
        })?;
        row.map(|(role, password_hash)| {
            Ok(Credentials {
                role: Role::parse(&role)?,
                password_hash,
            })
        })
        .transpose()
    }

    /// Starts a session for `name` lasting `ttl` from `now`, whose cookie
    /// holds `secret`, and drops the sessions that have ended.
    pub fn start_session(
        &mut self,
        name: &str,
        secret: &str,
        csrf: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "DELETE FROM hq_session WHERE expires_at <= ?",
                vals![now_text(now)],
            )?;
            sql.exec(
                "INSERT INTO hq_session (id_sha256, user_name, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                vals![sha256_hex(secret), name, csrf, now_text(now), now_text(now + ttl)],
            )?;
            Ok(())
        })
    }

    /// The user of the session whose cookie holds `secret`, if it has not
    /// ended at `now` and the user still exists.
    pub fn session(&self, secret: &str, now: DateTime<Utc>) -> Result<Option<SessionUser>> {
        let row = self.db().read(|sql| {
            sql.query_opt(
                "SELECT u.name, u.role, u.lang, s.csrf, s.expires_at FROM hq_session s JOIN hq_user u ON u.name = s.user_name WHERE s.id_sha256 = ? AND s.expires_at > ?",
                vals![sha256_hex(secret), now_text(now)],
            )?
            .map(|r| {
                Ok::<_, HubError>((
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<String>>(2)?,
                    r.get::<String>(3)?,
                    r.get::<String>(4)?,
                ))
            })
            .transpose()
        })?;
        row.map(|(name, role, lang, csrf, expires_at)| {
            Ok(SessionUser {
                name,
                role: Role::parse(&role)?,
                lang,
                csrf,
                expires_at,
            })
        })
        .transpose()
    }

    /// Ends the session whose cookie holds `secret` (signing out).
    pub fn end_session(&mut self, secret: &str) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "DELETE FROM hq_session WHERE id_sha256 = ?",
                vals![sha256_hex(secret)],
            )?;
            Ok(())
        })
    }

    /// Remembers the language `name` chose (`en` or `zh-CN`).
    pub fn set_lang(&mut self, name: &str, lang: &str) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "UPDATE hq_user SET lang = ? WHERE name = ?",
                vals![lang, name],
            )?;
            Ok(())
        })
    }
}
