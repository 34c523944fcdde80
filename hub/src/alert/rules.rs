//! Alert rules and the decision they make, as pure functions: given a rule,
//! the figures of one line (or site) and whether the rule's alert is open
//! there now, raise, clear or do nothing. The store feeds them and writes
//! what they decide, so SQLite and PostgreSQL decide alike.

use crate::error::{HubError, Result};
use jxc_shared::suggest::did_you_mean;
use rust_decimal::Decimal;
use serde::Serialize;

/// The rule kinds, as written in hub.toml and on the command line.
pub const KINDS: [&str; 5] = [
    "below-reorder-point",
    "stock-out",
    "over-days-of-supply",
    "stale",
    "quarantine-grew",
];

/// Most hours a `stale` rule may wait: a year.
const MAX_HOURS: i64 = 8_760;
/// Most days of supply an `over-days-of-supply` rule may allow: ten years.
const MAX_DAYS: i64 = 3_650;

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A line's position (on hand + in transit) at or below its reorder point.
    BelowReorderPoint,
    /// A line's on hand at or below zero.
    StockOut,
    /// A line holding more than `max_days` of its daily demand.
    OverDaysOfSupply { max_days: Decimal },
    /// A site that has not synced for more than `hours`.
    Stale { hours: u32 },
    /// A site whose sync batch had records quarantined.
    QuarantineGrew,
}

impl Condition {
    /// The condition of rule kind `kind` with its parameter, or a one-line
    /// refusal naming the field and the value.
    pub fn parse(kind: &str, max_days: Option<&str>, hours: Option<i64>) -> Result<Condition> {
        let condition = match kind {
            "below-reorder-point" => Condition::BelowReorderPoint,
            "stock-out" => Condition::StockOut,
            "quarantine-grew" => Condition::QuarantineGrew,
            "over-days-of-supply" => {
                let text = max_days.ok_or_else(|| {
                    HubError::Invalid(
                        "kind over-days-of-supply needs max_days: a number of days from 1 to 3650"
                            .into(),
                    )
                })?;
                Condition::OverDaysOfSupply {
                    max_days: parse_max_days(text)?,
                }
            }
            "stale" => {
                let h = hours.ok_or_else(|| {
                    HubError::Invalid(
                        "kind stale needs hours: a number of hours from 1 to 8760".into(),
                    )
                })?;
                if !(1..=MAX_HOURS).contains(&h) {
                    return Err(HubError::Invalid(format!(
                        "hours {h} is not valid: use 1 to {MAX_HOURS}"
                    )));
                }
                Condition::Stale { hours: h as u32 }
            }
            _ => {
                return Err(HubError::Invalid(format!(
                    "kind {kind:?} is not valid: use {}{}",
                    KINDS.join(", "),
                    did_you_mean(kind, KINDS)
                )));
            }
        };
        if max_days.is_some() && !matches!(condition, Condition::OverDaysOfSupply { .. }) {
            return Err(HubError::Invalid(format!(
                "max_days is not valid for kind {kind}: only over-days-of-supply takes it"
            )));
        }
        if hours.is_some() && !matches!(condition, Condition::Stale { .. }) {
            return Err(HubError::Invalid(format!(
                "hours is not valid for kind {kind}: only stale takes it"
            )));
        }
        Ok(condition)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Condition::BelowReorderPoint => "below-reorder-point",
            Condition::StockOut => "stock-out",
            Condition::OverDaysOfSupply { .. } => "over-days-of-supply",
            Condition::Stale { .. } => "stale",
            Condition::QuarantineGrew => "quarantine-grew",
        }
    }

    /// Whether the condition is about one (site, location, sku) line, as
    /// opposed to a whole site.
    pub fn is_line(&self) -> bool {
        matches!(
            self,
            Condition::BelowReorderPoint | Condition::StockOut | Condition::OverDaysOfSupply { .. }
        )
    }

    /// Whether deciding it needs the line's reorder policy.
    pub fn needs_policy(&self) -> bool {
        matches!(
            self,
            Condition::BelowReorderPoint | Condition::OverDaysOfSupply { .. }
        )
    }

    /// The parameter as `jxc-hub alert rule list` shows it.
    pub fn parameter(&self) -> String {
        match self {
            Condition::OverDaysOfSupply { max_days } => format!("max_days={max_days}"),
            Condition::Stale { hours } => format!("hours={hours}"),
            _ => String::new(),
        }
    }
}

/// `max_days`: a positive decimal number of days, at most ten years.
fn parse_max_days(text: &str) -> Result<Decimal> {
    let bad = || {
        HubError::Invalid(format!(
            "max_days {text:?} is not valid: use a number of days from 1 to {MAX_DAYS}"
        ))
    };
    let d: Decimal = text.trim().parse().map_err(|_| bad())?;
    if d < Decimal::ONE || d > Decimal::from(MAX_DAYS) {
        return Err(bad());
    }
    Ok(d.normalize())
}

/// Which lines a rule covers; `None` covers all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub site: Option<String>,
    pub region: Option<String>,
    /// The site's tier: hq, branch or dealer.
    pub site_kind: Option<String>,
    pub category: Option<String>,
    pub sku: Option<String>,
}

impl Scope {
    /// Whether a line (or, with no category and SKU, a site) is covered.
    pub fn covers(&self, at: &Subject<'_>) -> bool {
        let is = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        is(&self.site, Some(at.site))
            && is(&self.region, Some(at.region))
            && is(&self.site_kind, Some(at.site_kind))
            && is(&self.category, at.category)
            && is(&self.sku, at.sku)
    }

    /// `site=BJ01 kind=dealer`: the filters set, for listings.
    pub fn describe(&self) -> String {
        [
            ("site", &self.site),
            ("region", &self.region),
            ("site_kind", &self.site_kind),
            ("category", &self.category),
            ("sku", &self.sku),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// Where a rule's alerts are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Channels {
    pub webhook: bool,
    pub email: bool,
}

impl Channels {
    /// `webhook`, `email`, or both (comma-separated or as a list).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Channels> {
        let mut c = Channels::default();
        for name in names {
            match name.trim() {
                "webhook" => c.webhook = true,
                "email" => c.email = true,
                other => {
                    return Err(HubError::Invalid(format!(
                        "channel {other:?} is not valid: use webhook, email or both{}",
                        did_you_mean(other, ["webhook", "email"])
                    )));
                }
            }
        }
        if !c.webhook && !c.email {
            return Err(HubError::Invalid(
                "channels is empty: name webhook, email or both".into(),
            ));
        }
        Ok(c)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.webhook {
            v.push("webhook");
        }
        if self.email {
            v.push("email");
        }
        v
    }
}

/// Where a rule is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `[[alerts.rules]]` in hub.toml: changed by editing the file.
    Config,
    /// `jxc-hub alert rule add`: kept in the hub's database.
    Database,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "hub.toml",
            Origin::Database => "database",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub condition: Condition,
    pub scope: Scope,
    pub channels: Channels,
    pub origin: Origin,
}

impl Rule {
    /// A rule, checked: its id, and a scope that fits its condition (a
    /// site's condition has no category or SKU).
    pub fn new(
        id: &str,
        condition: Condition,
        scope: Scope,
        channels: Channels,
        origin: Origin,
    ) -> Result<Rule> {
        check_id(id)?;
        if let Some(k) = &scope.site_kind
            && !["hq", "branch", "dealer"].contains(&k.as_str())
        {
            return Err(HubError::Invalid(format!(
                "site_kind {k:?} is not valid: use hq, branch or dealer{}",
                did_you_mean(k, ["hq", "branch", "dealer"])
            )));
        }
        if !condition.is_line() {
            for (field, v) in [("category", &scope.category), ("sku", &scope.sku)] {
                if let Some(v) = v {
                    return Err(HubError::Invalid(format!(
                        "{field} {v:?} is not valid for kind {}: it watches whole sites (filter by site, region or site_kind)",
                        condition.kind()
                    )));
                }
            }
        }
        for (field, v) in [
            ("site", &scope.site),
            ("region", &scope.region),
            ("category", &scope.category),
            ("sku", &scope.sku),
        ] {
            if let Some(v) = v
                && (v.trim().is_empty() || v.len() > 200)
            {
                return Err(HubError::Invalid(format!(
                    "{field} {v:?} is not valid: leave it out to cover every {field}, or name one"
                )));
            }
        }
        Ok(Rule {
            id: id.to_owned(),
            condition,
            scope,
            channels,
            origin,
        })
    }
}

/// A rule id: 1 to 64 letters, digits, `.`, `_` or `-`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(HubError::Invalid(format!(
            "id {id:?} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// What a rule is checked against: a line (with its category and SKU) or a
/// whole site (without).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub site: &'a str,
    pub region: &'a str,
    pub site_kind: &'a str,
    pub category: Option<&'a str>,
    pub sku: Option<&'a str>,
}

/// A line's reorder policy, from the stored plan (`plan policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyFigures {
    pub reorder_point: Decimal,
    pub daily_demand: Decimal,
    /// The site's data is stale: the policy rests on old figures.
    pub stale: bool,
    /// The day the policy was computed for, and whether that is so long
    /// ago that the planner should run `plan policy` again.
    pub as_of: Option<chrono::NaiveDate>,
    pub outdated: bool,
}

/// Days the position (on hand + in transit) lasts at the daily demand, to
/// one decimal, as `plan policy` reports it; `None` without demand.
pub fn days_of_supply(position: Decimal, daily_demand: Decimal) -> Option<Decimal> {
    if daily_demand <= Decimal::ZERO {
        return None;
    }
    position.checked_div(daily_demand).map(|d| d.round_dp(1))
}

/// The figures a rule decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figures {
    /// One (site, location, sku) line: its stock now and, when the planning
    /// figures know the line, its policy.
    Line {
        /// `None` when the hub holds no balance of the line (nothing was
        /// ever received or sold there): such a line is not out of stock.
        on_hand: Option<Decimal>,
        in_transit: Decimal,
        policy: Option<PolicyFigures>,
    },
    /// A site's freshness: seconds since its last sync (since enrollment
    /// if it never synced); `None` if neither is known.
    Site { silent_secs: Option<i64> },
    /// What one sync batch of a site did.
    Batch { quarantined: u64, accepted: u64 },
}

impl Figures {
    /// The figures as JSON, quantities as exact decimal text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Figures::Line {
                on_hand,
                in_transit,
                policy,
            } => {
                let mut v = json!({
                    "on_hand": on_hand.unwrap_or_default().normalize().to_string(),
                    "in_transit": in_transit.normalize().to_string(),
                });
                if let Some(p) = policy {
                    let position = on_hand.unwrap_or_default() + *in_transit;
                    v["reorder_point"] = json!(p.reorder_point.normalize().to_string());
                    v["daily_demand"] = json!(p.daily_demand.normalize().to_string());
                    v["days_of_supply"] = json!(
                        days_of_supply(position, p.daily_demand).map(|d| d.normalize().to_string())
                    );
                    v["stale"] = json!(p.stale);
                    v["policy_as_of"] = json!(p.as_of.map(|d| d.to_string()));
                    v["policy_outdated"] = json!(p.outdated);
                }
                v
            }
            Figures::Site { silent_secs } => json!({ "silent_secs": silent_secs }),
            Figures::Batch {
                quarantined,
                accepted,
            } => json!({ "quarantined": quarantined, "accepted": accepted }),
        }
    }
}

/// What to do about one rule at one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Raise,
    Clear,
    Nothing,
}

/// Whether `condition` holds on `figures`: `None` when the figures cannot
/// tell (they are of another kind, the line has no policy, or a batch
/// neither quarantined nor applied anything), so an open alert stays open
/// and none is raised.
pub fn holds(condition: &Condition, figures: &Figures) -> Option<bool> {
    match (condition, *figures) {
        (Condition::StockOut, Figures::Line { on_hand, .. }) => on_hand.map(|q| q <= Decimal::ZERO),
        (
            Condition::BelowReorderPoint,
            Figures::Line {
                on_hand,
                in_transit,
                policy: Some(p),
            },
        ) => {
            // A line with no reorder point (no demand) is never below it;
            // running out of it is the stock-out rule's business.
            let position = on_hand.unwrap_or_default() + in_transit;
            Some(p.reorder_point > Decimal::ZERO && position <= p.reorder_point)
        }
        (
            Condition::OverDaysOfSupply { max_days },
            Figures::Line {
                on_hand,
                in_transit,
                policy: Some(p),
            },
        ) => {
            let position = on_hand.unwrap_or_default() + in_transit;
            Some(match days_of_supply(position, p.daily_demand) {
                Some(d) => d > *max_days,
                // Stock that nothing sells covers any number of days.
                None => position > Decimal::ZERO,
            })
        }
        (Condition::Stale { hours }, Figures::Site { silent_secs }) => {
            silent_secs.map(|s| s > i64::from(*hours) * 3600)
        }
        (
            Condition::QuarantineGrew,
            Figures::Batch {
                quarantined,
                accepted,
            },
        ) => {
            if quarantined > 0 {
                Some(true)
            } else if accepted > 0 {
                // A clean batch that applied records: the site is healthy again.
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The decision for `rule` at a line whose alert is `open` (or not): raise
/// when the condition holds and no alert is open, clear when it no longer
/// holds and one is, nothing otherwise — so one condition gives one alert
/// until it clears.
pub fn decide(rule: &Rule, figures: &Figures, open: bool) -> Decision {
    match (holds(&rule.condition, figures), open) {
        (Some(true), false) => Decision::Raise,
        (Some(false), true) => Decision::Clear,
        _ => Decision::Nothing,
    }
}

/// A sentence saying what the alert is about, for e-mail and the webhook.
pub fn message(condition: &Condition, at: &str, figures: &Figures, cleared: bool) -> String {
    let what = match (condition, figures) {
        (Condition::StockOut, Figures::Line { on_hand, .. }) => {
            let q = on_hand.unwrap_or_default();
            if cleared {
                format!("{at} is back in stock (on hand {q})")
            } else {
                format!("{at} is out of stock (on hand {q})")
            }
        }
        (
            Condition::BelowReorderPoint,
            Figures::Line {
                on_hand,
                in_transit,
                policy,
            },
        ) => format!(
            "{at} is {} its reorder point (on hand {} + in transit {in_transit}, reorder point {})",
            if cleared { "above" } else { "at or below" },
            on_hand.unwrap_or_default(),
            policy.map_or("unknown".into(), |p| p.reorder_point.to_string())
        ),
        (
            Condition::OverDaysOfSupply { max_days },
            Figures::Line {
                on_hand,
                in_transit,
                policy,
            },
        ) => format!(
            "{at} holds {} {max_days} days of supply ({})",
            if cleared { "no more than" } else { "more than" },
            match policy.and_then(|p| {
                days_of_supply(on_hand.unwrap_or_default() + *in_transit, p.daily_demand)
            }) {
                Some(d) => format!("{d} days"),
                None => "no demand".into(),
            }
        ),
        (Condition::Stale { hours }, Figures::Site { silent_secs }) => {
            let silent = silent_secs.map_or("never".into(), |s| format!("{} h", s / 3600));
            if cleared {
                format!("site {at} synced again (last {silent} ago, within {hours} h)")
            } else {
                format!("site {at} has not synced for more than {hours} h ({silent})")
            }
        }
        (Condition::QuarantineGrew, Figures::Batch { quarantined, .. }) => {
            if cleared {
                format!("site {at} synced without records quarantined")
            } else {
                format!("site {at} sent {quarantined} record(s) the hub quarantined")
            }
        }
        (c, _) => format!("{at}: {}", c.kind()),
    };
    if cleared {
        format!("cleared: {what}")
    } else {
        what
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_happened_and_what_cleared() {
        let line = |q: i64| Figures::Line {
            on_hand: Some(Decimal::from(q)),
            in_transit: Decimal::ZERO,
            policy: None,
        };
        assert_eq!(
            message(&Condition::StockOut, "BJ01/main 茶-1", &line(0), false),
            "BJ01/main 茶-1 is out of stock (on hand 0)"
        );
        assert_eq!(
            message(&Condition::StockOut, "BJ01/main 茶-1", &line(4), true),
            "cleared: BJ01/main 茶-1 is back in stock (on hand 4)"
        );
        let site = Figures::Site {
            silent_secs: Some(7 * 3600),
        };
        assert_eq!(
            message(&Condition::Stale { hours: 6 }, "BJ01", &site, false),
            "site BJ01 has not synced for more than 6 h (7 h)"
        );
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn rule(condition: Condition) -> Rule {
        Rule::new(
            "r1",
            condition,
            Scope::default(),
            Channels {
                webhook: true,
                email: false,
            },
            Origin::Config,
        )
        .unwrap()
    }

    fn line(on_hand: &str, in_transit: &str, policy: Option<PolicyFigures>) -> Figures {
        Figures::Line {
            on_hand: Some(d(on_hand)),
            in_transit: d(in_transit),
            policy,
        }
    }

    fn policy(rop: &str, demand: &str) -> PolicyFigures {
        PolicyFigures {
            reorder_point: d(rop),
            daily_demand: d(demand),
            stale: false,
            as_of: None,
            outdated: false,
        }
    }

    #[test]
    fn stock_out_raises_once_and_clears_when_stock_returns() {
        let r = rule(Condition::StockOut);
        assert_eq!(decide(&r, &line("0", "0", None), false), Decision::Raise);
        assert_eq!(decide(&r, &line("-2", "0", None), false), Decision::Raise);
        // Already open: nothing more, however low it goes.
        assert_eq!(decide(&r, &line("0", "5", None), true), Decision::Nothing);
        assert_eq!(decide(&r, &line("0.5", "0", None), true), Decision::Clear);
        assert_eq!(decide(&r, &line("3", "0", None), false), Decision::Nothing);
        // A line the hub holds no balance of (only goods on their way to
        // it) has never had stock: not a stock-out.
        let never = Figures::Line {
            on_hand: None,
            in_transit: d("4"),
            policy: None,
        };
        assert_eq!(decide(&r, &never, false), Decision::Nothing);
    }

    #[test]
    fn below_reorder_point_counts_what_is_in_transit() {
        let r = rule(Condition::BelowReorderPoint);
        let p = Some(policy("10", "2"));
        assert_eq!(decide(&r, &line("6", "0", p), false), Decision::Raise);
        // Exactly at the reorder point is "at or below".
        assert_eq!(decide(&r, &line("6", "4", p), false), Decision::Raise);
        assert_eq!(decide(&r, &line("6", "5", p), true), Decision::Clear);
        // Without a reorder point (no demand) or without a policy: never.
        let none = Some(policy("0", "0"));
        assert_eq!(decide(&r, &line("0", "0", none), false), Decision::Nothing);
        assert_eq!(decide(&r, &line("0", "0", None), false), Decision::Nothing);
        // And an open alert is not cleared for lack of figures.
        assert_eq!(decide(&r, &line("50", "0", None), true), Decision::Nothing);
    }

    #[test]
    fn over_days_of_supply_is_strictly_over() {
        let r = rule(Condition::OverDaysOfSupply { max_days: d("60") });
        // 2 a day: a position of 120 is exactly 60 days, 121 is 60.5.
        let at =
            |on_hand: &str, in_transit: &str| line(on_hand, in_transit, Some(policy("5", "2")));
        assert_eq!(decide(&r, &at("120", "0"), false), Decision::Nothing);
        assert_eq!(decide(&r, &at("120", "1"), false), Decision::Raise);
        assert_eq!(decide(&r, &at("118", "0"), true), Decision::Clear);
        assert_eq!(days_of_supply(d("10"), d("3")), Some(d("3.3")));
        assert_eq!(days_of_supply(d("10"), d("0")), None);
        // Stock that does not sell is over; none held is not.
        let idle = |on_hand: &str| line(on_hand, "0", Some(policy("0", "0")));
        assert_eq!(decide(&r, &idle("4"), false), Decision::Raise);
        assert_eq!(decide(&r, &idle("0"), true), Decision::Clear);
    }

    #[test]
    fn stale_counts_hours_of_silence() {
        let r = rule(Condition::Stale { hours: 4 });
        let site = |s: Option<i64>| Figures::Site { silent_secs: s };
        assert_eq!(decide(&r, &site(Some(4 * 3600)), false), Decision::Nothing);
        assert_eq!(
            decide(&r, &site(Some(4 * 3600 + 1)), false),
            Decision::Raise
        );
        assert_eq!(decide(&r, &site(Some(10)), true), Decision::Clear);
        assert_eq!(decide(&r, &site(None), true), Decision::Nothing);
        // Line figures say nothing about a site.
        assert_eq!(decide(&r, &line("0", "0", None), false), Decision::Nothing);
    }

    #[test]
    fn quarantine_grew_clears_on_a_clean_batch() {
        let r = rule(Condition::QuarantineGrew);
        let batch = |q, a| Figures::Batch {
            quarantined: q,
            accepted: a,
        };
        assert_eq!(decide(&r, &batch(2, 10), false), Decision::Raise);
        assert_eq!(decide(&r, &batch(1, 0), true), Decision::Nothing);
        // An empty batch (a pull) tells nothing.
        assert_eq!(decide(&r, &batch(0, 0), true), Decision::Nothing);
        assert_eq!(decide(&r, &batch(0, 3), true), Decision::Clear);
    }

    #[test]
    fn bad_parameters_name_field_and_value() {
        let e = |k: &str, m: Option<&str>, h: Option<i64>| {
            Condition::parse(k, m, h).unwrap_err().to_string()
        };
        assert!(e("stock-outt", None, None).contains("kind \"stock-outt\" is not valid"));
        assert!(e("stale", None, Some(0)).contains("hours 0 is not valid"));
        assert!(e("stale", None, None).contains("needs hours"));
        assert!(e("over-days-of-supply", Some("abc"), None).contains("max_days \"abc\""));
        assert!(e("over-days-of-supply", Some("0.5"), None).contains("max_days \"0.5\""));
        assert!(e("stock-out", None, Some(3)).contains("hours is not valid for kind stock-out"));
        assert_eq!(
            Condition::parse("over-days-of-supply", Some("45.50"), None).unwrap(),
            Condition::OverDaysOfSupply {
                max_days: d("45.5")
            }
        );
        let scoped = Scope {
            sku: Some("X".into()),
            ..Scope::default()
        };
        let err = Rule::new(
            "s",
            Condition::Stale { hours: 2 },
            scoped,
            Channels::default(),
            Origin::Database,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("sku \"X\" is not valid for kind stale")
        );
        assert!(
            check_id("a b")
                .unwrap_err()
                .to_string()
                .contains("id \"a b\"")
        );
        assert!(
            Channels::parse(["sms"])
                .unwrap_err()
                .to_string()
                .contains("channel \"sms\"")
        );
    }

    #[test]
    fn scope_covers_only_matching_lines() {
        let scope = Scope {
            region: Some("north".into()),
            category: Some("茶".into()),
            ..Scope::default()
        };
        let at = |region, category| Subject {
            site: "BJ01",
            region,
            site_kind: "branch",
            category,
            sku: Some("茶-1"),
        };
        assert!(scope.covers(&at("north", Some("茶"))));
        assert!(!scope.covers(&at("south", Some("茶"))));
        assert!(!scope.covers(&at("north", None)));
        assert!(Scope::default().covers(&at("south", None)));
        assert_eq!(scope.describe(), "region=north category=茶");
    }
}
