//! Stock alerts 库存预警, pushed: rules (hub.toml's and the database's),
//! their incremental evaluation after each ingest over the lines the batch
//! touched (never a scan of stock), the freshness check on a timer, and
//! delivery by webhook and e-mail from an outbox (`deliver.rs`).
//!
//! `rules.rs` decides (pure); `store/alert.rs` feeds it and writes what it
//! decides; this module puts the two together for the server and the CLI.

pub mod config;
pub mod deliver;
pub mod rules;

pub use config::AlertsConfig;

use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::store::{Evaluated, IngestStats, LineKey, Store, Watch};
use chrono::{DateTime, Utc};
use rules::{Origin, PolicyFigures, Rule};
use std::collections::HashMap;

/// Every rule in force: hub.toml's, then the database's.
pub fn rules_in_force(store: &Store, config: &AlertsConfig) -> Result<Vec<Rule>> {
    let mut rules = config.rules()?;
    rules.extend(store.alert_rules()?);
    Ok(rules)
}

/// Adds a rule to the database: checked against hub.toml's rules (an id
/// there is taken), the channels it configures, and the sites, regions,
/// categories and SKUs the hub knows. Nothing is written when refused.
pub fn add_rule(store: &mut Store, config: &AlertsConfig, rule: &Rule) -> Result<()> {
    if config.rules.iter().any(|r| r.id == rule.id) {
        return Err(HubError::Conflict(format!(
            "alert rule {:?} is defined in hub.toml; choose another id",
            rule.id
        )));
    }
    config.check_channels(&rule.id, rule.channels)?;
    store.add_alert_rule(rule, Utc::now())
}

/// Removes a rule from the database; a rule of hub.toml is refused.
pub fn remove_rule(store: &mut Store, config: &AlertsConfig, id: &str) -> Result<u64> {
    if config.rules.iter().any(|r| r.id == id) {
        return Err(HubError::Conflict(format!(
            "alert rule {id:?} is defined in hub.toml, not in the database: remove it from [[alerts.rules]] there and restart the hub"
        )));
    }
    store.remove_alert_rule(id, Utc::now())
}

/// Most movements re-read to evaluate the lines of batches whose own
/// evaluation never ran; a longer gap (alerts switched off for a long
/// while) is skipped with a warning rather than made a scan.
const MAX_CATCH_UP: u64 = 50_000;

/// Evaluates the rules on what one ingested batch of `site` touched: its
/// lines, and its quarantine. Runs after the batch committed. `from_seq`
/// is the batch's first seq and `hwm` the site's after it: the lines of
/// earlier batches that were committed but never evaluated (the hub
/// stopped in between) are evaluated too.
pub fn after_ingest(
    store: &mut Store,
    config: &HubConfig,
    site: &str,
    from_seq: u64,
    hwm: u64,
    stats: &IngestStats,
    now: DateTime<Utc>,
) -> Result<Evaluated> {
    let rules = rules_in_force(store, &config.alerts)?;
    if rules.is_empty() {
        return Ok(Evaluated::default());
    }
    let mut lines = std::borrow::Cow::Borrowed(&stats.touched[..]);
    let missed = store
        .alert_cursor(site)?
        .map(|c| (c.saturating_add(1), from_seq.saturating_sub(1).min(hwm)))
        .filter(|(first, last)| first <= last);
    match missed {
        Some((first, last)) if last - first < MAX_CATCH_UP => {
            let mut all = stats.touched.clone();
            all.extend(store.lines_of_movements(site, first, last)?);
            all.sort();
            all.dedup();
            tracing::info!(
                site,
                first,
                last,
                "evaluating alerts of batches whose evaluation never ran"
            );
            lines = std::borrow::Cow::Owned(all);
        }
        Some((first, last)) => {
            tracing::warn!(
                site,
                first,
                last,
                "alerts of these movements are not evaluated: too many to catch up"
            );
        }
        None => {}
    }
    let stats_lines: &[LineKey] = &lines;
    // The reorder point and demand come from the stored policy (`plan
    // policy`); a line without one is not judged by those rules.
    let policy = if rules.iter().any(|r| r.condition.needs_policy()) && !stats_lines.is_empty() {
        let today = chrono::Local::now().date_naive();
        Some(policy_figures(store, config, today, stats_lines)?)
    } else {
        None
    };
    let watch = Watch {
        lines: stats_lines,
        policy: policy.as_ref(),
        batch: Some((site, stats.refused + stats.conflicts, stats.accepted)),
        freshness: false,
        evaluated: Some((site, hwm)),
    };
    store.evaluate_alerts(&rules, &watch, now)
}

/// The stored policy of each of `lines` that has one, as the rules read it.
pub fn policy_figures(
    store: &Store,
    config: &HubConfig,
    as_of: chrono::NaiveDate,
    lines: &[LineKey],
) -> Result<HashMap<LineKey, PolicyFigures>> {
    Ok(crate::plan::policy::for_lines(store, config, as_of, lines)?
        .into_iter()
        .map(|p| {
            (
                (p.site, p.location, p.sku),
                PolicyFigures {
                    reorder_point: p.reorder_point,
                    daily_demand: p.daily_demand,
                    stale: p.stale,
                    as_of: p.policy_as_of,
                    outdated: p.outdated,
                },
            )
        })
        .collect())
}

/// Evaluates the `stale` rules over every site (the site table, not stock).
pub fn check_freshness(
    store: &mut Store,
    config: &HubConfig,
    now: DateTime<Utc>,
) -> Result<Evaluated> {
    let rules = rules_in_force(store, &config.alerts)?;
    let watch = Watch {
        freshness: true,
        ..Watch::default()
    };
    store.evaluate_alerts(&rules, &watch, now)
}

/// Closes the open alerts of rules that are no longer in force (taken out
/// of hub.toml since they were raised); run when `serve` starts.
pub fn close_orphans(store: &mut Store, config: &AlertsConfig) -> Result<u64> {
    let rules = rules_in_force(store, config)?;
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    let closed = store.close_alerts_without_rule(&ids, Utc::now())?;
    if closed > 0 {
        tracing::info!(closed, "closed the open alerts of rules no longer in force");
    }
    Ok(closed)
}

/// Warns about hub.toml rules whose scope names nothing the hub knows yet
/// (a site may enroll later, so they are kept).
pub fn warn_unknown_scopes(store: &Store, config: &AlertsConfig) {
    let Ok(rules) = config.rules() else { return };
    for r in rules.iter().filter(|r| r.origin == Origin::Config) {
        if let Err(e) = store.check_alert_scope(&r.scope) {
            tracing::warn!(rule = %r.id, "alert rule in hub.toml: {e}; it fires once that exists");
        }
    }
}
