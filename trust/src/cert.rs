//! Org certificates: the admission check run on every connection, and field extraction.
//!
//! A peer presents the DER certificate issued by [`crate::FederationCa::admit`].
//! [`verify_org_cert`] first lets rustls-webpki check the chain to the federation CA, the
//! validity dates and the client-auth usage, then reads the OSSA SAN URIs with x509-parser and
//! checks the federation matches the CA's. The node then binds the returned `peer_id` /
//! `public_key` to the Noise-authenticated libp2p peer; this crate knows nothing of libp2p.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::fields::{collect_uris, ed25519_key, single_common_name};
use crate::names::{validate_federation_name, validate_peer_id, KIND_FEDERATION, KIND_ORG, KIND_PEER, KIND_ROLE};
use crate::{pem_to_der, validate_org_name, AdmissionError, Role, TrustError, MAX_PEM_BYTES};

/// The identity an org certificate carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgCertificate {
    /// The org name.
    pub org: String,
    /// The federation that issued the certificate.
    pub federation: String,
    /// The libp2p peer id of the org's node.
    pub peer_id: String,
    /// The org's role in the federation.
    pub role: Role,
    /// The org's ed25519 public key.
    pub public_key: [u8; 32],
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
}

/// Admission check: `cert_der` chains to the federation CA `ca_der`, is valid at
/// `now_unix_secs` for client auth, and carries exactly one org, peer, federation and role SAN
/// URI, the federation being the CA's. Does not check the peer-id binding.
pub fn verify_org_cert(cert_der: &[u8], ca_der: &[u8], now_unix_secs: u64) -> Result<OrgCertificate, AdmissionError> {
    if cert_der.len() > MAX_PEM_BYTES {
        return Err(AdmissionError::TooLarge);
    }
    let expected =
        ca_federation(ca_der).map_err(|e| AdmissionError::BadChain(format!("federation CA certificate: {e}")))?;
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca)
        .map_err(|e| AdmissionError::BadChain(format!("federation CA certificate: {e}")))?;
    let cert = CertificateDer::from(cert_der);
    let end_entity = webpki::EndEntityCert::try_from(&cert).map_err(|e| AdmissionError::Malformed(e.to_string()))?;
    end_entity
        .verify_for_usage(
            &[webpki::ring::ED25519],
            &[anchor],
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(now_unix_secs)),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(chain_error)?;

    let fields = org_fields(cert_der)?;
    if fields.federation != expected {
        return Err(AdmissionError::WrongFederation { expected, found: fields.federation });
    }
    Ok(fields)
}

/// Reads the fields of a PEM org certificate without checking its chain or dates.
pub fn parse_org_cert_pem(pem: &str) -> Result<OrgCertificate, TrustError> {
    let der = pem_to_der(pem, "CERTIFICATE")?;
    Ok(org_fields(&der)?)
}

/// The federation named by a CA certificate's single `urn:ossa:federation` SAN URI.
pub(crate) fn ca_federation(ca_der: &[u8]) -> Result<String, AdmissionError> {
    let x509 = parse(ca_der)?;
    let uris = collect_uris(san_names(&x509)?, &[KIND_FEDERATION]).map_err(AdmissionError::Malformed)?;
    let federation = uris.federation.ok_or(AdmissionError::MissingField("federation"))?;
    validate_federation_name(&federation).map_err(|e| AdmissionError::Malformed(e.to_string()))?;
    Ok(federation)
}

/// The ed25519 public key of a certificate.
pub(crate) fn cert_public_key(der: &[u8]) -> Result<[u8; 32], AdmissionError> {
    ed25519_key(parse(der)?.public_key()).map_err(AdmissionError::Malformed)
}

fn org_fields(der: &[u8]) -> Result<OrgCertificate, AdmissionError> {
    let x509 = parse(der)?;
    let malformed = |e: TrustError| AdmissionError::Malformed(e.to_string());
    let uris = collect_uris(san_names(&x509)?, &[KIND_ORG, KIND_PEER, KIND_FEDERATION, KIND_ROLE])
        .map_err(AdmissionError::Malformed)?;
    let org = uris.org.ok_or(AdmissionError::MissingField("org"))?;
    let peer_id = uris.peer.ok_or(AdmissionError::MissingField("peer"))?;
    let federation = uris.federation.ok_or(AdmissionError::MissingField("federation"))?;
    let role = uris.role.ok_or(AdmissionError::MissingField("role"))?;
    validate_org_name(&org).map_err(malformed)?;
    validate_peer_id(&peer_id).map_err(malformed)?;
    validate_federation_name(&federation).map_err(malformed)?;
    let role = role.parse::<Role>().map_err(malformed)?;
    let cn = single_common_name(x509.subject()).map_err(AdmissionError::Malformed)?;
    if cn != org {
        return Err(AdmissionError::Malformed(format!("subject CN {cn:?} differs from SAN org {org:?}")));
    }
    let public_key = ed25519_key(x509.public_key()).map_err(AdmissionError::Malformed)?;
    let validity = x509.validity();
    Ok(OrgCertificate {
        org,
        federation,
        peer_id,
        role,
        public_key,
        not_before: unix_secs(validity.not_before.timestamp())?,
        not_after: unix_secs(validity.not_after.timestamp())?,
    })
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, AdmissionError> {
    if der.len() > MAX_PEM_BYTES {
        return Err(AdmissionError::TooLarge);
    }
    let (rest, x509) = X509Certificate::from_der(der)
        .map_err(|e| AdmissionError::Malformed(format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(AdmissionError::Malformed("trailing bytes after the certificate".into()));
    }
    Ok(x509)
}

fn san_names<'a>(
    x509: &'a X509Certificate<'a>,
) -> Result<&'a [x509_parser::extensions::GeneralName<'a>], AdmissionError> {
    match x509.subject_alternative_name() {
        Ok(Some(san)) => Ok(&san.value.general_names),
        Ok(None) => Err(AdmissionError::MissingField("subject alternative name")),
        Err(e) => Err(AdmissionError::Malformed(format!("subject alternative names: {e}"))),
    }
}

fn unix_secs(timestamp: i64) -> Result<u64, AdmissionError> {
    u64::try_from(timestamp).map_err(|_| AdmissionError::Malformed("validity date before 1970".into()))
}

fn chain_error(e: webpki::Error) -> AdmissionError {
    match e {
        // A CA with the same name but another key fails on the signature: same meaning.
        webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => AdmissionError::UnknownIssuer,
        webpki::Error::CertExpired { .. } => AdmissionError::Expired,
        webpki::Error::CertNotValidYet { .. } => AdmissionError::NotYetValid,
        other => AdmissionError::BadChain(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::{common_name, uri_san};
    use crate::names::ossa_uri;
    use crate::{create_csr, FederationCa, NodeKey};

    const PEER: &str = "12D3KooWTestPeerId";
    const DAY: u64 = 86_400;

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
    }

    /// Admits a fresh org key into `ca`; returns the key and the cert DER.
    fn admitted(ca: &FederationCa, org: &str, role: Role, days: u32) -> (NodeKey, Vec<u8>) {
        let key = NodeKey::generate();
        let csr = create_csr(org, &key, PEER).expect("csr");
        let pem = ca.admit(&csr, role, days).expect("admit");
        (key, pem_to_der(&pem, "CERTIFICATE").expect("der"))
    }

    /// Params of an org cert carrying `uris`, valid for a day from now.
    fn forged_params(cn: &str, uris: &[String]) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::default();
        let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
        params.not_before = start;
        params.not_after = start + time::Duration::days(1);
        params.distinguished_name = common_name(cn);
        params.subject_alt_names = uris.iter().map(|u| uri_san(u).expect("san")).collect();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params
    }

    #[test]
    fn admitted_cert_verifies_with_its_fields() {
        let ca = FederationCa::create("fed").expect("ca");
        for role in [Role::Steward, Role::Member] {
            let (key, der) = admitted(&ca, "acme", role, 30);
            let t = now();
            let cert = verify_org_cert(&der, ca.cert_der(), t).expect("verify");
            assert_eq!(cert.org, "acme");
            assert_eq!(cert.peer_id, PEER);
            assert_eq!(cert.federation, "fed");
            assert_eq!(cert.role, role);
            assert_eq!(cert.public_key, key.public_key());
            assert!(cert.not_before <= t - 299 && cert.not_before >= t - 310);
            assert!(cert.not_after.abs_diff(t + 30 * DAY) <= 10);
            let pem = crate::pem::der_to_pem("CERTIFICATE", &der);
            assert_eq!(parse_org_cert_pem(&pem).expect("parse"), cert);
        }
    }

    #[test]
    fn cert_from_another_ca_is_unknown_issuer() {
        let ca = FederationCa::create("fed").expect("ca");
        let namesake = FederationCa::create("fed").expect("same-name ca");
        let stranger = FederationCa::create("other").expect("other ca");
        let (_, der) = admitted(&namesake, "acme", Role::Member, 30);
        let err = verify_org_cert(&der, ca.cert_der(), now()).expect_err("namesake");
        assert_eq!(err, AdmissionError::UnknownIssuer);
        let (_, der) = admitted(&stranger, "acme", Role::Member, 30);
        let err = verify_org_cert(&der, ca.cert_der(), now()).expect_err("stranger");
        assert_eq!(err.reason(), "unknown_issuer");
    }

    #[test]
    fn validity_window_is_enforced() {
        let ca = FederationCa::create("fed").expect("ca");
        let (_, der) = admitted(&ca, "acme", Role::Member, 1);
        let cert = verify_org_cert(&der, ca.cert_der(), now()).expect("valid now");
        let after = verify_org_cert(&der, ca.cert_der(), cert.not_after + 1);
        assert_eq!(after, Err(AdmissionError::Expired));
        let before = verify_org_cert(&der, ca.cert_der(), cert.not_before - 1);
        assert_eq!(before, Err(AdmissionError::NotYetValid));
        assert!(verify_org_cert(&der, ca.cert_der(), cert.not_after).is_ok());
    }

    #[test]
    fn forged_fields_are_refused() {
        let ca = FederationCa::create("fed").expect("ca");
        let key = NodeKey::generate().public_key();
        let org = ossa_uri("org", "acme");
        let peer = ossa_uri("peer", PEER);
        let role = ossa_uri("role", "member");
        let fed = ossa_uri("federation", "fed");
        let check = |cn: &str, uris: &[String]| {
            let pem = ca.issue_raw(&forged_params(cn, uris), key);
            let der = pem_to_der(&pem, "CERTIFICATE").expect("der");
            verify_org_cert(&der, ca.cert_der(), now())
        };
        let all = [org.clone(), peer.clone(), fed.clone(), role.clone()];
        assert!(check("acme", &all).is_ok(), "control case must pass");
        let other_fed = [org.clone(), peer.clone(), ossa_uri("federation", "evil"), role.clone()];
        assert_eq!(
            check("acme", &other_fed),
            Err(AdmissionError::WrongFederation { expected: "fed".into(), found: "evil".into() })
        );
        let no_role = [org.clone(), peer.clone(), fed.clone()];
        assert_eq!(check("acme", &no_role), Err(AdmissionError::MissingField("role")));
        let no_peer = [org.clone(), fed.clone(), role.clone()];
        assert_eq!(check("acme", &no_peer), Err(AdmissionError::MissingField("peer")));
        let two_orgs = [org.clone(), ossa_uri("org", "b"), peer.clone(), fed.clone(), role.clone()];
        assert_eq!(check("acme", &two_orgs).map_err(|e| e.reason()), Err("malformed"));
        let bad_role = [org.clone(), peer.clone(), fed.clone(), ossa_uri("role", "king")];
        assert_eq!(check("acme", &bad_role).map_err(|e| e.reason()), Err("malformed"));
        assert_eq!(check("other", &all).map_err(|e| e.reason()), Err("malformed"));
    }

    #[test]
    fn server_only_cert_and_ca_as_leaf_are_refused() {
        let ca = FederationCa::create("fed").expect("ca");
        let uris = [
            ossa_uri("org", "acme"),
            ossa_uri("peer", PEER),
            ossa_uri("federation", "fed"),
            ossa_uri("role", "member"),
        ];
        let mut params = forged_params("acme", &uris);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let pem = ca.issue_raw(&params, NodeKey::generate().public_key());
        let der = pem_to_der(&pem, "CERTIFICATE").expect("der");
        let err = verify_org_cert(&der, ca.cert_der(), now()).expect_err("server-only");
        assert_eq!(err.reason(), "bad_chain");
        assert!(verify_org_cert(ca.cert_der(), ca.cert_der(), now()).is_err());
    }

    #[test]
    fn malformed_and_oversized_input_refused() {
        let ca = FederationCa::create("fed").expect("ca");
        let err = verify_org_cert(b"junk", ca.cert_der(), now()).expect_err("junk");
        assert_eq!(err.reason(), "malformed");
        let big = vec![0u8; MAX_PEM_BYTES + 1];
        assert_eq!(verify_org_cert(&big, ca.cert_der(), now()), Err(AdmissionError::TooLarge));
        let (_, der) = admitted(&ca, "acme", Role::Member, 30);
        let err = verify_org_cert(&der, b"junk", now()).expect_err("bad ca");
        assert_eq!(err.reason(), "bad_chain");
        let err = parse_org_cert_pem("nope").expect_err("not pem");
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
        let err = parse_org_cert_pem(ca.cert_pem()).expect_err("CA cert has no org");
        assert!(matches!(err, TrustError::InvalidCertificate(_)), "{err}");
    }

    #[test]
    fn reasons_are_stable() {
        let all = [
            (AdmissionError::UnknownIssuer, "unknown_issuer"),
            (AdmissionError::BadChain(String::new()), "bad_chain"),
            (AdmissionError::Expired, "expired"),
            (AdmissionError::NotYetValid, "not_yet_valid"),
            (AdmissionError::MissingField("org"), "missing_field"),
            (AdmissionError::WrongFederation { expected: "a".into(), found: "b".into() }, "wrong_federation"),
            (AdmissionError::Malformed(String::new()), "malformed"),
            (AdmissionError::TooLarge, "too_large"),
        ];
        for (err, label) in all {
            assert_eq!(err.reason(), label);
        }
    }
}
