//! `jxc-hub plan …`: planning reports, rendered from the same store reads
//! and pure functions as `/v1/plan/…`.

use super::{ListFormat, json, print_table};
use crate::config::{HubConfig, HubHome};
use crate::error::Result;
use crate::http::views::{BacktestReport, ForecastView, ReorderView, StockPolicyView, SunkView};
use crate::plan::{self, sunk::SunkBy};
use crate::store::SeriesBy;
use crate::store::Store;
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Slow-moving and sunk stock 渠道沉没库存 per site tier: stock with no
    /// sale in the last DAYS, or more than DAYS of supply at the rate it
    /// sold, at cost and at dealer price.
    Sunk(SunkArgs),
    /// Daily demand forecast per series for the days from --as-of, on the
    /// sales before it only; each series' model chosen by a holdout.
    Forecast(ForecastArgs),
    /// How the forecast from --as-of did over the --horizon days after it:
    /// RMSSE (M5's) of jxc and of seasonal naive, per series and overall.
    Backtest(ForecastArgs),
    /// Stock policy per (location, SKU): ABC/XYZ class, forecast daily
    /// demand and its error, safety stock, reorder point, order-up-to
    /// level, EOQ and days of supply. --save stores it for the alerts.
    Policy(PolicyArgs),
    /// Reorder suggestions: every location at or below its reorder point,
    /// the quantity in whole packs and the source (HQ's warehouse, or the
    /// supplier for HQ), with the inputs each was computed from.
    Reorder(ReorderArgs),
}

/// What a policy is computed with; each defaults to `[plan]` in hub.toml.
#[derive(Debug, Args)]
pub struct PolicyOpts {
    /// Judge as of this business day (sales before it) [default: today in the hub's zone]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Cycle service level, above 0.5 and at most 0.999 [default: plan.service_level, 0.95]
    #[arg(long, value_name = "P")]
    pub service_level: Option<f64>,
    /// Every SKU's lead time in days [default: the catalog's lead_time_days, else plan.lead_time_days]
    #[arg(long, value_name = "DAYS")]
    pub lead_time_days: Option<u32>,
    /// Days between reviews [default: plan.review_days, 7]
    #[arg(long, value_name = "DAYS")]
    pub review_days: Option<u32>,
}

impl PolicyOpts {
    fn params(&self, config: &HubConfig) -> Result<plan::policy::PolicyParams> {
        plan::policy::PolicyParams::new(
            &config.plan,
            plan::as_of(self.as_of.as_deref())?,
            self.service_level,
            self.lead_time_days,
            self.review_days,
        )
    }
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Only this site's lines
    #[arg(long)]
    pub site: Option<String>,
    /// Only this location's lines (a location id; with --site, of that site)
    #[arg(long)]
    pub location: Option<String>,
    #[command(flatten)]
    pub opts: PolicyOpts,
    /// Store the policy (of --site, or of every site) for the alerts, in
    /// place of the one before
    #[arg(long)]
    pub save: bool,
    #[command(flatten)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ReorderArgs {
    /// Only this site's lines
    #[arg(long)]
    pub site: Option<String>,
    #[command(flatten)]
    pub opts: PolicyOpts,
    #[command(flatten)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The series: site,category, site,sku or location,sku
    #[arg(
        long,
        default_value = "site,category",
        value_name = "site,category|site,sku|location,sku"
    )]
    pub by: String,
    /// Only this site's series
    #[arg(long)]
    pub site: Option<String>,
    /// Only this location of --site (series by location,sku)
    #[arg(long, value_name = "LOC")]
    pub location: Option<String>,
    /// Only this SKU's series (by site,sku or location,sku)
    #[arg(long)]
    pub sku: Option<String>,
    /// Only this category's series (by site,category)
    #[arg(long)]
    pub category: Option<String>,
    /// Days forecast, from --as-of (1 to 366)
    #[arg(long, default_value_t = 28)]
    pub horizon: u32,
    /// First day forecast; only sales before it are used [default: today in the hub's zone]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub format: ListFormat,
}

impl ForecastArgs {
    fn series(&self) -> crate::store::SeriesOf {
        crate::store::SeriesOf {
            site: self.site.clone(),
            location: self.location.clone(),
            sku: self.sku.clone(),
            category: self.category.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct SunkArgs {
    /// Group within each tier by site, region or category, or list each
    /// sinking (location, SKU) line
    #[arg(long, default_value = "site", value_name = "site|region|category|line")]
    pub by: String,
    /// The window: no sale in it, or more days of supply than it
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Only this site's stock
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Judge as of this business day (history before it) [default: today in the hub's zone]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub format: ListFormat,
}

pub fn run(home: &HubHome, config: &HubConfig, cmd: PlanCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        PlanCmd::Forecast(a) => {
            let by = SeriesBy::parse(&a.by)?;
            let horizon = plan::check_horizon(a.horizon)?;
            let as_of = plan::as_of(a.as_of.as_deref())?;
            let store = Store::open(&home.db, false)?;
            let rows: Vec<ForecastView> = plan::forecasts(
                &store,
                by,
                &a.series(),
                as_of,
                horizon,
                config.stale_after_secs,
            )?
            .into_iter()
            .flat_map(|(f, stale)| ForecastView::of(by.keys(), f, stale))
            .collect();
            if a.format.json {
                return json(out, &rows);
            }
            let names = by.keys();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row: Vec<String> = names
                        .iter()
                        .map(|k| r.keys.get(k).cloned().unwrap_or_default())
                        .collect();
                    if !names.contains(&"site") {
                        row.insert(0, r.keys.get("site").cloned().unwrap_or_default());
                    }
                    row.extend([
                        r.date.clone(),
                        r.qty.to_string(),
                        r.method.to_owned(),
                        flag(r.no_history, "no history"),
                        flag(r.stale, "stale"),
                    ]);
                    row
                })
                .collect();
            let mut header: Vec<&str> = Vec::new();
            if !names.contains(&"site") {
                header.push("site");
            }
            header.extend(names);
            header.extend(["date", "qty", "method", "history", "data"]);
            print_table(out, a.format, &header, &cells)
        }
        PlanCmd::Backtest(a) => {
            let by = SeriesBy::parse(&a.by)?;
            let horizon = plan::check_horizon(a.horizon)?;
            let as_of = plan::as_of(a.as_of.as_deref())?;
            let store = Store::open(&home.db, false)?;
            let report = BacktestReport::new(
                plan::backtests(
                    &store,
                    by,
                    &a.series(),
                    as_of,
                    horizon,
                    config.stale_after_secs,
                )?,
                by.keys(),
                as_of,
                horizon,
            );
            if a.format.json {
                return json(out, &report);
            }
            let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
            let names = by.keys();
            let mut cells: Vec<Vec<String>> = report
                .groups
                .iter()
                .map(|r| {
                    let mut row: Vec<String> = names
                        .iter()
                        .map(|k| r.keys.get(k).cloned().unwrap_or_default())
                        .collect();
                    row.extend([
                        r.method.to_owned(),
                        num(r.rmsse),
                        num(r.seasonal_naive_rmsse),
                        format!("{:.3}", r.forecast_qty),
                        format!("{:.3}", r.actual_qty),
                        flag(r.stale, "stale"),
                    ]);
                    row
                })
                .collect();
            cells.push(vec![
                format!("overall ({} series)", report.series),
                String::new(),
                format!(
                    "ratio {}",
                    report
                        .ratio_to_seasonal_naive
                        .map_or("-".to_owned(), |r| format!("{r:.3}"))
                ),
                num(report.rmsse),
                num(report.seasonal_naive_rmsse),
                String::new(),
                String::new(),
                String::new(),
            ]);
            let mut header: Vec<&str> = names.to_vec();
            header.extend([
                "method",
                "rmsse",
                "seasonal_naive_rmsse",
                "forecast_qty",
                "actual_qty",
                "data",
            ]);
            print_table(out, a.format, &header, &cells)
        }
        PlanCmd::Policy(a) => {
            let params = a.opts.params(config)?;
            let rows = if a.save {
                if a.location.is_some() {
                    return Err(crate::error::HubError::Invalid(
                        "--save stores whole sites: leave out --location".into(),
                    ));
                }
                let read = Store::open(&home.db, false)?;
                let mut write = Store::open(&home.db, false)?;
                let mut all = Vec::new();
                plan::policy::save(&read, &mut write, config, a.site.as_deref(), &params, |r| {
                    all.extend_from_slice(r)
                })?;
                all
            } else {
                let store = Store::open(&home.db, false)?;
                plan::policy::policy(
                    &store,
                    config,
                    a.site.as_deref(),
                    a.location.as_deref(),
                    &params,
                )?
            };
            let rows: Vec<StockPolicyView> = rows.into_iter().map(StockPolicyView::from).collect();
            if a.format.json {
                return json(out, &rows);
            }
            let cells: Vec<Vec<String>> = rows.iter().map(policy_cells).collect();
            print_table(out, a.format, POLICY_HEADER, &cells)
        }
        PlanCmd::Reorder(a) => {
            let params = a.opts.params(config)?;
            let store = Store::open(&home.db, false)?;
            let rows: Vec<ReorderView> = plan::reorder(&store, config, a.site.as_deref(), &params)?
                .into_iter()
                .map(ReorderView::from)
                .collect();
            if a.format.json {
                return json(out, &rows);
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row = vec![
                        r.site.clone(),
                        r.location.clone(),
                        r.sku.clone(),
                        r.action.to_owned(),
                        r.source.clone(),
                        opt(r.source_on_hand),
                        r.qty.to_string(),
                        r.need.to_string(),
                    ];
                    row.extend(policy_cells(&r.inputs).into_iter().skip(3));
                    row
                })
                .collect();
            let mut header = vec![
                "site",
                "location",
                "sku",
                "action",
                "source",
                "source_on_hand",
                "qty",
                "need",
            ];
            header.extend(&POLICY_HEADER[3..]);
            print_table(out, a.format, &header, &cells)
        }
        PlanCmd::Sunk(a) => {
            let by = SunkBy::parse(&a.by)?;
            let days = plan::check_days(a.days)?;
            let as_of = plan::as_of(a.as_of.as_deref())?;
            let store = Store::open(&home.db, false)?;
            let rows: Vec<SunkView> = plan::sunk(
                &store,
                a.site.as_deref(),
                by,
                days,
                as_of,
                config.stale_after_secs,
            )?
            .into_iter()
            .map(SunkView::from)
            .collect();
            if a.format.json {
                return json(out, &rows);
            }
            let blank = |q: jxc_shared::Quantity| {
                if q.is_zero() {
                    String::new()
                } else {
                    q.to_string()
                }
            };
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row = vec![r.tier.clone(), r.key.clone()];
                    if by == SunkBy::Line {
                        row.extend([
                            r.location.clone().unwrap_or_default(),
                            r.sku.clone().unwrap_or_default(),
                            r.reason.unwrap_or_default().to_owned(),
                            r.last_sale.clone().unwrap_or_default(),
                            r.days_of_supply.map(|d| d.to_string()).unwrap_or_default(),
                        ]);
                    } else {
                        row.extend([
                            r.lines.to_string(),
                            r.no_sale_lines.to_string(),
                            r.over_supply_lines.to_string(),
                        ]);
                    }
                    row.extend([
                        r.qty.to_string(),
                        r.value.to_string(),
                        blank(r.unvalued_qty),
                        r.dealer_value.to_string(),
                        blank(r.no_dealer_price_qty),
                        r.stale_sites.join(" "),
                    ]);
                    row
                })
                .collect();
            let mut header = vec!["tier", by.as_str()];
            if by == SunkBy::Line {
                header[1] = "site";
                header.extend(["location", "sku", "reason", "last_sale", "days_of_supply"]);
            } else {
                header.extend(["lines", "no_sale", "over_supply"]);
            }
            header.extend([
                "qty",
                "value",
                "unvalued_qty",
                "dealer_value",
                "no_dealer_price_qty",
                "stale_sites",
            ]);
            print_table(out, a.format, &header, &cells)
        }
    }
}

fn flag(on: bool, what: &str) -> String {
    if on { what.to_owned() } else { String::new() }
}

/// The columns of a policy row, in the order the issue lists them, then
/// the inputs behind them.
const POLICY_HEADER: &[&str] = &[
    "site",
    "location",
    "sku",
    "abc",
    "xyz",
    "daily_demand",
    "demand_sd",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "eoq",
    "on_hand",
    "in_transit",
    "days_of_supply",
    "lead_time_days",
    "review_days",
    "method",
    "unit_cost",
    "pack_size",
    "min_order_qty",
    "history",
    "data",
];

fn opt(v: Option<rust_decimal::Decimal>) -> String {
    v.map(|d| d.to_string()).unwrap_or_default()
}

fn policy_cells(r: &StockPolicyView) -> Vec<String> {
    vec![
        r.site.clone(),
        r.location.clone(),
        r.sku.clone(),
        r.abc.to_owned(),
        r.xyz.to_owned(),
        r.daily_demand.to_string(),
        r.demand_sd.to_string(),
        r.safety_stock.to_string(),
        r.reorder_point.to_string(),
        r.order_up_to.to_string(),
        opt(r.eoq),
        r.on_hand.to_string(),
        r.in_transit.to_string(),
        opt(r.days_of_supply),
        r.lead_time_days.to_string(),
        r.review_days.to_string(),
        r.method.to_owned(),
        opt(r.unit_cost),
        opt(r.pack_size),
        opt(r.min_order_qty),
        flag(r.no_history, "no history"),
        flag(r.stale, "stale"),
    ]
}
