//! `jxc-hub sales` and `jxc-hub channel`: the sales flow 销售流向 and
//! sell-in against sell-through, rendered from the same store queries and
//! views as `/v1/sales` and `/v1/channel`.

use super::{ListFormat, json, print_table};
use crate::config::HubHome;
use crate::error::Result;
use crate::http::views::{self, ChannelView, SalesView};
use crate::store::{ChannelBy, SalesFilter, Store};
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct SalesArgs {
    /// Group by one or more of site, location, region, kind, category,
    /// brand, sku, customer, day, week, month (comma-separated)
    #[arg(long, default_value = "site", value_name = "KEY[,KEY…]")]
    pub by: String,
    /// First business day (inclusive), YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Business day after the last (exclusive), YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_name = "hq|branch|dealer")]
    pub kind: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub sku: Option<String>,
    #[command(flatten)]
    pub format: ListFormat,
}

/// What a money figure reads as when nothing priced went into it.
const NOT_SHARED: &str = "not shared";

pub fn sales(home: &HubHome, a: SalesArgs, out: &mut dyn Write) -> Result<()> {
    let filter = SalesFilter::parse(
        Some(&a.by),
        a.from.as_deref(),
        a.to.as_deref(),
        a.site,
        a.region,
        a.kind,
        a.category,
        a.sku,
    )?;
    let rows = Store::open(&home.db, false)?.sales(&filter)?;
    let rows: Vec<SalesView> = rows
        .into_iter()
        .map(|r| SalesView::new(&filter.by, r))
        .collect();
    if a.format.json {
        return json(out, &rows);
    }
    let money =
        |v: Option<rust_decimal::Decimal>| v.map_or(NOT_SHARED.to_owned(), |v| v.to_string());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row: Vec<String> = filter
                .by
                .iter()
                .map(|k| r.keys.get(k.as_str()).cloned().unwrap_or_default())
                .collect();
            row.extend([
                r.qty.to_string(),
                r.returns.to_string(),
                r.net_qty.to_string(),
                money(r.revenue),
                money(r.cogs),
                money(r.margin),
                r.margin_pct.map_or(String::new(), |p| format!("{p}%")),
                if r.unpriced_qty.is_zero() {
                    String::new()
                } else {
                    r.unpriced_qty.to_string()
                },
            ]);
            row
        })
        .collect();
    let mut header: Vec<&str> = filter.by.iter().map(|k| k.as_str()).collect();
    header.extend([
        "qty",
        "returns",
        "net_qty",
        "revenue",
        "cogs",
        "margin",
        "margin_pct",
        "unpriced_qty",
    ]);
    print_table(out, a.format, &header, &cells)
}

#[derive(Debug, Args)]
pub struct ChannelArgs {
    /// One row per dealer, or per region of dealers
    #[arg(long, default_value = "site", value_name = "site|region")]
    pub by: String,
    /// First business day (inclusive) [default: 28 days before --to]
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Business day after the last (exclusive) [default: tomorrow in the hub's zone]
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    #[command(flatten)]
    pub format: ListFormat,
}

pub fn channel(home: &HubHome, a: ChannelArgs, out: &mut dyn Write) -> Result<()> {
    let by = ChannelBy::parse(&a.by)?;
    let (from, to) = crate::store::channel_period(
        a.from.as_deref(),
        a.to.as_deref(),
        chrono::Local::now().date_naive(),
    )?;
    let rows = Store::open(&home.db, false)?.channel(by, from, to)?;
    let rows: Vec<ChannelView> = views::all(rows);
    if a.format.json {
        return json(out, &rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                r.sell_in.to_string(),
                r.sell_through.to_string(),
                r.change.to_string(),
                r.on_hand.to_string(),
                r.weeks_of_cover.map_or(String::new(), |w| w.to_string()),
            ]
        })
        .collect();
    print_table(
        out,
        a.format,
        &[
            &a.by,
            "sell_in",
            "sell_through",
            "change",
            "on_hand",
            "weeks_of_cover",
        ],
        &cells,
    )
}
