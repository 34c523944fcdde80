//! The hub's certificate authority: CA, server and client certificates.
//!
//! Everything here is synchronous and works on PEM strings; storing them is
//! the caller's business. Keys are ECDSA P-256.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
    SubjectPublicKeyInfo,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer};
use sha2::{Digest, Sha256};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

/// How long a freshly generated CA is valid.
const CA_VALIDITY_DAYS: u32 = 3650;
/// Issued certificates start this far in the past, to tolerate clock skew.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("the CA certificate or key is not valid: {0}")]
    InvalidCa(String),
    #[error("the certificate request is not valid: {0}")]
    InvalidCsr(String),
    #[error("the certificate is not valid: {0}")]
    InvalidCert(String),
    #[error("the private key is not valid: {0}")]
    InvalidKey(String),
    #[error("invalid certificate parameters: {0}")]
    InvalidParams(String),
    #[error("could not issue the certificate: {0}")]
    Issue(String),
    #[error("the TLS configuration is not valid: {0}")]
    TlsConfig(String),
}

/// The hub's CA: its certificate, its key, and an issuer ready to sign.
pub struct Ca {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"[elided]")
            .finish()
    }
}

impl Ca {
    /// A new self-signed CA, valid for ten years, allowed to sign leaf
    /// certificates only (path length 0).
    pub fn generate(common_name: &str) -> Result<Ca, PkiError> {
        if common_name.trim().is_empty() {
            return Err(PkiError::InvalidParams(
                "the CA common name is empty".into(),
            ));
        }
        let key = new_key()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, CA_VALIDITY_DAYS);
        let cert = params.self_signed(&key).map_err(issue_err)?;
        let key_pem = key.serialize_pem();
        Ok(Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA saved with [`Ca::cert_pem`] and [`Ca::key_pem`]. The
    /// certificate must be a CA and the key must be its key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::InvalidCa(format!("no certificate in the PEM: {e}")))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| PkiError::InvalidCa(e.to_string()))?;
        if !x509.is_ca() {
            return Err(PkiError::InvalidCa(
                "the certificate is not a CA certificate".into(),
            ));
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::InvalidCa(e.to_string()))?;
        if rcgen::PublicKeyData::subject_public_key_info(&key) != x509.public_key().raw {
            return Err(PkiError::InvalidCa(
                "the key does not belong to the certificate".into(),
            ));
        }
        let issuer =
            Issuer::from_ca_cert_der(&der, key).map_err(|e| PkiError::InvalidCa(e.to_string()))?;
        Ok(Ca {
            cert_pem: cert_pem.to_owned(),
            cert_der: der.to_vec(),
            key_pem: key_pem.to_owned(),
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Lowercase hex SHA-256 of the CA certificate DER: what enrollment
    /// tokens pin.
    pub fn fingerprint(&self) -> String {
        fingerprint_der(&self.cert_der)
    }

    /// A server certificate for `hostnames` (DNS names or IP literals),
    /// valid for `days`. Returns `(cert_pem, key_pem)`.
    pub fn server_cert(
        &self,
        hostnames: &[String],
        days: u32,
    ) -> Result<(String, String), PkiError> {
        let first = hostnames.first().ok_or_else(|| {
            PkiError::InvalidParams("a server certificate needs at least one host name".into())
        })?;
        let mut sans = Vec::with_capacity(hostnames.len());
        for name in hostnames {
            let name = name.trim();
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) if !name.is_empty() => SanType::DnsName(name.try_into().map_err(|e| {
                    PkiError::InvalidParams(format!("invalid host name {name:?}: {e}"))
                })?),
                Err(_) => return Err(PkiError::InvalidParams("empty host name".into())),
            };
            sans.push(san);
        }
        let key = new_key()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(first.trim());
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, days_checked(days)?);
        let cert = params.signed_by(&key, &self.issuer).map_err(issue_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issues a client certificate for `site`. Only the public key is taken
    /// from the request (after checking its signature, which proves the
    /// requester holds the private key); name, serial, usages and validity
    /// are the hub's.
    pub fn sign_client_csr(
        &self,
        csr_pem: &str,
        site: &str,
        serial: u64,
        days: u32,
    ) -> Result<String, PkiError> {
        if site.trim().is_empty() {
            return Err(PkiError::InvalidParams("the site name is empty".into()));
        }
        let public_key = csr_public_key(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(site);
        params.serial_number = Some(SerialNumber::from(serial));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, days_checked(days)?);
        let cert = params
            .signed_by(&public_key, &self.issuer)
            .map_err(issue_err)?;
        Ok(cert.pem())
    }
}

/// Lowercase hex SHA-256 of a DER certificate.
pub fn fingerprint_der(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Who a client certificate speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub site: String,
    pub serial: u64,
}

/// Reads the site (subject CN) and serial of a client certificate. It does
/// not verify anything: call it on a certificate the TLS layer has verified.
pub fn client_identity(cert_der: &[u8]) -> Result<ClientIdentity, PkiError> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| PkiError::InvalidCert(e.to_string()))?;
    let site = x509
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| PkiError::InvalidCert("the certificate has no common name".into()))?
        .as_str()
        .map_err(|e| PkiError::InvalidCert(format!("the common name is not a string: {e}")))?
        .to_owned();
    let serial = serial_u64(x509.raw_serial())
        .ok_or_else(|| PkiError::InvalidCert("the serial number does not fit in 64 bits".into()))?;
    Ok(ClientIdentity { site, serial })
}

fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| PkiError::InvalidKey(e.to_string()))
}

fn common_name_dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn days_checked(days: u32) -> Result<u32, PkiError> {
    if days == 0 {
        return Err(PkiError::InvalidParams(
            "the validity must be at least one day".into(),
        ));
    }
    Ok(days)
}

fn set_validity(params: &mut CertificateParams, days: u32) {
    let now = ASN1Time::now().to_datetime();
    params.not_before = now - BACKDATE;
    params.not_after = now + DAY * days;
}

fn issue_err(e: rcgen::Error) -> PkiError {
    PkiError::Issue(e.to_string())
}

/// The public key of a PEM CSR whose signature checks out. Requested
/// extensions and names are ignored, whatever they are.
fn csr_public_key(csr_pem: &str) -> Result<SubjectPublicKeyInfo, PkiError> {
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|e| PkiError::InvalidCsr(format!("no certificate request in the PEM: {e}")))?;
    let (_, csr) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|e| PkiError::InvalidCsr(e.to_string()))?;
    csr.verify_signature()
        .map_err(|_| PkiError::InvalidCsr("its signature does not verify".into()))?;
    SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
        .map_err(|e| PkiError::InvalidCsr(format!("unsupported public key: {e}")))
}

/// The common name a (signature-checked) CSR asks for, if it names one. The
/// hub never takes identity from it; it only refuses a request for a site
/// other than the one the token enrolls.
pub fn csr_common_name(csr_pem: &str) -> Result<Option<String>, PkiError> {
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|e| PkiError::InvalidCsr(format!("no certificate request in the PEM: {e}")))?;
    let (_, csr) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|e| PkiError::InvalidCsr(e.to_string()))?;
    Ok(csr
        .certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned))
}

/// A DER INTEGER's content bytes as a non-negative u64.
fn serial_u64(raw: &[u8]) -> Option<u64> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    let first_nonzero = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    let digits = &raw[first_nonzero..];
    if digits.len() > 8 {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::CertificateSigningRequestParams;

    /// What the agent does: its own key, a CSR naming itself.
    fn agent_csr(site: &str) -> (KeyPair, String) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(site);
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (key, csr)
    }

    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).unwrap().1
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = Ca::generate("jxc test CA").unwrap();
        let again = Ca::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(ca.fingerprint(), again.fingerprint());
        assert_eq!(ca.cert_der(), again.cert_der());
        assert_eq!(ca.fingerprint(), fingerprint_der(ca.cert_der()));
        assert_eq!(ca.fingerprint().len(), 64);
        assert!(
            ca.fingerprint()
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );

        let x509 = parse(ca.cert_der());
        assert!(x509.is_ca());
        let lifetime =
            x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp();
        assert!(lifetime > 3649 * 86_400);

        // The reloaded CA still signs certificates that chain to the original.
        let (_, csr) = agent_csr("site-a");
        let cert = again.sign_client_csr(&csr, "site-a", 7, 30).unwrap();
        parse(&pem_to_der(&cert))
            .verify_signature(Some(parse(ca.cert_der()).public_key()))
            .unwrap();
    }

    #[test]
    fn from_pem_refuses_a_mismatched_key_and_a_leaf() {
        let ca = Ca::generate("one").unwrap();
        let other = Ca::generate("two").unwrap();
        let err = Ca::from_pem(ca.cert_pem(), other.key_pem()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(Ca::from_pem("garbage", ca.key_pem()).is_err());
        assert!(Ca::from_pem(ca.cert_pem(), "garbage").is_err());

        let (leaf, leaf_key) = ca.server_cert(&["localhost".into()], 1).unwrap();
        let err = Ca::from_pem(&leaf, &leaf_key).unwrap_err();
        assert!(err.to_string().contains("not a CA"), "{err}");
    }

    #[test]
    fn client_csr_is_signed_with_the_hubs_terms() {
        let ca = Ca::generate("jxc test CA").unwrap();
        let (key, csr) = agent_csr("whatever-the-agent-claims");
        let cert_pem = ca.sign_client_csr(&csr, "site-7", 42, 365).unwrap();
        let der = pem_to_der(&cert_pem);
        let x509 = parse(&der);

        x509.verify_signature(Some(parse(ca.cert_der()).public_key()))
            .unwrap();
        assert_eq!(
            x509.public_key().raw,
            rcgen::PublicKeyData::subject_public_key_info(&key)
        );
        assert_eq!(
            client_identity(&der).unwrap(),
            ClientIdentity {
                site: "site-7".into(),
                serial: 42
            }
        );
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(!x509.is_ca());
        let now = ASN1Time::now().timestamp();
        let not_before = x509.validity().not_before.timestamp();
        assert!(not_before <= now - 4 * 60 && not_before >= now - 6 * 60);
    }

    #[test]
    fn csr_requests_are_ignored() {
        let ca = Ca::generate("jxc test CA").unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();

        let der = pem_to_der(&ca.sign_client_csr(&csr, "site-1", 1, 1).unwrap());
        let x509 = parse(&der);
        assert!(!x509.is_ca());
        assert!(x509.subject_alternative_name().unwrap().is_none());
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let ku = x509.key_usage().unwrap().unwrap().value;
        assert!(!ku.key_cert_sign());
    }

    #[test]
    fn large_serials_survive() {
        let ca = Ca::generate("ca").unwrap();
        let (_, csr) = agent_csr("s");
        for serial in [1, 0x80, u64::MAX] {
            let der = pem_to_der(&ca.sign_client_csr(&csr, "s", serial, 1).unwrap());
            assert_eq!(client_identity(&der).unwrap().serial, serial);
        }
    }

    #[test]
    fn bad_csrs_are_refused() {
        let ca = Ca::generate("jxc test CA").unwrap();
        for garbage in [
            "",
            "garbage",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        ] {
            let err = ca.sign_client_csr(garbage, "site", 1, 1).unwrap_err();
            assert!(matches!(err, PkiError::InvalidCsr(_)), "{err}");
        }

        // Flip a byte in the signature (the DER's tail): it must not verify.
        let (_, csr) = agent_csr("site");
        let mut der = CertificateSigningRequestDer::from_pem_slice(csr.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        let last = der.len() - 3;
        der[last] ^= 0x01;
        let tampered_pem = pem_encode("CERTIFICATE REQUEST", &der);
        let err = ca.sign_client_csr(&tampered_pem, "site", 1, 1).unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
        // rcgen's own parser agrees the tampered request is bad.
        assert!(CertificateSigningRequestParams::from_pem(&tampered_pem).is_err());
        assert!(CertificateSigningRequestParams::from_pem(&csr).is_ok());
    }

    #[test]
    fn bad_parameters_are_refused() {
        let ca = Ca::generate("ca").unwrap();
        let (_, csr) = agent_csr("s");
        assert!(ca.sign_client_csr(&csr, "", 1, 1).is_err());
        assert!(ca.sign_client_csr(&csr, "s", 1, 0).is_err());
        assert!(ca.server_cert(&[], 1).is_err());
        assert!(ca.server_cert(&["".into()], 1).is_err());
        assert!(Ca::generate(" ").is_err());
    }

    #[test]
    fn server_cert_names_and_usage() {
        let ca = Ca::generate("jxc test CA").unwrap();
        let (cert_pem, key_pem) = ca
            .server_cert(&["localhost".into(), "127.0.0.1".into(), "::1".into()], 30)
            .unwrap();
        assert!(KeyPair::from_pem(&key_pem).is_ok());
        let der = pem_to_der(&cert_pem);
        let x509 = parse(&der);
        x509.verify_signature(Some(parse(ca.cert_der()).public_key()))
            .unwrap();
        let san = x509.subject_alternative_name().unwrap().unwrap().value;
        use x509_parser::extensions::GeneralName;
        assert!(
            san.general_names
                .contains(&GeneralName::DNSName("localhost"))
        );
        assert!(
            san.general_names
                .contains(&GeneralName::IPAddress(&[127, 0, 0, 1]))
        );
        assert!(
            san.general_names
                .iter()
                .any(|n| matches!(n, GeneralName::IPAddress(ip) if ip.len() == 16))
        );
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
    }

    #[test]
    fn client_identity_refuses_garbage() {
        assert!(client_identity(b"not a certificate").is_err());
        assert_eq!(serial_u64(&[0x00, 0xff]), Some(255));
        assert_eq!(serial_u64(&[0xff]), None);
        assert_eq!(serial_u64(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn ca_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ca>();
    }

    fn pem_encode(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }
}
