//! TLS for the hub: server configuration and the accept loop.
//!
//! Client certificates are requested but optional at the TLS layer: a
//! presented certificate must chain to the hub's CA or the handshake fails,
//! and each route then decides whether it needs one by looking at the
//! [`PeerCert`] request extension.
//!
//! The accept loop bounds what clients may hold (the config's `[limits]`):
//! open connections, the handshake's time, and a connection's time without
//! a request in progress (before the first, between two, and HTTP/2 pings).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tracing::{debug, warn};

use crate::config::Limits;
use crate::pki::{Ca, PkiError};

/// HTTP/2 streams one connection may have open at once: an agent uses one
/// or two; 200 (hyper's default) would let one connection hold 200 uploads.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;
/// At most one line per this interval for a condition that repeats with
/// every connection (connection limit reached, accept failing).
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Evicted connections not yet gone at once; past it, a new connection at
/// the cap is closed instead of waiting for one to go.
const MAX_EVICTING: usize = 16;
/// How long a new connection at the cap waits for the one evicted for it.
const EVICTION_WAIT: Duration = Duration::from_secs(5);
/// How long an evicted or idle-closed connection gets to go before it is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Descriptors kept free of connections under the process's limit: the
/// listener, SQLite's database, WAL and shm files for two connections, logs.
const RESERVED_FDS: usize = 64;

/// `configured`, lowered to leave [`RESERVED_FDS`] under the process's
/// open-file limit (read from `/proc/self/limits`), so the cap is reached
/// before accept fails for want of descriptors. `None` when not lowered.
fn connection_cap(configured: usize, limits_text: Option<&str>) -> (usize, Option<usize>) {
    let soft = limits_text.and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse::<usize>().ok())
    });
    match soft {
        Some(fds) if fds.saturating_sub(RESERVED_FDS) < configured => {
            let cap = fds.saturating_sub(RESERVED_FDS).max(1);
            (cap, Some(fds))
        }
        _ => (configured, None),
    }
}
/// How long in-flight connections get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The server's TLS configuration: TLS 1.2 and 1.3, ALPN `h2` and
/// `http/1.1`, client certificates verified against `ca` when presented.
/// `cert_pem` may hold a chain (leaf first).
pub fn server_config(
    ca: &Ca,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert_der().to_vec()))
        .map_err(|e| PkiError::TlsConfig(format!("the CA certificate is not usable: {e}")))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| PkiError::TlsConfig(format!("client certificate verifier: {e}")))?;

    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::InvalidCert(format!("the server certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(PkiError::InvalidCert(
            "no certificate in the server certificate PEM".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PkiError::InvalidKey(format!("the server key PEM: {e}")))?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| PkiError::TlsConfig(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| PkiError::TlsConfig(format!("the server certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The DER of the client's leaf certificate, already verified against the
/// hub's CA by the handshake, or `None` when the client sent none. Every
/// request carries one; read it with `Extension<PeerCert>`.
#[derive(Debug, Clone)]
pub struct PeerCert(pub Option<Arc<Vec<u8>>>);

/// The client's address, on every request beside [`PeerCert`].
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The accept loop's share of [`Limits`], as durations.
#[derive(Debug, Clone, Copy)]
struct ConnLimits {
    handshake: Duration,
    idle: Duration,
}

/// Lets a repeating warning through once per [`WARN_EVERY`], counting the
/// occurrences it held back.
struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    fn new() -> Self {
        Throttle {
            last: None,
            held: 0,
        }
    }

    /// `Some(occurrences held back since the last)` when this one may be logged.
    fn admit(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            self.held += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.held))
    }
}

/// Requests in progress on one connection, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last_end: Mutex<Instant>,
}

/// One request in progress; ending (or being dropped) marks the connection
/// active until now.
struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection turns idle if nothing starts meanwhile; `None`
    /// while a request is in progress.
    fn idle_at(&self, idle: Duration) -> Option<Instant> {
        let last = *self.last_end.lock().unwrap_or_else(|p| p.into_inner());
        (self.in_flight.load(Ordering::SeqCst) == 0).then_some(last + idle)
    }
}

/// The open connections, so that at the cap the accept loop can close the
/// one idle the longest to make room: a crowd of idle connections then
/// cannot keep a new client (a health check, an agent) out.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Registered>>,
}

struct Registered {
    activity: Arc<Activity>,
    evict: Arc<Notify>,
    evicting: Arc<AtomicBool>,
}

/// A connection's place in the [`Registry`], given up when dropped.
struct Registration {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
    evict: Arc<Notify>,
}

impl Registry {
    fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_end: Mutex::new(Instant::now()),
        });
        let evict = Arc::new(Notify::new());
        self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Registered {
                activity: activity.clone(),
                evict: evict.clone(),
                evicting: Arc::new(AtomicBool::new(false)),
            },
        );
        Registration {
            registry: self.clone(),
            id,
            activity,
            evict,
        }
    }

    /// Tells the connection idle the longest (no request in progress) to
    /// close; false when none is idle or too many are closing already.
    fn evict_longest_idle(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let evicting = open
            .values()
            .filter(|r| r.evicting.load(Ordering::SeqCst))
            .count();
        if evicting >= MAX_EVICTING {
            return false;
        }
        let victim = open
            .values()
            .filter(|r| !r.evicting.load(Ordering::SeqCst))
            .filter_map(|r| r.activity.idle_at(Duration::ZERO).map(|since| (since, r)))
            .min_by_key(|(since, _)| *since);
        match victim {
            Some((_, r)) => {
                r.evicting.store(true, Ordering::SeqCst);
                r.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// What an open connection holds until it ends: one of `max_connections`
/// and its place in the [`Registry`].
struct Seat {
    _slot: OwnedSemaphorePermit,
    registration: Registration,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_end.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then
/// stops accepting and gives open connections up to 10 s to finish.
///
/// At most `limits.max_connections` connections are open at once. At the
/// cap, a new connection takes the place of the one idle the longest (no
/// request in progress); when every one is busy, it is closed at once, so
/// it holds no descriptor. A connection
/// that fails or does not finish its handshake in time, or that stays
/// `limits.idle_timeout_secs` without a request in progress, is closed and
/// logged at debug level; none of it stops the loop.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let conn_limits = ConnLimits {
        handshake: Duration::from_secs(limits.handshake_timeout_secs),
        idle: Duration::from_secs(limits.idle_timeout_secs),
    };
    let proc_limits = std::fs::read_to_string("/proc/self/limits").ok();
    let (max_connections, fds) = connection_cap(limits.max_connections, proc_limits.as_deref());
    if let Some(fds) = fds {
        warn!(
            configured = limits.max_connections,
            open_file_limit = fds,
            max_connections,
            "max_connections lowered to fit the open-file limit; raise `ulimit -n` to allow more"
        );
    }
    let slots = Arc::new(Semaphore::new(max_connections));
    let registry = Arc::new(Registry::default());
    let mut over_limit = Throttle::new();
    let mut accept_failed = Throttle::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        connections.spawn(connection(
                            tcp,
                            peer,
                            acceptor.clone(),
                            app.clone(),
                            conn_limits,
                            stop_rx.clone(),
                            Seat {
                                _slot: slot,
                                registration: registry.register(),
                            },
                        ));
                    }
                    Err(_) if registry.evict_longest_idle() => {
                        // The new connection takes the slot the evicted one
                        // gives up as it goes.
                        let slots = slots.clone();
                        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop_rx.clone());
                        let registration = registry.register();
                        connections.spawn(async move {
                            match tokio::time::timeout(EVICTION_WAIT, slots.acquire_owned()).await {
                                Ok(Ok(slot)) => {
                                    let seat = Seat { _slot: slot, registration };
                                    connection(tcp, peer, acceptor, app, conn_limits, stop, seat).await;
                                }
                                _ => debug!(%peer, "no connection went in time; closed a new one"),
                            }
                        });
                    }
                    Err(_) => {
                        // Closed at once: it holds no descriptor, and the
                        // client sees the refusal instead of a hang.
                        drop(tcp);
                        debug!(%peer, "connection limit reached; closed a new connection");
                        if let Some(held) = over_limit.admit() {
                            warn!(
                                limit = max_connections,
                                refused_since_last_warning = held,
                                "connection limit reached: new connections are closed until open ones end"
                            );
                        }
                    }
                },
                Err(e) => {
                    // Usually transient (a connection reset before accept, or
                    // out of file descriptors): back off a little and go on.
                    if let Some(held) = accept_failed.admit() {
                        warn!(error = %e, failed_since_last_warning = held, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
    seat: Seat,
) {
    let activity = seat.registration.activity.clone();
    let evict = seat.registration.evict.clone();
    // Without it, HTTP/2 over small writes stalls on delayed ACKs.
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
    let stream = tokio::select! {
        handshake = tokio::time::timeout(limits.handshake, acceptor.accept(tcp)) => match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = stopped(&mut stop) => return,
        () = evict.notified() => {
            debug!(%peer, "evicted during its handshake to make room at the connection cap");
            return;
        }
    };

    let peer_cert = PeerCert(
        stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| Arc::new(leaf.to_vec())),
    );
    // The idle clock starts once the handshake is done.
    *activity.last_end.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer_cert.clone());
        request.extensions_mut().insert(PeerAddr(peer));
        let in_flight = requests.begin();
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .keep_alive_interval(limits.idle)
        .keep_alive_timeout(limits.idle);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = loop {
        // While a request is in progress, look again an idle period later.
        let idle_at = activity
            .idle_at(limits.idle)
            .unwrap_or_else(|| Instant::now() + limits.idle);
        tokio::select! {
            result = conn.as_mut() => break result,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                break conn.await;
            }
            () = tokio::time::sleep_until(idle_at.into()) => {
                if activity.idle_at(limits.idle).is_some_and(|at| at <= Instant::now()) {
                    debug!(%peer, "closing a connection idle for {:?}", limits.idle);
                    conn.as_mut().graceful_shutdown();
                    // A peer that does not let go is cut off.
                    break tokio::time::timeout(CLOSE_GRACE, conn.as_mut())
                        .await
                        .unwrap_or(Ok(()));
                }
            }
            () = evict.notified() => {
                debug!(%peer, "closing the longest-idle connection to make room at the connection cap");
                conn.as_mut().graceful_shutdown();
                // A request that started since it was chosen may finish.
                let grace = if activity.idle_at(Duration::ZERO).is_some() {
                    CLOSE_GRACE
                } else {
                    limits.idle
                };
                break tokio::time::timeout(grace, conn.as_mut())
                    .await
                    .unwrap_or(Ok(()));
            }
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves once shutdown is signalled (or the signal's sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::client_identity;
    use axum::Extension;
    use axum::routing::get;
    use tokio::sync::oneshot;

    struct Hub {
        ca: Ca,
        url: String,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<io::Result<()>>,
    }

    impl Hub {
        async fn start() -> Hub {
            let ca = Ca::generate("jxc test CA").unwrap();
            let (cert, key) = ca
                .server_cert(&["localhost".into(), "127.0.0.1".into()], 1)
                .unwrap();
            let config = server_config(&ca, &cert, &key).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!(
                "https://127.0.0.1:{}",
                listener.local_addr().unwrap().port()
            );
            let ca_pem = ca.cert_pem().to_owned();
            let app = Router::new()
                .route("/whoami", get(whoami))
                .route("/v1/ca", get(move || async move { ca_pem }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        "done"
                    }),
                );
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                serve(listener, config, app, &Limits::default(), async move {
                    let _ = stopped.await;
                })
                .await
            });
            Hub {
                ca,
                url,
                stop: Some(stop),
                task,
            }
        }

        fn client(&self) -> reqwest::ClientBuilder {
            reqwest::Client::builder()
                .tls_certs_only([
                    reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap(),
                ])
        }

        async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Result<String> {
            client
                .get(format!("{}{path}", self.url))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
    }

    async fn whoami(Extension(peer): Extension<PeerCert>) -> String {
        match peer.0 {
            None => "anonymous".into(),
            Some(der) => {
                let id = client_identity(&der).unwrap();
                format!("{}#{}", id.site, id.serial)
            }
        }
    }

    /// A client identity (cert + key PEM) issued by `ca`, the way an agent gets one.
    fn identity(ca: &Ca, site: &str, serial: u64) -> reqwest::Identity {
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let cert = ca.sign_client_csr(&csr, site, serial, 1).unwrap();
        reqwest::Identity::from_pem(format!("{cert}{}", key.serialize_pem()).as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn anonymous_request_sees_no_peer_cert() {
        let hub = Hub::start().await;
        let client = hub.client().build().unwrap();
        assert_eq!(hub.get(&client, "/whoami").await.unwrap(), "anonymous");
    }

    #[tokio::test]
    async fn client_cert_reaches_the_handler() {
        let hub = Hub::start().await;
        let client = hub
            .client()
            .identity(identity(&hub.ca, "site-9", 77))
            .build()
            .unwrap();
        assert_eq!(hub.get(&client, "/whoami").await.unwrap(), "site-9#77");
        // Both protocols: reqwest negotiates h2 by ALPN; force HTTP/1.1 too.
        let http1 = hub
            .client()
            .identity(identity(&hub.ca, "site-9", 78))
            .http1_only()
            .build()
            .unwrap();
        assert_eq!(hub.get(&http1, "/whoami").await.unwrap(), "site-9#78");
        let response = client
            .get(format!("{}/whoami", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
    }

    #[tokio::test]
    async fn client_cert_from_another_ca_is_refused() {
        let hub = Hub::start().await;
        let stranger = Ca::generate("someone else").unwrap();
        let client = hub
            .client()
            .identity(identity(&stranger, "site-1", 1))
            .build()
            .unwrap();
        assert!(hub.get(&client, "/whoami").await.is_err());
        // The failed handshake did not hurt the accept loop.
        let client = hub.client().build().unwrap();
        assert_eq!(hub.get(&client, "/whoami").await.unwrap(), "anonymous");
    }

    #[tokio::test]
    async fn tls12_and_tls13_clients_connect() {
        let hub = Hub::start().await;
        for version in [
            reqwest::tls::Version::TLS_1_2,
            reqwest::tls::Version::TLS_1_3,
        ] {
            let client = hub
                .client()
                .identity(identity(&hub.ca, "site-2", 5))
                .tls_version_min(version)
                .tls_version_max(version)
                .tls_info(true)
                .build()
                .unwrap();
            let response = client
                .get(format!("{}/whoami", hub.url))
                .send()
                .await
                .unwrap();
            let info = response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .unwrap();
            assert_eq!(info.version(), Some(version));
            assert_eq!(response.text().await.unwrap(), "site-2#5");
        }
    }

    #[tokio::test]
    async fn garbage_and_silent_connections_do_not_stop_the_loop() {
        use tokio::io::AsyncWriteExt as _;
        let hub = Hub::start().await;
        let addr = hub.url.trim_start_matches("https://").to_owned();
        let mut garbage = TcpStream::connect(&addr).await.unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let _silent = TcpStream::connect(&addr).await.unwrap();
        let client = hub.client().build().unwrap();
        assert_eq!(hub.get(&client, "/whoami").await.unwrap(), "anonymous");
    }

    #[tokio::test]
    async fn pinned_ca_fetch_without_verification() {
        // The agent's enrollment bootstrap: fetch the CA unverified, pin by hash.
        let hub = Hub::start().await;
        let insecure = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let pem = hub.get(&insecure, "/v1/ca").await.unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(crate::pki::fingerprint_der(&der), hub.ca.fingerprint());
    }

    #[tokio::test]
    async fn shutdown_stops_serve_and_lets_requests_finish() {
        let mut hub = Hub::start().await;
        let client = hub.client().build().unwrap();
        let url = format!("{}/slow", hub.url);
        let in_flight = tokio::spawn({
            let client = client.clone();
            async move { client.get(url).send().await?.text().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        hub.stop.take().unwrap().send(()).unwrap();
        assert_eq!(in_flight.await.unwrap().unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(5), &mut hub.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
        let fresh = hub.client().build().unwrap();
        assert!(hub.get(&fresh, "/whoami").await.is_err());
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_is_evicted_and_a_busy_one_never() {
        let registry = Arc::new(Registry::default());
        let older = registry.register();
        std::thread::sleep(Duration::from_millis(5));
        let newer = registry.register();
        // Both busy: nothing to evict, the newcomer is refused.
        let a = older.activity.begin();
        let b = newer.activity.begin();
        assert!(!registry.evict_longest_idle());
        // Both idle: the older goes, once; then the newer.
        drop((a, b));
        std::thread::sleep(Duration::from_millis(5));
        // The newer one served a request since: the older is idle longest.
        drop(newer.activity.begin());
        assert!(registry.evict_longest_idle());
        let evicted = |r: &Registration| {
            let notified = r.evict.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable()
        };
        assert!(evicted(&older) && !evicted(&newer));
        assert!(registry.evict_longest_idle());
        assert!(evicted(&newer));
        assert!(!registry.evict_longest_idle(), "each is evicted once");
        drop(older);
        drop(newer);
        assert!(registry.open.lock().unwrap().is_empty());
    }

    #[test]
    fn the_connection_cap_fits_under_the_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            256                  4096                 files\n";
        assert_eq!(connection_cap(512, Some(limits)), (192, Some(256)));
        assert_eq!(connection_cap(100, Some(limits)), (100, None));
        assert_eq!(connection_cap(512, None), (512, None));
        assert_eq!(connection_cap(512, Some("garbage")), (512, None));
        let tiny = "Max open files            10                   10                   files\n";
        assert_eq!(connection_cap(512, Some(tiny)), (1, Some(10)));
    }

    #[test]
    fn bad_server_material_is_refused() {
        let ca = Ca::generate("ca").unwrap();
        let (cert, key) = ca.server_cert(&["localhost".into()], 1).unwrap();
        let (_, other_key) = ca.server_cert(&["localhost".into()], 1).unwrap();
        assert!(server_config(&ca, "garbage", &key).is_err());
        assert!(server_config(&ca, &cert, "garbage").is_err());
        assert!(server_config(&ca, &cert, &other_key).is_err());
        let config = server_config(&ca, &cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
