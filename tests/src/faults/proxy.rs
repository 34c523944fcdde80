//! A loopback proxy between one agent and the hub, controlled by the fault
//! driver. A byte-level proxy could only cut and delay, so this one
//! terminates TLS with the hub's own server certificate (it sees whole
//! requests) and re-sends each request to the hub with the agent's client
//! certificate. That lets it cut the network, drop an answer after the hub
//! acted on the request, delay, duplicate, and replay stale requests — of
//! the ledger (`/v1/sync`) and of the shared documents (`/v1/docs`) alike.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jxc_shared::protocol::{SyncRequest, decode, encode};
use jxc_shared::rng::Rng;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the proxy does to the requests that pass through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward every request and its answer.
    Pass,
    /// The network is down: every connection is closed at once.
    Cut,
    /// Forward the request, let the hub act on it, then close the
    /// connection without answering: a cut in the middle of a sync.
    DropAnswer,
    /// Hold the request this long before forwarding it.
    Delay(Duration),
    /// Send the request to the hub twice at once; answer with the first.
    Duplicate,
    /// After the request, send the hub again an earlier sync or documents
    /// request captured from this agent (a stale replay, out of order).
    Replay,
    /// Change the quantity of the first movement of a sync request. Not a
    /// fault the network can cause (TLS prevents it): it exists to show
    /// that the checker catches a movement altered on the way.
    Tamper,
}

/// How often each fault was applied, and how many requests were seen.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests that arrived (including those then cut).
    pub requests: AtomicU64,
    /// Requests sent on to the hub.
    pub forwarded: AtomicU64,
    pub refused: AtomicU64,
    pub dropped_answers: AtomicU64,
    pub delayed: AtomicU64,
    pub duplicated: AtomicU64,
    pub replayed: AtomicU64,
    /// Drops, delays, duplicates and replays that hit a documents request.
    pub doc_faults: AtomicU64,
    /// Whether the request that arrived last, and the one forwarded last,
    /// was a documents request (what a kill mid-sync interrupted).
    pub last_seen_docs: std::sync::atomic::AtomicBool,
    pub last_forwarded_docs: std::sync::atomic::AtomicBool,
}

impl ProxyStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }

    pub fn requests_seen(&self) -> u64 {
        Self::get(&self.requests)
    }

    pub fn forwarded_count(&self) -> u64 {
        Self::get(&self.forwarded)
    }

    pub fn last_seen_was_docs(&self) -> bool {
        self.last_seen_docs.load(Ordering::SeqCst)
    }

    pub fn last_forwarded_was_docs(&self) -> bool {
        self.last_forwarded_docs.load(Ordering::SeqCst)
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// The requests a replay may send again: the ledger's and the documents'.
fn replayable(path: &str) -> bool {
    path == "/v1/sync" || path == "/v1/docs"
}

/// A request as the proxy captured it, to send again later.
#[derive(Debug, Clone)]
struct Captured {
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// The fault in force and for how many more requests (`None`: until changed).
#[derive(Debug, Clone, Copy)]
struct Setting {
    fault: Fault,
    remaining: Option<u32>,
}

struct Shared {
    setting: Mutex<Setting>,
    stats: ProxyStats,
    upstream: String,
    hub_ca: String,
    agent_dir: PathBuf,
    anonymous: reqwest::Client,
    identified: Mutex<Option<reqwest::Client>>,
    captured: Mutex<VecDeque<Captured>>,
    rng: Mutex<Rng>,
}

/// Requests kept for stale replays.
const CAPTURE_LIMIT: usize = 32;
/// Headers the agent's requests carry that the hub reads.
const FORWARDED_HEADERS: [&str; 3] = ["content-type", "x-jxc-protocol", "authorization"];

/// One agent's proxy, listening on 127.0.0.1; it stops when dropped.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Where a proxy finds the hub and the agent.
pub struct ProxyConfig<'a> {
    /// `https://127.0.0.1:PORT` of the hub.
    pub upstream: &'a str,
    /// The hub's data directory: `ca.pem`, `server.pem`, `server.key`.
    pub hub_dir: &'a Path,
    /// The agent's data directory: `agent.pem`, `agent.key` once enrolled.
    pub agent_dir: &'a Path,
    /// Seeds the choice of which stale request to replay.
    pub seed: u64,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn upstream_client(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<reqwest::Client, String> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(0)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    if let Some((cert, key)) = identity {
        let pem = format!("{}\n{key}", cert.trim_end());
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?);
    }
    b.build().map_err(|e| e.to_string())
}

/// The hub's TLS server side: its certificate, client certificates from
/// its CA verified when presented, HTTP/1.1 only.
fn server_config(hub_dir: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(read(&hub_dir.join("ca.pem"))?.as_bytes()) {
        roots
            .add(der.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    let chain = CertificateDer::pem_slice_iter(read(&hub_dir.join("server.pem"))?.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(read(&hub_dir.join("server.key"))?.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Proxy {
    /// Starts a proxy on `runtime`, listening on a free loopback port.
    pub fn start(runtime: &tokio::runtime::Handle, cfg: &ProxyConfig<'_>) -> Result<Proxy, String> {
        let tls = server_config(cfg.hub_dir)?;
        let hub_ca = read(&cfg.hub_dir.join("ca.pem"))?;
        let shared = Arc::new(Shared {
            setting: Mutex::new(Setting {
                fault: Fault::Pass,
                remaining: None,
            }),
            stats: ProxyStats::default(),
            upstream: cfg.upstream.trim_end_matches('/').to_owned(),
            anonymous: upstream_client(&hub_ca, None)?,
            hub_ca,
            agent_dir: cfg.agent_dir.to_path_buf(),
            identified: Mutex::new(None),
            captured: Mutex::new(VecDeque::new()),
            rng: Mutex::new(Rng::new(cfg.seed)),
        });
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind proxy: {e}"))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let port = std_listener.local_addr().map_err(|e| e.to_string())?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(|e| e.to_string())?
        };
        runtime.spawn(accept_loop(
            listener,
            TlsAcceptor::from(tls),
            shared.clone(),
            stopped,
        ));
        Ok(Proxy {
            port,
            shared,
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests (`None`: until the next
    /// call), then passes requests through again.
    pub fn set(&self, fault: Fault, times: Option<u32>) {
        *lock(&self.shared.setting) = Setting {
            fault,
            remaining: times,
        };
    }

    pub fn fault(&self) -> Fault {
        lock(&self.shared.setting).fault
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                if lock(&shared.setting).fault == Fault::Cut {
                    ProxyStats::add(&shared.stats.refused);
                    drop(tcp);
                    continue;
                }
                connections.spawn(connection(tcp, acceptor.clone(), shared.clone()));
            }
        }
    }
    connections.abort_all();
}

async fn connection(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let identified = tls
        .get_ref()
        .1
        .peer_certificates()
        .is_some_and(|c| !c.is_empty());
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), identified, req));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// The fault that applies to this request, counting it down. Tampering
/// waits for a sync request (the agent may exchange documents first).
fn take_fault(shared: &Shared, is_sync: bool) -> Fault {
    let mut s = lock(&shared.setting);
    let fault = s.fault;
    if fault == Fault::Tamper && !is_sync {
        return Fault::Pass;
    }
    if let Some(n) = s.remaining.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            *s = Setting {
                fault: Fault::Pass,
                remaining: None,
            };
        }
    }
    fault
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

/// Closes the connection without an answer (hyper drops it on an error).
fn hang_up(why: &str) -> Answer {
    Err(std::io::Error::other(why.to_owned()))
}

async fn handle(shared: Arc<Shared>, identified: bool, req: Request<Incoming>) -> Answer {
    ProxyStats::add(&shared.stats.requests);
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let headers: Vec<(String, String)> = FORWARDED_HEADERS
        .iter()
        .filter_map(|h| {
            req.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*h).to_owned(), v.to_owned()))
        })
        .collect();
    let post = req.method() == hyper::Method::POST;
    shared
        .stats
        .last_seen_docs
        .store(path == "/v1/docs", Ordering::SeqCst);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return hang_up("the request body was cut"),
    };
    let request = Captured {
        path,
        headers,
        body,
    };
    // Detached, so a request the proxy holds still reaches the hub after
    // the agent that sent it was killed.
    match tokio::spawn(apply(shared, identified, post, request)).await {
        Ok(answer) => answer,
        Err(_) => hang_up("the proxy task failed"),
    }
}

/// Applies the fault in force to one whole request.
async fn apply(shared: Arc<Shared>, identified: bool, post: bool, request: Captured) -> Answer {
    let client = match client_for(&shared, identified) {
        Ok(c) => c,
        Err(e) => return hang_up(&e),
    };
    let is_sync = request.path == "/v1/sync";
    let is_docs = request.path == "/v1/docs";
    let fault = take_fault(&shared, is_sync);
    if is_docs
        && matches!(
            fault,
            Fault::DropAnswer | Fault::Delay(_) | Fault::Duplicate
        )
    {
        ProxyStats::add(&shared.stats.doc_faults);
    }
    let answer = match fault {
        Fault::Cut => {
            ProxyStats::add(&shared.stats.refused);
            return hang_up("cut");
        }
        Fault::Pass | Fault::Replay => forward(&shared, &client, post, &request).await,
        Fault::Tamper => {
            let mut altered = request.clone();
            if let Ok(mut req) = decode::<SyncRequest>("sync request", &request.body) {
                if let Some(m) = req.movements.first_mut() {
                    m.qty_micro += 1_000_000;
                }
                altered.body = Bytes::from(encode(&req));
            }
            forward(&shared, &client, post, &altered).await
        }
        Fault::DropAnswer => {
            let _ = forward(&shared, &client, post, &request).await;
            ProxyStats::add(&shared.stats.dropped_answers);
            return hang_up("answer dropped");
        }
        Fault::Delay(d) => {
            ProxyStats::add(&shared.stats.delayed);
            tokio::time::sleep(d).await;
            forward(&shared, &client, post, &request).await
        }
        Fault::Duplicate => {
            ProxyStats::add(&shared.stats.duplicated);
            let (first, _) = tokio::join!(
                forward(&shared, &client, post, &request),
                forward(&shared, &client, post, &request)
            );
            first
        }
    };
    if fault == Fault::Replay && replayable(&request.path) {
        let stale = {
            let captured = lock(&shared.captured);
            let i = lock(&shared.rng).below(captured.len() as u64) as usize;
            captured.get(i).cloned()
        };
        if let Some(stale) = stale {
            ProxyStats::add(&shared.stats.replayed);
            if is_docs || stale.path == "/v1/docs" {
                ProxyStats::add(&shared.stats.doc_faults);
            }
            let _ = forward(&shared, &client, true, &stale).await;
        }
    }
    if replayable(&request.path) {
        let mut captured = lock(&shared.captured);
        if captured.len() == CAPTURE_LIMIT {
            captured.pop_front();
        }
        captured.push_back(request);
    }
    match answer {
        Ok(a) => Ok(a),
        Err(e) => hang_up(&e),
    }
}

/// The upstream client: with the agent's certificate when the agent
/// presented one, anonymous otherwise (enrollment, the CA).
fn client_for(shared: &Shared, identified: bool) -> Result<reqwest::Client, String> {
    if !identified {
        return Ok(shared.anonymous.clone());
    }
    let mut slot = lock(&shared.identified);
    if let Some(c) = slot.as_ref() {
        return Ok(c.clone());
    }
    let cert = read(&shared.agent_dir.join("agent.pem"))?;
    let key = read(&shared.agent_dir.join("agent.key"))?;
    let client = upstream_client(&shared.hub_ca, Some((&cert, &key)))?;
    *slot = Some(client.clone());
    Ok(client)
}

async fn forward(
    shared: &Shared,
    client: &reqwest::Client,
    post: bool,
    req: &Captured,
) -> Result<Response<Full<Bytes>>, String> {
    ProxyStats::add(&shared.stats.forwarded);
    shared
        .stats
        .last_forwarded_docs
        .store(req.path == "/v1/docs", Ordering::SeqCst);
    let url = format!("{}{}", shared.upstream, req.path);
    let mut builder = if post {
        client.post(url).body(req.body.clone())
    } else {
        client.get(url)
    };
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let resp = builder.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    let mut answer = Response::builder().status(status);
    if let Some(ct) = content_type {
        answer = answer.header("content-type", ct);
    }
    answer.body(Full::new(body)).map_err(|e| e.to_string())
}
