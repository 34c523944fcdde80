//! The stock policy per (site, location, sku): ABC and XYZ classes, the
//! daily demand forecast over lead time + review period and its error,
//! safety stock, reorder point, order-up-to level, EOQ and days of supply.
//! [`compute`] is pure: the store reads its inputs ([`PolicyInputs`]), the
//! formulas are `jxc_shared::plan`.

use super::config::PlanConfig;
use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::store::db::Value;
use crate::store::{PolicyInputs, PolicyLine, Store};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use jxc_shared::plan::classify::{self, Abc, Xyz};
use jxc_shared::plan::policy as formula;
use jxc_shared::plan::{self, Method};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

/// Days of sales a policy's forecast is fitted on: 26 weeks. The models
/// have no yearly season, and their holdout is the last 8 weeks, so the
/// weekly profile, the level and the error need no more; reading a year
/// instead doubles the time of a plan, which is mostly the read (one
/// site's 30,000 SKUs: 1.8 million daily rows a year).
pub const POLICY_HISTORY_DAYS: i64 = 182;

/// Days of revenue the ABC classes rank by.
pub const ABC_DAYS: i64 = 90;

/// Weeks of demand the XYZ class measures.
pub const XYZ_WEEKS: usize = 13;

/// What a policy run is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyParams {
    pub as_of: NaiveDate,
    /// Cycle service level, in (0.5, 0.999].
    pub service_level: f64,
    /// Every SKU's lead time, instead of the catalog's.
    pub lead_time_days: Option<u32>,
    pub review_days: u32,
}

impl PolicyParams {
    /// The parameters given, the rest from `config`; a service level or a
    /// number of days out of range is refused, naming the value.
    pub fn new(
        config: &PlanConfig,
        as_of: NaiveDate,
        service_level: Option<f64>,
        lead_time_days: Option<u32>,
        review_days: Option<u32>,
    ) -> Result<PolicyParams> {
        let service_level = service_level.unwrap_or(config.service_level);
        if formula::z_for_service_level(service_level).is_none() {
            return Err(HubError::Invalid(format!(
                "service_level {service_level} is not valid: use a level above 0.5 and at most 0.999"
            )));
        }
        for (name, days) in [
            ("lead_time_days", lead_time_days),
            ("review_days", review_days),
        ] {
            if let Some(d) = days.filter(|d| *d > 366) {
                return Err(HubError::Invalid(format!(
                    "{name} {d} is not valid: use 0 to 366 days"
                )));
            }
        }
        Ok(PolicyParams {
            as_of,
            service_level,
            lead_time_days,
            review_days: review_days.unwrap_or(config.review_days),
        })
    }
}

/// One line's policy and the inputs it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRow {
    pub site: String,
    pub kind: String,
    pub location: String,
    pub sku: String,
    pub category: String,
    pub abc: Abc,
    pub xyz: Xyz,
    pub method: Method,
    /// No sale before `as_of`: the demand is 0, and says so.
    pub no_history: bool,
    /// Mean forecast demand per day over lead time + review period.
    pub daily_demand: Decimal,
    /// The sd of one day's forecast error.
    pub demand_sd: Decimal,
    pub lead_time_days: u32,
    pub review_days: u32,
    pub safety_stock: Decimal,
    pub reorder_point: Decimal,
    pub order_up_to: Decimal,
    /// `None` when the unit cost is not known (no stock at cost, no dealer
    /// price) or there is no demand.
    pub eoq: Option<Decimal>,
    pub on_hand: Decimal,
    pub in_transit: Decimal,
    /// (On hand + in transit) / daily demand, 1 place; `None` without demand.
    pub days_of_supply: Option<Decimal>,
    /// The unit cost EOQ's holding cost is taken from, and the costs.
    pub unit_cost: Option<Decimal>,
    pub order_cost: Decimal,
    pub holding_rate: Decimal,
    pub pack_size: Option<Decimal>,
    pub min_order_qty: Option<Decimal>,
    /// The site's data is stale: this row is computed on old data.
    pub stale: bool,
}

impl PolicyRow {
    pub fn position(&self) -> Decimal {
        self.on_hand + self.in_transit
    }
}

fn micro(v: i64) -> Decimal {
    Decimal::new(v, 6).normalize()
}

fn dec(v: f64, dp: u32) -> Decimal {
    Decimal::from_f64(v)
        .map(|d| d.round_dp(dp).normalize())
        .unwrap_or_default()
}

fn parse(text: &Option<String>) -> Option<Decimal> {
    text.as_deref()
        .and_then(|t| Decimal::from_str(t.trim()).ok())
}

/// Weekly demand over the last `XYZ_WEEKS` whole weeks of `history` (fewer
/// for a series that began selling since).
fn weekly(history: &[f64]) -> Vec<f64> {
    let weeks = (history.len() / 7).min(XYZ_WEEKS);
    let end = history.len();
    (0..weeks)
        .rev()
        .map(|w| history[end - 7 * (w + 1)..end - 7 * w].iter().sum())
        .collect()
}

/// ABC classes per (site, sku): by revenue in the [`ABC_DAYS`] before
/// `as_of`, a qty sold without a price valued at the catalog's list price
/// (dealers that keep their prices to themselves are still ranked); every
/// SKU of a site's lines takes part, those without sales as C.
fn abc_classes(inputs: &PolicyInputs) -> HashMap<(&str, &str), Abc> {
    let mut per_site: HashMap<&str, HashMap<&str, Decimal>> = HashMap::new();
    for l in &inputs.lines {
        let (revenue, unpriced) = inputs
            .revenue
            .get(&(l.site.clone(), l.sku.clone()))
            .copied()
            .unwrap_or((0, 0));
        let list = parse(&l.list_price).unwrap_or_default();
        let total = micro(revenue) + micro(unpriced) * list;
        per_site
            .entry(l.site.as_str())
            .or_default()
            .insert(l.sku.as_str(), total);
    }
    let mut out = HashMap::new();
    for (site, skus) in per_site {
        let items: Vec<(&str, Decimal)> = skus.into_iter().collect();
        for (sku, class) in classify::abc(&items) {
            out.insert((site, sku), class);
        }
    }
    out
}

/// One line's policy; `abc` its site's class of its SKU.
fn line_policy(
    l: &PolicyLine,
    abc: Abc,
    params: &PolicyParams,
    config: &PlanConfig,
    z: f64,
    stale: bool,
) -> PolicyRow {
    let lead = params
        .lead_time_days
        .or(l.lead_time_days)
        .unwrap_or(config.lead_time_days);
    let review = params.review_days;
    let cover = (lead + review).max(1) as usize;
    let (start, history) = super::forecast::dense(&l.days, params.as_of);
    let history: Vec<f64> = history.iter().map(|v| v.max(0.0)).collect();
    let first = start.map_or(params.as_of.weekday(), |d| d.weekday());
    let f = plan::forecast(&history, first, cover);
    let mean = f.daily.iter().sum::<f64>() / cover as f64;
    let (l_days, r_days) = (f64::from(lead), f64::from(review));
    let safety_stock = formula::safety_stock(f.error_sd, l_days, r_days, z);
    let on_hand = micro(l.on_hand);
    let in_transit = micro(l.in_transit);
    let unit_cost = if l.on_hand > 0 && !l.unvalued {
        Some((micro(l.value) / on_hand).round_dp(4).normalize())
    } else {
        parse(&l.dealer_price)
    };
    let (order_cost, holding_rate) = config.costs(&l.category);
    let daily_demand = dec(mean, 4);
    let eoq = unit_cost.filter(|_| mean > 0.0).and_then(|c| {
        formula::eoq(
            daily_demand * Decimal::from(365),
            order_cost,
            holding_rate * c,
        )
    });
    PolicyRow {
        site: l.site.clone(),
        kind: l.kind.clone(),
        location: l.location.clone(),
        sku: l.sku.clone(),
        category: l.category.clone(),
        abc,
        xyz: classify::xyz(&weekly(&history)),
        method: f.method,
        no_history: f.no_history || start.is_none(),
        daily_demand,
        demand_sd: dec(f.error_sd, 4),
        lead_time_days: lead,
        review_days: review,
        safety_stock,
        reorder_point: formula::reorder_point(mean, l_days, safety_stock),
        order_up_to: formula::order_up_to(mean, l_days, r_days, safety_stock),
        eoq,
        on_hand,
        in_transit,
        days_of_supply: formula::days_of_supply(on_hand + in_transit, mean).map(|d| dec(d, 1)),
        unit_cost,
        order_cost,
        holding_rate,
        pack_size: parse(&l.pack_size),
        min_order_qty: parse(&l.min_order_qty),
        stale,
    }
}

/// The policy of every line of `inputs`, in (site, location, sku) order,
/// the forecasts spread over the machine's cores. Pure.
pub fn compute(
    inputs: &PolicyInputs,
    params: &PolicyParams,
    config: &PlanConfig,
    stale: &BTreeSet<String>,
) -> Vec<PolicyRow> {
    let Some(z) = formula::z_for_service_level(params.service_level) else {
        return Vec::new();
    };
    let abc = abc_classes(inputs);
    let one = |l: &PolicyLine| {
        let class = abc
            .get(&(l.site.as_str(), l.sku.as_str()))
            .copied()
            .unwrap_or(Abc::C);
        line_policy(l, class, params, config, z, stale.contains(&l.site))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || inputs.lines.len() < 512 {
        return inputs.lines.iter().map(one).collect();
    }
    let chunk = inputs.lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = inputs
            .lines
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_default())
            .collect()
    })
}

/// The policy of every line (of one site, or one location), as of
/// `params.as_of`, with stale sites flagged.
pub fn policy(
    store: &Store,
    config: &HubConfig,
    site: Option<&str>,
    location: Option<&str>,
    params: &PolicyParams,
) -> Result<Vec<PolicyRow>> {
    let stale = super::stale_sites(store, config.stale_after_secs)?;
    let from = params.as_of - Duration::days(POLICY_HISTORY_DAYS);
    let inputs = store.policy_inputs(site, location, from, params.as_of)?;
    Ok(compute(&inputs, params, &config.plan, &stale))
}

fn text(d: Decimal) -> Value {
    Value::Text(d.to_string())
}

/// `rows` as `policy_line` rows (per [`crate::store::POLICY_COLUMNS`]).
fn stored_rows(rows: &[PolicyRow], params: &PolicyParams) -> Vec<Vec<Value>> {
    let now = crate::store::now_text(Utc::now());
    rows.iter()
        .map(|r| {
            vec![
                Value::Text(r.site.clone()),
                Value::Text(r.location.clone()),
                Value::Text(r.sku.clone()),
                Value::Text(params.as_of.to_string()),
                Value::Text(r.abc.as_str().into()),
                Value::Text(r.xyz.as_str().into()),
                Value::Text(r.method.as_str().into()),
                Value::Int(i64::from(r.no_history)),
                text(r.daily_demand),
                text(r.demand_sd),
                Value::Int(i64::from(r.lead_time_days)),
                Value::Int(i64::from(r.review_days)),
                Value::Text(params.service_level.to_string()),
                text(r.safety_stock),
                text(r.reorder_point),
                text(r.order_up_to),
                r.eoq.map_or(Value::Null, text),
                Value::Text(now.clone()),
            ]
        })
        .collect()
}

/// Computes the policy of every line of `site` (every site when none) and
/// stores it in place of the one before, for the alerts that compare each
/// ingested line with it: site by site, each site's read, forecasts and
/// write done before the next is read, so memory holds one site at a time.
/// `read` and `write` may be the same store. Returns the lines stored.
pub fn save(
    read: &Store,
    write: &mut Store,
    config: &HubConfig,
    site: Option<&str>,
    params: &PolicyParams,
    mut each: impl FnMut(&[PolicyRow]),
) -> Result<usize> {
    let sites = match site {
        Some(s) => vec![s.to_owned()],
        None => read.site_ids()?,
    };
    let stale = super::stale_sites(read, config.stale_after_secs)?;
    let from = params.as_of - Duration::days(POLICY_HISTORY_DAYS);
    let mut lines = 0;
    for s in &sites {
        let inputs = read.policy_inputs(Some(s), None, from, params.as_of)?;
        let rows = compute(&inputs, params, &config.plan, &stale);
        drop(inputs);
        write.save_policy(Some(s), &stored_rows(&rows, params))?;
        lines += rows.len();
        each(&rows);
    }
    Ok(lines)
}

/// Keeps the stored policy of every site fresh while `serve` runs: once an
/// hour it checks the day the stored policy was computed for, and when that
/// is before today (in the hub's zone) computes it again on the read
/// connections and stores it with one write. Several hubs sharing one
/// database may each do so: the result is the same.
pub async fn refresh_daily(hub: std::sync::Arc<crate::http::api::Hub>) {
    use crate::http::api::{blocking, lock};
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let h = hub.clone();
        let done = blocking(move || {
            let today = chrono::Local::now().date_naive();
            let stored = lock(&h.reads).policy_as_of()?;
            if stored.is_some_and(|d| d >= today.to_string()) {
                return Ok(None);
            }
            let params = PolicyParams::new(&h.config.plan, today, None, None, None)?;
            let lines = save(
                &lock(&h.reads),
                &mut lock(&h.store),
                &h.config,
                None,
                &params,
                |_| {},
            )?;
            Ok(Some(lines))
        })
        .await;
        match done {
            Ok(Some(lines)) => tracing::info!(lines, "stock policy computed and stored"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "stock policy not refreshed"),
        }
    }
}

/// A line's stored reorder point and demand against its stock now.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePolicy {
    pub site: String,
    pub location: String,
    pub sku: String,
    pub on_hand: Decimal,
    pub in_transit: Decimal,
    pub reorder_point: Decimal,
    pub daily_demand: Decimal,
    pub days_of_supply: Option<Decimal>,
    /// The site's data is stale.
    pub stale: bool,
    /// The day the stored policy was computed for, and whether that is more
    /// than [`OUTDATED_DAYS`] before the day judged for.
    pub policy_as_of: Option<NaiveDate>,
    pub outdated: bool,
}

/// A stored policy older than this is reported as outdated.
pub const OUTDATED_DAYS: i64 = 7;

/// The stored policy ([`save`]) of each of `lines` (site, location, sku)
/// that has one, against its stock now. `as_of` is the day the caller
/// judges for: a policy stored for an earlier day is used as it is, and
/// flagged when it is [`OUTDATED_DAYS`] older.
pub fn for_lines(
    store: &Store,
    config: &HubConfig,
    as_of: NaiveDate,
    lines: &[(String, String, String)],
) -> Result<Vec<LinePolicy>> {
    let stale = super::stale_sites(store, config.stale_after_secs)?;
    Ok(store
        .stored_policy(lines)?
        .into_iter()
        .map(|p| {
            let on_hand = micro(p.on_hand);
            let in_transit = micro(p.in_transit);
            let daily_demand = Decimal::from_str(&p.daily_demand).unwrap_or_default();
            let days_of_supply =
                formula::days_of_supply(on_hand + in_transit, daily_demand.to_f64().unwrap_or(0.0))
                    .map(|d| dec(d, 1));
            let policy_as_of = NaiveDate::parse_from_str(&p.as_of, "%Y-%m-%d").ok();
            LinePolicy {
                policy_as_of,
                outdated: policy_as_of.is_none_or(|d| (as_of - d).num_days() > OUTDATED_DAYS),
                stale: stale.contains(&p.site),
                site: p.site,
                location: p.location,
                sku: p.sku,
                on_hand,
                in_transit,
                reorder_point: Decimal::from_str(&p.reorder_point).unwrap_or_default(),
                daily_demand,
                days_of_supply,
            }
        })
        .collect())
}

/// One cell of the ABC/XYZ matrix: the lines of one value class and one
/// variability class, their stock and their demand.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    pub abc: Abc,
    pub xyz: Xyz,
    pub lines: u64,
    pub on_hand: Decimal,
    pub daily_demand: Decimal,
    /// Lines at or below their reorder point.
    pub at_reorder: u64,
}

/// The ABC/XYZ matrix of `rows`: all nine cells, A-X first, each with the
/// lines in it (a cell with none is there with zeros).
pub fn matrix(rows: &[PolicyRow]) -> Vec<MatrixCell> {
    let mut cells: Vec<MatrixCell> = [Abc::A, Abc::B, Abc::C]
        .into_iter()
        .flat_map(|abc| {
            [Xyz::X, Xyz::Y, Xyz::Z]
                .into_iter()
                .map(move |xyz| MatrixCell {
                    abc,
                    xyz,
                    lines: 0,
                    on_hand: Decimal::ZERO,
                    daily_demand: Decimal::ZERO,
                    at_reorder: 0,
                })
        })
        .collect();
    for r in rows {
        if let Some(c) = cells.iter_mut().find(|c| c.abc == r.abc && c.xyz == r.xyz) {
            c.lines += 1;
            c.on_hand += r.on_hand;
            c.daily_demand += r.daily_demand;
            c.at_reorder += u64::from(r.position() <= r.reorder_point);
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn line(sku: &str, on_hand: i64, days: &[(u32, i64)]) -> PolicyLine {
        PolicyLine {
            site: "BJ01".into(),
            kind: "branch".into(),
            location: "WH".into(),
            sku: sku.into(),
            category: "TEA".into(),
            on_hand: on_hand * 1_000_000,
            value: on_hand * 2_500_000,
            lead_time_days: Some(5),
            pack_size: Some("6".into()),
            days: days.iter().map(|&(d, q)| (day(d), q * 1_000_000)).collect(),
            ..PolicyLine::default()
        }
    }

    fn params() -> PolicyParams {
        PolicyParams::new(&PlanConfig::default(), day(29), None, None, None).unwrap()
    }

    #[test]
    fn a_steady_seller_gets_textbook_figures() {
        // 4 a day for 28 days: demand ≈ 4, error small, L = 5, R = 7.
        let days: Vec<(u32, i64)> = (1..=28).map(|d| (d, 4)).collect();
        let inputs = PolicyInputs {
            lines: vec![line("T1", 30, &days)],
            revenue: HashMap::from([(("BJ01".into(), "T1".into()), (4_000_000_000, 0))]),
        };
        let rows = compute(&inputs, &params(), &PlanConfig::default(), &BTreeSet::new());
        let r = &rows[0];
        assert_eq!((r.abc, r.xyz, r.no_history), (Abc::A, Xyz::X, false));
        assert!(
            (r.daily_demand - Decimal::from(4)).abs() < Decimal::new(3, 1),
            "{r:?}"
        );
        assert_eq!((r.lead_time_days, r.review_days), (5, 7));
        // ROP = d·L + SS, OUT = d·(L+R) + SS, with SS = z·σ·√12.
        let d = r.daily_demand;
        let ss = r.safety_stock;
        let close = |a: Decimal, b: Decimal| (a - b).abs() < Decimal::new(1, 2);
        assert!(close(r.reorder_point, d * Decimal::from(5) + ss), "{r:?}");
        assert!(close(r.order_up_to, d * Decimal::from(12) + ss), "{r:?}");
        let z = formula::z_for_service_level(0.95).unwrap();
        let sd = r.demand_sd.to_f64().unwrap();
        assert!((ss.to_f64().unwrap() - z * sd * 12f64.sqrt()).abs() < 0.01);
        // EOQ = √(2 · 365d · 50 / (0.25 · 2.5)), unit cost 2.5 from stock.
        assert_eq!(r.unit_cost, Some(Decimal::new(25, 1)));
        let want = (2.0 * 365.0 * d.to_f64().unwrap() * 50.0 / 0.625).sqrt();
        assert!((r.eoq.unwrap().to_f64().unwrap() - want).abs() < 0.01);
        // 30 on hand at ≈ 4 a day.
        let dos = r.days_of_supply.unwrap().to_f64().unwrap();
        assert!((dos - 30.0 / d.to_f64().unwrap()).abs() < 0.06, "{dos}");
    }

    #[test]
    fn a_line_without_sales_is_zero_class_c_and_marked() {
        let inputs = PolicyInputs {
            lines: vec![line("T9", 12, &[])],
            revenue: HashMap::new(),
        };
        let r = &compute(&inputs, &params(), &PlanConfig::default(), &BTreeSet::new())[0];
        assert!(r.no_history);
        assert_eq!((r.abc, r.xyz), (Abc::C, Xyz::Z));
        assert!(r.daily_demand.is_zero() && r.reorder_point.is_zero());
        assert_eq!((r.days_of_supply, r.eoq), (None, None));
    }

    #[test]
    fn abc_ranks_a_site_s_skus_by_revenue_and_values_unpriced_sales_at_list() {
        let mut hidden = line("T3", 1, &[]);
        hidden.list_price = Some("10".into());
        let inputs = PolicyInputs {
            lines: vec![
                line("T1", 1, &[]),
                line("T2", 1, &[]),
                hidden,
                line("T4", 1, &[]),
            ],
            revenue: HashMap::from([
                (("BJ01".into(), "T1".into()), (70_000_000, 0)),
                (("BJ01".into(), "T2".into()), (15_000_000, 0)),
                // 1 unit sold without a price, at list 10.
                (("BJ01".into(), "T3".into()), (0, 1_000_000)),
            ]),
        };
        let classes = abc_classes(&inputs);
        let c = |s: &str| classes[&("BJ01", s)];
        // 70 of 95 < 80% → T1 is A, and T2 (85 ≥ 80%) too; T3 reaches 100%.
        assert_eq!(
            (c("T1"), c("T2"), c("T3"), c("T4")),
            (Abc::A, Abc::A, Abc::B, Abc::C)
        );
    }

    #[test]
    fn xyz_uses_the_last_whole_weeks() {
        let steady: Vec<f64> = vec![1.0; 100];
        assert_eq!(weekly(&steady), vec![7.0; 13]);
        assert_eq!(weekly(&[1.0; 15]), vec![7.0, 7.0]);
        assert!(weekly(&[1.0; 6]).is_empty());
    }

    #[test]
    fn a_service_level_out_of_range_is_refused_naming_it() {
        let c = PlanConfig::default();
        for bad in [0.5, 1.0, 0.9999, f64::NAN] {
            let e = PolicyParams::new(&c, day(1), Some(bad), None, None).unwrap_err();
            assert!(e.to_string().contains("service_level"), "{e}");
        }
        let e = PolicyParams::new(&c, day(1), None, Some(400), None).unwrap_err();
        assert!(e.to_string().contains("lead_time_days 400"), "{e}");
        assert!(PolicyParams::new(&c, day(1), Some(0.999), Some(0), Some(0)).is_ok());
    }
}
