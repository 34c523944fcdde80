//! The hub's TLS door, probed from outside with raw bytes and real clients:
//! TLS 1.0 and 1.1 are refused, plain HTTP gets no answer, and an expired
//! client certificate from the hub's own CA cannot open a connection.

use jxc_e2e::{Hub, Site, https_client};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A minimal ClientHello offering only `version` (0x0301 TLS 1.0, 0x0302
/// TLS 1.1) and one cipher suite of that era.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[1, 0]); // null compression
    let mut handshake = vec![1, 0, 0, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, version[0], version[1], 0, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// Sends `bytes` and returns what the server answers before closing.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    answer
}

#[test]
fn old_tls_versions_and_plain_http_are_refused() {
    let hub = Hub::new();
    let served = hub.start(None);
    for (name, version) in [("TLS 1.0", [3, 1]), ("TLS 1.1", [3, 2])] {
        let answer = exchange(served.port, &client_hello(version));
        // Either a fatal alert record (0x15) or a closed connection; never a
        // ServerHello (a handshake record, 0x16).
        assert!(
            answer.first().is_none_or(|&b| b == 0x15),
            "{name}: the hub answered {answer:02x?}"
        );
    }
    let answer = exchange(
        served.port,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.contains("200") && !text.contains("ok"),
        "plain HTTP was answered: {text}"
    );

    // The same hub does answer a real TLS client.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        let c = https_client(&hub.ca_pem(), None);
        c.get(format!("{}/healthz", served.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(body, "ok\n");
}

#[test]
fn an_expired_client_certificate_cannot_connect() {
    let hub = Hub::new();
    let served = hub.start(None);
    let site = Site::new("BJ01", &["main"]);
    site.ok(&[
        "enroll",
        "--hub",
        &served.url,
        "--token",
        &hub.token("BJ01", "branch"),
    ]);

    // A certificate for the same site from the hub's own CA, but expired.
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(hub.data().join("ca.key")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&hub.ca_pem(), ca_key).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "BJ01");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    // The serial the hub issued to BJ01 (its first enrollment): only the
    // dates differ from a certificate the hub would accept.
    params.serial_number = Some(rcgen::SerialNumber::from(1u64));
    let expired = params.signed_by(&key, &issuer).unwrap().pem();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = hub.ca_pem();
    let post = |cert: String, key: String| {
        rt.block_on(async {
            let c = https_client(&ca, Some((&cert, &key)));
            c.post(format!("{}/v1/sync", served.url))
                .body(Vec::new())
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    // The site's real certificate gets through TLS to the route, which
    // answers (400: this empty body is not a sync request)…
    let real = post(site.file("agent.pem"), site.file("agent.key"));
    assert_eq!(real.unwrap(), 400);
    // …the expired one, identical but for its dates, is cut off by the TLS
    // layer (with TLS 1.3 the client learns it as a closed connection).
    let result = post(expired, key.serialize_pem());
    assert!(
        result.is_err(),
        "an expired certificate reached a route: {result:?}"
    );
    // The site's real certificate still works.
    site.ok(&["sync"]);
}
