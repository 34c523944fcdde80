//! The hub's directory of sites and their locations, kept from the last sync,
//! so a transfer to a site or location that does not exist is refused here,
//! offline, instead of travelling to the hub and sitting in transit forever.

use super::Store;
use crate::error::{AgentError, Result};
use chrono::{DateTime, FixedOffset};
use jxc_shared::protocol::{Directory, DirectorySite};
use jxc_shared::suggest::{did_you_mean, nearest};
use jxc_shared::time::format_time;
use jxc_shared::{DomainError, GlobalLocation};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

impl Store {
    /// Replaces the directory with the hub's, in one transaction.
    pub fn set_directory(
        &mut self,
        dir: &Directory,
        etag: Option<&str>,
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM directory_location", [])?;
        tx.execute("DELETE FROM directory_site", [])?;
        for s in &dir.sites {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO directory_site (id, kind, name, region, shares_costs) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![s.id, s.kind, s.name, s.region, s.shares_costs])?;
            for l in &s.locations {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO directory_location (site, id) VALUES (?, ?)",
                )?
                .execute(params![s.id, l])?;
            }
        }
        tx.execute(
            "UPDATE directory_state SET etag = ?, fetched_at = ?",
            params![etag, format_time(&now)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Notes that the directory was checked and is unchanged.
    pub fn directory_unchanged(&mut self, now: DateTime<FixedOffset>) -> Result<()> {
        self.conn.execute(
            "UPDATE directory_state SET fetched_at = ?",
            [format_time(&now)],
        )?;
        Ok(())
    }

    /// The etag of the directory held, to ask the hub only for a newer one.
    pub fn directory_etag(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT etag FROM directory_state", [], |r| r.get(0))?)
    }

    /// The directory as last fetched, and when (`None`: never).
    pub fn directory(&self) -> Result<(Vec<DirectorySite>, Option<String>)> {
        let fetched: Option<String> =
            self.conn
                .query_row("SELECT fetched_at FROM directory_state", [], |r| r.get(0))?;
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.kind, s.name, s.region, s.shares_costs,
                    (SELECT group_concat(id, ' ') FROM (SELECT id FROM directory_location l WHERE l.site = s.id ORDER BY id))
             FROM directory_site s ORDER BY s.id",
        )?;
        let sites = stmt
            .query_map([], |r| {
                let locations: Option<String> = r.get(5)?;
                Ok(DirectorySite {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    region: r.get(3)?,
                    shares_costs: r.get(4)?,
                    locations: locations
                        .unwrap_or_default()
                        .split(' ')
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((sites, fetched))
    }
}

/// Refuses a destination the directory knows better about: a site the hub
/// does not know, or a location the site has not reported (once it has
/// reported any). Before the first directory arrives nothing is refused.
pub(super) fn check_destination(conn: &Connection, to: &GlobalLocation) -> Result<()> {
    let fetched: Option<String> =
        conn.query_row("SELECT fetched_at FROM directory_state", [], |r| r.get(0))?;
    let Some(fetched) = fetched else {
        return Ok(());
    };
    let hint = format!(
        "(the hub's directory as of {fetched}; `jxc-agent directory` lists it; if it was created since, run `jxc-agent sync` first, or pass --unlisted)"
    );
    let site = to.site.as_str();
    let known: Option<String> = conn
        .query_row("SELECT id FROM directory_site WHERE id = ?", [site], |r| {
            r.get(0)
        })
        .optional()?;
    if known.is_none() {
        let sites = column(conn, "SELECT id FROM directory_site ORDER BY id", [])?;
        return Err(AgentError::Invalid(DomainError::new(
            "to",
            to.to_string(),
            format!(
                "the hub knows no site {site}{} {hint}",
                did_you_mean(site, sites.iter().map(String::as_str))
            ),
        )));
    }
    let locations = column(
        conn,
        "SELECT id FROM directory_location WHERE site = ? ORDER BY id",
        [site],
    )?;
    let loc = to.location.as_str();
    if !locations.is_empty() && !locations.iter().any(|l| l == loc) {
        return Err(AgentError::Invalid(DomainError::new(
            "to",
            to.to_string(),
            format!(
                "site {site} has no location {loc} (it has {}){} {hint}",
                locations.join(", "),
                nearest(loc, locations.iter().map(String::as_str))
                    .map(|l| format!("; did you mean {site}/{l}?"))
                    .unwrap_or_default()
            ),
        )));
    }
    Ok(())
}

/// Whether `site`'s transfers carry its real cost: `Some(false)` for a
/// dealer that withholds costs, `None` when the directory does not say.
pub(super) fn shares_costs(conn: &Connection, site: &str) -> Result<Option<bool>> {
    Ok(conn
        .query_row(
            "SELECT shares_costs FROM directory_site WHERE id = ?",
            [site],
            |r| r.get(0),
        )
        .optional()?)
}

fn column<P: rusqlite::Params>(conn: &Connection, sql: &str, p: P) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(p, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
