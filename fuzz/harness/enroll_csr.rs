//! Fuzz harness for the enrollment CSR path: what `/v1/enroll` does with the
//! `token` and `csr_pem` of a request (`EnrollToken::parse`,
//! `pki::csr_common_name`, `Ca::sign_client_csr`). The bytes are tried as the
//! PEM text itself and as the DER inside a PEM envelope, so the fuzzer reaches
//! the ASN.1 parser. Compiled by `fuzz/fuzz_targets/enroll_csr.rs` and by
//! `hub/tests/fuzz_regressions.rs`, which replays committed inputs.
//!
//! Besides "no panic" it checks: a request the hub signs also yields its
//! common name, and the certificate names the hub's site and serial whatever
//! the request asked for.

use base64::Engine as _;
use jxc_hub::pki::{self, Ca, ClientIdentity};
use jxc_shared::protocol::EnrollToken;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::OnceLock;

pub(crate) fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = EnrollToken::parse(text);
        sign(text);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    sign(&format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n"
    ));
}

fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| Ca::generate("jxc fuzz CA").expect("generate a CA"))
}

fn sign(csr_pem: &str) {
    let cn = pki::csr_common_name(csr_pem);
    match ca().sign_client_csr(csr_pem, "BJ01", 7, 1) {
        Ok(cert_pem) => {
            assert!(cn.is_ok(), "signed a request whose name cannot be read");
            let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
                .expect("the hub's certificate is PEM");
            assert_eq!(
                pki::client_identity(&der).expect("the hub's certificate parses"),
                ClientIdentity {
                    site: "BJ01".into(),
                    serial: 7
                }
            );
        }
        Err(e) => assert!(!e.to_string().trim().is_empty()),
    }
}
