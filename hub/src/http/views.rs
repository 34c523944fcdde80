//! What the hub answers, over HTTP and in `--json`: its own types, built
//! from the store's rows, so the store can change its tables without
//! changing the API and the API can grow without touching the store. Field
//! names are the API's contract (see `/openapi.json`).

use crate::store::docs::{DocRefusalRow, PolicyRow, SiteCustomer};
use crate::store::{
    ChannelRow, GroupBy, InventoryRow, MovementRow, QuarantineRow, SalesKey, SalesRow, SiteRow,
    TransferRow, UserRow,
};
use jxc_shared::Quantity;
use jxc_shared::docs::Customer;
use rust_decimal::Decimal;
use serde::Serialize;

/// Builds a list of views from store rows.
pub fn all<R, V: From<R>>(rows: Vec<R>) -> Vec<V> {
    rows.into_iter().map(V::from).collect()
}

/// One group of consolidated inventory (`/v1/inventory`).
#[derive(Debug, Clone, Serialize)]
pub struct InventoryView {
    /// The group: a SKU, a site id, `SITE/LOC`, a region or a site kind;
    /// grouped by several keys, their values joined by ` | `.
    pub key: String,
    /// The group's value of each key under the key's name.
    #[serde(flatten)]
    pub keys: std::collections::BTreeMap<&'static str, String>,
    pub on_hand: Quantity,
    /// Sent to this group by another site and not yet received.
    pub in_transit: Quantity,
    /// On hand at moving-average cost.
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// Held by dealers whose sharing policy no longer covers it.
    pub not_updated: Quantity,
    /// Held by dealers that do not share costs: counted, valued at nothing.
    pub unvalued: Quantity,
    /// In transit to a site or location the hub does not know.
    pub undeliverable: Quantity,
}

impl InventoryView {
    /// The view of `r`, whose keys are `by`'s, in order.
    pub fn new(by: &[GroupBy], r: InventoryRow) -> Self {
        InventoryView {
            key: r.keys.join(" | "),
            keys: by.iter().map(|k| k.as_str()).zip(r.keys).collect(),
            on_hand: r.on_hand,
            in_transit: r.in_transit,
            value: r.value,
            not_updated: r.not_updated,
            unvalued: r.unvalued,
            undeliverable: r.undeliverable,
        }
    }
}

/// One group of the sales flow (`/v1/sales`): the group's value of each
/// `by` key under the key's name, then its figures. Money is of the priced
/// part only; `priced` says how much of the qty that is (`all`, `part` or
/// `none`), and a figure nothing priced contributes to is `null` (not
/// shared, or no price recorded), never 0.
#[derive(Debug, Clone, Serialize)]
pub struct SalesView {
    #[serde(flatten)]
    pub keys: std::collections::BTreeMap<&'static str, String>,
    pub qty: Quantity,
    pub returns: Quantity,
    pub net_qty: Quantity,
    /// Net qty sold without a price, in no money figure.
    pub unpriced_qty: Quantity,
    pub priced: &'static str,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub revenue: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cogs: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub margin: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub margin_pct: Option<Decimal>,
}

impl SalesView {
    /// The view of `row`, whose keys are `by`'s, in order.
    pub fn new(by: &[SalesKey], row: SalesRow) -> Self {
        let f = row.flow;
        let priced = if f.unpriced_sold == 0 && f.unpriced_returned == 0 {
            "all"
        } else if f.unpriced_sold == f.sold && f.unpriced_returned == f.returned {
            "none"
        } else {
            "part"
        };
        SalesView {
            qty: row.qty(),
            returns: row.returns(),
            net_qty: row.net_qty(),
            unpriced_qty: row.unpriced_qty(),
            priced,
            revenue: row.revenue(),
            cogs: row.cogs(),
            margin: row.margin(),
            margin_pct: row.margin_pct(),
            keys: by.iter().map(|k| k.as_str()).zip(row.keys).collect(),
        }
    }
}

/// Sell-in against sell-through of a dealer or a region's dealers
/// (`/v1/channel`).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// A dealer's site id, or a region.
    pub key: String,
    pub sell_in: Quantity,
    pub sell_through: Quantity,
    pub change: Quantity,
    pub on_hand: Quantity,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub weeks_of_cover: Option<Decimal>,
}

impl From<ChannelRow> for ChannelView {
    fn from(r: ChannelRow) -> Self {
        ChannelView {
            key: r.key,
            sell_in: r.sell_in,
            sell_through: r.sell_through,
            change: r.change,
            on_hand: r.on_hand,
            weeks_of_cover: r.weeks_of_cover,
        }
    }
}

/// An enrolled site and how fresh its data is (`/v1/sites`).
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
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
    pub last_sync_age_secs: Option<i64>,
    /// "fresh", "stale" or "never".
    pub freshness: &'static str,
    pub newest_business_at: Option<String>,
    pub clock_skew_ms: Option<i64>,
    pub locations: u64,
}

impl From<SiteRow> for SiteView {
    fn from(r: SiteRow) -> Self {
        SiteView {
            id: r.id,
            kind: r.kind,
            name: r.name,
            region: r.region,
            enrolled_at: r.enrolled_at,
            revoked_at: r.revoked_at,
            hwm: r.hwm,
            unsynced_at_agent: r.unsynced_at_agent,
            last_sync_at: r.last_sync_at,
            last_sync_age_secs: r.last_sync_age_secs,
            freshness: r.freshness,
            newest_business_at: r.newest_business_at,
            clock_skew_ms: r.clock_skew_ms,
            locations: r.locations,
        }
    }
}

/// One movement as the hub holds it (`/v1/movements`).
#[derive(Debug, Clone, Serialize)]
pub struct MovementView {
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

impl From<MovementRow> for MovementView {
    fn from(r: MovementRow) -> Self {
        MovementView {
            site: r.site,
            seq: r.seq,
            kind: r.kind,
            location: r.location,
            sku: r.sku,
            lot: r.lot,
            qty: r.qty,
            unit_cost: r.unit_cost,
            unit_price: r.unit_price,
            counterparty: r.counterparty,
            reference: r.reference,
            reason: r.reason,
            transfer_id: r.transfer_id,
            occurred_at: r.occurred_at,
            recorded_at: r.recorded_at,
        }
    }
}

/// A transfer between sites (`/v1/transfers`).
#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub id: String,
    pub from: String,
    pub to: String,
    pub sku: String,
    pub lot: String,
    pub qty: Quantity,
    pub received: Quantity,
    pub returned: Quantity,
    pub in_transit: Quantity,
    pub disputed: Quantity,
    pub status: &'static str,
    pub undeliverable: Option<String>,
    pub unit_cost: String,
    pub sent_at: String,
}

impl From<TransferRow> for TransferView {
    fn from(r: TransferRow) -> Self {
        TransferView {
            id: r.id,
            from: r.from,
            to: r.to,
            sku: r.sku,
            lot: r.lot,
            qty: r.qty,
            received: r.received,
            returned: r.returned,
            in_transit: r.in_transit,
            disputed: r.disputed,
            status: r.status,
            undeliverable: r.undeliverable,
            unit_cost: r.unit_cost,
            sent_at: r.sent_at,
        }
    }
}

/// A record the hub did not apply (`/v1/quarantine`).
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineView {
    pub id: i64,
    pub site: String,
    pub seq: u64,
    pub kind: String,
    pub reason: String,
    pub record: serde_json::Value,
    pub received_at: String,
}

impl From<QuarantineRow> for QuarantineView {
    fn from(r: QuarantineRow) -> Self {
        QuarantineView {
            id: r.id,
            site: r.site,
            seq: r.seq,
            kind: r.kind,
            reason: r.reason,
            record: r.record,
            received_at: r.received_at,
        }
    }
}

/// A customer a site shares, with its site (`/v1/customers`).
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub site: String,
    #[serde(flatten)]
    pub customer: Customer,
    /// Kept from before its dealer stopped sharing identities; no longer updated.
    pub not_updated: bool,
}

impl From<SiteCustomer> for CustomerView {
    fn from(r: SiteCustomer) -> Self {
        CustomerView {
            site: r.site,
            customer: r.customer,
            not_updated: r.not_updated,
        }
    }
}

/// A dealer's sharing policy in force (`/v1/share-policies`).
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub site: String,
    pub policy: serde_json::Value,
    pub updated_at: String,
}

impl From<PolicyRow> for PolicyView {
    fn from(r: PolicyRow) -> Self {
        PolicyView {
            site: r.site,
            policy: r.policy,
            updated_at: r.updated_at,
        }
    }
}

/// A document change the hub refused (`/v1/document-refusals`).
#[derive(Debug, Clone, Serialize)]
pub struct RefusalView {
    pub hash: String,
    pub doc: String,
    pub site: String,
    pub actor: String,
    pub reason: String,
    pub received_at: String,
}

impl From<DocRefusalRow> for RefusalView {
    fn from(r: DocRefusalRow) -> Self {
        RefusalView {
            hash: r.hash,
            doc: r.doc,
            site: r.site,
            actor: r.actor,
            reason: r.reason,
            received_at: r.received_at,
        }
    }
}

/// An HQ user, without their token (`jxc-hub user list --json`).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: String,
    pub created_at: String,
    /// Whether the user has a dashboard password.
    pub can_sign_in: bool,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        UserView {
            name: r.name,
            role: r.role,
            created_at: r.created_at,
            can_sign_in: r.has_password,
        }
    }
}

/// A group of slow-moving or sunk stock, or one such line
/// (`/v1/plan/sunk`).
#[derive(Debug, Clone, Serialize)]
pub struct SunkView {
    /// The sites' tier: `hq`, `branch` or `dealer`.
    pub tier: String,
    /// A site id, region or category; for a line, its site.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub lines: u64,
    pub no_sale_lines: u64,
    pub over_supply_lines: u64,
    pub qty: Quantity,
    /// At moving-average cost, of the stock whose cost is shared.
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// Held by dealers that do not share costs: in no `value`.
    pub unvalued_qty: Quantity,
    /// At the catalog's dealer price, of the SKUs that have one.
    #[serde(with = "rust_decimal::serde::str")]
    pub dealer_value: Decimal,
    pub no_dealer_price_qty: Quantity,
    /// A line's: `no_sale` or `over_supply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sale: Option<String>,
    #[serde(
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub days_of_supply: Option<Decimal>,
    /// Sites of the group whose data is stale or that never synced.
    pub stale_sites: Vec<String>,
}

impl From<crate::plan::sunk::SunkRow> for SunkView {
    fn from(r: crate::plan::sunk::SunkRow) -> Self {
        let (location, sku) = r.line.map_or((None, None), |(l, s)| (Some(l), Some(s)));
        SunkView {
            tier: r.tier,
            key: r.key,
            location,
            sku,
            lines: r.lines,
            no_sale_lines: r.no_sale_lines,
            over_supply_lines: r.over_supply_lines,
            qty: Quantity::from_micro(r.qty),
            value: Decimal::new(r.value, 6).normalize(),
            unvalued_qty: Quantity::from_micro(r.unvalued_qty),
            dealer_value: r.dealer_value.normalize(),
            no_dealer_price_qty: Quantity::from_micro(r.no_dealer_price_qty),
            reason: r.reason,
            last_sale: r.last_sale.map(|d| d.to_string()),
            days_of_supply: r.days_of_supply,
            stale_sites: r.stale_sites,
        }
    }
}

/// One line's stock policy (`/v1/plan/policy`), with the inputs it was
/// computed from. Quantities and money are decimal strings.
#[derive(Debug, Clone, Serialize)]
pub struct StockPolicyView {
    pub site: String,
    /// The site's tier: `hq`, `branch` or `dealer`.
    pub kind: String,
    pub location: String,
    pub sku: String,
    pub category: String,
    pub abc: &'static str,
    pub xyz: &'static str,
    /// The forecast model chosen for the line by its holdout.
    pub method: &'static str,
    /// No sale before the as-of day: demand is 0.
    pub no_history: bool,
    pub daily_demand: Decimal,
    pub demand_sd: Decimal,
    pub lead_time_days: u32,
    pub review_days: u32,
    pub safety_stock: Decimal,
    pub reorder_point: Decimal,
    pub order_up_to: Decimal,
    pub eoq: Option<Decimal>,
    pub on_hand: Decimal,
    pub in_transit: Decimal,
    pub position: Decimal,
    pub days_of_supply: Option<Decimal>,
    /// The unit cost EOQ's holding cost is taken from (moving-average cost,
    /// else the catalog's dealer price), and the costs of the category.
    pub unit_cost: Option<Decimal>,
    pub order_cost: Decimal,
    pub holding_rate: Decimal,
    pub pack_size: Option<Decimal>,
    pub min_order_qty: Option<Decimal>,
    /// The site's data is stale: the row rests on old data.
    pub stale: bool,
}

impl From<crate::plan::policy::PolicyRow> for StockPolicyView {
    fn from(r: crate::plan::policy::PolicyRow) -> Self {
        StockPolicyView {
            position: r.position(),
            site: r.site,
            kind: r.kind,
            location: r.location,
            sku: r.sku,
            category: r.category,
            abc: r.abc.as_str(),
            xyz: r.xyz.as_str(),
            method: r.method.as_str(),
            no_history: r.no_history,
            daily_demand: r.daily_demand,
            demand_sd: r.demand_sd,
            lead_time_days: r.lead_time_days,
            review_days: r.review_days,
            safety_stock: r.safety_stock,
            reorder_point: r.reorder_point,
            order_up_to: r.order_up_to,
            eoq: r.eoq,
            on_hand: r.on_hand,
            in_transit: r.in_transit,
            days_of_supply: r.days_of_supply,
            unit_cost: r.unit_cost,
            order_cost: r.order_cost,
            holding_rate: r.holding_rate,
            pack_size: r.pack_size,
            min_order_qty: r.min_order_qty,
            stale: r.stale,
        }
    }
}

/// One cell of the ABC/XYZ matrix (`/v1/plan/matrix`): the policy lines
/// of one value class (A, B, C) and one variability class (X, Y, Z).
#[derive(Debug, Clone, Serialize)]
pub struct MatrixView {
    pub abc: &'static str,
    pub xyz: &'static str,
    pub lines: u64,
    pub on_hand: Decimal,
    pub daily_demand: Decimal,
    /// Lines at or below their reorder point.
    pub at_reorder: u64,
}

impl From<crate::plan::policy::MatrixCell> for MatrixView {
    fn from(c: crate::plan::policy::MatrixCell) -> Self {
        MatrixView {
            abc: c.abc.as_str(),
            xyz: c.xyz.as_str(),
            lines: c.lines,
            on_hand: c.on_hand.normalize(),
            daily_demand: c.daily_demand.normalize(),
            at_reorder: c.at_reorder,
        }
    }
}

/// One reorder suggestion (`/v1/plan/reorder`) and the policy it was
/// computed from (`inputs`).
#[derive(Debug, Clone, Serialize)]
pub struct ReorderView {
    pub site: String,
    pub location: String,
    pub sku: String,
    /// `transfer` (sell-in from HQ's warehouse) or `purchase` (from the
    /// supplier, for HQ's own lines).
    pub action: &'static str,
    /// `HQSITE/LOC`, `HQSITE` (no HQ location holds the SKU) or `supplier`.
    pub source: String,
    /// On hand at the HQ source; absent for the supplier.
    pub source_on_hand: Option<Decimal>,
    /// The quantity to order: `need` raised to `min_order_qty`, rounded up
    /// to whole `pack_size` packs.
    pub qty: Decimal,
    /// `order_up_to − position`.
    pub need: Decimal,
    pub inputs: StockPolicyView,
    /// What a planner decided on it for this plan day (`null`: undecided).
    pub decision: Option<DecisionView>,
}

/// A planner's decision on a reorder suggestion.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionView {
    /// `ordered` or `dismissed`.
    pub decision: &'static str,
    pub qty: Option<Decimal>,
    pub note: String,
    pub decided_by: String,
    pub decided_at: String,
}

impl From<crate::store::PlanDecision> for DecisionView {
    fn from(d: crate::store::PlanDecision) -> Self {
        DecisionView {
            decision: d.decision.as_str(),
            qty: d.qty,
            note: d.note,
            decided_by: d.decided_by,
            decided_at: d.decided_at,
        }
    }
}

impl From<crate::plan::reorder::Suggestion> for ReorderView {
    fn from(s: crate::plan::reorder::Suggestion) -> Self {
        use crate::plan::reorder::Source;
        let action = s.action();
        let source = match &s.source {
            Source::Hq { site, location } => match location {
                Some(l) => format!("{site}/{l}"),
                None => site.clone(),
            },
            Source::Supplier => "supplier".to_owned(),
        };
        ReorderView {
            site: s.policy.site.clone(),
            location: s.policy.location.clone(),
            sku: s.policy.sku.clone(),
            action,
            source,
            source_on_hand: s.source_on_hand,
            qty: s.qty,
            need: s.need,
            inputs: StockPolicyView::from(s.policy),
            decision: s.decision.map(DecisionView::from),
        }
    }
}

/// One day of one series' demand forecast (`/v1/plan/forecast`): the
/// series' keys under their names (`site` and `category` or `sku`, or
/// `location` and `sku`), the day and the qty.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastView {
    #[serde(flatten)]
    pub keys: std::collections::BTreeMap<&'static str, String>,
    pub date: String,
    pub qty: Decimal,
    /// The model chosen for the series by its holdout.
    pub method: &'static str,
    /// No sale before the as-of day: the forecast is 0.
    pub no_history: bool,
    /// The site's data is stale: the forecast rests on old data.
    pub stale: bool,
}

impl ForecastView {
    /// One view per day of `f`, keyed by `names`.
    pub fn of(
        names: [&'static str; 2],
        f: crate::plan::forecast::SeriesForecast,
        stale: bool,
    ) -> Vec<ForecastView> {
        let mut keys: std::collections::BTreeMap<&'static str, String> =
            names.into_iter().zip(f.keys).collect();
        keys.entry("site").or_insert(f.site);
        f.daily
            .into_iter()
            .map(|(d, q)| ForecastView {
                keys: keys.clone(),
                date: d.to_string(),
                qty: q,
                method: f.method.as_str(),
                no_history: f.no_history,
                stale,
            })
            .collect()
    }
}

/// One series' backtest (`/v1/plan/backtest`).
#[derive(Debug, Clone, Serialize)]
pub struct BacktestView {
    #[serde(flatten)]
    pub keys: std::collections::BTreeMap<&'static str, String>,
    pub method: &'static str,
    /// M5's RMSSE of jxc's forecast and of seasonal naive over the horizon
    /// (`null`: the history has no scale, a constant series).
    pub rmsse: Option<f64>,
    pub seasonal_naive_rmsse: Option<f64>,
    pub forecast_qty: f64,
    pub actual_qty: f64,
    pub stale: bool,
}

impl BacktestView {
    pub fn new(names: [&'static str; 2], b: crate::plan::forecast::Backtest, stale: bool) -> Self {
        let mut keys: std::collections::BTreeMap<&'static str, String> =
            names.into_iter().zip(b.keys).collect();
        keys.entry("site").or_insert(b.site);
        let round = |v: f64| (v * 1e4).round() / 1e4;
        BacktestView {
            keys,
            method: b.method.as_str(),
            rmsse: b.rmsse.map(round),
            seasonal_naive_rmsse: b.naive_rmsse.map(round),
            forecast_qty: round(b.forecast_total),
            actual_qty: round(b.actual_total),
            stale,
        }
    }
}

/// A backtest: every series, and the mean RMSSE over those with a scale.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    pub as_of: String,
    pub horizon: u32,
    /// Series whose RMSSE is defined for both methods (the means' base).
    pub series: usize,
    pub rmsse: Option<f64>,
    pub seasonal_naive_rmsse: Option<f64>,
    /// jxc's mean RMSSE over seasonal naive's: below 1 is better.
    pub ratio_to_seasonal_naive: Option<f64>,
    pub groups: Vec<BacktestView>,
}

impl BacktestReport {
    /// The report of `tests`, each series keyed by `names`, with the means
    /// over the series whose RMSSE is defined for both methods.
    pub fn new(
        tests: Vec<(crate::plan::forecast::Backtest, bool)>,
        names: [&'static str; 2],
        as_of: chrono::NaiveDate,
        horizon: u32,
    ) -> Self {
        let (jxc, naive, series) = crate::plan::forecast::overall(tests.iter().map(|t| &t.0));
        let round = |v: f64| (v * 1e4).round() / 1e4;
        BacktestReport {
            as_of: as_of.to_string(),
            horizon,
            series,
            rmsse: jxc.map(round),
            seasonal_naive_rmsse: naive.map(round),
            ratio_to_seasonal_naive: match (jxc, naive) {
                (Some(j), Some(n)) if n > 0.0 => Some((j / n * 1e3).round() / 1e3),
                _ => None,
            },
            groups: tests
                .into_iter()
                .map(|(b, stale)| BacktestView::new(names, b, stale))
                .collect(),
        }
    }
}

/// One alert (`/v1/alerts`, `jxc-hub alerts --json`).
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub rule: String,
    pub kind: String,
    pub site: String,
    /// Empty for a site's alert (stale, quarantine-grew).
    pub location: String,
    pub sku: String,
    pub state: crate::store::AlertState,
    pub raised_at: String,
    pub cleared_at: Option<String>,
    /// What the alert says, in a sentence.
    pub message: String,
    /// The line's figures when it was raised (quantities as decimal text).
    pub figures: serde_json::Value,
    /// And when it cleared.
    pub cleared_figures: Option<serde_json::Value>,
    /// Messages about it not yet delivered, and why the last attempt failed.
    pub undelivered: u64,
    pub last_error: Option<String>,
    /// Who acknowledged it on the dashboard, when, and the note they left.
    pub acked_by: Option<String>,
    pub acked_at: Option<String>,
    pub ack_note: Option<String>,
}

impl From<crate::store::AlertRow> for AlertView {
    fn from(a: crate::store::AlertRow) -> Self {
        AlertView {
            message: a.detail["message"].as_str().unwrap_or("").to_owned(),
            id: a.id,
            rule: a.rule,
            kind: a.kind,
            site: a.site,
            location: a.location,
            sku: a.sku,
            state: a.state,
            raised_at: a.raised_at,
            cleared_at: a.cleared_at,
            figures: a.figures,
            cleared_figures: a.cleared_figures,
            undelivered: a.undelivered,
            last_error: a.last_error,
            acked_by: a.acked_by,
            acked_at: a.acked_at,
            ack_note: a.ack_note,
        }
    }
}

/// One alert rule (`jxc-hub alert rule list --json`).
#[derive(Debug, Clone, Serialize)]
pub struct AlertRuleView {
    pub id: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_days: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
    pub scope: crate::alert::rules::Scope,
    pub channels: Vec<&'static str>,
    /// `hub.toml` or `database`.
    pub origin: &'static str,
}

impl From<crate::alert::rules::Rule> for AlertRuleView {
    fn from(r: crate::alert::rules::Rule) -> Self {
        use crate::alert::rules::Condition;
        let (max_days, hours) = match &r.condition {
            Condition::OverDaysOfSupply { max_days } => (Some(max_days.to_string()), None),
            Condition::Stale { hours } => (None, Some(*hours)),
            _ => (None, None),
        };
        AlertRuleView {
            kind: r.condition.kind(),
            max_days,
            hours,
            channels: r.channels.names(),
            origin: r.origin.as_str(),
            id: r.id,
            scope: r.scope,
        }
    }
}
