//! The hub's HTTP API: agent endpoints (enroll, sync) authenticated by
//! one-time token and client certificate, HQ endpoints by bearer token, and
//! the public health check, CA certificate and OpenAPI document.

use crate::config::{HubConfig, Limits};
use crate::error::{HubError, Result};
use crate::http::views;
use crate::metrics::Metrics;
use crate::pki::{self, Ca};
use crate::pool::{PooledStore, StorePool};
use crate::store::{ChannelBy, GroupBy, InventoryFilter, Role, SalesFilter, prepare};
use crate::tls::{PeerAddr, PeerCert};
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use jxc_shared::docs::automerge::ActorId;
use jxc_shared::protocol::{
    self, CONTENT_TYPE, EnrollRequest, EnrollResponse, EnrollToken, MAX_BATCH_BYTES,
    MAX_BATCH_MOVEMENTS, PROTOCOL_HEADER, SyncRequest,
};
use jxc_shared::{LocationId, SiteId, SiteKind};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sync batches decoded and checked at once. Checking runs beside the single
/// writer (on the other core); more in flight would only queue memory.
const SYNC_SLOTS: usize = 4;

/// An enrollment request is a token and a CSR: a few KiB. Anyone may send
/// one, so it is held to far less than a sync batch.
pub const MAX_ENROLL_BYTES: usize = 64 * 1024;

/// Failed enrollments logged per minute; the rest are counted and the count
/// logged when the next minute's first one is.
const ENROLL_FAILURES_LOGGED_PER_MINUTE: u32 = 10;

/// Everything a request handler may touch.
pub struct Hub {
    /// Writers: enrollment, ingest, document changes. One on SQLite (one
    /// writer at a time), `pool_size` on PostgreSQL.
    pub store: StorePool,
    /// Connections for reads, so queries do not wait behind ingest.
    pub reads: StorePool,
    pub ca: Ca,
    /// HQ's Automerge actor, derived from the CA.
    pub actor: ActorId,
    pub metrics: Metrics,
    pub stale_after_secs: i64,
    pub client_cert_days: u32,
    /// The configuration the hub started with (the plans' `[plan]`, the
    /// alert rules and their delivery).
    pub config: HubConfig,
    /// Bounds the sync batches held in memory at once.
    pub sync_slots: tokio::sync::Semaphore,
    /// The body timeout and the upload cap; see [`Hub::with_limits`].
    pub limits: Limits,
    /// Bounds the authenticated uploads being read at once.
    pub upload_slots: tokio::sync::Semaphore,
    /// Rate limit of the failed-enrollment audit lines.
    enroll_failures: RateLimitedLog,
    /// Wakes the alert worker when an alert changed.
    pub alert_wake: tokio::sync::Notify,
}

impl Hub {
    /// A hub on the database at `target`: its writer and reader pools.
    pub fn open(target: &crate::store::Target, ca: Ca, config: &HubConfig) -> Result<Hub> {
        let (writers, readers) = StorePool::sizes(target.backend(), config.pool_size);
        let reads = StorePool::open(target, readers)?;
        reads.each(|s| s.set_cache_kib(16 * 1024))?;
        let (stale_after_secs, client_cert_days) =
            (config.stale_after_secs, config.client_cert_days);
        Ok(Hub {
            store: StorePool::open(target, writers)?,
            reads,
            actor: jxc_shared::docs::hub_actor(ca.cert_der()),
            ca,
            metrics: Metrics::default(),
            stale_after_secs,
            client_cert_days,
            config: config.clone(),
            sync_slots: tokio::sync::Semaphore::new(SYNC_SLOTS),
            limits: Limits::default(),
            upload_slots: tokio::sync::Semaphore::new(Limits::default().max_uploads),
            enroll_failures: RateLimitedLog::new(ENROLL_FAILURES_LOGGED_PER_MINUTE),
            alert_wake: tokio::sync::Notify::new(),
        })
    }

    /// The same hub with `limits` for bodies and uploads (the connection
    /// limits are the accept loop's, [`crate::tls::serve`]).
    pub fn with_limits(mut self, limits: Limits) -> Hub {
        self.upload_slots = tokio::sync::Semaphore::new(limits.max_uploads);
        self.limits = limits;
        self
    }

    fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.body_timeout_secs)
    }
}

/// Lets through at most `per_minute` events a minute and counts the rest.
struct RateLimitedLog {
    per_minute: u32,
    /// Start of the current minute, events let through in it, events held back.
    state: Mutex<(Instant, u32, u64)>,
}

impl RateLimitedLog {
    fn new(per_minute: u32) -> Self {
        RateLimitedLog {
            per_minute,
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    /// `Some(held back since the last one let through)` if this event may be
    /// logged, `None` if it is over the limit.
    fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (start, logged, held) = &mut *state;
        if start.elapsed() >= Duration::from_secs(60) {
            *start = Instant::now();
            *logged = 0;
        }
        if *logged < self.per_minute {
            *logged += 1;
            Some(std::mem::take(held))
        } else {
            *held += 1;
            None
        }
    }
}

pub type AppState = Arc<Hub>;

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HubError::Internal(format!("store task failed: {e}")))?
}

/// A store from `pool`, waiting for one if all are in use.
pub(crate) fn lock(pool: &StorePool) -> PooledStore<'_> {
    pool.get()
}

pub fn router(hub: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::http::openapi::document()) }),
        )
        .route("/v1/ca", get(ca_cert))
        // These three read their bodies themselves, after authenticating,
        // within the body timeout and their size limit.
        .route("/v1/enroll", post(enroll))
        .route("/v1/sync", post(sync))
        .route("/v1/docs", post(crate::http::replicated::docs))
        .route("/v1/directory", get(crate::http::directory::directory))
        .route("/v1/products", get(crate::http::replicated::products))
        .route("/v1/customers", get(crate::http::replicated::customers))
        .route(
            "/v1/share-policies",
            get(crate::http::replicated::share_policies),
        )
        .route(
            "/v1/document-refusals",
            get(crate::http::replicated::refusals),
        )
        .route("/v1/inventory", get(inventory))
        .route("/v1/sales", get(sales))
        .route("/v1/channel", get(channel))
        .route("/v1/plan/sunk", get(plan_sunk))
        .route("/v1/plan/forecast", get(plan_forecast))
        .route("/v1/plan/backtest", get(plan_backtest))
        .route("/v1/plan/policy", get(plan_policy))
        .route("/v1/plan/reorder", get(plan_reorder))
        .route("/v1/plan/matrix", get(plan_matrix))
        .route("/v1/sites", get(sites))
        .route("/v1/movements", get(movements))
        .route("/v1/transfers", get(transfers))
        .route("/v1/quarantine", get(quarantine))
        .route("/v1/alerts", get(alerts))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            count_requests,
        ))
        .with_state(hub)
}

/// Counts requests and refusals, and gives every 401 the
/// `WWW-Authenticate` challenge of the credential its route wants.
async fn count_requests(
    State(hub): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    Metrics::add(&hub.metrics.requests, 1);
    let challenge = challenge(req.uri().path());
    let mut res = next.run(req).await;
    if matches!(
        res.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        Metrics::add(&hub.metrics.refused_requests, 1);
    }
    if res.status() == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .entry(header::WWW_AUTHENTICATE)
            .or_insert(HeaderValue::from_static(challenge));
    }
    res
}

/// The `WWW-Authenticate` challenge for a route: agents' routes want the
/// enrollment token (in the body) or the client certificate (TLS), HQ's a
/// bearer token.
pub fn challenge(path: &str) -> &'static str {
    match path {
        "/v1/enroll" => r#"jxc-enroll-token realm="jxc-hub""#,
        "/v1/sync" | "/v1/docs" | "/v1/directory" => r#"jxc-client-certificate realm="jxc-hub""#,
        _ => r#"Bearer realm="jxc-hub""#,
    }
}

async fn ca_cert(State(hub): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        hub.ca.cert_pem().to_owned(),
    )
        .into_response()
}

/// An HQ person, from `Authorization: Bearer TOKEN`.
pub struct HqUser {
    pub name: String,
    pub role: Role,
}

impl<S> FromRequestParts<S> for HqUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let hub = AppState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                HubError::Unauthorized(
                    "an HQ bearer token is required (Authorization: Bearer …)".into(),
                )
            })?
            .to_owned();
        let user = blocking(move || lock(&hub.reads).user_for_token(&token)).await?;
        let (name, role) =
            user.ok_or_else(|| HubError::Unauthorized("the bearer token is not valid".into()))?;
        Ok(HqUser { name, role })
    }
}

/// A query string, refused with the API's JSON error (400) when it does not
/// parse, instead of axum's plain-text rejection.
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|e| HubError::Invalid(e.body_text()))
    }
}

/// Reads a request body of at most `limit` bytes within the hub's body
/// timeout. A declared length over the limit is refused before a byte of the
/// body is read.
pub(crate) async fn read_body(
    hub: &Hub,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &str,
) -> Result<Bytes> {
    use hyper::body::Body as _;
    let too_large = || {
        HubError::TooLarge(format!(
            "the {what} is larger than the {limit} bytes this route accepts"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = hub.body_timeout();
    let read = async {
        let mut body = std::pin::pin!(body);
        let mut buf = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            let frame = frame
                .map_err(|e| HubError::Invalid(format!("the {what} could not be read: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        HubError::Timeout(format!(
            "the {what} did not arrive within {} s; the connection is closed",
            timeout.as_secs()
        ))
    })?
}

/// What an agent's upload route checks before it reads a byte of the body:
/// a client certificate from the hub's CA, of a site enrolled and not
/// revoked, and the protocol version. Returns the site and serial.
pub(crate) async fn authorize_upload(
    hub: &AppState,
    peer: Option<Extension<PeerCert>>,
    headers: &HeaderMap,
) -> Result<(SiteId, u64)> {
    let (site, serial) = client_site(peer)?;
    let h = hub.clone();
    let id = site.clone();
    blocking(move || lock(&h.reads).check_client(id.as_str(), serial)).await?;
    protocol::check_version(headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()))?;
    Ok((site, serial))
}

/// Reads an authorized upload's body, holding one of the hub's upload slots
/// (waiting for one at most the body timeout) until the returned permit is
/// dropped.
pub(crate) async fn read_upload<'a>(
    hub: &'a Hub,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<(tokio::sync::SemaphorePermit<'a>, Bytes)> {
    let permit = tokio::time::timeout(hub.body_timeout(), hub.upload_slots.acquire())
        .await
        .map_err(|_| {
            HubError::Busy(format!(
                "the hub's {} upload slots are all taken; send the {what} again shortly",
                hub.limits.max_uploads
            ))
        })?
        .map_err(|e| HubError::Internal(e.to_string()))?;
    let bytes = read_body(hub, headers, body, MAX_BATCH_BYTES, what).await?;
    Ok((permit, bytes))
}

async fn enroll(
    State(hub): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EnrollResponse>> {
    let result = enroll_agent(&hub, &headers, body).await;
    if let Err(e) = &result
        && let Some(held_back) = hub.enroll_failures.admit()
    {
        let from = peer.map(|Extension(PeerAddr(a))| a.to_string());
        tracing::info!(
            peer = %from.as_deref().unwrap_or("unknown"),
            status = e.status().as_u16(),
            reason = ?e.to_string(),
            not_logged_before = held_back,
            "enrollment refused"
        );
    }
    result
}

async fn enroll_agent(
    hub: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<EnrollResponse>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(HubError::Invalid(
            "an enrollment request is JSON: send Content-Type: application/json".into(),
        ));
    }
    let bytes = read_body(hub, headers, body, MAX_ENROLL_BYTES, "enrollment request").await?;
    // A body that is not the expected JSON gets the API's JSON error (400).
    let Json(req) =
        Json::<EnrollRequest>::from_bytes(&bytes).map_err(|e| HubError::Invalid(e.body_text()))?;
    let token = EnrollToken::parse(&req.token).map_err(|_| {
        HubError::Unauthorized("the enrollment token is unknown, already used or expired".into())
    })?;
    if token.ca_fingerprint != hub.ca.fingerprint() {
        return Err(HubError::Unauthorized(
            "the enrollment token was made by another hub".into(),
        ));
    }
    let actor = match req.doc_actor.as_deref() {
        None => None,
        Some(hex_actor) => Some(parse_doc_actor(hex_actor, &hub.actor)?),
    };
    let h = hub.clone();
    let (site, cert_pem) = blocking(move || {
        let now = Utc::now();
        let days = h.client_cert_days;
        let mut store = lock(&h.store);
        store.redeem_token_binding(&token.id, &token.secret, actor.as_ref(), now, |site, serial| {
            // Checked before the token is spent, so a token handed to the
            // wrong site's agent can still be used by the right one.
            if let Ok(Some(cn)) = pki::csr_common_name(&req.csr_pem)
                && cn != site.id.as_str()
            {
                return Err(HubError::Invalid(format!(
                    "this token enrolls site {} but the request comes from site {cn}; the token is still valid",
                    site.id
                )));
            }
            check_enrolling_agent(&req, site)?;
            h.ca.sign_client_csr(&req.csr_pem, site.id.as_str(), serial, days)
                .map_err(|e| HubError::Invalid(e.to_string()))
        })
    })
    .await?;
    Metrics::add(&hub.metrics.enrollments, 1);
    tracing::info!(site = %site.site.id, serial = site.serial, "agent enrolled");
    Ok(Json(EnrollResponse {
        site: site.site.id.to_string(),
        kind: site.site.kind.as_str().to_owned(),
        name: site.site.name,
        region: site.site.region,
        cert_pem,
        ca_pem: hub.ca.cert_pem().to_owned(),
    }))
}

/// Refuses, before the token is spent, an agent initialised as another
/// site, kind or region than the token names (fields older agents omit are
/// not compared).
fn check_enrolling_agent(req: &EnrollRequest, token: &crate::store::NewSite) -> Result<()> {
    if let Some(id) = req.site.as_deref()
        && id != token.id.as_str()
    {
        return Err(HubError::Invalid(format!(
            "this token enrolls site {} but this agent was initialised as site {id}; the token is still valid",
            token.id
        )));
    }
    if let Some(kind) = req.kind.as_deref()
        && kind != token.kind.as_str()
    {
        return Err(HubError::Invalid(format!(
            "this token enrolls site {} as kind {} but this agent was initialised as kind {kind}; the token is still valid (make a token with --kind {kind}, or re-initialise the agent with --kind {})",
            token.id,
            token.kind.as_str(),
            token.kind.as_str()
        )));
    }
    if let Some(region) = req.region.as_deref()
        && region != token.region
    {
        let named = if token.region.is_empty() {
            "no region".to_owned()
        } else {
            format!("region {:?}", token.region)
        };
        return Err(HubError::Invalid(format!(
            "this token enrolls site {} in {named} but this agent was initialised in region {region:?}; the token is still valid",
            token.id
        )));
    }
    Ok(())
}

/// An enrolling agent's document actor: 16 bytes in hex, and not HQ's.
fn parse_doc_actor(hex_actor: &str, hq: &ActorId) -> Result<ActorId> {
    let bytes = hex::decode(hex_actor)
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| {
            HubError::Invalid(format!(
                "doc_actor {hex_actor:?} is not an actor id (32 hex digits)"
            ))
        })?;
    let actor = ActorId::from(bytes.as_slice());
    if &actor == hq {
        return Err(HubError::Invalid(format!(
            "doc_actor {hex_actor} is HQ's own actor; an agent writes as its own"
        )));
    }
    Ok(actor)
}

/// Checks a decoded batch before anything is applied: bounded, consecutive
/// seqs from `from_seq`, well-formed location ids.
pub fn check_batch(req: &SyncRequest) -> Result<()> {
    if req.movements.len() > MAX_BATCH_MOVEMENTS {
        return Err(HubError::Invalid(format!(
            "a batch carries at most {MAX_BATCH_MOVEMENTS} movements, this one {}",
            req.movements.len()
        )));
    }
    for (i, m) in req.movements.iter().enumerate() {
        let Some(want) = req.from_seq.checked_add(i as u64) else {
            return Err(HubError::Invalid(format!(
                "from_seq {} leaves no room for a batch of {} movements",
                req.from_seq,
                req.movements.len()
            )));
        };
        if m.seq != want {
            return Err(HubError::Invalid(format!(
                "movement {i} of the batch has seq {}, expected {want}: seqs must be consecutive from from_seq {}",
                m.seq, req.from_seq
            )));
        }
    }
    if req.from_seq == 0 {
        return Err(HubError::Invalid(
            "from_seq 0 is not valid: seqs start at 1".into(),
        ));
    }
    for l in &req.locations {
        LocationId::parse(&l.id)?;
    }
    Ok(())
}

/// The site and certificate serial of the client certificate, if any.
pub(crate) fn client_site(peer: Option<Extension<PeerCert>>) -> Result<(SiteId, u64)> {
    let der = peer
        .and_then(|Extension(PeerCert(der))| der)
        .ok_or_else(|| {
            HubError::Unauthorized(
                "a client certificate is required: enroll with `jxc-agent enroll`".into(),
            )
        })?;
    let id = pki::client_identity(&der).map_err(|e| HubError::Forbidden(e.to_string()))?;
    let site = SiteId::parse(&id.site).map_err(|e| HubError::Forbidden(e.to_string()))?;
    Ok((site, id.serial))
}

async fn sync(
    State(hub): State<AppState>,
    peer: Option<Extension<PeerCert>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    // Who is sending is settled before the body is read: a stranger's body
    // is never buffered.
    let (site, serial) = authorize_upload(&hub, peer, &headers).await?;
    let (_upload, body) = read_upload(&hub, &headers, body, "sync batch").await?;
    let _slot = hub
        .sync_slots
        .acquire()
        .await
        .map_err(|e| HubError::Internal(e.to_string()))?;
    let req: SyncRequest = protocol::decode("sync request", &body)?;
    check_batch(&req)?;
    let from_seq = req.from_seq;
    // Everything that needs no database happens here, beside the writer.
    let (site, prepared) = blocking(move || {
        let prepared = prepare(&site, req);
        Ok((site, prepared))
    })
    .await?;

    let h = hub.clone();
    let (resp, stats) = blocking(move || {
        let mut store = lock(&h.store);
        store.check_client(site.as_str(), serial)?;
        let (resp, stats) = store.ingest_prepared(&site, prepared, Utc::now())?;
        // The batch is committed: a failed evaluation must not fail the
        // sync (the agent would only resend it), so it is logged.
        let alerted = match crate::alert::after_ingest(
            &mut store,
            &h.config,
            site.as_str(),
            from_seq,
            resp.hwm,
            &stats,
            Utc::now(),
        ) {
            Ok(e) => e.raised + e.cleared > 0,
            Err(e) => {
                tracing::error!(site = site.as_str(), error = %e, "alert evaluation after ingest failed");
                false
            }
        };
        if alerted {
            h.alert_wake.notify_one();
        }
        Ok((resp, stats))
    })
    .await?;
    let m = &hub.metrics;
    Metrics::add(&m.sync_batches, 1);
    Metrics::add(&m.movements_ingested, stats.accepted);
    Metrics::add(&m.duplicates, stats.duplicates);
    Metrics::add(&m.quarantined, stats.refused);
    Metrics::add(&m.conflicts, stats.conflicts);
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        protocol::encode(&resp),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct InventoryQuery {
    sku: Option<String>,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    by: Option<String>,
}

async fn inventory(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<InventoryQuery>,
) -> Result<Response> {
    let filter = InventoryFilter {
        by: q
            .by
            .as_deref()
            .map(GroupBy::parse_list)
            .transpose()?
            .unwrap_or_default(),
        sku: q.sku,
        site: q.site,
        region: q.region,
        // An unknown kind is a mistake, not a filter that matches nothing.
        kind: q.kind.map(|k| SiteKind::parse(&k).map(|_| k)).transpose()?,
    };
    let by = filter.keys();
    let rows = blocking(move || lock(&hub.reads).inventory(&filter)).await?;
    let rows: Vec<views::InventoryView> = rows
        .into_iter()
        .map(|r| views::InventoryView::new(&by, r))
        .collect();
    Ok(Json(rows).into_response())
}

#[derive(Debug, Deserialize)]
struct SalesQuery {
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    site: Option<String>,
    region: Option<String>,
    kind: Option<String>,
    category: Option<String>,
    sku: Option<String>,
}

async fn sales(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<SalesQuery>,
) -> Result<Response> {
    let filter = SalesFilter::parse(
        q.by.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        q.site,
        q.region,
        q.kind,
        q.category,
        q.sku,
    )?;
    let by = filter.by.clone();
    let rows = blocking(move || lock(&hub.reads).sales(&filter)).await?;
    let rows: Vec<views::SalesView> = rows
        .into_iter()
        .map(|r| views::SalesView::new(&by, r))
        .collect();
    Ok(Json(rows).into_response())
}

#[derive(Debug, Deserialize)]
struct ChannelQuery {
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn channel(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<ChannelQuery>,
) -> Result<Response> {
    let by = ChannelBy::parse(q.by.as_deref().unwrap_or("site"))?;
    let (from, to) = crate::store::channel_period(
        q.from.as_deref(),
        q.to.as_deref(),
        chrono::Local::now().date_naive(),
    )?;
    let rows = blocking(move || lock(&hub.reads).channel(by, from, to)).await?;
    Ok(Json(views::all::<_, views::ChannelView>(rows)).into_response())
}

#[derive(Debug, Deserialize)]
struct SunkQuery {
    by: Option<String>,
    site: Option<String>,
    days: Option<u32>,
    as_of: Option<String>,
}

async fn plan_sunk(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<SunkQuery>,
) -> Result<Response> {
    let by = crate::plan::sunk::SunkBy::parse(q.by.as_deref().unwrap_or("site"))?;
    let days = crate::plan::check_days(q.days.unwrap_or(90))?;
    let as_of = crate::plan::as_of(q.as_of.as_deref())?;
    let stale = hub.stale_after_secs;
    let rows = blocking(move || {
        crate::plan::sunk(&lock(&hub.reads), q.site.as_deref(), by, days, as_of, stale)
    })
    .await?;
    let rows: Vec<views::SunkView> = rows.into_iter().map(views::SunkView::from).collect();
    Ok(Json(rows).into_response())
}

#[derive(Debug, Deserialize)]
struct PolicyQuery {
    site: Option<String>,
    location: Option<String>,
    as_of: Option<String>,
    service_level: Option<f64>,
    lead_time_days: Option<u32>,
    review_days: Option<u32>,
}

impl PolicyQuery {
    fn params(&self, config: &HubConfig) -> Result<crate::plan::policy::PolicyParams> {
        crate::plan::policy::PolicyParams::new(
            &config.plan,
            crate::plan::as_of(self.as_of.as_deref())?,
            self.service_level,
            self.lead_time_days,
            self.review_days,
        )
    }
}

impl PolicyQuery {
    /// The policy of the lines the query names.
    async fn policy(self, hub: AppState) -> Result<Vec<crate::plan::policy::PolicyRow>> {
        let params = self.params(&hub.config)?;
        blocking(move || {
            crate::plan::policy::policy(
                &lock(&hub.reads),
                &hub.config,
                self.site.as_deref(),
                self.location.as_deref(),
                &params,
            )
        })
        .await
    }
}

async fn plan_policy(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<PolicyQuery>,
) -> Result<Response> {
    let rows: Vec<views::StockPolicyView> = views::all(q.policy(hub).await?);
    Ok(Json(rows).into_response())
}

async fn plan_reorder(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<PolicyQuery>,
) -> Result<Response> {
    if q.location.is_some() {
        return Err(HubError::Invalid(
            "location is not a filter of reorder: use site".into(),
        ));
    }
    let params = q.params(&hub.config)?;
    let rows = blocking(move || {
        crate::plan::reorder(&lock(&hub.reads), &hub.config, q.site.as_deref(), &params)
    })
    .await?;
    let rows: Vec<views::ReorderView> = views::all(rows);
    Ok(Json(rows).into_response())
}

async fn plan_matrix(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<PolicyQuery>,
) -> Result<Response> {
    let rows = q.policy(hub).await?;
    let cells: Vec<views::MatrixView> = views::all(crate::plan::policy::matrix(&rows));
    Ok(Json(cells).into_response())
}

#[derive(Debug, Deserialize)]
struct ForecastQuery {
    by: Option<String>,
    site: Option<String>,
    location: Option<String>,
    sku: Option<String>,
    category: Option<String>,
    horizon: Option<u32>,
    as_of: Option<String>,
}

impl ForecastQuery {
    fn series(&self) -> crate::store::SeriesOf {
        crate::store::SeriesOf {
            site: self.site.clone(),
            location: self.location.clone(),
            sku: self.sku.clone(),
            category: self.category.clone(),
        }
    }
}

/// The series, horizon and as-of day of a forecast or backtest query.
fn forecast_query(q: &ForecastQuery) -> Result<(crate::store::SeriesBy, u32, chrono::NaiveDate)> {
    Ok((
        crate::store::SeriesBy::parse(q.by.as_deref().unwrap_or("site,category"))?,
        crate::plan::check_horizon(q.horizon.unwrap_or(28))?,
        crate::plan::as_of(q.as_of.as_deref())?,
    ))
}

async fn plan_forecast(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<ForecastQuery>,
) -> Result<Response> {
    let (by, horizon, as_of) = forecast_query(&q)?;
    let stale = hub.stale_after_secs;
    let rows = blocking(move || {
        crate::plan::forecasts(&lock(&hub.reads), by, &q.series(), as_of, horizon, stale)
    })
    .await?;
    let rows: Vec<views::ForecastView> = rows
        .into_iter()
        .flat_map(|(f, stale)| views::ForecastView::of(by.keys(), f, stale))
        .collect();
    Ok(Json(rows).into_response())
}

async fn plan_backtest(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<ForecastQuery>,
) -> Result<Response> {
    let (by, horizon, as_of) = forecast_query(&q)?;
    let stale = hub.stale_after_secs;
    let tests = blocking(move || {
        crate::plan::backtests(&lock(&hub.reads), by, &q.series(), as_of, horizon, stale)
    })
    .await?;
    Ok(Json(views::BacktestReport::new(tests, by.keys(), as_of, horizon)).into_response())
}

async fn sites(State(hub): State<AppState>, _user: HqUser) -> Result<Response> {
    let stale = hub.stale_after_secs;
    let rows = blocking(move || lock(&hub.reads).sites(Utc::now(), stale)).await?;
    Ok(Json(views::all::<_, views::SiteView>(rows)).into_response())
}

#[derive(Debug, Deserialize)]
struct MovementsQuery {
    site: Option<String>,
    /// One location, its id at the site (`main`).
    location: Option<String>,
    sku: Option<String>,
    /// One lot; empty: stock without a lot.
    lot: Option<String>,
    /// The `next` cursor of the previous page, `SITE:SEQ`.
    after: Option<String>,
    limit: Option<u32>,
}

/// A movements page's `after` cursor (`SITE:SEQ`, the `next` of the page
/// before); none or empty is the start.
pub(crate) fn movements_cursor(after: Option<&str>) -> Result<(String, u64)> {
    match after {
        None | Some("") => Ok((String::new(), 0)),
        Some(c) => {
            // Seqs are stored as SQLite integers (i64): a larger one would
            // wrap, so it is refused like any other bad cursor.
            let parsed = c.rsplit_once(':').and_then(|(s, n)| {
                let seq = n.parse::<u64>().ok().filter(|&n| n <= i64::MAX as u64)?;
                Some((s.to_owned(), seq))
            });
            parsed.ok_or_else(|| {
                HubError::Invalid(format!(
                    "after {c:?} is not valid: pass the `next` of the previous page (SITE:SEQ)"
                ))
            })
        }
    }
}

async fn movements(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<MovementsQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(HubError::Invalid(format!(
            "limit {limit} is not valid: use 1 to 10000"
        )));
    }
    let (after_site, after_seq) = movements_cursor(q.after.as_deref())?;
    let site = q.site.clone();
    let of = crate::store::MovementsOf {
        location: q.location.filter(|l| !l.is_empty()),
        sku: q.sku.filter(|s| !s.is_empty()),
        lot: q.lot,
    };
    let rows = blocking(move || {
        lock(&hub.reads).movements(site.as_deref(), &of, (&after_site, after_seq), limit)
    })
    .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("{}:{}", r.site, r.seq)))
        .flatten();
    let movements = views::all::<_, views::MovementView>(rows);
    Ok(Json(serde_json::json!({ "movements": movements, "next": next })).into_response())
}

#[derive(Debug, Deserialize)]
struct TransfersQuery {
    open: Option<bool>,
}

async fn transfers(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<TransfersQuery>,
) -> Result<Response> {
    let open = q.open.unwrap_or(false);
    let rows = blocking(move || lock(&hub.reads).transfers(open)).await?;
    Ok(Json(views::all::<_, views::TransferView>(rows)).into_response())
}

async fn quarantine(State(hub): State<AppState>, _user: HqUser) -> Result<Response> {
    let rows = blocking(move || lock(&hub.reads).quarantine()).await?;
    Ok(Json(views::all::<_, views::QuarantineView>(rows)).into_response())
}

async fn metrics(State(hub): State<AppState>, _user: HqUser) -> Result<Response> {
    let stale = hub.stale_after_secs;
    let h = hub.clone();
    let sites = blocking(move || lock(&h.reads).sites(Utc::now(), stale)).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        hub.metrics.render(&sites),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    open: Option<bool>,
    limit: Option<u32>,
}

async fn alerts(
    State(hub): State<AppState>,
    _user: HqUser,
    Params(q): Params<AlertsQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(HubError::Invalid(format!(
            "limit {limit} is not valid: use 1 to 10000"
        )));
    }
    let open = q.open.unwrap_or(false);
    let rows = blocking(move || lock(&hub.reads).alerts(open, limit)).await?;
    Ok(Json(views::all::<_, views::AlertView>(rows)).into_response())
}
