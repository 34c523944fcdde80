//! Reading the hub: consolidated inventory, sites and their freshness,
//! movements (paged), transfers and quarantine.

use super::Store;
use super::db::{Sql, Value, vals};
use crate::error::{HubError, Result};
use chrono::{DateTime, Utc};
use jxc_shared::Quantity;
use jxc_shared::suggest::did_you_mean;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// SQL over `transfer t`: whether the hub knows the receiving site and, once
/// that site has reported its locations, the receiving location. The
/// inventory's in-transit statement holds the same rule as joins.
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
    /// A lot of a SKU ('' for stock without one).
    Lot,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Sku => "sku",
            GroupBy::Site => "site",
            GroupBy::Location => "location",
            GroupBy::Region => "region",
            GroupBy::Kind => "kind",
            GroupBy::Lot => "lot",
        }
    }

    /// `site,sku`: one or more distinct keys.
    pub fn parse_list(s: &str) -> Result<Vec<GroupBy>> {
        let mut keys = Vec::new();
        for part in s.split(',').map(str::trim) {
            let k = GroupBy::parse(part)?;
            if keys.contains(&k) {
                return Err(HubError::Invalid(format!("by {s:?} names {part} twice")));
            }
            keys.push(k);
        }
        Ok(keys)
    }

    pub fn parse(s: &str) -> Result<GroupBy> {
        Ok(match s {
            "sku" => GroupBy::Sku,
            "site" => GroupBy::Site,
            "location" => GroupBy::Location,
            "region" => GroupBy::Region,
            "kind" => GroupBy::Kind,
            "lot" => GroupBy::Lot,
            _ => {
                return Err(HubError::Invalid(format!(
                    "by {s:?} is not valid: use sku, site, location, region, kind or lot"
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
    /// One or more keys, in order; none is by SKU.
    pub by: Vec<GroupBy>,
}

impl InventoryFilter {
    /// The keys grouped by: `by`, or the SKU when it names none.
    pub fn keys(&self) -> Vec<GroupBy> {
        if self.by.is_empty() {
            vec![GroupBy::Sku]
        } else {
            self.by.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    /// The group's value of each key, in the order grouped by: a SKU, a
    /// site id, `SITE/LOC`, a region or a site kind.
    pub keys: Vec<String>,
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

/// Narrows [`Store::movements`] to one location (its id at the site, as
/// movements carry it) or SKU.
#[derive(Debug, Clone, Default)]
pub struct MovementsOf {
    pub location: Option<String>,
    pub sku: Option<String>,
    /// A lot ('' is stock without one).
    pub lot: Option<String>,
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

/// Refuses a kind that is not one of the three words: malformed (400),
/// not something absent.
pub(super) fn check_kind(kind: &Option<String>) -> Result<()> {
    if let Some(k) = kind
        && !["hq", "branch", "dealer"].contains(&k.as_str())
    {
        return Err(HubError::Invalid(format!(
            "kind {k:?} is not valid: use hq, branch or dealer{}",
            did_you_mean(k, ["hq", "branch", "dealer"])
        )));
    }
    Ok(())
}

/// Refuses each given `(field, value, query listing the known values)`
/// whose value names nothing the hub knows, with the nearest that it does:
/// an empty report would read as zero.
pub(super) fn check_known(
    sql: &mut Sql<'_>,
    checks: &[(&str, &Option<String>, &str)],
) -> Result<()> {
    for (field, value, query) in checks {
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

/// Refuses a filter value that names nothing the hub knows.
fn check_filter(sql: &mut Sql<'_>, f: &InventoryFilter) -> Result<()> {
    check_kind(&f.kind)?;
    check_known(
        sql,
        &[
            ("site", &f.site, "SELECT id FROM site"),
            ("region", &f.region, "SELECT DISTINCT region FROM site"),
        ],
    )
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
    /// Movements in (site, seq) order after `after`, at most `limit`, of
    /// `site` (else every site), and of one location (its id at the site) or
    /// SKU.
    /// The location and SKU filters read the site's movements in order and
    /// keep the matching ones: a page of a rare SKU may read many.
    pub fn movements(
        &self,
        site: Option<&str>,
        of: &MovementsOf,
        after: (&str, u64),
        limit: u32,
    ) -> Result<Vec<MovementRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT site, seq, kind, location, sku, lot, qty, unit_cost, unit_price, counterparty, ref, reason,
                        transfer_id, occurred_at, recorded_at
                 FROM movement WHERE (CAST(?1 AS TEXT) IS NULL OR site = ?1) AND (site, seq) > (?2, ?3)
                   AND (CAST(?5 AS TEXT) IS NULL OR location = ?5) AND (CAST(?6 AS TEXT) IS NULL OR sku = ?6)
                   AND (CAST(?7 AS TEXT) IS NULL OR lot = ?7)
                 ORDER BY site, seq LIMIT ?4",
                vals![
                    site,
                    after.0,
                    after.1 as i64,
                    limit,
                    of.location.as_deref(),
                    of.sku.as_deref(),
                    of.lot.as_deref()
                ],
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

/// Every site with what its sharing policy hides from HQ: `hidden` is 0 for
/// a site that shares all its stock (not a dealer, or a dealer sharing
/// all), 1 for a dealer sharing none (also one without a policy: nothing
/// is shared until it sets one), 2 for a dealer sharing a selection;
/// `unvalued` is 1 for a dealer that does not share its costs.
pub(super) const SITE_POLICY: &str = "(SELECT s.id, s.kind, s.region,
        CASE WHEN s.kind <> 'dealer' OR p.stock = 'all' THEN 0
             WHEN p.stock = 'selected' THEN 2 ELSE 1 END AS hidden,
        CASE WHEN s.kind = 'dealer' AND COALESCE(p.costs, 0) = 0 THEN 1 ELSE 0 END AS unvalued
     FROM site s LEFT JOIN share_scope p ON p.site = s.id)";

/// The (site, sku) pairs a selective policy shares: its SKUs, and the
/// products of its categories (a product without a category is in none).
pub(super) const SELECTED: &str = "(SELECT i.site, i.value AS sku FROM share_scope_item i
        JOIN share_scope p ON p.site = i.site AND p.stock = 'selected'
     WHERE i.kind = 'sku'
     UNION
     SELECT i.site, c.sku FROM share_scope_item i
        JOIN share_scope p ON p.site = i.site AND p.stock = 'selected'
        JOIN product c ON c.category = i.value
     WHERE i.kind = 'category' AND i.value <> '')";

/// The group keys of `by` as columns `k0, k1, …` (`as_columns`) or as a
/// list of expressions, over a row with `site`, `location` and `sku`
/// columns (alias `row`) and `kind` and `region` columns (alias `site`).
fn group_keys(by: &[GroupBy], row: &str, site: &str, as_columns: bool) -> String {
    by.iter()
        .enumerate()
        .map(|(i, k)| {
            let e = group_key(*k, row, site);
            if as_columns {
                format!("{e} AS k{i}")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn group_key(by: GroupBy, row: &str, site: &str) -> String {
    match by {
        GroupBy::Sku => format!("{row}.sku"),
        GroupBy::Site => format!("{row}.site"),
        GroupBy::Location => format!("{row}.site || '/' || {row}.location"),
        GroupBy::Region => format!("{site}.region"),
        GroupBy::Kind => format!("{site}.kind"),
        GroupBy::Lot => format!("{row}.lot"),
    }
}

/// A statement's filter values as numbered placeholders: only the filters
/// given appear in the SQL, so each combination is its own prepared
/// statement with a plan that fits it (an index for a SKU, a scan for all).
#[derive(Default)]
struct Bound {
    params: Vec<Value>,
}

impl Bound {
    fn bind(&mut self, v: &Option<String>) -> Option<String> {
        v.as_ref().map(|v| {
            self.params.push(Value::Text(v.clone()));
            format!("?{}", self.params.len())
        })
    }
}

/// Sums of one group, in micro-units.
#[derive(Default)]
struct Sums {
    on_hand: i128,
    in_transit: i128,
    value: i128,
    not_updated: i128,
    unvalued: i128,
    undeliverable: i128,
}

/// Consolidated inventory, grouped by `f.by`, read in one snapshot. Each
/// part (balances; transfers in transit) is one statement that groups and
/// sums in the database, dealer policies included; Rust only merges the two
/// parts' groups.
fn inventory(sql: &mut Sql<'_>, f: &InventoryFilter) -> Result<Vec<InventoryRow>> {
    check_filter(sql, f)?;
    let by = f.keys();
    let n = by.len();
    let ks: Vec<String> = (0..n).map(|i| format!("x.k{i}")).collect();
    let ks = ks.join(", ");
    let read_keys =
        |r: &super::db::Row| -> Result<Vec<String>> { (0..n).map(|i| r.get(i)).collect() };
    let mut groups: BTreeMap<Vec<String>, Sums> = BTreeMap::new();

    let mut bound = Bound::default();
    let mut conds = Vec::new();
    if let Some(p) = bound.bind(&f.sku) {
        conds.push(format!("b.sku = {p}"));
    }
    if let Some(p) = bound.bind(&f.site) {
        conds.push(format!("b.site = {p}"));
    }
    let mut of_site = Vec::new();
    if let Some(p) = bound.bind(&f.region) {
        of_site.push(format!("region = {p}"));
    }
    if let Some(p) = bound.bind(&f.kind) {
        of_site.push(format!("kind = {p}"));
    }
    if !of_site.is_empty() {
        conds.push(format!(
            "b.site IN (SELECT id FROM site WHERE {})",
            of_site.join(" AND ")
        ));
    }
    let and_conds: String = conds.iter().map(|c| format!(" AND {c}")).collect();
    let where_conds = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    // Balances per (site, location) unless grouped by SKU: the policy
    // effects are per site, so the big part needs no join, and without a SKU
    // filter it is `balance_total`, the sums its triggers keep. A selective
    // dealer's shared quantity is then taken back out of `not_updated` by a
    // second branch over just its shared SKUs.
    // From `balance_total`, a selective dealer's shared qty is its
    // `shared` column (kept by triggers); otherwise a branch over the
    // selected balances takes it back out.
    let per_line = by.contains(&GroupBy::Sku) || by.contains(&GroupBy::Lot);
    let totals = !per_line && f.sku.is_none();
    let rows = match (per_line, &f.sku) {
        (true, _) => format!(
            "SELECT b.site, b.location, b.sku, b.lot, b.qty, b.value, 0 AS shared FROM balance b{where_conds}"
        ),
        (false, None) => format!(
            "SELECT b.site, b.location, '' AS sku, '' AS lot, b.qty, b.value, b.shared
             FROM balance_total b WHERE b.balances > 0{and_conds}"
        ),
        (false, Some(_)) => format!(
            "SELECT b.site, b.location, '' AS sku, '' AS lot, SUM(b.qty) AS qty, SUM(b.value) AS value,
                    0 AS shared
             FROM balance b{where_conds} GROUP BY b.site, b.location"
        ),
    };
    let selected_branch = if totals {
        String::new()
    } else {
        format!(
            "UNION ALL
             SELECT {key_b}, 0, 0, -b.qty, 0
             FROM balance b JOIN {SELECTED} sel ON sel.site = b.site AND sel.sku = b.sku
                  JOIN {SITE_POLICY} m ON m.id = b.site
             WHERE m.hidden = 2{and_conds}",
            key_b = group_keys(&by, "b", "m", false),
        )
    };
    let statement = format!(
        "SELECT {ks}, CAST(SUM(x.qty) AS BIGINT), CAST(SUM(x.value) AS BIGINT),
                CAST(SUM(x.hidden) AS BIGINT), CAST(SUM(x.unvalued) AS BIGINT)
         FROM (
             SELECT {key_r}, r.qty, r.value,
                    CASE WHEN m.hidden = 0 THEN 0 WHEN m.hidden = 2 THEN r.qty - r.shared
                         ELSE r.qty END AS hidden,
                    CASE WHEN m.unvalued = 1 THEN r.qty ELSE 0 END AS unvalued
             FROM ({rows}) r JOIN {SITE_POLICY} m ON m.id = r.site
             {selected_branch}
         ) x GROUP BY {ks}",
        key_r = group_keys(&by, "r", "m", true),
    );
    for r in sql.query(&statement, &bound.params)? {
        let g = groups.entry(read_keys(&r)?).or_default();
        g.on_hand += i128::from(r.get::<i64>(n)?);
        g.value += i128::from(r.get::<i64>(n + 1)?);
        g.not_updated += i128::from(r.get::<i64>(n + 2)?);
        g.unvalued += i128::from(r.get::<i64>(n + 3)?);
    }

    // Goods in transit count at the receiver (a disputed transfer counts
    // nothing: the side in error adjusts its stock); when the hub knows no
    // such receiver they still count, at the sender, as undeliverable: the
    // channel's total is always on hand plus every open transfer.
    let mut bound = Bound::default();
    let sku = bound
        .bind(&f.sku)
        .map(|p| format!(" AND t.sku = {p}"))
        .unwrap_or_default();
    let mut conds = Vec::new();
    for (column, value) in [("site", &f.site), ("region", &f.region), ("kind", &f.kind)] {
        if let Some(p) = bound.bind(value) {
            conds.push(format!("y.{column} = {p}"));
        }
    }
    let where_conds = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    // Whether the receiver is known is [`DELIVERABLE`] written as joins:
    // as subqueries in a CASE, PostgreSQL costs the statement so high that
    // it JIT-compiles it, which takes ten times as long as running it.
    let statement = format!(
        "SELECT {key}, CAST(SUM(y.open) AS BIGINT),
                CAST(SUM(CASE WHEN y.deliverable = 1 THEN 0 ELSE y.open END) AS BIGINT)
         FROM (
             SELECT CASE WHEN x.deliverable = 1 THEN x.to_site ELSE x.from_site END AS site,
                    CASE WHEN x.deliverable = 1 THEN x.to_location ELSE x.from_location END AS location,
                    x.sku, x.lot,
                    CASE WHEN x.deliverable = 1 THEN x.to_kind ELSE x.from_kind END AS kind,
                    CASE WHEN x.deliverable = 1 THEN x.to_region ELSE x.from_region END AS region,
                    x.open, x.deliverable
             FROM (SELECT t.from_site, t.from_location, t.to_site, t.to_location, t.sku, t.lot,
                          t.qty - t.received_qty - t.returned_qty AS open,
                          f.kind AS from_kind, f.region AS from_region,
                          d.kind AS to_kind, d.region AS to_region,
                          CASE WHEN d.id IS NOT NULL AND (reported.site IS NULL OR dl.id IS NOT NULL)
                               THEN 1 ELSE 0 END AS deliverable
                   FROM transfer t JOIN site f ON f.id = t.from_site
                        LEFT JOIN site d ON d.id = t.to_site
                        LEFT JOIN (SELECT DISTINCT site FROM site_location) reported
                               ON reported.site = t.to_site
                        LEFT JOIN site_location dl ON dl.site = t.to_site AND dl.id = t.to_location
                   WHERE t.qty > t.received_qty + t.returned_qty{sku}) x
         ) y{where_conds}
         GROUP BY {key}",
        key = group_keys(&by, "y", "y", false),
    );
    for r in sql.query(&statement, &bound.params)? {
        let g = groups.entry(read_keys(&r)?).or_default();
        g.in_transit += i128::from(r.get::<i64>(n)?);
        g.undeliverable += i128::from(r.get::<i64>(n + 1)?);
    }

    if let (true, Some(sku)) = (groups.is_empty(), &f.sku) {
        check_sku(sql, sku)?;
    }
    let micro = |v: i128| Decimal::from_i128_with_scale(v, 6);
    let qty = |v: i128| Quantity::from_decimal(micro(v));
    Ok(groups
        .into_iter()
        .map(|(keys, g)| InventoryRow {
            keys,
            on_hand: qty(g.on_hand),
            in_transit: qty(g.in_transit),
            value: micro(g.value).normalize(),
            not_updated: qty(g.not_updated),
            unvalued: qty(g.unvalued),
            undeliverable: qty(g.undeliverable),
        })
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
