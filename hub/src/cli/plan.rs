//! `jxc-hub plan …`: planning reports, rendered from the same store reads
//! and pure functions as `/v1/plan/…`.

use super::{ListFormat, json, print_table};
use crate::config::{HubConfig, HubHome};
use crate::error::Result;
use crate::http::views::{BacktestReport, ForecastView, SunkView};
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
    /// Days forecast, from --as-of (1 to 366)
    #[arg(long, default_value_t = 28)]
    pub horizon: u32,
    /// First day forecast; only sales before it are used [default: today in the hub's zone]
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub format: ListFormat,
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
                a.site.as_deref(),
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
                    a.site.as_deref(),
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
        PlanCmd::Sunk(a) => {
            let by = SunkBy::parse(&a.by)?;
            let days = plan::check_days(a.days)?;
            let as_of = plan::as_of(a.as_of.as_deref())?;
            let store = Store::open(&home.db, false)?;
            let rows: Vec<SunkView> = plan::sunk(&store, by, days, as_of, config.stale_after_secs)?
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
