//! The hub's doors under slow, idle and hostile clients, probed through a
//! real `jxc-hub serve` with raw TLS connections: a stranger's upload is
//! answered before its body is sent, a slow body is cut off, idle
//! connections are closed so the connection cap never starves `/healthz`,
//! and the loose ends (enrollment audit lines, per-connection warnings,
//! file modes, a token of the wrong kind) hold across processes.
//!
//! Every wait is bounded by a generous timeout; no assertion depends on how
//! fast the machine is.

use jxc_e2e::{Hub, Site, binary, https_client, pem_der};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Longer than any wait below should ever need.
const GENEROUS: Duration = Duration::from_secs(30);

/// Writes `[limits]` into the hub's config file (the harness runs the hub
/// in its temp dir, where `./jxc-hub.toml` is read).
fn limits(hub: &Hub, table: &str) {
    std::fs::write(
        hub.dir.path().join("jxc-hub.toml"),
        format!("[limits]\n{table}\n"),
    )
    .unwrap();
}

/// A TLS client trusting only the hub's CA, speaking HTTP/1.1, with the
/// given client identity (cert PEM, key PEM).
fn tls(ca_pem: &str, identity: Option<(&str, &str)>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pem_der(ca_pem).unwrap()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn connect(port: u16, tls: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tls.connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The head of an upload that declares 3,999,999 bytes of body.
fn upload_head(path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-jxc-sync\r\n\
         x-jxc-protocol: 1\r\nContent-Length: 3999999\r\n\r\n"
    )
}

/// Reads until the end of a response head (or the end of the stream).
async fn read_head(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether the hub closes `stream` (EOF or reset) within [`GENEROUS`].
async fn closed_by_hub(stream: &mut TlsStream<TcpStream>) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(GENEROUS, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await,
        Ok(())
    )
}

/// An enrolled branch's client identity (cert PEM, key PEM).
fn enrolled(hub: &Hub, url: &str, id: &str) -> (Site, String, String) {
    let site = Site::new(id, &["main"]);
    site.ok(&["enroll", "--hub", url, "--token", &hub.token(id, "branch")]);
    let cert = site.file("agent.pem");
    let key = site.file("agent.key");
    (site, cert, key)
}

#[test]
fn a_strangers_upload_is_answered_before_its_body_is_sent() {
    let hub = Hub::new();
    let served = hub.start(None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connector = tls(&hub.ca_pem(), None);
    for path in ["/v1/sync", "/v1/docs"] {
        rt.block_on(async {
            let stream = connect(served.port, &connector).await.unwrap();
            let (mut read, mut write) = tokio::io::split(stream);
            // One MB of the 3,999,999 declared, sent beside the read: the
            // rest is never sent, so an answer proves the body was not awaited.
            let sender = tokio::spawn(async move {
                write.write_all(upload_head(path).as_bytes()).await?;
                for _ in 0..16 {
                    write.write_all(&[0u8; 64 * 1024]).await?;
                }
                write.flush().await?;
                // Hold the connection open with the body unfinished.
                tokio::time::sleep(GENEROUS * 2).await;
                Ok::<_, std::io::Error>(write)
            });
            let head = tokio::time::timeout(GENEROUS, read_head(&mut read))
                .await
                .unwrap_or_else(|_| panic!("{path}: no answer while the body was unfinished"));
            assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("www-authenticate: jxc-client-certificate"),
                "{path}: {head}"
            );
            sender.abort();
        });
    }
}

#[test]
fn a_slow_body_is_cut_off_by_the_body_timeout() {
    let hub = Hub::new();
    limits(&hub, "body_timeout_secs = 2");
    let served = hub.start(None);
    let (_site, cert, key) = enrolled(&hub, &served.url, "BJ01");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connector = tls(&hub.ca_pem(), Some((&cert, &key)));
    rt.block_on(async {
        let mut stream = connect(served.port, &connector).await.unwrap();
        stream
            .write_all(upload_head("/v1/sync").as_bytes())
            .await
            .unwrap();
        stream.write_all(&[0u8; 100]).await.unwrap();
        stream.flush().await.unwrap();
        let started = Instant::now();
        let head = tokio::time::timeout(GENEROUS, read_head(&mut stream))
            .await
            .expect("the body timeout answers a slow body");
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "answered before the body timeout: {head}"
        );
        assert!(
            closed_by_hub(&mut stream).await,
            "the connection stays open"
        );
    });
}

#[test]
fn idle_connections_are_closed_and_the_connection_cap_does_not_starve_healthz() {
    let hub = Hub::new();
    limits(
        &hub,
        "max_connections = 4\nidle_timeout_secs = 2\nbody_timeout_secs = 120",
    );
    let served = hub.start(None);
    let (_site, cert, key) = enrolled(&hub, &served.url, "BJ01");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anonymous = tls(&hub.ca_pem(), None);
    let agent = tls(&hub.ca_pem(), Some((&cert, &key)));
    let healthz = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let deadline = Instant::now() + GENEROUS;
            loop {
                let c = https_client(&hub.ca_pem(), None);
                match c.get(format!("{}/healthz", served.url)).send().await {
                    Ok(r) if r.status().is_success() => return true,
                    _ if Instant::now() > deadline => return false,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
    };
    rt.block_on(async {
        // Connections that finish the handshake and then say nothing fill
        // the cap, and the hub closes each once it has been idle.
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(connect(served.port, &anonymous).await.unwrap());
        }
        for (i, stream) in idle.iter_mut().enumerate() {
            assert!(
                closed_by_hub(stream).await,
                "idle connection {i} is still open"
            );
        }
    });
    assert!(
        healthz(&rt),
        "/healthz did not answer once idle ones were closed"
    );

    rt.block_on(async {
        // The cap of four: M, a keep-alive connection that reads /metrics,
        // and three uploads in progress (not idle: never displaced).
        let mut m = connect(served.port, &anonymous).await.unwrap();
        let before = requests_total(&mut m, &hub.admin).await;
        let mut busy = Vec::new();
        for _ in 0..3 {
            let mut s = connect(served.port, &agent).await.unwrap();
            s.write_all(upload_head("/v1/sync").as_bytes())
                .await
                .unwrap();
            s.write_all(&[0u8; 10]).await.unwrap();
            s.flush().await.unwrap();
            busy.push(s);
        }
        // Each request is counted as it reaches the router, so the hub has
        // all three uploads in hand once the count (M's own reads
        // included) says so.
        let deadline = Instant::now() + GENEROUS;
        let mut polls = 0;
        loop {
            let seen = requests_total(&mut m, &hub.admin).await;
            polls += 1;
            if seen >= before + polls + 3 {
                break;
            }
            assert!(Instant::now() < deadline, "the uploads never arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A newcomer at the cap takes the place of M, the only idle one.
        let mut newcomer = connect(served.port, &anonymous).await.unwrap();
        let reply = get(&mut newcomer, "/healthz", None).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(closed_by_hub(&mut m).await, "the idle connection was kept");
        for (i, s) in busy.iter_mut().enumerate() {
            let mut byte = [0u8; 1];
            assert!(
                tokio::time::timeout(Duration::from_millis(500), s.read(&mut byte))
                    .await
                    .is_err(),
                "upload {i}, in progress, was cut"
            );
        }
        drop(busy);
    });
    assert!(
        healthz(&rt),
        "/healthz did not answer once the uploads ended"
    );
}

/// A GET on an open HTTP/1.1 connection (kept alive); the whole reply.
async fn get(stream: &mut TlsStream<TcpStream>, path: &str, bearer: Option<&str>) -> String {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n").as_bytes())
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let head = read_head(stream).await;
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.unwrap();
    format!("{head}{}", String::from_utf8_lossy(&body))
}

/// The hub's `jxc_http_requests_total`, read on `stream`.
async fn requests_total(stream: &mut TlsStream<TcpStream>, admin: &str) -> u64 {
    let reply = get(stream, "/metrics", Some(admin)).await;
    reply
        .lines()
        .find_map(|l| l.strip_prefix("jxc_http_requests_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no request count in {reply}"))
}

#[test]
fn a_token_of_the_wrong_kind_is_refused_and_still_works_for_the_right_agent() {
    let hub = Hub::new();
    let served = hub.start(None);
    let token = hub.token("BJ01", "dealer");
    let branch = Site::new("BJ01", &["main"]);
    let err = branch.fails(&["enroll", "--hub", &served.url, "--token", &token], 4);
    let err = err.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("kind dealer") && err.contains("kind branch"),
        "{err}"
    );
    assert!(
        !branch.data().join("agent.pem").exists(),
        "a refused enrollment left a certificate"
    );
    assert_eq!(hub.json(&["sites"]).as_array().unwrap().len(), 0);
    let dealer = Site::with_kind("BJ01", "dealer", &["main"]);
    dealer.ok(&["enroll", "--hub", &served.url, "--token", &token]);
    let sites = hub.json(&["sites"]);
    assert_eq!(sites[0]["kind"], "dealer", "{sites}");
}

/// A TLS 1.3 ClientHello naming `host` as its server name (SNI), which
/// rustls only decodes: the handshake itself goes no further.
fn client_hello_with_sni(host: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let name = host.as_bytes();
    let list_len = name.len() + 3;
    ext.extend_from_slice(&[0, 0]); // server_name
    ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    ext.push(0); // host_name
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]); // supported_versions: TLS 1.3
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut handshake = vec![1, 0];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// A process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `jxc-hub serve` logging at `level` (the harness runs it at WARN) and,
/// with `open_files`, under that open-file limit; returns the process, its
/// port and its log file.
fn serve_custom(hub: &Hub, level: &str, open_files: Option<u64>) -> (Reaped, u16, PathBuf) {
    let out = hub.dir.path().join("custom.out");
    let err = hub.dir.path().join("custom.err");
    let mut command = match open_files {
        None => hub.command(&["serve", "--listen", "127.0.0.1:0"]),
        Some(n) => {
            // Through the shell's `ulimit`, as an operator's unit would.
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(binary("jxc-hub"))
                .arg("--data")
                .arg(hub.data())
                .args(["serve", "--listen", "127.0.0.1:0"])
                .current_dir(hub.dir.path())
                .env_remove("JXC_HUB_DATA")
                .env_remove("JXC_HUB_CONFIG");
            if let Some(url) = &hub.database {
                c.env("JXC_HUB_DATABASE", url);
            }
            c
        }
    };
    command
        .env("JXC_LOG", level)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let child = Reaped(command.spawn().unwrap());
    let deadline = Instant::now() + GENEROUS;
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find_map(|l| l.strip_prefix("listening on https://127.0.0.1:"))
            .and_then(|p| p.trim().parse().ok())
        {
            return (child, port, err);
        }
        assert!(Instant::now() < deadline, "the hub did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn failed_enrollments_are_audited_sparingly_and_client_quirks_do_not_warn() {
    let hub = Hub::new();
    let (child, port, log) = serve_custom(&hub, "info", None);
    let url = format!("https://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    rt.block_on(async {
        let c = https_client(&hub.ca_pem(), None);
        for _ in 0..25 {
            let r = c
                .post(format!("{url}/v1/enroll"))
                .header("content-type", "application/json")
                .body(r#"{"token":"jxc1.00000000.00.00","csr_pem":""}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
        }
    });
    // A client naming the hub by IP address in SNI, a few times over.
    for _ in 0..5 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(GENEROUS)).unwrap();
        use std::io::{Read, Write};
        s.write_all(&client_hello_with_sni("127.0.0.1")).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
    }
    // The hub still serves after them.
    let body = rt.block_on(async {
        let c = https_client(&hub.ca_pem(), None);
        c.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(body, "ok\n");
    let elapsed = started.elapsed();
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let audited: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("enrollment refused"))
        .collect();
    assert!(!audited.is_empty(), "no audit line:\n{text}");
    for line in &audited {
        assert!(line.contains("INFO"), "{line}");
        assert!(line.contains("peer=127.0.0.1:"), "{line}");
        assert!(line.contains("status=401"), "{line}");
    }
    // At most 10 a minute; this burst took well under one unless the
    // machine is very slow, in which case a second minute may add 10.
    let minutes = elapsed.as_secs() / 60 + 1;
    assert!(
        audited.len() <= 10 * minutes as usize,
        "{} audit lines in {elapsed:?}:\n{text}",
        audited.len()
    );
    assert!(
        !text.lines().any(|l| l.contains("WARN")),
        "per-connection warnings in the log:\n{text}"
    );
}

#[test]
fn data_files_are_the_owners_alone_and_init_says_where_the_ca_is() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    let out = std::process::Command::new(binary("jxc-hub"))
        .arg("--data")
        .arg(&data)
        .arg("init")
        .env("JXC_LOG", "warn")
        .env_remove("JXC_HUB_CONFIG")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let ca = data.join("ca.pem");
    assert!(
        stdout.contains(&format!(
            "CA certificate (for curl --cacert): {}",
            ca.display()
        )),
        "{stdout}"
    );
    assert!(ca.is_file());
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("hub.db")), 0o600);

    let site = Site::new("BJ01", &["main"]);
    assert_eq!(mode(&site.data()), 0o700);
    for name in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let path = site.data().join(name);
        if name == "ledger.db" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
}

#[test]
fn idle_connections_cannot_exhaust_a_small_open_file_limit() {
    // The field report: 239 idle TLS connections filled the descriptor
    // limit, /healthz failed and the log took ~20 warnings a second. Here
    // the limit is 128 and 200 idle connections are opened.
    let hub = Hub::new();
    limits(&hub, "idle_timeout_secs = 2");
    let (child, port, log) = serve_custom(&hub, "warn", Some(128));
    let url = format!("https://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connector = tls(&hub.ca_pem(), None);
    let healthy = rt.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..200 {
            if let Ok(s) = connect(port, &connector).await {
                idle.push(s);
            }
        }
        // Served again once the idle ones are closed, while they are all
        // still held open on this side.
        let deadline = Instant::now() + GENEROUS;
        let healthy = loop {
            let c = https_client(&hub.ca_pem(), None);
            match c.get(format!("{url}/healthz")).send().await {
                Ok(r) if r.status().is_success() => break true,
                _ if Instant::now() > deadline => break false,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        drop(idle);
        healthy
    });
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(healthy, "/healthz starved:\n{text}");
    assert!(
        text.contains("max_connections lowered to fit the open-file limit"),
        "{text}"
    );
    assert!(
        !text.contains("accepting a connection failed"),
        "the descriptors ran out:\n{text}"
    );
    let warnings = text.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 6, "{warnings} warnings:\n{text}");
}

#[test]
fn at_the_cap_a_new_client_takes_the_place_of_the_longest_idle_connection() {
    let hub = Hub::new();
    // Idle connections are not timed out during this test.
    limits(&hub, "max_connections = 4\nidle_timeout_secs = 600");
    let served = hub.start(None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anonymous = tls(&hub.ca_pem(), None);
    rt.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(connect(served.port, &anonymous).await.unwrap());
        }
        let c = https_client(&hub.ca_pem(), None);
        let body = tokio::time::timeout(GENEROUS, async {
            c.get(format!("{}/healthz", served.url))
                .send()
                .await?
                .text()
                .await
        })
        .await
        .expect("/healthz answers at the cap")
        .expect("/healthz answers at the cap");
        assert_eq!(body, "ok\n");
        // The first one opened, idle the longest, made room.
        assert!(
            closed_by_hub(&mut idle[0]).await,
            "the longest-idle connection is still open"
        );
    });
}
