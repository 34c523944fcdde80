//! The `[alerts]` section of hub.toml: rules kept with the configuration,
//! and where alerts are delivered (`[alerts.webhook]`, `[alerts.smtp]`).

use super::rules::{Channels, Condition, Origin, Rule, Scope};
use crate::error::{HubError, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `[[alerts.rules]]`.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

/// One `[[alerts.rules]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub id: String,
    /// below-reorder-point, stock-out, over-days-of-supply, stale or
    /// quarantine-grew.
    pub kind: String,
    /// over-days-of-supply: the days of supply above which a line alerts.
    #[serde(default)]
    pub max_days: Option<Days>,
    /// stale: the hours without a sync after which a site alerts.
    #[serde(default)]
    pub hours: Option<i64>,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// The site tier: hq, branch or dealer.
    #[serde(default)]
    pub site_kind: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    /// "webhook", "email" or both.
    pub channels: Vec<String>,
}

/// A number of days: an integer, or a decimal in quotes ("45.5"), so no
/// float is ever read.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Days {
    Whole(i64),
    Text(String),
}

impl Days {
    fn text(&self) -> String {
        match self {
            Days::Whole(n) => n.to_string(),
            Days::Text(s) => s.clone(),
        }
    }
}

/// `[alerts.webhook]`: alerts are POSTed here as JSON, signed with
/// `X-Jxc-Signature: sha256=<hex HMAC-SHA256 of the body with secret>`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on this machine or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// `[alerts.smtp]`: alerts are e-mailed through this server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

impl AlertsConfig {
    /// The rules of the file, checked; the first bad one is named.
    pub fn rules(&self) -> Result<Vec<Rule>> {
        let mut seen = std::collections::HashSet::new();
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rule = r.rule().map_err(|e| {
                    HubError::Invalid(format!("alerts.rules[{i}] (id {:?}): {e}", r.id))
                })?;
                if !seen.insert(rule.id.clone()) {
                    return Err(HubError::Invalid(format!(
                        "alerts.rules[{i}]: id {:?} is used by an earlier rule",
                        r.id
                    )));
                }
                Ok(rule)
            })
            .collect()
    }

    /// Checks the section: every rule, each channel a rule names is
    /// configured, the webhook URL and the SMTP addresses.
    pub fn check(&self) -> Result<()> {
        let rules = self.rules()?;
        if let Some(w) = &self.webhook {
            check_url(&w.url)?;
            if w.secret.len() < 16 {
                return Err(HubError::Invalid(
                    "alerts.webhook.secret is too short: use at least 16 characters".into(),
                ));
            }
        }
        if let Some(s) = &self.smtp {
            if s.host.trim().is_empty() {
                return Err(HubError::Invalid(
                    "alerts.smtp.host \"\" is not valid: name the SMTP server".into(),
                ));
            }
            check_mailbox("alerts.smtp.from", &s.from)?;
            if s.to.is_empty() {
                return Err(HubError::Invalid(
                    "alerts.smtp.to is empty: name at least one recipient".into(),
                ));
            }
            for to in &s.to {
                check_mailbox("alerts.smtp.to", to)?;
            }
            if s.username.is_some() != s.password.is_some() {
                return Err(HubError::Invalid(
                    "alerts.smtp: give both username and password, or neither".into(),
                ));
            }
        }
        for r in &rules {
            self.check_channels(&r.id, r.channels)?;
        }
        Ok(())
    }

    /// Refuses a rule whose channel has no delivery configured.
    pub fn check_channels(&self, id: &str, channels: Channels) -> Result<()> {
        if channels.webhook && self.webhook.is_none() {
            return Err(HubError::Invalid(format!(
                "rule {id:?} sends to the webhook, but hub.toml has no [alerts.webhook] (url, secret)"
            )));
        }
        if channels.email && self.smtp.is_none() {
            return Err(HubError::Invalid(format!(
                "rule {id:?} sends e-mail, but hub.toml has no [alerts.smtp] (host, from, to)"
            )));
        }
        Ok(())
    }
}

impl RuleConfig {
    fn rule(&self) -> Result<Rule> {
        let condition = Condition::parse(
            &self.kind,
            self.max_days.as_ref().map(Days::text).as_deref(),
            self.hours,
        )?;
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
            Channels::parse(self.channels.iter().map(String::as_str))?,
            Origin::Config,
        )
    }
}

/// A webhook URL: http or https, with a host.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(HubError::Invalid(format!(
            "alerts.webhook.url {url:?} is not valid: {why}"
        )))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("use http://host[:port]/path or https://…");
    };
    if scheme != "https" && scheme != "http" {
        return bad("use http or https");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return bad("it names no host");
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return bad("its port is not a number from 0 to 65535");
    }
    Ok(())
}

fn check_mailbox(field: &str, addr: &str) -> Result<()> {
    addr.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| HubError::Invalid(format!("{field} {addr:?} is not a mail address: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig> {
        let c: AlertsConfig = toml::from_str(text).map_err(|e| HubError::Invalid(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn a_full_section_parses() {
        let c = parse(
            r#"
            [[rules]]
            id = "dealer-out"
            kind = "stock-out"
            site_kind = "dealer"
            channels = ["webhook", "email"]
            [[rules]]
            id = "silent"
            kind = "stale"
            hours = 6
            channels = ["webhook"]
            [webhook]
            url = "https://hooks.example.com/jxc"
            secret = "0123456789abcdef"
            [smtp]
            host = "smtp.example.com"
            from = "jxc <jxc@example.com>"
            to = ["planner@example.com"]
            tls = "tls"
            port = 465
            "#,
        )
        .unwrap();
        let rules = c.rules().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].scope.site_kind.as_deref(), Some("dealer"));
        assert_eq!(c.smtp.unwrap().tls, SmtpTls::Tls);
    }

    #[test]
    fn bad_entries_name_field_and_value() {
        let e = |t: &str| parse(t).unwrap_err().to_string();
        assert!(
            e("[[rules]]\nid = \"a\"\nkind = \"stok-out\"\nchannels = [\"webhook\"]")
                .contains("kind \"stok-out\"")
        );
        assert!(
            e("[[rules]]\nid = \"a\"\nkind = \"stock-out\"\nchannels = [\"webhook\"]")
                .contains("no [alerts.webhook]")
        );
        assert!(
            e("[webhook]\nurl = \"ftp://x\"\nsecret = \"0123456789abcdef\"")
                .contains("alerts.webhook.url \"ftp://x\"")
        );
        assert!(
            e("[webhook]\nurl = \"https://\"\nsecret = \"0123456789abcdef\"").contains("no host")
        );
        assert!(
            e("[[rules]]\nid = \"a\"\nkind = \"stale\"\nhours = -1\nchannels = [\"email\"]")
                .contains("hours -1")
        );
        assert!(
            e("[smtp]\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]")
                .contains("alerts.smtp.from")
        );
        assert!(
            e("[smtp]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = \"ssl\"")
                .contains("ssl")
        );
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("https://user@example.com/x?y=1").is_ok());
        assert!(check_url("https://example.com:99999/").is_err());
        assert!(check_url("example.com/hook").is_err());
    }
}
