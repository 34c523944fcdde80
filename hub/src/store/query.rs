//! Reading the hub: consolidated inventory, sites and their freshness,
//! movements (paged), transfers and quarantine.

use super::Store;
use crate::error::{HubError, Result};
use chrono::{DateTime, Utc};
use jxc_shared::Quantity;
use rusqlite::params;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// How inventory is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Sku,
    Site,
    Location,
    Region,
    Kind,
}

impl GroupBy {
    pub fn parse(s: &str) -> Result<GroupBy> {
        Ok(match s {
            "sku" => GroupBy::Sku,
            "site" => GroupBy::Site,
            "location" => GroupBy::Location,
            "region" => GroupBy::Region,
            "kind" => GroupBy::Kind,
            _ => {
                return Err(HubError::Invalid(format!(
                    "by {s:?} is not valid: use sku, site, location, region or kind"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct InventoryFilter {
    pub sku: Option<String>,
    pub site: Option<String>,
    pub region: Option<String>,
    pub kind: Option<String>,
    pub by: GroupBy,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InventoryRow {
    /// The group: a SKU, a site id, `SITE/LOC`, a region or a site kind.
    pub key: String,
    pub on_hand: Quantity,
    /// Sent to this group by another site and not yet received.
    pub in_transit: Quantity,
    /// On hand at moving-average cost.
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// The part of `on_hand` held by dealers whose sharing policy no longer
    /// covers it: what HQ last received, no longer updated.
    pub not_updated: Quantity,
    /// The part of `on_hand` held by dealers that do not share costs: it
    /// counts in `on_hand` but adds nothing to `value`.
    pub unvalued: Quantity,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub region: String,
    pub enrolled_at: Option<String>,
    pub revoked_at: Option<String>,
    pub hwm: u64,
    /// Movements the agent has that the hub does not, as of its last sync.
    pub unsynced_at_agent: u64,
    pub last_sync_at: Option<String>,
    /// Seconds since the last sync; grows while the site is offline.
    pub last_sync_age_secs: Option<i64>,
    /// "fresh", "stale" (no sync within the threshold) or "never".
    pub freshness: &'static str,
    pub newest_business_at: Option<String>,
    pub clock_skew_ms: Option<i64>,
    pub locations: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MovementRow {
    pub site: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub unit_cost: String,
    pub unit_price: Option<String>,
    pub counterparty: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub transfer_id: Option<String>,
    pub occurred_at: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferRow {
    pub id: String,
    pub from: String,
    pub to: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub received: Quantity,
    pub in_transit: Quantity,
    /// "in_transit", "partial" or "received".
    pub status: &'static str,
    pub unit_cost: String,
    pub sent_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub site: String,
    pub seq: u64,
    pub kind: String,
    pub reason: String,
    pub record: serde_json::Value,
    pub received_at: String,
}

impl Store {
    pub fn inventory(&self, f: &InventoryFilter) -> Result<Vec<InventoryRow>> {
        let key = |site: &str, loc: &str, sku: &str, kind: &str, region: &str| -> String {
            match f.by {
                GroupBy::Sku => sku.to_owned(),
                GroupBy::Site => site.to_owned(),
                GroupBy::Location => format!("{site}/{loc}"),
                GroupBy::Region => region.to_owned(),
                GroupBy::Kind => kind.to_owned(),
            }
        };
        // (on hand, in transit, value, not updated, unvalued)
        let mut groups: BTreeMap<String, (i128, i128, Decimal, i128, i128)> = BTreeMap::new();
        let mut policies: std::collections::HashMap<String, Option<jxc_shared::docs::SharePolicy>> =
            std::collections::HashMap::new();
        let mut categories: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        let filter = params![f.sku, f.site, f.region, f.kind];

        let mut stmt = self.conn.prepare(
            "SELECT b.site, b.location, b.sku, SUM(b.qty), s.kind, s.region, SUM(b.value)
             FROM balance b JOIN site s ON s.id = b.site
             WHERE (?1 IS NULL OR b.sku = ?1) AND (?2 IS NULL OR b.site = ?2)
               AND (?3 IS NULL OR s.region = ?3) AND (?4 IS NULL OR s.kind = ?4)
             GROUP BY b.site, b.location, b.sku",
        )?;
        let mut rows = stmt.query(filter)?;
        while let Some(r) = rows.next()? {
            let (site, loc, sku): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let qty: i64 = r.get(3)?;
            let value: i64 = r.get(6)?;
            let g = groups
                .entry(key(
                    &site,
                    &loc,
                    &sku,
                    &r.get::<_, String>(4)?,
                    &r.get::<_, String>(5)?,
                ))
                .or_default();
            g.0 += qty as i128;
            g.2 += Decimal::new(value, 6);
            let policy = match policies.get(&site) {
                Some(p) => p,
                None => {
                    let p =
                        super::docs::dealer_policy(&self.conn, &jxc_shared::SiteId::parse(&site)?)?;
                    policies.entry(site.clone()).or_insert(p)
                }
            };
            if let Some(p) = policy {
                if !categories.contains_key(&sku) {
                    let c: Option<String> = self
                        .conn
                        .prepare_cached("SELECT category FROM product WHERE sku = ?")?
                        .query_row([&sku], |r| r.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(e),
                        })?;
                    categories.insert(sku.clone(), c.unwrap_or_default());
                }
                if !p.shares_stock(&sku, &categories[&sku]) {
                    g.3 += qty as i128;
                }
                if !p.costs_and_prices {
                    g.4 += qty as i128;
                }
            }
        }

        let mut stmt = self.conn.prepare(
            "SELECT t.to_site, t.to_location, t.sku, t.qty - t.received_qty, s.kind, s.region
             FROM transfer t JOIN site s ON s.id = t.to_site
             WHERE t.qty > t.received_qty
               AND (?1 IS NULL OR t.sku = ?1) AND (?2 IS NULL OR t.to_site = ?2)
               AND (?3 IS NULL OR s.region = ?3) AND (?4 IS NULL OR s.kind = ?4)",
        )?;
        let mut rows = stmt.query(filter)?;
        while let Some(r) = rows.next()? {
            let (site, loc, sku): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let g = groups
                .entry(key(
                    &site,
                    &loc,
                    &sku,
                    &r.get::<_, String>(4)?,
                    &r.get::<_, String>(5)?,
                ))
                .or_default();
            g.1 += r.get::<_, i64>(3)? as i128;
        }
        let micro = |v: i128| Quantity::from_decimal(Decimal::from_i128_with_scale(v, 6));
        Ok(groups
            .into_iter()
            .map(
                |(key, (on_hand, transit, value, frozen, unvalued))| InventoryRow {
                    key,
                    on_hand: micro(on_hand),
                    in_transit: micro(transit),
                    value: value.normalize(),
                    not_updated: micro(frozen),
                    unvalued: micro(unvalued),
                },
            )
            .collect())
    }

    /// On hand per (site, location, sku, lot), as the agents' `stock` shows it.
    pub fn balances(&self, site: &str) -> Result<Vec<(String, String, String, Quantity)>> {
        let mut stmt = self.conn.prepare(
            "SELECT location, sku, lot, qty FROM balance WHERE site = ? AND qty != 0 ORDER BY location, sku, lot",
        )?;
        let rows = stmt.query_map([site], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                Quantity::from_micro(r.get(3)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn sites(&self, now: DateTime<Utc>, stale_after_secs: i64) -> Result<Vec<SiteRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.kind, s.name, s.region, s.enrolled_at, s.revoked_at, s.hwm, s.agent_last_seq,
                    s.last_sync_at, s.newest_business_at, s.clock_skew_ms,
                    (SELECT COUNT(*) FROM site_location l WHERE l.site = s.id)
             FROM site s ORDER BY s.id",
        )?;
        let rows = stmt.query_map([], |r| {
            let hwm = r.get::<_, i64>(6)? as u64;
            let agent_last = r.get::<_, i64>(7)? as u64;
            let last: Option<String> = r.get(8)?;
            let age = last
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&Utc)).num_seconds());
            Ok(SiteRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                name: r.get(2)?,
                region: r.get(3)?,
                enrolled_at: r.get(4)?,
                revoked_at: r.get(5)?,
                hwm,
                unsynced_at_agent: agent_last.saturating_sub(hwm),
                last_sync_at: last,
                last_sync_age_secs: age,
                freshness: match age {
                    None => "never",
                    Some(a) if a > stale_after_secs => "stale",
                    Some(_) => "fresh",
                },
                newest_business_at: r.get(9)?,
                clock_skew_ms: r.get(10)?,
                locations: r.get::<_, i64>(11)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Movements after the cursor `(after_site, after_seq)` in (site, seq)
    /// order, at most `limit`; optionally of one site only.
    pub fn movements(
        &self,
        site: Option<&str>,
        after: (&str, u64),
        limit: u32,
    ) -> Result<Vec<MovementRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT site, seq, kind, location, sku, lot, qty, unit_cost, unit_price, counterparty, ref, reason,
                    transfer_id, occurred_at, recorded_at
             FROM movement WHERE (?1 IS NULL OR site = ?1) AND (site, seq) > (?2, ?3) ORDER BY site, seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![site, after.0, after.1 as i64, limit], |r| {
            Ok(MovementRow {
                site: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                kind: r.get(2)?,
                location: r.get(3)?,
                sku: r.get(4)?,
                lot: r.get(5)?,
                qty: Quantity::from_micro(r.get(6)?),
                unit_cost: r.get(7)?,
                unit_price: r.get(8)?,
                counterparty: r.get(9)?,
                reference: r.get(10)?,
                reason: r.get(11)?,
                transfer_id: r.get(12)?,
                occurred_at: r.get(13)?,
                recorded_at: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn transfers(&self, open_only: bool) -> Result<Vec<TransferRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, from_site || '/' || from_location, to_site || '/' || to_location, sku, lot, qty,
                    received_qty, unit_cost, sent_at
             FROM transfer WHERE (?1 = 0 OR qty > received_qty) ORDER BY cursor",
        )?;
        let rows = stmt.query_map([open_only], |r| {
            let qty: i64 = r.get(5)?;
            let received: i64 = r.get(6)?;
            Ok(TransferRow {
                id: r.get(0)?,
                from: r.get(1)?,
                to: r.get(2)?,
                sku: r.get(3)?,
                lot: r.get(4)?,
                qty: Quantity::from_micro(qty),
                received: Quantity::from_micro(received),
                in_transit: Quantity::from_micro(qty - received),
                status: match received {
                    0 => "in_transit",
                    r if r < qty => "partial",
                    _ => "received",
                },
                unit_cost: r.get(7)?,
                sent_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn quarantine(&self) -> Result<Vec<QuarantineRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, site, seq, kind, reason, record, received_at FROM quarantine ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            let record: String = r.get(5)?;
            Ok(QuarantineRow {
                id: r.get(0)?,
                site: r.get(1)?,
                seq: r.get::<_, i64>(2)? as u64,
                kind: r.get(3)?,
                reason: r.get(4)?,
                record: serde_json::from_str(&record).unwrap_or(serde_json::Value::String(record)),
                received_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
