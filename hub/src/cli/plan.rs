//! `jxc-hub plan …`: planning reports, rendered from the same store reads
//! and pure functions as `/v1/plan/…`.

use super::{ListFormat, json, print_table};
use crate::config::{HubConfig, HubHome};
use crate::error::Result;
use crate::http::views::SunkView;
use crate::plan::{self, sunk::SunkBy};
use crate::store::Store;
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Slow-moving and sunk stock 渠道沉没库存 per site tier: stock with no
    /// sale in the last DAYS, or more than DAYS of supply at the rate it
    /// sold, at cost and at dealer price.
    Sunk(SunkArgs),
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
