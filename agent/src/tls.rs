//! TLS for the agent: its key pair and CSR, the pinned hub CA, the HTTPS client.
//!
//! Enrollment follows the kubeadm-join pattern: the token carries the SHA-256
//! fingerprint of the hub's CA certificate, the agent fetches the CA without
//! verification and accepts it only if the fingerprint matches; from then on
//! it trusts that CA and nothing else.

use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A CA certificate is a couple of kilobytes; refuse to buffer much more.
const MAX_CA_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not create the agent key and certificate request: {0}")]
    KeyGen(String),
    #[error("the CA certificate is not valid: {0}")]
    InvalidCa(String),
    #[error("the client certificate or key is not valid: {0}")]
    InvalidIdentity(String),
    #[error("the CA fingerprint {0:?} is not a hex SHA-256")]
    InvalidFingerprint(String),
    #[error("the hub URL {0:?} is not an https:// URL")]
    InvalidUrl(String),
    #[error("could not fetch the hub's CA from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error(
        "the hub's CA does not match the token: the hub's CA has fingerprint {actual}, \
         the token expects {expected}"
    )]
    CaMismatch { expected: String, actual: String },
    #[error("could not build the HTTPS client: {0}")]
    Client(String),
}

/// A fresh ECDSA P-256 key and a CSR for it naming `site`, as
/// `(key_pem, csr_pem)`. Only the CSR goes to the hub.
pub fn new_key_and_csr(site: &str) -> Result<(String, String), TlsError> {
    if site.trim().is_empty() {
        return Err(TlsError::KeyGen("the site name is empty".into()));
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::KeyGen(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, site);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| TlsError::KeyGen(e.to_string()))?;
    Ok((key.serialize_pem(), csr))
}

/// Lowercase hex SHA-256 of the (first) certificate in `ca_pem`.
pub fn fingerprint_pem(ca_pem: &str) -> Result<String, TlsError> {
    let der = first_cert(ca_pem)?;
    Ok(hex::encode(Sha256::digest(&der)))
}

/// Fetches `{hub_url}/v1/ca` without verifying the hub's certificate and
/// returns the CA PEM only if its fingerprint is `fingerprint`.
pub async fn fetch_pinned_ca(hub_url: &str, fingerprint: &str) -> Result<String, TlsError> {
    let expected = normalize_fingerprint(fingerprint)?;
    let url = format!("{}/v1/ca", https_base(hub_url)?);
    let fetch_err = |reason: String| TlsError::Fetch {
        url: url.clone(),
        reason,
    };

    // No verification here: the fingerprint check below is what authenticates.
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| TlsError::Client(error_chain(&e)))?;
    let mut response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fetch_err(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(fetch_err(format!("the hub answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_err(error_chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_CA_BYTES {
            return Err(fetch_err(format!(
                "the answer is larger than {MAX_CA_BYTES} bytes"
            )));
        }
    }
    let pem = String::from_utf8(body)
        .map_err(|_| fetch_err("the answer is not a PEM certificate".into()))?;

    let actual = fingerprint_pem(&pem)?;
    if actual != expected {
        return Err(TlsError::CaMismatch { expected, actual });
    }
    Ok(pem)
}

/// An HTTPS client that trusts only the CA(s) in `ca_pem` (no system roots)
/// and, with `identity = Some((cert_pem, key_pem))`, authenticates with that
/// client certificate.
pub fn client(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<reqwest::Client, TlsError> {
    let mut roots = Vec::new();
    // Checked here too so a bad CA gets a clear error instead of a builder one.
    let mut store = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let der = der.map_err(|e| TlsError::InvalidCa(e.to_string()))?;
        roots.push(
            reqwest::Certificate::from_der(&der)
                .map_err(|e| TlsError::InvalidCa(error_chain(&e)))?,
        );
        store
            .add(der)
            .map_err(|e| TlsError::InvalidCa(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::InvalidCa("no certificate in the PEM".into()));
    }

    let mut builder = reqwest::Client::builder()
        .tls_certs_only(roots)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if let Some((cert_pem, key_pem)) = identity {
        let pem = format!("{}\n{}", cert_pem.trim_end(), key_pem);
        let identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| TlsError::InvalidIdentity(error_chain(&e)))?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| TlsError::Client(error_chain(&e)))
}

fn first_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::InvalidCa(format!("no certificate in the PEM: {e}")))
}

/// Accepts upper case and `aa:bb:..` separators, as people paste them.
fn normalize_fingerprint(fingerprint: &str) -> Result<String, TlsError> {
    let hex: String = fingerprint
        .trim()
        .chars()
        .filter(|&c| c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TlsError::InvalidFingerprint(fingerprint.to_owned()));
    }
    Ok(hex)
}

fn https_base(hub_url: &str) -> Result<&str, TlsError> {
    let base = hub_url.trim().trim_end_matches('/');
    let has_host = base
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        && base.len() > 8;
    if !has_host {
        return Err(TlsError::InvalidUrl(hub_url.to_owned()));
    }
    Ok(base)
}

/// An error and its causes on one line: reqwest's own message is terse.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateSigningRequestParams, IsCa, Issuer, KeyUsagePurpose};

    /// A CA and a server certificate for 127.0.0.1 that it signed.
    struct TestPki {
        ca_pem: String,
        server_cert_pem: String,
        server_key_pem: String,
    }

    fn test_pki() -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// A one-thread HTTPS/1.1 server answering every request with `body`.
    fn serve(pki: &TestPki, body: String) -> String {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![first_cert(&pki.server_cert_pem).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
                    .unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        url
    }

    #[test]
    fn csr_is_parseable_and_names_the_site() {
        let (key_pem, csr_pem) = new_key_and_csr("site-3").unwrap();
        let key = KeyPair::from_pem(&key_pem).unwrap();
        assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
        let csr = CertificateSigningRequestParams::from_pem(&csr_pem).unwrap();
        assert_eq!(
            rcgen::PublicKeyData::der_bytes(&csr.public_key),
            key.public_key_raw()
        );
        assert!(format!("{:?}", csr.params.distinguished_name).contains("site-3"));
        assert!(!csr_pem.contains("PRIVATE"));
        assert!(new_key_and_csr("").is_err());
    }

    #[test]
    fn fingerprint_is_stable_and_refuses_garbage() {
        let pki = test_pki();
        let fp = fingerprint_pem(&pki.ca_pem).unwrap();
        assert_eq!(fp, fingerprint_pem(&pki.ca_pem).unwrap());
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, fp.to_lowercase());
        let der = first_cert(&pki.ca_pem).unwrap();
        assert_eq!(fp, hex::encode(Sha256::digest(&der)));
        assert_ne!(fp, fingerprint_pem(&test_pki().ca_pem).unwrap());
        assert!(fingerprint_pem("garbage").is_err());
        assert!(fingerprint_pem("").is_err());
        assert!(fingerprint_pem(&pki.server_key_pem).is_err());
    }

    #[test]
    fn fingerprints_and_urls_are_checked() {
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_fingerprint(&fp).unwrap(), "ab".repeat(32));
        assert!(normalize_fingerprint("abc").is_err());
        assert!(normalize_fingerprint(&"zz".repeat(32)).is_err());
        assert_eq!(https_base("https://hub:8443/").unwrap(), "https://hub:8443");
        assert!(https_base("http://hub").is_err());
        assert!(https_base("https://").is_err());
        assert!(https_base("hub:8443").is_err());
    }

    #[test]
    fn mismatch_message_shows_both_fingerprints() {
        let err = TlsError::CaMismatch {
            expected: "aaaa".into(),
            actual: "bbbb".into(),
        };
        let text = err.to_string();
        assert!(text.contains("the hub's CA does not match the token"));
        assert!(text.contains("aaaa") && text.contains("bbbb"));
    }

    #[tokio::test]
    async fn fetch_pinned_ca_accepts_only_the_pinned_ca() {
        let pki = test_pki();
        let url = serve(&pki, pki.ca_pem.clone());
        let fp = fingerprint_pem(&pki.ca_pem).unwrap();
        assert_eq!(fetch_pinned_ca(&url, &fp).await.unwrap(), pki.ca_pem);

        let other = fingerprint_pem(&test_pki().ca_pem).unwrap();
        match fetch_pinned_ca(&format!("{url}/"), &other).await {
            Err(TlsError::CaMismatch { expected, actual }) => {
                assert_eq!(expected, other);
                assert_eq!(actual, fp);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fetch_pinned_ca_refuses_a_non_certificate() {
        let pki = test_pki();
        let url = serve(&pki, "hello".into());
        let fp = fingerprint_pem(&pki.ca_pem).unwrap();
        assert!(matches!(
            fetch_pinned_ca(&url, &fp).await,
            Err(TlsError::InvalidCa(_))
        ));
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("https://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = fetch_pinned_ca(&dead, &fp).await.unwrap_err();
        assert!(matches!(err, TlsError::Fetch { .. }), "{err}");
    }

    #[tokio::test]
    async fn client_trusts_only_the_given_ca() {
        let pki = test_pki();
        let url = serve(&pki, "ok".into());
        let trusting = client(&pki.ca_pem, None).unwrap();
        let text = trusting
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "ok");
        let stranger = client(&test_pki().ca_pem, None).unwrap();
        assert!(stranger.get(&url).send().await.is_err());
    }

    #[test]
    fn client_refuses_bad_material() {
        let pki = test_pki();
        assert!(matches!(
            client("garbage", None),
            Err(TlsError::InvalidCa(_))
        ));
        assert!(client(&pki.ca_pem, None).is_ok());
        assert!(
            client(
                &pki.ca_pem,
                Some((&pki.server_cert_pem, &pki.server_key_pem))
            )
            .is_ok()
        );
        assert!(client(&pki.ca_pem, Some((&pki.server_cert_pem, "garbage"))).is_err());
        let (other_key, _) = new_key_and_csr("x").unwrap();
        assert!(client(&pki.ca_pem, Some((&pki.server_cert_pem, &other_key))).is_err());
    }
}
