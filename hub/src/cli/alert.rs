//! `jxc-hub alert rule add|list|remove`, `jxc-hub alert outbox` and
//! `jxc-hub alerts`: the rules in force (hub.toml's and the database's),
//! the messages still to deliver, and the alerts themselves.

use super::{ListFormat, io_err, json, print_table};
use crate::alert::rules::{Channels, Condition, Origin, Rule, Scope};
use crate::config::{HubConfig, HubHome};
use crate::error::{HubError, Result};
use crate::http::views::{self, AlertRuleView, AlertView};
use crate::store::Store;
use clap::{Args, Subcommand};
use std::io::Write;

// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// Alert rules: those of hub.toml and those added here.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Alert messages not delivered yet, with their attempts and last error.
    Outbox {
        #[command(flatten)]
        format: ListFormat,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule to the database; a running hub applies it from its next
    /// evaluation on.
    Add(RuleArgs),
    /// Every rule in force, and where each is defined.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Remove a rule added with `alert rule add`; its open alerts close.
    Remove { id: String },
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// The rule's name: letters, digits, '.', '_', '-'
    pub id: String,
    /// below-reorder-point, stock-out, over-days-of-supply (with
    /// --max-days), stale (with --hours) or quarantine-grew
    #[arg(long)]
    pub kind: String,
    /// over-days-of-supply: alert above this many days of supply
    #[arg(long, value_name = "DAYS", allow_hyphen_values = true)]
    pub max_days: Option<String>,
    /// stale: alert when a site has not synced for more than this
    #[arg(long, value_name = "HOURS", allow_hyphen_values = true)]
    pub hours: Option<String>,
    /// Only this site
    #[arg(long)]
    pub site: Option<String>,
    /// Only sites of this region
    #[arg(long)]
    pub region: Option<String>,
    /// Only sites of this tier
    #[arg(long, value_name = "hq|branch|dealer")]
    pub site_kind: Option<String>,
    /// Only SKUs of this catalog category
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub sku: Option<String>,
    /// webhook, email, or webhook,email
    #[arg(long, value_name = "CHANNEL[,CHANNEL]")]
    pub channels: String,
}

impl RuleArgs {
    /// The rule, checked; every refusal names its field and value.
    pub fn rule(&self) -> Result<Rule> {
        let hours = self
            .hours
            .as_deref()
            .map(|h| {
                h.trim().parse::<i64>().map_err(|_| {
                    HubError::Invalid(format!(
                        "hours {h:?} is not valid: use a whole number of hours from 1 to 8760"
                    ))
                })
            })
            .transpose()?;
        let condition = Condition::parse(&self.kind, self.max_days.as_deref(), hours)?;
        Rule::new(
            &self.id,
            condition,
            Scope {
                site: self.site.clone(),
                region: self.region.clone(),
                site_kind: self.site_kind.clone(),
                category: self.category.clone(),
                sku: self.sku.clone(),
            },
            Channels::parse(self.channels.split(','))?,
            Origin::Database,
        )
    }
}

pub fn run(home: &HubHome, config: &HubConfig, cmd: AlertCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        AlertCmd::Rule(RuleCmd::Add(args)) => {
            let rule = args.rule()?;
            let mut store = Store::open(&home.db, false)?;
            crate::alert::add_rule(&mut store, &config.alerts, &rule)?;
            writeln!(
                out,
                "added alert rule {} ({} {}); a running hub applies it from its next evaluation",
                rule.id,
                rule.condition.kind(),
                rule.scope.describe()
            )
            .map_err(io_err)
        }
        AlertCmd::Rule(RuleCmd::List { format }) => {
            let store = Store::open(&home.db, false)?;
            let rules = crate::alert::rules_in_force(&store, &config.alerts)?;
            if format.json {
                return json(out, &views::all::<_, AlertRuleView>(rules));
            }
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.condition.kind().to_owned(),
                        r.condition.parameter(),
                        r.scope.describe(),
                        r.channels.names().join(","),
                        r.origin.as_str().to_owned(),
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &["id", "kind", "parameter", "scope", "channels", "from"],
                &rows,
            )
        }
        AlertCmd::Rule(RuleCmd::Remove { id }) => {
            let mut store = Store::open(&home.db, false)?;
            let closed = crate::alert::remove_rule(&mut store, &config.alerts, &id)?;
            writeln!(
                out,
                "removed alert rule {id}{}",
                if closed > 0 {
                    format!("; closed its {closed} open alert(s)")
                } else {
                    String::new()
                }
            )
            .map_err(io_err)
        }
        AlertCmd::Outbox { format } => {
            let rows = Store::open(&home.db, false)?.outbox_pending()?;
            if format.json {
                let rows: Vec<serde_json::Value> = rows
                    .into_iter()
                    .map(|p| {
                        serde_json::json!({ "id": p.id, "alert": p.alert, "channel": p.channel,
                            "attempts": p.attempts, "next_attempt_at": p.next_attempt_at,
                            "last_error": p.last_error })
                    })
                    .collect();
                return json(out, &rows);
            }
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.alert.to_string(),
                        p.channel,
                        p.attempts.to_string(),
                        p.next_attempt_at,
                        p.last_error.unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                out,
                format,
                &[
                    "id",
                    "alert",
                    "channel",
                    "attempts",
                    "next attempt",
                    "last error",
                ],
                &rows,
            )
        }
    }
}

/// `jxc-hub alerts [--open]`.
pub fn alerts(home: &HubHome, open: bool, format: ListFormat, out: &mut dyn Write) -> Result<()> {
    let rows = Store::open(&home.db, false)?.alerts(open, 10_000)?;
    let rows = views::all::<_, AlertView>(rows);
    if format.json {
        return json(out, &rows);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                match a.state {
                    crate::store::AlertState::Open => "open".into(),
                    crate::store::AlertState::Cleared => "cleared".into(),
                },
                a.rule.clone(),
                a.kind.clone(),
                a.site.clone(),
                a.location.clone(),
                a.sku.clone(),
                a.raised_at.clone(),
                a.cleared_at.clone().unwrap_or_default(),
                a.message.clone(),
                if a.undelivered > 0 {
                    format!(
                        "{} pending{}",
                        a.undelivered,
                        a.last_error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print_table(
        out,
        format,
        &[
            "id",
            "state",
            "rule",
            "kind",
            "site",
            "location",
            "sku",
            "raised_at",
            "cleared_at",
            "message",
            "delivery",
        ],
        &table,
    )
}
