//! Alerts 库存预警 in the store: rules added at the command line, alerts
//! (one open row per rule and line until it clears) and their outbox. The
//! decisions are `alert::rules::decide`'s; this feeds it the newest figures
//! and writes what it decides, the alert change and its messages in one
//! transaction, so a restart loses no message.

use super::db::{Sql, Value, vals};
use super::query::check_known;
use super::{Store, now_text};
use crate::alert::rules::{
    Channels, Condition, Decision, Figures, Origin, PolicyFigures, Rule, Scope, Subject, decide,
    message,
};
use crate::error::{HubError, Result};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

/// A (site, location, sku) line.
pub type LineKey = (String, String, String);

/// Values bound per `IN (…)` list.
const IN_CHUNK: usize = 500;

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Open,
    Cleared,
}

/// One alert as `jxc-hub alerts` lists it.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub kind: String,
    pub site: String,
    /// '' for a site's alert (stale, quarantine).
    pub location: String,
    pub sku: String,
    pub state: AlertState,
    pub raised_at: String,
    pub cleared_at: Option<String>,
    pub figures: serde_json::Value,
    pub cleared_figures: Option<serde_json::Value>,
    pub detail: serde_json::Value,
    /// Messages about it not yet delivered.
    pub undelivered: u64,
    /// Why the newest failed delivery failed.
    pub last_error: Option<String>,
    /// Who acknowledged it (a planner, on the dashboard), when, and why.
    pub acked_by: Option<String>,
    pub acked_at: Option<String>,
    pub ack_note: Option<String>,
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Webhook,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

/// A message claimed for delivery.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub alert: i64,
    pub channel: Channel,
    /// The JSON body, as signed and sent.
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// A message not delivered yet, as `jxc-hub alert outbox` lists it.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub id: i64,
    pub alert: i64,
    pub channel: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
}

/// What an evaluation looks at.
#[derive(Debug, Default)]
pub struct Watch<'a> {
    /// Lines a batch touched.
    pub lines: &'a [LineKey],
    /// Their reorder policy, where the planning figures know them.
    pub policy: Option<&'a HashMap<LineKey, PolicyFigures>>,
    /// A batch of one site: (site, records quarantined, records applied).
    pub batch: Option<(&'a str, u64, u64)>,
    /// Every site's freshness (the timer).
    pub freshness: bool,
    /// The site whose lines up to this seq are evaluated now.
    pub evaluated: Option<(&'a str, u64)>,
}

/// What an evaluation changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluated {
    pub raised: u64,
    pub cleared: u64,
}

/// An open alert, as evaluation reads it.
struct Open {
    id: i64,
    raised_at: String,
}

struct SiteFacts {
    region: String,
    kind: String,
    /// Last sync, else enrollment; `None` for a revoked site (expected silent).
    heard_at: Option<String>,
}

impl Store {
    /// Refuses a scope that names a site, region, category or SKU the hub
    /// does not know: such a rule would never fire.
    pub fn check_alert_scope(&self, scope: &Scope) -> Result<()> {
        self.db().read(|sql| check_scope(sql, scope))
    }

    /// Adds a rule (checked by the caller); refused if its id is taken.
    pub fn add_alert_rule(&mut self, rule: &Rule, now: DateTime<Utc>) -> Result<()> {
        let n = self.db().write(|sql| {
            check_scope(sql, &rule.scope)?;
            let (max_days, hours) = match &rule.condition {
                Condition::OverDaysOfSupply { max_days } => (Some(max_days.to_string()), None),
                Condition::Stale { hours } => (None, Some(i64::from(*hours))),
                _ => (None, None),
            };
            let s = &rule.scope;
            sql.exec(
                "INSERT INTO alert_rule (id, kind, max_days, hours, site, region, site_kind, category, sku,
                     webhook, email, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                vals![
                    rule.id,
                    rule.condition.kind(),
                    max_days,
                    hours,
                    s.site,
                    s.region,
                    s.site_kind,
                    s.category,
                    s.sku,
                    rule.channels.webhook,
                    rule.channels.email,
                    now_text(now)
                ],
            )
        })?;
        if n == 0 {
            return Err(HubError::Conflict(format!(
                "alert rule {:?} already exists; remove it first to change it",
                rule.id
            )));
        }
        Ok(())
    }

    /// The rules added at the command line, by id.
    pub fn alert_rules(&self) -> Result<Vec<Rule>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT id, kind, max_days, hours, site, region, site_kind, category, sku, webhook, email
                 FROM alert_rule ORDER BY id",
                vals![],
            )
        })?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0)?;
                let kind: String = r.get(1)?;
                let max_days: Option<String> = r.get(2)?;
                let condition = Condition::parse(&kind, max_days.as_deref(), r.get(3)?)
                    .map_err(|e| HubError::Internal(format!("stored alert rule {id}: {e}")))?;
                Rule::new(
                    &id,
                    condition,
                    Scope {
                        site: r.get(4)?,
                        region: r.get(5)?,
                        site_kind: r.get(6)?,
                        category: r.get(7)?,
                        sku: r.get(8)?,
                    },
                    Channels {
                        webhook: r.get(9)?,
                        email: r.get(10)?,
                    },
                    Origin::Database,
                )
            })
            .collect()
    }

    /// Removes a rule added at the command line; its open alerts are
    /// closed with it (no message: nobody watches them any more). Returns
    /// how many were closed.
    pub fn remove_alert_rule(&mut self, id: &str, now: DateTime<Utc>) -> Result<u64> {
        self.db().write(|sql| {
            let n = sql.exec("DELETE FROM alert_rule WHERE id = ?", vals![id])?;
            if n == 0 {
                let ids: Vec<String> = sql.column("SELECT id FROM alert_rule", vals![])?;
                return Err(HubError::NotFound(format!(
                    "no alert rule {id:?} in the database{}",
                    jxc_shared::suggest::did_you_mean(id, ids.iter().map(String::as_str))
                )));
            }
            sql.exec(
                "UPDATE alert SET state = 'cleared', cleared_at = ? WHERE rule = ? AND state = 'open'",
                vals![now_text(now), id],
            )
        })
    }

    /// Closes the open alerts of rules no longer in force (a rule taken out
    /// of hub.toml), without a message: nothing watches them any more.
    /// Returns how many were closed.
    pub fn close_alerts_without_rule(
        &mut self,
        in_force: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.db().write(|sql| {
            let mut params = vec![Value::Text(now_text(now))];
            params.extend(in_force.iter().map(|id| Value::Text((*id).to_owned())));
            let keep = if in_force.is_empty() {
                String::new()
            } else {
                format!(" AND rule NOT IN {}", in_list(in_force.len()))
            };
            sql.exec(
                &format!(
                    "UPDATE alert SET state = 'cleared', cleared_at = ? WHERE state = 'open'{keep}"
                ),
                &params,
            )
        })
    }

    /// Decides `rules` on what `watch` names, with the newest stock read in
    /// the same transaction as the alert changes it causes (and, on
    /// PostgreSQL, one evaluation at a time across hub processes, so two
    /// never decide one line on different figures).
    pub fn evaluate_alerts(
        &mut self,
        rules: &[Rule],
        watch: &Watch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Evaluated> {
        let line_rules: Vec<&Rule> = rules.iter().filter(|r| r.condition.is_line()).collect();
        let stale_rules: Vec<&Rule> = rules
            .iter()
            .filter(|r| matches!(r.condition, Condition::Stale { .. }))
            .collect();
        let batch_rules: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.condition == Condition::QuarantineGrew)
            .collect();
        let lines = if line_rules.is_empty() {
            &[][..]
        } else {
            watch.lines
        };
        let batch = watch.batch.filter(|_| !batch_rules.is_empty());
        let freshness = watch.freshness && !stale_rules.is_empty();
        if lines.is_empty() && batch.is_none() && !freshness && watch.evaluated.is_none() {
            return Ok(Evaluated::default());
        }
        self.db().write(|sql| {
            sql.lock("jxc-alert-evaluation")?;
            let mut out = Evaluated::default();
            let mut sites: BTreeSet<&str> = lines.iter().map(|l| l.0.as_str()).collect();
            if let Some((s, ..)) = batch {
                sites.insert(s);
            }
            let facts = site_facts(sql, if freshness { None } else { Some(&sites) })?;
            if !lines.is_empty() {
                evaluate_lines(sql, &line_rules, lines, watch.policy, &facts, now, &mut out)?;
            }
            if let Some((site, quarantined, accepted)) = batch
                && let Some(f) = facts.get(site)
            {
                let figures = Figures::Batch {
                    quarantined,
                    accepted,
                };
                evaluate_site(sql, &batch_rules, site, f, &figures, now, &mut out)?;
            }
            if freshness {
                for (site, f) in &facts {
                    let silent_secs = f
                        .heard_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| (now - t.with_timezone(&Utc)).num_seconds());
                    if f.heard_at.is_none() {
                        continue;
                    }
                    let figures = Figures::Site { silent_secs };
                    evaluate_site(sql, &stale_rules, site, f, &figures, now, &mut out)?;
                }
            }
            if let Some((site, seq)) = watch.evaluated {
                sql.exec(
                    "INSERT INTO alert_cursor (site, seq) VALUES (?1, ?2)
                     ON CONFLICT (site) DO UPDATE SET seq = CASE WHEN alert_cursor.seq > ?2 THEN alert_cursor.seq ELSE ?2 END",
                    vals![site, seq as i64],
                )?;
            }
            Ok(out)
        })
    }

    /// The highest seq of `site` whose lines have been evaluated, if any.
    pub fn alert_cursor(&self, site: &str) -> Result<Option<u64>> {
        self.db()
            .read(|sql| sql.scalar("SELECT seq FROM alert_cursor WHERE site = ?", vals![site]))
    }

    /// The lines the movements `first..=last` of `site` changed: their own,
    /// and those their transfers went to. Reads those movements by key.
    pub fn lines_of_movements(&self, site: &str, first: u64, last: u64) -> Result<Vec<LineKey>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT kind, location, sku, counterparty FROM movement WHERE site = ? AND seq BETWEEN ? AND ?",
                vals![site, first as i64, last as i64],
            )
        })?;
        let mut lines = BTreeSet::new();
        for r in rows {
            let (kind, location, sku): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if kind == jxc_shared::MovementKind::TransferOut.as_str()
                && let Some(Ok(to)) = r
                    .get::<Option<String>>(3)?
                    .map(|c| jxc_shared::GlobalLocation::parse("counterparty", &c))
            {
                lines.insert((to.site.to_string(), to.location.to_string(), sku.clone()));
            }
            lines.insert((site.to_owned(), location, sku));
        }
        Ok(lines.into_iter().collect())
    }

    /// Alerts, newest first: every one, or the open ones only; at most `limit`.
    pub fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRow>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT a.id, a.rule, a.kind, a.site, a.location, a.sku, a.state, a.raised_at, a.cleared_at,
                        a.figures, a.cleared_figures, a.detail,
                        (SELECT COUNT(*) FROM alert_outbox o WHERE o.alert = a.id AND o.delivered_at IS NULL),
                        (SELECT o.last_error FROM alert_outbox o
                         WHERE o.alert = a.id AND o.delivered_at IS NULL AND o.last_error IS NOT NULL
                         ORDER BY o.id DESC LIMIT 1),
                        a.acked_by, a.acked_at, a.ack_note
                 FROM alert a WHERE (?1 = 0 OR a.state = 'open')
                 ORDER BY a.raised_at DESC, a.id DESC LIMIT ?2",
                vals![open_only, limit],
            )
        })?;
        let parse = |s: String| {
            serde_json::from_str(&s)
                .map_err(|e| HubError::Internal(format!("stored alert JSON does not read: {e}")))
        };
        rows.iter()
            .map(|r| {
                let state: String = r.get(6)?;
                Ok(AlertRow {
                    id: r.get(0)?,
                    rule: r.get(1)?,
                    kind: r.get(2)?,
                    site: r.get(3)?,
                    location: r.get(4)?,
                    sku: r.get(5)?,
                    state: if state == "open" {
                        AlertState::Open
                    } else {
                        AlertState::Cleared
                    },
                    raised_at: r.get(7)?,
                    cleared_at: r.get(8)?,
                    figures: parse(r.get(9)?)?,
                    cleared_figures: r.get::<Option<String>>(10)?.map(parse).transpose()?,
                    detail: parse(r.get(11)?)?,
                    undelivered: r.get(12)?,
                    last_error: r.get(13)?,
                    acked_by: r.get(14)?,
                    acked_at: r.get(15)?,
                    ack_note: r.get(16)?,
                })
            })
            .collect()
    }

    /// Acknowledges the open alert `id` for `by`, with `note`: the alert
    /// stays open until its condition clears, but the planners see that
    /// someone is on it. Refused if it is unknown (404), has cleared, or
    /// was acknowledged already (409, naming by whom).
    pub fn ack_alert(&mut self, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<()> {
        self.db().write(|sql| {
            let n = sql.exec(
                "UPDATE alert SET acked_by = ?, acked_at = ?, ack_note = ?
                 WHERE id = ? AND state = 'open' AND acked_by IS NULL",
                vals![by, now_text(now), note, id],
            )?;
            if n == 1 {
                return Ok(());
            }
            let found = sql.query("SELECT state, acked_by FROM alert WHERE id = ?", vals![id])?;
            let Some(r) = found.first() else {
                return Err(HubError::NotFound(format!(
                    "alert {id} is not known to the hub"
                )));
            };
            let (state, acked): (String, Option<String>) = (r.get(0)?, r.get(1)?);
            Err(HubError::Conflict(match acked {
                Some(who) => format!("alert {id} was acknowledged already, by {who}"),
                None => format!("alert {id} is {state}: only an open alert is acknowledged"),
            }))
        })
    }

    /// Claims up to `limit` due messages for `worker` until `lease_until`.
    /// Safe with several workers on one database: a message is claimed by
    /// one until its lease ends, and a worker that died releases its claims
    /// when their leases do.
    pub fn claim_outbox(
        &mut self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let mut rows = self.db().write(|sql| {
            // The outer conditions are checked again on the row a waiting
            // PostgreSQL UPDATE finally sees, so a row another worker
            // claimed meanwhile is skipped; SKIP LOCKED spares the wait.
            let skip = if sql.backend() == super::Backend::Postgres {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            };
            sql.query(
                &format!(
                    "UPDATE alert_outbox SET claimed_by = ?1, claimed_until = ?2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM alert_outbox
                                  WHERE delivered_at IS NULL AND next_attempt_at <= ?3
                                    AND (claimed_until IS NULL OR claimed_until < ?3)
                                  ORDER BY id LIMIT ?4{skip})
                       AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?3)
                     RETURNING id, alert, channel, payload, attempts"
                ),
                vals![worker, now_text(lease_until), now_text(now), limit],
            )
        })?;
        rows.sort_by_key(|r| r.get::<i64>(0).unwrap_or(0));
        rows.iter()
            .map(|r| {
                let channel: String = r.get(2)?;
                Ok(OutboxMessage {
                    id: r.get(0)?,
                    alert: r.get(1)?,
                    channel: if channel == "email" {
                        Channel::Email
                    } else {
                        Channel::Webhook
                    },
                    payload: r.get(3)?,
                    attempts: r.get(4)?,
                })
            })
            .collect()
    }

    /// Marks a message delivered.
    pub fn outbox_delivered(&mut self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "UPDATE alert_outbox SET delivered_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL
                 WHERE id = ? AND delivered_at IS NULL",
                vals![now_text(now), id],
            )
        })?;
        Ok(())
    }

    /// Forgets messages delivered before `before` (the alerts stay).
    pub fn purge_delivered(&mut self, before: DateTime<Utc>) -> Result<u64> {
        self.db().write(|sql| {
            sql.exec(
                "DELETE FROM alert_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                vals![now_text(before)],
            )
        })
    }

    /// Records a failed attempt of `worker`'s and when to try again.
    pub fn outbox_failed(
        &mut self,
        id: i64,
        worker: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        self.db().write(|sql| {
            sql.exec(
                "UPDATE alert_outbox SET last_error = ?, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL
                 WHERE id = ? AND claimed_by = ? AND delivered_at IS NULL",
                vals![error, now_text(next_attempt_at), id, worker],
            )
        })?;
        Ok(())
    }

    /// Messages not yet delivered, for operators.
    pub fn outbox_pending(&self) -> Result<Vec<PendingMessage>> {
        let rows = self.db().read(|sql| {
            sql.query(
                "SELECT id, alert, channel, attempts, next_attempt_at, last_error FROM alert_outbox
                 WHERE delivered_at IS NULL ORDER BY id",
                vals![],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(PendingMessage {
                    id: r.get(0)?,
                    alert: r.get(1)?,
                    channel: r.get(2)?,
                    attempts: r.get(3)?,
                    next_attempt_at: r.get(4)?,
                    last_error: r.get(5)?,
                })
            })
            .collect()
    }
}

fn check_scope(sql: &mut Sql<'_>, s: &Scope) -> Result<()> {
    check_known(
        sql,
        &[
            ("site", &s.site, "SELECT id FROM site"),
            ("region", &s.region, "SELECT DISTINCT region FROM site"),
            (
                "category",
                &s.category,
                "SELECT DISTINCT category FROM product",
            ),
            (
                "sku",
                &s.sku,
                "SELECT sku FROM product UNION SELECT DISTINCT sku FROM balance",
            ),
        ],
    )
    // Refused as invalid input (exit 3, HTTP 400), not as a missing thing.
    .map_err(|e| match e {
        HubError::UnknownName(m) => HubError::Invalid(m),
        e => e,
    })
}

/// `(?, ?, …)` with `n` placeholders.
fn in_list(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

fn micro(v: i64) -> Decimal {
    Decimal::new(v, 6).normalize()
}

/// Region, kind and last news of the given sites, or of all.
fn site_facts(
    sql: &mut Sql<'_>,
    only: Option<&BTreeSet<&str>>,
) -> Result<std::collections::BTreeMap<String, SiteFacts>> {
    let rows = sql.query(
        "SELECT id, region, kind, COALESCE(last_sync_at, enrolled_at), revoked_at FROM site",
        vals![],
    )?;
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        let id: String = r.get(0)?;
        if only.is_some_and(|o| !o.contains(id.as_str())) {
            continue;
        }
        let revoked: Option<String> = r.get(4)?;
        out.insert(
            id,
            SiteFacts {
                region: r.get(1)?,
                kind: r.get(2)?,
                heard_at: if revoked.is_some() { None } else { r.get(3)? },
            },
        );
    }
    Ok(out)
}

/// Decides the line rules on each line, reading its newest on hand and in
/// transit, and its open alerts.
fn evaluate_lines(
    sql: &mut Sql<'_>,
    rules: &[&Rule],
    lines: &[LineKey],
    policy: Option<&HashMap<LineKey, PolicyFigures>>,
    facts: &std::collections::BTreeMap<String, SiteFacts>,
    now: DateTime<Utc>,
    out: &mut Evaluated,
) -> Result<()> {
    let mut by_site: std::collections::BTreeMap<&str, Vec<&LineKey>> = Default::default();
    for l in lines {
        by_site.entry(l.0.as_str()).or_default().push(l);
    }
    let skus: BTreeSet<&str> = lines.iter().map(|l| l.2.as_str()).collect();
    let skus: Vec<&str> = skus.into_iter().collect();
    let mut categories: HashMap<String, String> = HashMap::new();
    for chunk in skus.chunks(IN_CHUNK) {
        let params: Vec<Value> = chunk.iter().map(|k| Value::Text((*k).to_owned())).collect();
        for r in sql.query(
            &format!(
                "SELECT sku, category FROM product WHERE sku IN {}",
                in_list(chunk.len())
            ),
            &params,
        )? {
            categories.insert(r.get(0)?, r.get(1)?);
        }
    }
    for (site, site_lines) in by_site {
        let Some(f) = facts.get(site) else { continue };
        let skus: BTreeSet<&str> = site_lines.iter().map(|l| l.2.as_str()).collect();
        let skus: Vec<&str> = skus.into_iter().collect();
        let mut on_hand: HashMap<(String, String), Decimal> = HashMap::new();
        let mut in_transit: HashMap<(String, String), Decimal> = HashMap::new();
        let mut open: HashMap<(String, String, String), Open> = HashMap::new();
        for chunk in skus.chunks(IN_CHUNK) {
            let mut params = vec![Value::Text(site.to_owned())];
            params.extend(chunk.iter().map(|k| Value::Text((*k).to_owned())));
            let list = in_list(chunk.len());
            for r in sql.query(
                &format!(
                    "SELECT location, sku, CAST(SUM(qty) AS BIGINT) FROM balance
                     WHERE site = ? AND sku IN {list} GROUP BY location, sku"
                ),
                &params,
            )? {
                on_hand.insert((r.get(0)?, r.get(1)?), micro(r.get(2)?));
            }
            for r in sql.query(
                &format!(
                    "SELECT to_location, sku, CAST(SUM(qty - received_qty - returned_qty) AS BIGINT)
                     FROM transfer WHERE to_site = ? AND sku IN {list} AND qty > received_qty + returned_qty
                     GROUP BY to_location, sku"
                ),
                &params,
            )? {
                in_transit.insert((r.get(0)?, r.get(1)?), micro(r.get(2)?));
            }
            for r in sql.query(
                &format!(
                    "SELECT location, sku, rule, id, raised_at FROM alert
                     WHERE state = 'open' AND site = ? AND sku IN {list}"
                ),
                &params,
            )? {
                open.insert(
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    Open {
                        id: r.get(3)?,
                        raised_at: r.get(4)?,
                    },
                );
            }
        }
        for line in site_lines {
            let (_, location, sku) = line;
            let key = (location.clone(), sku.clone());
            let figures = Figures::Line {
                on_hand: on_hand.get(&key).copied(),
                in_transit: in_transit.get(&key).copied().unwrap_or_default(),
                policy: policy.and_then(|p| p.get(line)).copied(),
            };
            let subject = Subject {
                site,
                region: &f.region,
                site_kind: &f.kind,
                category: categories.get(sku).map(String::as_str),
                sku: Some(sku),
            };
            for rule in rules {
                if !rule.scope.covers(&subject) {
                    continue;
                }
                let held = open.get(&(location.clone(), sku.clone(), rule.id.clone()));
                let at = format!("{site}/{location} {sku}");
                apply(
                    sql,
                    rule,
                    (site, location, sku),
                    &at,
                    &figures,
                    held,
                    now,
                    out,
                )?;
            }
        }
    }
    Ok(())
}

/// Decides site rules for one site.
fn evaluate_site(
    sql: &mut Sql<'_>,
    rules: &[&Rule],
    site: &str,
    f: &SiteFacts,
    figures: &Figures,
    now: DateTime<Utc>,
    out: &mut Evaluated,
) -> Result<()> {
    let subject = Subject {
        site,
        region: &f.region,
        site_kind: &f.kind,
        category: None,
        sku: None,
    };
    let mut open: HashMap<String, Open> = HashMap::new();
    for r in sql.query(
        "SELECT rule, id, raised_at FROM alert
         WHERE state = 'open' AND site = ? AND location = '' AND sku = ''",
        vals![site],
    )? {
        open.insert(
            r.get(0)?,
            Open {
                id: r.get(1)?,
                raised_at: r.get(2)?,
            },
        );
    }
    for rule in rules {
        if rule.scope.covers(&subject) {
            let held = open.get(&rule.id);
            apply(sql, rule, (site, "", ""), site, figures, held, now, out)?;
        }
    }
    Ok(())
}

/// Writes what [`decide`] decides for one rule at one line: the alert
/// change and a message per channel, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
fn apply(
    sql: &mut Sql<'_>,
    rule: &Rule,
    (site, location, sku): (&str, &str, &str),
    at: &str,
    figures: &Figures,
    open: Option<&Open>,
    now: DateTime<Utc>,
    out: &mut Evaluated,
) -> Result<()> {
    let now_t = now_text(now);
    let (event, id, raised_at, cleared_at) = match decide(rule, figures, open.is_some()) {
        Decision::Nothing => return Ok(()),
        Decision::Raise => {
            let detail = json!({
                "message": message(&rule.condition, at, figures, false),
                "condition": rule.condition.kind(),
                "parameter": rule.condition.parameter(),
                "scope": rule.scope,
                "rule_origin": rule.origin.as_str(),
            });
            // A concurrent raise of the same alert (never on one database
            // under the evaluation lock, but cheap to be sure of) adds nothing.
            let id: Option<i64> = sql.scalar(
                "INSERT INTO alert (rule, kind, site, location, sku, state, raised_at, figures, detail)
                 VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)
                 ON CONFLICT (site, location, sku, rule) WHERE state = 'open' DO NOTHING
                 RETURNING id",
                vals![
                    rule.id,
                    rule.condition.kind(),
                    site,
                    location,
                    sku,
                    now_t,
                    figures.to_json().to_string(),
                    detail.to_string()
                ],
            )?;
            let Some(id) = id else { return Ok(()) };
            out.raised += 1;
            ("raised", id, now_t.clone(), None)
        }
        Decision::Clear => {
            let Some(o) = open else { return Ok(()) };
            let n = sql.exec(
                "UPDATE alert SET state = 'cleared', cleared_at = ?, cleared_figures = ? WHERE id = ? AND state = 'open'",
                vals![now_t, figures.to_json().to_string(), o.id],
            )?;
            if n == 0 {
                return Ok(());
            }
            out.cleared += 1;
            ("cleared", o.id, o.raised_at.clone(), Some(now_t.clone()))
        }
    };
    let payload = json!({
        "event": event,
        "alert": {
            "id": id,
            "rule": rule.id,
            "kind": rule.condition.kind(),
            "site": site,
            "location": location,
            "sku": sku,
            "state": if event == "raised" { "open" } else { "cleared" },
            "raised_at": raised_at,
            "cleared_at": cleared_at,
            "figures": figures.to_json(),
            "message": message(&rule.condition, at, figures, event == "cleared"),
        },
    })
    .to_string();
    for channel in rule.channels.names() {
        sql.exec(
            "INSERT INTO alert_outbox (alert, event, channel, payload, created_at, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            vals![id, event, channel, payload, now_t, now_t],
        )?;
    }
    Ok(())
}
