//! The `[plan]` section of `hub.toml`: the stock policy's defaults and the
//! ordering and holding costs EOQ is computed from, per category.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Cycle service level of the safety stock, in (0.5, 0.999].
    #[serde(default = "default_service_level")]
    pub service_level: f64,
    /// Days between two reviews of a location's stock (periodic review).
    #[serde(default = "default_review_days")]
    pub review_days: u32,
    /// Lead time of a SKU whose catalog entry has none.
    #[serde(default = "default_lead_time_days")]
    pub lead_time_days: u32,
    /// Cost of placing one order (or one transfer), in the hub's currency.
    #[serde(default = "default_order_cost")]
    pub order_cost: Decimal,
    /// Cost of holding one unit for a year, as a fraction of its unit cost.
    #[serde(default = "default_holding_rate")]
    pub holding_rate: Decimal,
    /// Per category (`[plan.category.TEA]`): its own order cost and holding
    /// rate; a key it leaves out takes the value above.
    #[serde(default)]
    pub category: BTreeMap<String, CategoryCosts>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CategoryCosts {
    pub order_cost: Option<Decimal>,
    pub holding_rate: Option<Decimal>,
}

fn default_service_level() -> f64 {
    0.95
}
fn default_review_days() -> u32 {
    7
}
fn default_lead_time_days() -> u32 {
    7
}
fn default_order_cost() -> Decimal {
    Decimal::from(50)
}
fn default_holding_rate() -> Decimal {
    Decimal::new(25, 2)
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            service_level: default_service_level(),
            review_days: default_review_days(),
            lead_time_days: default_lead_time_days(),
            order_cost: default_order_cost(),
            holding_rate: default_holding_rate(),
            category: BTreeMap::new(),
        }
    }
}

impl PlanConfig {
    /// The first key that is out of range, as `(key, value, accepted)`.
    pub fn invalid(&self) -> Option<(String, String, &'static str)> {
        if !(self.service_level > 0.5 && self.service_level <= 0.999) {
            return Some((
                "service_level".into(),
                self.service_level.to_string(),
                "a level above 0.5 and at most 0.999",
            ));
        }
        if self.review_days > 366 {
            return Some((
                "review_days".into(),
                self.review_days.to_string(),
                "0 to 366 days",
            ));
        }
        if self.lead_time_days > 366 {
            return Some((
                "lead_time_days".into(),
                self.lead_time_days.to_string(),
                "0 to 366 days",
            ));
        }
        let costs = std::iter::once((
            String::new(),
            Some(self.order_cost),
            Some(self.holding_rate),
        ))
        .chain(
            self.category
                .iter()
                .map(|(c, k)| (format!("category.{c}."), k.order_cost, k.holding_rate)),
        );
        for (prefix, order, holding) in costs {
            if let Some(v) = order.filter(|v| v.is_sign_negative()) {
                return Some((format!("{prefix}order_cost"), v.to_string(), "0 or more"));
            }
            if let Some(v) = holding.filter(|v| *v <= Decimal::ZERO) {
                return Some((
                    format!("{prefix}holding_rate"),
                    v.to_string(),
                    "a fraction above 0 (0.25 is 25% of the unit cost a year)",
                ));
            }
        }
        None
    }

    /// The order cost and the yearly holding rate of `category`.
    pub fn costs(&self, category: &str) -> (Decimal, Decimal) {
        let own = self.category.get(category);
        (
            own.and_then(|c| c.order_cost).unwrap_or(self.order_cost),
            own.and_then(|c| c.holding_rate)
                .unwrap_or(self.holding_rate),
        )
    }
}
