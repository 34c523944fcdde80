//! Reading the hub: consolidated inventory, sites and their freshness,
//! movements (paged), transfers and quarantine.

use super::Store;
use super::db::{Sql, vals};
use crate::error::{HubError, Result};
use chrono::{DateTime, Utc};
use jxc_shared::Quantity;
use jxc_shared::suggest::did_you_mean;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// SQL over `transfer t`: whether the hub knows the receiving site and, once
/// that site has reported its locations, the receiving location.
const DELIVERABLE: &str = "(EXISTS (SELECT 1 FROM site s WHERE s.id = t.to_site)
     AND (NOT EXISTS (SELECT 1 FROM site_location l WHERE l.site = t.to_site)
          OR EXISTS (SELECT 1 FROM site_location l WHERE l.site = t.to_site AND l.id = t.to_location)))";

/// A transfer's quantities, in micro-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferCounts {
    pub qty: i64,
    pub received: i64,
    pub returned: i64,
}

/// Where a transfer between sites stands, as HQ sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    InTransit,
    Partial,
    /// Received in full, or closed short by the receiver.
    Received,
    /// Taken back by the sender in full.
    Cancelled,
    /// Taken back by the sender in part, the rest received.
    Settled,
    /// Open, to a site or location the hub does not know.
    Undeliverable,
    /// Received and taken back together beyond what was sent: the sender
    /// cancelled while the receiver received, each offline; one of them must
    /// correct it with an adjustment.
    Disputed,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::InTransit => "in_transit",
            TransferState::Partial => "partial",
            TransferState::Received => "received",
            TransferState::Cancelled => "cancelled",
            TransferState::Settled => "settled",
            TransferState::Undeliverable => "undeliverable",
            TransferState::Disputed => "disputed",
        }
    }
}

impl TransferCounts {
    pub fn in_transit(&self) -> i64 {
        self.qty - self.received - self.returned
    }

    /// Pure: the state from the counts and whether the receiver is known.
    pub fn state(&self, deliverable: bool) -> TransferState {
        let open = self.in_transit();
        if open < 0 {
            TransferState::Disputed
        } else if open > 0 && !deliverable {
            TransferState::Undeliverable
        } else if open > 0 {
            if self.received == 0 && self.returned == 0 {
                TransferState::InTransit
            } else {
                TransferState::Partial
            }
        } else if self.returned == self.qty {
            TransferState::Cancelled
        } else if self.returned > 0 {
            TransferState::Settled
        } else {
            TransferState::Received
        }
    }
}

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

#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    /// The group: a SKU, a site id, `SITE/LOC`, a region or a site kind.
    pub key: String,
    pub on_hand: Quantity,
    /// Sent to this group by another site and not yet received.
    pub in_transit: Quantity,
    /// On hand at moving-average cost.
    pub value: Decimal,
    /// The part of `on_hand` held by dealers whose sharing policy no longer
    /// covers it: what HQ last received, no longer updated.
    pub not_updated: Quantity,
    /// The part of `on_hand` held by dealers that do not share costs: it
    /// counts in `on_hand` but adds nothing to `value`.
    pub unvalued: Quantity,
    /// The part of `in_transit` sent to a site or location the hub does not
    /// know: it counts at the sender until the receiver exists or the
    /// sender cancels the transfer.
    pub undeliverable: Quantity,
}

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct MovementRow {
    pub site: String,
    pub seq: u64,
    pub kind: String,
    pub location: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub unit_cost: String,
    pub unit_price: Option<String>,
    pub counterparty: Option<String>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub transfer_id: Option<String>,
    pub occurred_at: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone)]
pub struct TransferRow {
    pub id: String,
    pub from: String,
    pub to: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub received: Quantity,
    /// Taken back by the sender (`transfer cancel`).
    pub returned: Quantity,
    /// `qty − received − returned`, or 0 when that is below zero.
    pub in_transit: Quantity,
    /// How much more was received and taken back together than was sent:
    /// the sender cancelled while the receiver received, each offline. The
    /// side whose record is wrong corrects it with an adjustment; nothing
    /// is counted in transit meanwhile.
    pub disputed: Quantity,
    /// One of [`TransferState::as_str`].
    pub status: &'static str,
    /// Why the hub cannot deliver it, when it cannot.
    pub undeliverable: Option<String>,
    pub unit_cost: String,
    pub sent_at: String,
}

#[derive(Debug, Clone)]
pub struct QuarantineRow {
    pub id: i64,
    pub site: String,
    pub seq: u64,
    pub kind: String,
    pub reason: String,
    pub record: serde_json::Value,
    pub received_at: String,
}

/// Refuses a filter value that names nothing the hub knows, with the
/// nearest that it does: an empty table would read as zero stock.
fn check_filter(sql: &mut Sql<'_>, f: &InventoryFilter) -> Result<()> {
    // A kind is one of three words: anything else is malformed (400),
    // not something absent.
    if let Some(k) = &f.kind
        && !["hq", "branch", "dealer"].contains(&k.as_str())
    {
        return Err(HubError::Invalid(format!(
            "kind {k:?} is not valid: use hq, branch or dealer{}",
            did_you_mean(k, ["hq", "branch", "dealer"])
        )));
    }
    for (field, value, query) in [
        ("site", &f.site, "SELECT id FROM site"),
        ("region", &f.region, "SELECT DISTINCT region FROM site"),
    ] {
        let Some(v) = value else { continue };
        let known: Vec<String> = sql.column(query, vals![])?;
        if !known.iter().any(|k| k == v) {
            return Err(HubError::UnknownName(format!(
                "{field} {v:?} is not known to the hub{}",
                did_you_mean(v, known.iter().map(String::as_str))
            )));
        }
    }
    Ok(())
}

/// Refuses an SKU that names nothing: not in the catalog, and no site
/// holds or sends it (a branch's own item). Called only when the
/// inventory came out empty, since listing every SKU held is a scan.
fn check_sku(sql: &mut Sql<'_>, sku: &str) -> Result<()> {
    let known: Vec<String> = sql.column(
        "SELECT sku FROM product UNION SELECT DISTINCT sku FROM balance
         UNION SELECT DISTINCT sku FROM transfer",
        vals![],
    )?;
    if known.iter().any(|k| k == sku) {
        return Ok(());
    }
    Err(HubError::UnknownName(format!(
        "sku {sku:?} is not known to the hub{}",
        did_you_mean(sku, known.iter().map(String::as_str))
    )))
}

impl Store {
    /// Refuses a filter value that names nothing the hub knows.
    pub fn check_filter(&self, f: &InventoryFilter) -> Result<()> {
        self.db().read(|sql| check_filter(sql, f))
    }

    pub fn inventory(&self, f: &InventoryFilter) -> Result<Vec<InventoryRow>> {
        self.db().snapshot(|sql| inventory(sql, f))
    }

    /// On hand per (site, location, sku, lot), as the agents' `stock` shows it.
    pub fn balances(&self, site: &str) -> Result<Vec<(String, String, String, Quantity)>> {
        self.db().read(|sql| {
            sql.query(
                "SELECT location, sku, lot, qty FROM balance WHERE site = ? AND qty != 0 ORDER BY location, sku, lot",
                vals![site],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, Quantity::from_micro(r.get(3)?))))
            .collect()
        })
    }

    pub fn sites(&self, now: DateTime<Utc>, stale_after_secs: i64) -> Result<Vec<SiteRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT s.id, s.kind, s.name, s.region, s.enrolled_at, s.revoked_at, s.hwm, s.agent_last_seq,
                        s.last_sync_at, s.newest_business_at, s.clock_skew_ms,
                        (SELECT COUNT(*) FROM site_location l WHERE l.site = s.id)
                 FROM site s ORDER BY s.id",
                vals![],
            )
        })?;
        rows.iter()
            .map(|r| {
                let hwm: u64 = r.get(6)?;
                let agent_last: u64 = r.get(7)?;
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
                    locations: r.get(11)?,
                })
            })
            .collect()
    }

    /// Movements after the cursor `(after_site, after_seq)` in (site, seq)
    /// order, at most `limit`; optionally of one site only.
    pub fn movements(
        &self,
        site: Option<&str>,
        after: (&str, u64),
        limit: u32,
    ) -> Result<Vec<MovementRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT site, seq, kind, location, sku, lot, qty, unit_cost, unit_price, counterparty, ref, reason,
                        transfer_id, occurred_at, recorded_at
                 FROM movement WHERE (CAST(?1 AS TEXT) IS NULL OR site = ?1) AND (site, seq) > (?2, ?3)
                 ORDER BY site, seq LIMIT ?4",
                vals![site, after.0, after.1 as i64, limit],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(MovementRow {
                    site: r.get(0)?,
                    seq: r.get(1)?,
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
            })
            .collect()
    }

    pub fn transfers(&self, open_only: bool) -> Result<Vec<TransferRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                &format!(
                    "SELECT t.id, t.from_site || '/' || t.from_location, t.to_site || '/' || t.to_location, t.sku,
                            t.lot, t.qty, t.received_qty, t.returned_qty, t.unit_cost, t.sent_at,
                            d.id IS NOT NULL, {DELIVERABLE}
                     FROM transfer t LEFT JOIN site d ON d.id = t.to_site
                     WHERE (? = 0 OR t.qty != t.received_qty + t.returned_qty) ORDER BY t.cursor"
                ),
                vals![open_only],
            )
        })?;
        rows.iter()
            .map(|r| {
                let to: String = r.get(2)?;
                let counts = TransferCounts {
                    qty: r.get(5)?,
                    received: r.get(6)?,
                    returned: r.get(7)?,
                };
                let (site_known, deliverable): (bool, bool) = (r.get(10)?, r.get(11)?);
                let state = counts.state(deliverable);
                Ok(TransferRow {
                    id: r.get(0)?,
                    from: r.get(1)?,
                    undeliverable: (state == TransferState::Undeliverable).then(|| {
                        if site_known {
                            format!("the hub knows no location {to}")
                        } else {
                            format!(
                                "the hub knows no site {}",
                                to.split('/').next().unwrap_or("")
                            )
                        }
                    }),
                    to,
                    sku: r.get(3)?,
                    lot: r.get(4)?,
                    qty: Quantity::from_micro(counts.qty),
                    received: Quantity::from_micro(counts.received),
                    returned: Quantity::from_micro(counts.returned),
                    in_transit: Quantity::from_micro(counts.in_transit().max(0)),
                    disputed: Quantity::from_micro((-counts.in_transit()).max(0)),
                    status: state.as_str(),
                    unit_cost: r.get(8)?,
                    sent_at: r.get(9)?,
                })
            })
            .collect()
    }

    /// Every site with its locations, for agents' transfer checks. A site
    /// with an unspent enrollment token is listed before it enrolls.
    pub fn directory(&self) -> Result<jxc_shared::protocol::Directory> {
        use jxc_shared::protocol::{Directory, DirectorySite};
        let (site_rows, location_rows) = self.db().snapshot(|sql| {
            Ok((
                sql.query(
                    "SELECT s.id, s.kind, s.name, s.region, p.policy FROM site s
                     LEFT JOIN share_policy p ON p.site = s.id AND s.kind = 'dealer'
                     UNION ALL
                     SELECT site, kind, name, region, NULL FROM enroll_token
                     WHERE used_at IS NULL AND site NOT IN (SELECT id FROM site)",
                    vals![],
                )?,
                sql.query(
                    "SELECT site, id FROM site_location ORDER BY site, id",
                    vals![],
                )?,
            ))
        })?;
        let mut sites: BTreeMap<String, DirectorySite> = BTreeMap::new();
        for r in &site_rows {
            let kind: String = r.get(1)?;
            let policy: Option<String> = r.get(4)?;
            // A dealer shares costs only if its policy in force says so.
            let shares_costs = kind != "dealer"
                || policy
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                    .and_then(|v| v.get("costs_and_prices").and_then(|b| b.as_bool()))
                    .unwrap_or(false);
            let id: String = r.get(0)?;
            sites.entry(id.clone()).or_insert(DirectorySite {
                id,
                kind,
                name: r.get(2)?,
                region: r.get(3)?,
                shares_costs,
                locations: Vec::new(),
            });
        }
        for r in &location_rows {
            let site: String = r.get(0)?;
            if let Some(s) = sites.get_mut(&site) {
                s.locations.push(r.get(1)?);
            }
        }
        Ok(Directory {
            sites: sites.into_values().collect(),
        })
    }

    pub fn quarantine(&self) -> Result<Vec<QuarantineRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT id, site, seq, kind, reason, record, received_at FROM quarantine ORDER BY id",
                vals![],
            )
        })?;
        rows.iter()
            .map(|r| {
                let record: String = r.get(5)?;
                Ok(QuarantineRow {
                    id: r.get(0)?,
                    site: r.get(1)?,
                    seq: r.get(2)?,
                    kind: r.get(3)?,
                    reason: r.get(4)?,
                    record: serde_json::from_str(&record)
                        .unwrap_or(serde_json::Value::String(record)),
                    received_at: r.get(6)?,
                })
            })
            .collect()
    }
}

/// Consolidated inventory, grouped by `f.by`, read in one snapshot.
fn inventory(sql: &mut Sql<'_>, f: &InventoryFilter) -> Result<Vec<InventoryRow>> {
    check_filter(sql, f)?;
    let key = |site: &str, loc: &str, sku: &str, kind: &str, region: &str| -> String {
        match f.by {
            GroupBy::Sku => sku.to_owned(),
            GroupBy::Site => site.to_owned(),
            GroupBy::Location => format!("{site}/{loc}"),
            GroupBy::Region => region.to_owned(),
            GroupBy::Kind => kind.to_owned(),
        }
    };
    // (on hand, in transit, value, not updated, unvalued, undeliverable)
    let mut groups: BTreeMap<String, (i128, i128, Decimal, i128, i128, i128)> = BTreeMap::new();
    let mut policies: std::collections::HashMap<String, Option<jxc_shared::docs::SharePolicy>> =
        std::collections::HashMap::new();
    let mut categories: std::collections::HashMap<String, String> =
        std::collections::HashMap::new();

    let rows = sql.query(
        "SELECT b.site, b.location, b.sku, CAST(SUM(b.qty) AS BIGINT), s.kind, s.region,
                CAST(SUM(b.value) AS BIGINT)
         FROM balance b JOIN site s ON s.id = b.site
         WHERE (CAST(?1 AS TEXT) IS NULL OR b.sku = ?1) AND (CAST(?2 AS TEXT) IS NULL OR b.site = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR s.region = ?3) AND (CAST(?4 AS TEXT) IS NULL OR s.kind = ?4)
         GROUP BY b.site, b.location, b.sku, s.kind, s.region",
        vals![f.sku, f.site, f.region, f.kind],
    )?;
    for r in &rows {
        let (site, loc, sku, kind, region): (String, String, String, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?);
        let qty: i64 = r.get(3)?;
        let value: i64 = r.get(6)?;
        let g = groups
            .entry(key(&site, &loc, &sku, &kind, &region))
            .or_default();
        g.0 += qty as i128;
        g.2 += Decimal::new(value, 6);
        if !policies.contains_key(&site) {
            let p = if kind == "dealer" {
                Some(super::ingest::policy_in_force(
                    sql,
                    &jxc_shared::SiteId::parse(&site)?,
                )?)
            } else {
                None
            };
            policies.insert(site.clone(), p);
        }
        if let Some(p) = &policies[&site] {
            if !categories.contains_key(&sku) {
                let c: Option<String> =
                    sql.scalar("SELECT category FROM product WHERE sku = ?", vals![sku])?;
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

    // Goods in transit count at the receiver (a disputed transfer counts
    // nothing: the side in error adjusts its stock); when the hub knows no such
    // receiver they still count, at the sender, as undeliverable: the
    // channel's total is always on hand plus every open transfer.
    let rows = sql.query(
        &format!(
            "SELECT t.to_site, t.to_location, t.from_site, t.from_location, t.sku,
                    t.qty - t.received_qty - t.returned_qty, d.kind, d.region, f.kind, f.region,
                    {DELIVERABLE}
             FROM transfer t JOIN site f ON f.id = t.from_site LEFT JOIN site d ON d.id = t.to_site
             WHERE t.qty > t.received_qty + t.returned_qty AND (CAST(?1 AS TEXT) IS NULL OR t.sku = ?1)"
        ),
        vals![f.sku],
    )?;
    for r in &rows {
        let deliverable: bool = r.get(10)?;
        let (site, loc, kind, region): (String, String, String, String) = if deliverable {
            (r.get(0)?, r.get(1)?, r.get(6)?, r.get(7)?)
        } else {
            (r.get(2)?, r.get(3)?, r.get(8)?, r.get(9)?)
        };
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if !(wanted(&f.site, &site) && wanted(&f.region, &region) && wanted(&f.kind, &kind)) {
            continue;
        }
        let sku: String = r.get(4)?;
        let qty = r.get::<i64>(5)? as i128;
        let g = groups
            .entry(key(&site, &loc, &sku, &kind, &region))
            .or_default();
        g.1 += qty;
        if !deliverable {
            g.5 += qty;
        }
    }
    if let (true, Some(sku)) = (groups.is_empty(), &f.sku) {
        check_sku(sql, sku)?;
    }
    let micro = |v: i128| Quantity::from_decimal(Decimal::from_i128_with_scale(v, 6));
    Ok(groups
        .into_iter()
        .map(
            |(key, (on_hand, transit, value, frozen, unvalued, undeliverable))| InventoryRow {
                key,
                on_hand: micro(on_hand),
                in_transit: micro(transit),
                value: value.normalize(),
                not_updated: micro(frozen),
                unvalued: micro(unvalued),
                undeliverable: micro(undeliverable),
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{TransferCounts, TransferState};

    fn state(qty: i64, received: i64, returned: i64, deliverable: bool) -> TransferState {
        TransferCounts {
            qty,
            received,
            returned,
        }
        .state(deliverable)
    }

    #[test]
    fn a_transfer_is_open_until_received_or_taken_back_and_never_vanishes() {
        assert_eq!(state(10, 0, 0, true), TransferState::InTransit);
        assert_eq!(state(10, 4, 0, true), TransferState::Partial);
        assert_eq!(state(10, 10, 0, true), TransferState::Received);
        assert_eq!(state(10, 0, 10, true), TransferState::Cancelled);
        assert_eq!(state(10, 4, 6, true), TransferState::Settled);
        // Unknown receiver: still open (in transit), flagged.
        assert_eq!(state(10, 0, 0, false), TransferState::Undeliverable);
        // Cancelled, so nothing remains to deliver: no longer flagged.
        assert_eq!(state(10, 0, 10, false), TransferState::Cancelled);
        assert_eq!(state(10, 7, 10, true), TransferState::Disputed);
    }
}
