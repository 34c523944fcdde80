//! Slow-moving and sunk stock 渠道沉没库存: stock that has not sold for the
//! window (default 90 days), or that would take longer than the window to
//! sell at the rate it sold over it. Pure: quantities in micro-units.

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

/// Why a holding is sinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sinking {
    /// No sale in the window; `last_sale` is the last one before it, if any.
    NoSale { last_sale: Option<NaiveDate> },
    /// Sold in the window, but the stock covers more days than the window.
    OverSupply { days_of_supply: Decimal },
}

impl Sinking {
    pub fn as_str(self) -> &'static str {
        match self {
            Sinking::NoSale { .. } => "no_sale",
            Sinking::OverSupply { .. } => "over_supply",
        }
    }
}

/// Judges one holding as of `as_of` (the window is the `days` before it):
/// `on_hand` now, the last business day it sold (before `as_of`), and its
/// net qty sold (sales less customer returns) in the window.
///
/// Laws: nothing is sinking without stock; stock with no sale in the window
/// is `NoSale` whatever it sold before; stock that sold in the window sinks
/// only when `on_hand ÷ (net sold ÷ days) > days`, and a window whose
/// returns match its sales (net 0 or less) counts as no sale.
pub fn assess(
    on_hand: i64,
    last_sale: Option<NaiveDate>,
    net_sold_in_window: i64,
    as_of: NaiveDate,
    days: u32,
) -> Option<Sinking> {
    if on_hand <= 0 || days == 0 {
        return None;
    }
    let window_start = as_of - Duration::days(i64::from(days));
    let sold_in_window = last_sale.is_some_and(|d| d >= window_start && d < as_of);
    if !sold_in_window || net_sold_in_window <= 0 {
        return Some(Sinking::NoSale { last_sale });
    }
    let dos = days_of_supply(on_hand, net_sold_in_window, days)?;
    (dos > Decimal::from(days)).then_some(Sinking::OverSupply {
        days_of_supply: dos,
    })
}

/// Days `on_hand` lasts at the rate of `net_sold` per `days`, to one place;
/// `None` without a positive rate.
pub fn days_of_supply(on_hand: i64, net_sold: i64, days: u32) -> Option<Decimal> {
    if net_sold <= 0 || days == 0 {
        return None;
    }
    let v = Decimal::from(on_hand) * Decimal::from(days) / Decimal::from(net_sold);
    Some(v.round_dp(1).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    const U: i64 = 1_000_000;

    #[test]
    fn no_stock_is_never_sinking() {
        assert_eq!(assess(0, None, 0, day(30), 90), None);
        assert_eq!(assess(-5 * U, None, 0, day(30), 90), None);
    }

    #[test]
    fn stock_without_a_sale_in_the_window_is_sinking() {
        assert_eq!(
            assess(5 * U, None, 0, day(30), 90),
            Some(Sinking::NoSale { last_sale: None })
        );
        // Sold on the 1st, window of 10 days before the 30th: 20th..29th.
        let old = Some(day(1));
        assert_eq!(
            assess(5 * U, old, 0, day(30), 10),
            Some(Sinking::NoSale { last_sale: old })
        );
        // A sale on the as-of day itself is outside the window (history before as-of).
        assert_eq!(
            assess(5 * U, Some(day(30)), 3 * U, day(30), 10),
            Some(Sinking::NoSale {
                last_sale: Some(day(30))
            })
        );
        // Sales all returned: no net sale.
        assert_eq!(
            assess(5 * U, Some(day(25)), 0, day(30), 10),
            Some(Sinking::NoSale {
                last_sale: Some(day(25))
            })
        );
    }

    #[test]
    fn stock_covering_more_than_the_window_is_sinking() {
        // 2 sold in 10 days: 0.2 a day; 3 on hand last 15 days > 10.
        assert_eq!(
            assess(3 * U, Some(day(25)), 2 * U, day(30), 10),
            Some(Sinking::OverSupply {
                days_of_supply: Decimal::from(15)
            })
        );
        // 2 on hand last exactly 10 days: not over.
        assert_eq!(assess(2 * U, Some(day(25)), 2 * U, day(30), 10), None);
        assert_eq!(days_of_supply(U, 3 * U, 10), Some(Decimal::new(33, 1)));
        assert_eq!(days_of_supply(U, 0, 10), None);
    }
}

/// How the sunk-stock report groups, within each site tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunkBy {
    Site,
    Region,
    Category,
    /// One row per sinking (site, location, sku).
    Line,
}

impl SunkBy {
    pub fn parse(s: &str) -> crate::error::Result<SunkBy> {
        match s {
            "site" => Ok(SunkBy::Site),
            "region" => Ok(SunkBy::Region),
            "category" => Ok(SunkBy::Category),
            "line" => Ok(SunkBy::Line),
            _ => Err(crate::error::HubError::Invalid(format!(
                "by {s:?} is not valid: use site, region, category or line"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SunkBy::Site => "site",
            SunkBy::Region => "region",
            SunkBy::Category => "category",
            SunkBy::Line => "line",
        }
    }
}

/// One group of sinking stock within a tier (`hq`, `branch`, `dealer`),
/// or with [`SunkBy::Line`] one holding.
#[derive(Debug, Clone, PartialEq)]
pub struct SunkRow {
    pub tier: String,
    /// A site id, a region, a category, or `SITE/LOC SKU`'s parts below.
    pub key: String,
    /// For a line: its location (`SITE/LOC`) and SKU.
    pub line: Option<(String, String)>,
    /// Holdings in the group.
    pub lines: u64,
    pub no_sale_lines: u64,
    pub over_supply_lines: u64,
    /// Qty, micro-units.
    pub qty: i64,
    /// At cost, micro-currency, of the part whose cost is shared.
    pub value: i64,
    /// Qty held by dealers that do not share costs (in no `value`).
    pub unvalued_qty: i64,
    /// Qty × the catalog's dealer price, of the SKUs that have one.
    pub dealer_value: Decimal,
    /// Qty of SKUs without a dealer price (in no `dealer_value`).
    pub no_dealer_price_qty: i64,
    /// A line's last sale and days of supply.
    pub last_sale: Option<NaiveDate>,
    pub days_of_supply: Option<Decimal>,
    pub reason: Option<&'static str>,
    /// Sites of the group whose data is stale (or that never synced): the
    /// figures may be old.
    pub stale_sites: Vec<String>,
}

/// Groups the sinking holdings of `holdings` as `by` asks; `stale` names
/// the sites whose data is stale. Tiers in the order hq, branch, dealer,
/// keys in order within each.
pub fn report(
    holdings: &[crate::store::HoldingHistory],
    as_of: NaiveDate,
    days: u32,
    by: SunkBy,
    stale: &std::collections::BTreeSet<String>,
) -> Vec<SunkRow> {
    use jxc_shared::{Money, Quantity};
    let tier_rank = |t: &str| match t {
        "hq" => 0,
        "branch" => 1,
        _ => 2,
    };
    let mut groups: std::collections::BTreeMap<(u8, String, String, String), SunkRow> =
        std::collections::BTreeMap::new();
    for h in holdings {
        let Some(sinking) = assess(h.qty, h.last_sale, h.net_sold, as_of, days) else {
            continue;
        };
        let (key, loc, sku) = match by {
            SunkBy::Site => (h.site.clone(), String::new(), String::new()),
            SunkBy::Region => (h.region.clone(), String::new(), String::new()),
            SunkBy::Category => (h.category.clone(), String::new(), String::new()),
            SunkBy::Line => (
                h.site.clone(),
                format!("{}/{}", h.site, h.location),
                h.sku.clone(),
            ),
        };
        let g = groups
            .entry((tier_rank(&h.kind), key.clone(), loc.clone(), sku.clone()))
            .or_insert_with(|| SunkRow {
                tier: h.kind.clone(),
                key,
                line: (by == SunkBy::Line).then_some((loc, sku)),
                lines: 0,
                no_sale_lines: 0,
                over_supply_lines: 0,
                qty: 0,
                value: 0,
                unvalued_qty: 0,
                dealer_value: Decimal::ZERO,
                no_dealer_price_qty: 0,
                last_sale: None,
                days_of_supply: None,
                reason: None,
                stale_sites: Vec::new(),
            });
        g.lines += 1;
        match sinking {
            Sinking::NoSale { .. } => g.no_sale_lines += 1,
            Sinking::OverSupply { .. } => g.over_supply_lines += 1,
        }
        g.qty = g.qty.saturating_add(h.qty);
        if h.unvalued {
            g.unvalued_qty = g.unvalued_qty.saturating_add(h.qty);
        } else {
            g.value = g.value.saturating_add(h.value);
        }
        match h.dealer_price.as_deref().and_then(Money::from_stored) {
            Some(p) => g.dealer_value += Money::total(Quantity::from_micro(h.qty), p),
            None => g.no_dealer_price_qty = g.no_dealer_price_qty.saturating_add(h.qty),
        }
        if by == SunkBy::Line {
            g.last_sale = h.last_sale;
            g.days_of_supply = days_of_supply(h.qty, h.net_sold, days);
            g.reason = Some(sinking.as_str());
        }
        if stale.contains(&h.site) && !g.stale_sites.contains(&h.site) {
            g.stale_sites.push(h.site.clone());
        }
    }
    groups.into_values().collect()
}
