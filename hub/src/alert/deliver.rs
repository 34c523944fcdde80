//! Delivery of alerts from the outbox: the webhook (a signed JSON POST) and
//! e-mail over SMTP. One [`AlertWorker`] per hub process claims due
//! messages with a lease (so several processes on one PostgreSQL database
//! never send one message twice at once, and a process that died lets its
//! claims go), sends them, and marks each delivered or due again later with
//! exponential backoff. It also runs the `stale` rules once a minute.

use super::config::{SmtpConfig, SmtpTls, WebhookConfig};
use crate::error::{HubError, Result};
use crate::http::api::{AppState, blocking, lock};
use crate::store::{Channel, OutboxMessage};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// How often due messages are looked for (besides being woken by a new one).
const POLL: Duration = Duration::from_secs(5);
/// How often the `stale` rules run.
const FRESHNESS_EVERY: Duration = Duration::from_secs(60);
/// How long a claimed message is this worker's alone.
const LEASE_SECS: i64 = 120;
/// Messages claimed at once.
const CLAIM: u32 = 32;
/// Delivered messages are kept this long, for `alert outbox` and audits.
const KEEP_DELIVERED_DAYS: i64 = 30;
/// One attempt's limit, well inside the lease.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// The signature header's value: `sha256=` and the hex HMAC-SHA256 of
/// `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// When attempt `attempts + 1` is due: 30 s after the first failure,
/// doubling to at most an hour.
pub fn backoff(attempts: u32) -> chrono::Duration {
    let secs = 30i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(20));
    chrono::Duration::seconds(secs.min(3600))
}

/// POSTs one message to the webhook. `Err` says why, for `last_error`.
pub async fn send_webhook(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    delivery: i64,
    body: &str,
) -> std::result::Result<(), String> {
    let res = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-jxc-signature", signature(&hook.secret, body.as_bytes()))
        .header("x-jxc-delivery", delivery.to_string())
        .body(body.to_owned())
        .timeout(SEND_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("webhook {}: {e}", hook.url))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook {} answered {}", hook.url, res.status()))
    }
}

/// The subject and text of an alert's e-mail, from its message JSON.
pub fn email_text(payload: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let a = &v["alert"];
    let s = |k: &str| a[k].as_str().unwrap_or("").to_owned();
    let event = v["event"].as_str().unwrap_or("raised");
    let subject = format!(
        "[jxc] {}{}: {}",
        if event == "cleared" { "cleared " } else { "" },
        s("kind"),
        [s("site"), s("location"), s("sku")]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut body = format!("{}\n\n", s("message"));
    body.push_str(&format!(
        "rule: {}\nraised at: {}\n",
        s("rule"),
        s("raised_at")
    ));
    if event == "cleared" {
        body.push_str(&format!("cleared at: {}\n", s("cleared_at")));
    }
    if let Some(figures) = a["figures"].as_object() {
        body.push_str("\nfigures:\n");
        for (k, v) in figures {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            body.push_str(&format!("  {k}: {v}\n"));
        }
    }
    (subject, body)
}

/// Sends one message as e-mail through `smtp`.
pub async fn send_email(smtp: &SmtpConfig, payload: &str) -> std::result::Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let (subject, text) = email_text(payload);
    let mut msg = Message::builder()
        .from(
            smtp.from
                .parse()
                .map_err(|e| format!("alerts.smtp.from: {e}"))?,
        )
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &smtp.to {
        msg = msg.to(to
            .parse()
            .map_err(|e| format!("alerts.smtp.to {to}: {e}"))?);
    }
    let msg = msg.body(text).map_err(|e| format!("e-mail: {e}"))?;
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| format!("smtp {}: {e}", smtp.host))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| format!("smtp {}: {e}", smtp.host))?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SEND_TIMEOUT));
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp {}:{}: {e}", smtp.host, smtp.port))
}

/// The hub's alert loop: delivers the outbox and runs the freshness rules.
pub struct AlertWorker {
    hub: AppState,
    /// This worker's name in `claimed_by`.
    id: String,
    client: reqwest::Client,
}

impl AlertWorker {
    pub fn new(hub: AppState) -> Result<AlertWorker> {
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        let client = reqwest::Client::builder()
            .user_agent(concat!("jxc-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubError::Internal(format!("webhook client: {e}")))?;
        Ok(AlertWorker {
            hub,
            id: format!("{}-{}", std::process::id(), hex::encode(id)),
            client,
        })
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut poll = tokio::time::interval(POLL);
        let mut fresh = tokio::time::interval(FRESHNESS_EVERY);
        let mut purge = tokio::time::interval(std::time::Duration::from_secs(3600));
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        fresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = poll.tick() => {}
                _ = self.hub.alert_wake.notified() => {}
                _ = purge.tick() => {
                    let h = self.hub.clone();
                    let before = Utc::now() - chrono::Duration::days(KEEP_DELIVERED_DAYS);
                    if let Err(e) = blocking(move || lock(&h.store).purge_delivered(before)).await {
                        tracing::warn!(error = %e, "delivered alert messages not purged");
                    }
                }
                _ = fresh.tick() => {
                    if let Err(e) = self.check_freshness(Utc::now()).await {
                        tracing::error!(error = %e, "alert freshness check failed");
                    }
                }
            }
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.deliver_due(Utc::now()).await {
                tracing::error!(error = %e, "alert delivery failed");
            }
        }
    }

    /// Runs the `stale` rules over every site at `now`.
    pub async fn check_freshness(&self, now: DateTime<Utc>) -> Result<()> {
        let h = self.hub.clone();
        let changed = blocking(move || {
            let mut store = lock(&h.store);
            super::check_freshness(&mut store, &h.config, now)
        })
        .await?;
        if changed.raised + changed.cleared > 0 {
            self.hub.alert_wake.notify_one();
        }
        Ok(())
    }

    /// Claims the messages due at `now`, sends each, and records the
    /// outcome; returns how many were delivered. A message whose attempt
    /// fails is due again after [`backoff`].
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize> {
        let (h, id) = (self.hub.clone(), self.id.clone());
        let claimed = blocking(move || {
            let lease = now + chrono::Duration::seconds(LEASE_SECS);
            lock(&h.store).claim_outbox(&id, now, lease, CLAIM)
        })
        .await?;
        let mut delivered = 0;
        for m in claimed {
            let outcome = self.send(&m).await;
            let (h, id) = (self.hub.clone(), self.id.clone());
            let done = Utc::now();
            match outcome {
                Ok(()) => {
                    delivered += 1;
                    blocking(move || lock(&h.store).outbox_delivered(m.id, done)).await?;
                }
                Err(why) => {
                    tracing::warn!(message = m.id, alert = m.alert, attempts = m.attempts, error = %why, "alert not delivered; will retry");
                    let next = done + backoff(m.attempts);
                    blocking(move || lock(&h.store).outbox_failed(m.id, &id, &why, next)).await?;
                }
            }
        }
        Ok(delivered)
    }

    async fn send(&self, m: &OutboxMessage) -> std::result::Result<(), String> {
        let alerts = &self.hub.config.alerts;
        match m.channel {
            Channel::Webhook => match &alerts.webhook {
                Some(hook) => send_webhook(&self.client, hook, m.id, &m.payload).await,
                None => Err("hub.toml has no [alerts.webhook] any more".into()),
            },
            Channel::Email => match &alerts.smtp {
                Some(smtp) => send_email(smtp, &m.payload).await,
                None => Err("hub.toml has no [alerts.smtp] any more".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let secs: Vec<i64> = [1, 2, 3, 4, 8, 30]
            .iter()
            .map(|&a| backoff(a).num_seconds())
            .collect();
        assert_eq!(secs, [30, 60, 120, 240, 3600, 3600]);
    }

    #[test]
    fn email_says_what_and_where() {
        let payload = serde_json::json!({
            "event": "cleared",
            "alert": { "kind": "stock-out", "site": "BJ01", "location": "main", "sku": "茶-1",
                       "rule": "out", "raised_at": "t0", "cleared_at": "t1",
                       "message": "cleared: BJ01/main 茶-1 is out of stock (on hand 0)",
                       "figures": { "on_hand": "5" } }
        })
        .to_string();
        let (subject, body) = email_text(&payload);
        assert_eq!(subject, "[jxc] cleared stock-out: BJ01 main 茶-1");
        assert!(body.contains("cleared at: t1"), "{body}");
        assert!(body.contains("on_hand: 5"), "{body}");
    }
}
