//! Sync with the hub: enrollment, one sync session (driven by the pure
//! state machine in `jxc_shared::sync`), and the `run` worker that syncs on
//! a timer and soon after local writes, backing off while the hub is away.

use crate::error::{AgentError, Result};
use crate::store::Store;
use crate::tls;
use jxc_shared::docs::DocId;
use jxc_shared::protocol::{
    self, CONTENT_TYPE, EnrollRequest, EnrollResponse, EnrollToken, PROTOCOL_HEADER,
    PROTOCOL_VERSION, Quarantined, SyncRequest, SyncResponse,
};
use jxc_shared::protocol::{Directory, DocsRequest, DocsResponse, MAX_DOCS_RESPONSE_BYTES};
use jxc_shared::sync::{Next, Session};
use rand::Rng;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY_FILE: &str = "agent.key";
pub const CERT_FILE: &str = "agent.pem";
pub const CA_FILE: &str = "hub-ca.pem";

pub type SharedStore = Arc<Mutex<Store>>;

use crate::clock::now;

/// Runs store work off the async threads.
pub async fn with_store<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap_or_else(|p| p.into_inner())))
        .await
        .map_err(|e| AgentError::Io {
            path: PathBuf::from("<sync task>"),
            source: std::io::Error::other(e),
        })?
}

/// The whole cause chain of an error, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cur = c.source();
    }
    s
}

fn unreachable(url: &str, e: reqwest::Error) -> AgentError {
    AgentError::Unreachable(format!("{url}: {}", chain(&e)))
}

/// Turns a non-success answer into the hub's own one-line message.
async fn refusal(url: &str, resp: reqwest::Response) -> AgentError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    if status.is_server_error() {
        AgentError::Unreachable(format!("{url}: the hub answered {status}: {message}"))
    } else {
        AgentError::HubRefused(format!("{message} ({status})"))
    }
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(|e| AgentError::io(path, e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| AgentError::io(path, e))
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AgentError::DataDir(format!(
                "{} is missing: enroll first with `jxc-agent enroll --hub URL --token T`",
                path.display()
            ))
        } else {
            AgentError::io(path, e)
        }
    })
}

fn tls_err(e: tls::TlsError) -> AgentError {
    match e {
        tls::TlsError::CaMismatch { .. } => AgentError::HubRefused(e.to_string()),
        tls::TlsError::Fetch { .. } => AgentError::Unreachable(e.to_string()),
        tls::TlsError::InvalidUrl(_) | tls::TlsError::InvalidFingerprint(_) => AgentError::Invalid(
            jxc_shared::DomainError::new("hub", e.to_string(), "use https://HOST:PORT"),
        ),
        other => AgentError::DataDir(other.to_string()),
    }
}

/// Enrolls this site with a hub: pins the hub's CA by the token's hash, makes
/// a key pair here, sends only the CSR, and stores the certificate it gets.
pub async fn enroll(
    store: &SharedStore,
    dir: &Path,
    url: &str,
    token: &str,
) -> Result<EnrollResponse> {
    let url = url.trim_end_matches('/').to_owned();
    let parsed = EnrollToken::parse(token)?;
    let (site, kind, region, actor) = with_store(store, |s| {
        let info = s.site();
        Ok((
            info.id.to_string(),
            info.kind.as_str().to_owned(),
            info.region.clone(),
            s.actor()?.to_hex_string(),
        ))
    })
    .await?;
    let ca_pem = tls::fetch_pinned_ca(&url, &parsed.ca_fingerprint)
        .await
        .map_err(tls_err)?;
    let (key_pem, csr_pem) = tls::new_key_and_csr(&site).map_err(tls_err)?;
    let http = tls::client(&ca_pem, None).map_err(tls_err)?;
    let body = serde_json::to_vec(&EnrollRequest {
        token: token.trim().to_owned(),
        csr_pem,
        doc_actor: Some(actor),
        // The hub compares these with the token before spending it, so a
        // token for another site, kind or region stays usable.
        site: Some(site.clone()),
        kind: Some(kind),
        region: (!region.is_empty()).then_some(region),
    })
    .expect("an enroll request always serializes");
    let resp = http
        .post(format!("{url}/v1/enroll"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(&url, e))?;
    if !resp.status().is_success() {
        return Err(refusal(&url, resp).await);
    }
    let bytes = resp.bytes().await.map_err(|e| unreachable(&url, e))?;
    let answer: EnrollResponse = serde_json::from_slice(&bytes).map_err(|e| {
        AgentError::HubRefused(format!("the hub's enrollment answer is not valid: {e}"))
    })?;
    if answer.site != site {
        return Err(AgentError::HubRefused(format!(
            "the token enrolls site {} but this ledger belongs to site {site}",
            answer.site
        )));
    }
    write_file(&dir.join(KEY_FILE), &key_pem, true)?;
    write_file(&dir.join(CERT_FILE), &answer.cert_pem, false)?;
    write_file(&dir.join(CA_FILE), &ca_pem, false)?;
    let when = now();
    with_store(store, move |s| s.set_hub(&url, when)).await?;
    Ok(answer)
}

/// What asking for the directory brought.
enum Fetched {
    New(Directory, Option<String>),
    Unchanged,
    NotServed,
}

/// A connection to the hub this site enrolled with.
pub struct HubClient {
    http: reqwest::Client,
    url: String,
}

impl HubClient {
    /// Builds the client from the files enrollment left in the data dir.
    pub fn from_data_dir(dir: &Path, url: &str) -> Result<HubClient> {
        let ca = read_file(&dir.join(CA_FILE))?;
        let cert = read_file(&dir.join(CERT_FILE))?;
        let key = read_file(&dir.join(KEY_FILE))?;
        let http = tls::client(&ca, Some((&cert, &key))).map_err(tls_err)?;
        Ok(HubClient {
            http,
            url: url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs one protocol message and decodes the answer, which may inflate
    /// to at most `limit` bytes.
    async fn post<Req: serde::Serialize, Resp: for<'de> serde::Deserialize<'de>>(
        &self,
        path: &str,
        what: &'static str,
        req: &Req,
        limit: usize,
    ) -> Result<Resp> {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .body(protocol::encode(req))
            .send()
            .await
            .map_err(|e| unreachable(&self.url, e))?;
        if !resp.status().is_success() {
            return Err(refusal(&self.url, resp).await);
        }
        let body = resp.bytes().await.map_err(|e| unreachable(&self.url, e))?;
        protocol::decode_limited(what, &body, limit)
            .map_err(|e| AgentError::HubRefused(format!("the hub's answer is not valid: {e}")))
    }

    /// The hub's directory of sites, unless it is the one named by `etag`.
    async fn directory(&self, etag: Option<&str>) -> Result<Fetched> {
        let mut req = self.http.get(format!("{}/v1/directory", self.url));
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.url, e))?;
        match resp.status() {
            reqwest::StatusCode::NOT_MODIFIED => return Ok(Fetched::Unchanged),
            // A hub older than the directory: nothing is known, so nothing
            // will be refused.
            reqwest::StatusCode::NOT_FOUND => return Ok(Fetched::NotServed),
            s if !s.is_success() => return Err(refusal(&self.url, resp).await),
            _ => {}
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map_err(|e| unreachable(&self.url, e))?;
        let dir = serde_json::from_slice(&body).map_err(|e| {
            AgentError::HubRefused(format!("the hub's directory is not valid: {e}"))
        })?;
        Ok(Fetched::New(dir, etag))
    }

    async fn sync(&self, req: &SyncRequest) -> Result<SyncResponse> {
        self.post("/v1/sync", "sync response", req, protocol::MAX_BATCH_BYTES)
            .await
    }

    async fn docs(&self, req: &DocsRequest) -> Result<DocsResponse> {
        self.post(
            "/v1/docs",
            "documents response",
            req,
            MAX_DOCS_RESPONSE_BYTES,
        )
        .await
    }
}

/// Rounds of document sync per session: the hub bounds each response, so a
/// new agent fetching a large catalog may need several.
const MAX_DOC_ROUNDS: u32 = 50;

/// What a document sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DocsReport {
    pub rounds: u32,
    pub changes_sent: u64,
    pub docs_updated: u64,
    pub refused: Vec<String>,
}

/// Syncs the shared documents: offers each the hub lacks changes of (and
/// the heads of those it only reads), merges what comes back, and records
/// the hub's heads, round after round until the hub has nothing more.
pub async fn sync_docs(store: &SharedStore, hub: &HubClient) -> Result<DocsReport> {
    let mut report = DocsReport::default();
    loop {
        let offers = with_store(store, |s| {
            s.synced_docs()?
                .into_iter()
                .map(|(id, writes)| s.doc_offer(&id, writes))
                .collect::<Result<Vec<_>>>()
        })
        .await?;
        report.changes_sent += offers.iter().map(|o| o.changes.len() as u64).sum::<u64>();
        let resp = hub.docs(&DocsRequest { offers }).await?;
        report.rounds += 1;
        for r in &resp.replies {
            if let Some(e) = &r.error {
                report.refused.push(format!("{}: {e}", r.doc));
            }
            for x in &r.refused {
                report.refused.push(format!("{}: {}", r.doc, x.reason));
            }
        }
        let more = resp.more;
        let updated = with_store(store, move |s| {
            let replies = resp
                .replies
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| {
                    let id = DocId::parse(&r.doc).map_err(|e| {
                        AgentError::HubRefused(format!(
                            "the hub answered for an unknown document: {e}"
                        ))
                    })?;
                    Ok((id, r))
                })
                .collect::<Result<Vec<_>>>()?;
            s.apply_doc_replies(&replies)
        })
        .await?;
        report.docs_updated += updated;
        if !more || report.rounds >= MAX_DOC_ROUNDS {
            break;
        }
    }
    for r in &report.refused {
        tracing::error!("the hub refused a document change: {r}");
    }
    Ok(report)
}

/// What one sync session did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub rounds: u32,
    pub sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: Vec<Quarantined>,
    pub incoming: u64,
    pub hwm: u64,
    pub pending: u64,
    pub docs: DocsReport,
}

/// Runs one sync session: rounds until the hub holds everything this
/// ledger had when the session started. Every round is safe to repeat.
pub async fn sync_once(store: &SharedStore, hub: &HubClient, batch: usize) -> Result<SyncReport> {
    let result = session(store, hub, batch).await;
    if let Err(e) = &result {
        let msg = e.to_string();
        let when = now();
        with_store(store, move |s| s.record_sync_failure(&msg, when)).await?;
    }
    result
}

async fn session(store: &SharedStore, hub: &HubClient, batch: usize) -> Result<SyncReport> {
    // Documents first: the catalog a movement names, and the sharing policy
    // the hub applies to what follows.
    let docs = sync_docs(store, hub).await?;
    // A dealer's policy shapes what is sent; publishing appends what it
    // shares of the ledger to the outbound stream (a branch sends its ledger).
    let when = now();
    let (state, last, locations) = with_store(store, move |s| {
        let last = s.publish_shared(when)?;
        Ok((s.sync_state()?, last, s.wire_locations()?))
    })
    .await?;
    let mut session = Session::new(state.hwm, last).with_batch(batch);
    let mut cursor = state.transfers_cursor;
    let mut report = SyncReport::default();
    while let Next::Push { from_seq, limit } = session.next() {
        let movements = with_store(store, move |s| s.outbound_batch(from_seq, limit)).await?;
        let sent = movements.len();
        let req = SyncRequest {
            from_seq,
            movements,
            agent_last_seq: last,
            transfers_cursor: cursor,
            locations: if session.rounds() == 0 {
                locations.clone()
            } else {
                Vec::new()
            },
            agent_time_ms: now().timestamp_millis(),
        };
        let resp = hub.sync(&req).await?;
        let hwm = resp.hwm;
        report.incoming += resp.incoming.len() as u64;
        cursor = resp
            .incoming
            .iter()
            .map(|t| t.cursor)
            .max()
            .unwrap_or(cursor)
            .max(cursor);
        report.accepted += u64::from(resp.accepted);
        report.duplicates += u64::from(resp.duplicates);
        report.quarantined.extend(resp.quarantined.iter().cloned());
        let incoming = resp.incoming;
        let when = now();
        with_store(store, move |s| s.record_sync(hwm, &incoming, when)).await?;
        if hwm > session.local_last() {
            // Another sync of this site may have pushed what was written
            // after this session started: look again before calling the
            // hub ahead of this ledger.
            let last = with_store(store, |s| s.outbound_last_seq()).await?;
            session.grow_local(last);
        }
        session
            .on_response(from_seq, sent, hwm)
            .map_err(|e| AgentError::HubRefused(e.to_string()))?;
        report.sent += sent as u64;
    }
    // The directory last: it then lists the locations this round reported.
    let etag = with_store(store, |s| s.directory_etag()).await?;
    let fetched = hub.directory(etag.as_deref()).await?;
    let when = now();
    with_store(store, move |s| match fetched {
        Fetched::New(dir, etag) => s.set_directory(&dir, etag.as_deref(), when),
        Fetched::Unchanged => s.directory_unchanged(when),
        Fetched::NotServed => Ok(()),
    })
    .await?;
    report.rounds = session.rounds();
    report.hwm = session.hwm();
    report.pending = session.pending();
    report.docs = docs;
    Ok(report)
}

/// Backoff with jitter: the n-th consecutive failure waits a random time
/// between half and all of min(cap, base × 2^n), so agents that lost the hub
/// together do not all come back at the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: 0,
        }
    }
    pub fn reset(&mut self) {
        self.failures = 0;
    }
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let ms =
            rand::rng().random_range(ceiling.as_millis() as u64 / 2..=ceiling.as_millis() as u64);
        Duration::from_millis(ms)
    }
}

/// The `run` loop: syncs every `interval`, within about a second of a local
/// write, and backs off with jitter while the hub cannot be reached.
pub struct Worker {
    pub store: SharedStore,
    pub hub: HubClient,
    pub interval: Duration,
    pub batch: usize,
}

impl Worker {
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) -> Result<()> {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        loop {
            // Read before the round, not after it: a write committed while the
            // round runs must still wake the wait below (at worst it was sent
            // already and the next round sends nothing).
            let seen = with_store(&self.store, |s| s.last_seq()).await.unwrap_or(0);
            let wait = match sync_once(&self.store, &self.hub, self.batch).await {
                Ok(r) => {
                    backoff.reset();
                    if r.sent > 0 || r.incoming > 0 {
                        tracing::info!(
                            sent = r.sent,
                            accepted = r.accepted,
                            duplicates = r.duplicates,
                            quarantined = r.quarantined.len(),
                            incoming = r.incoming,
                            hwm = r.hwm,
                            "synced"
                        );
                    }
                    for q in &r.quarantined {
                        tracing::warn!(seq = q.seq, reason = %q.reason, "the hub quarantined a movement");
                    }
                    self.interval
                }
                Err(e @ (AgentError::Unreachable(_) | AgentError::Busy)) => {
                    let d = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "sync failed; working offline");
                    d
                }
                Err(e) => {
                    let d = backoff.next_delay();
                    tracing::error!(error = %e, retry_in_ms = d.as_millis() as u64, "the hub refused this site; an operator must act");
                    d
                }
            };
            if self.wait(wait, seen, &mut shutdown).await {
                return Ok(());
            }
        }
    }

    /// Waits `d`, returning early (false) when the ledger's last seq passes
    /// `start_seq`, or true on shutdown.
    async fn wait(
        &self,
        d: Duration,
        start_seq: u64,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let tick = tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(500)),
            );
            tokio::select! {
                _ = shutdown.changed() => return true,
                _ = tick => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            // Another jxc-agent process wrote: sync soon, not at the next tick.
            if with_store(&self.store, |s| s.last_seq())
                .await
                .unwrap_or(start_seq)
                > start_seq
            {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(500) && delays[0] <= Duration::from_secs(1));
        assert!(delays[3] >= Duration::from_secs(4) && delays[3] <= Duration::from_secs(8));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
