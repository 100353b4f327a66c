//! Certificate signing requests: the org's half of joining a federation.
//!
//! `ossa org init` calls [`create_csr`], which binds the org name to the node's libp2p peer
//! id and signs both with the node key. The federation admin's [`crate::FederationCa::admit`]
//! runs [`inspect_csr`] on it, which accepts only a self-signed ed25519 PKCS#10 request
//! carrying exactly `CN=<org>` and the SAN URIs `urn:ossa:org:<org>`, `urn:ossa:peer:<id>`.

use rcgen::string::Ia5String;
use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::prelude::FromDer;

use crate::fields::{collect_uris, ed25519_key, single_common_name};
use crate::names::{ossa_uri, validate_peer_id, KIND_ORG, KIND_PEER};
use crate::{pem_to_der, validate_org_name, verify_signature, NodeKey, TrustError};

/// What a verified CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// The org name (subject CN and `urn:ossa:org:` SAN).
    pub org: String,
    /// The libp2p peer id (`urn:ossa:peer:` SAN).
    pub peer_id: String,
    /// The ed25519 public key the CSR is signed with.
    pub public_key: [u8; 32],
}

/// Creates a PEM CSR for `org` and `peer_id`, signed by `key`.
pub fn create_csr(org: &str, key: &NodeKey, peer_id: &str) -> Result<String, TrustError> {
    validate_org_name(org)?;
    validate_peer_id(peer_id)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(org);
    params.subject_alt_names = vec![uri_san(&ossa_uri(KIND_ORG, org))?, uri_san(&ossa_uri(KIND_PEER, peer_id))?];
    let csr = params.serialize_request(&key.rcgen_signer()).map_err(|e| TrustError::Generate(e.to_string()))?;
    csr.pem().map_err(|e| TrustError::Generate(e.to_string()))
}

/// Parses a PEM CSR, verifies its self-signature and returns what it asks for.
pub fn inspect_csr(csr_pem: &str) -> Result<CsrInfo, TrustError> {
    let der = pem_to_der(csr_pem, "CERTIFICATE REQUEST")?;
    let (rest, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| malformed(format!("not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the request".into()));
    }
    let info = &csr.certification_request_info;
    if info.version.0 != 0 {
        return Err(malformed(format!("unsupported version {}", info.version.0)));
    }
    let public_key = ed25519_key(&info.subject_pki).map_err(malformed)?;
    if csr.signature_algorithm.algorithm != OID_SIG_ED25519 {
        return Err(malformed("signature algorithm is not ed25519".into()));
    }
    // Only the request info is signed; the rest must be exactly what an honest signer emits.
    if der != signed_request_der(info.raw, &csr.signature_value.data) {
        return Err(malformed("signature algorithm or signature is not canonical ed25519 DER".into()));
    }
    verify_signature(&public_key, info.raw, &csr.signature_value.data)
        .map_err(|_| TrustError::BadSignature("the CSR is not signed by the key it carries".into()))?;

    let org = single_common_name(&info.subject).map_err(malformed)?;
    validate_org_name(&org)?;
    let uris = collect_uris(requested_sans(&csr)?, &[KIND_ORG, KIND_PEER]).map_err(malformed)?;
    match uris.org {
        Some(ref uri_org) if *uri_org == org => {}
        Some(uri_org) => return Err(malformed(format!("SAN org {uri_org:?} differs from subject CN {org:?}"))),
        None => return Err(malformed("missing urn:ossa:org SAN URI".into())),
    }
    let peer_id = uris.peer.ok_or_else(|| malformed("missing urn:ossa:peer SAN URI".into()))?;
    validate_peer_id(&peer_id)?;
    Ok(CsrInfo { org, peer_id, public_key })
}

/// The SAN entries of the CSR's single extension request, refusing any other attribute or
/// requested extension.
fn requested_sans<'a>(csr: &'a X509CertificationRequest<'a>) -> Result<Vec<&'a GeneralName<'a>>, TrustError> {
    let mut sans = None;
    for attribute in csr.certification_request_info.attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attribute.parsed_attribute() else {
            return Err(malformed(format!("unexpected attribute {}", attribute.oid)));
        };
        for extension in &request.extensions {
            match extension.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) if sans.is_none() => {
                    sans = Some(san.general_names.iter().collect());
                }
                _ => return Err(malformed(format!("unexpected requested extension {}", extension.oid))),
            }
        }
    }
    sans.ok_or_else(|| malformed("no subject alternative names requested".into()))
}

/// The DER of a PKCS#10 request with the given signed info and ed25519 signature.
fn signed_request_der(info: &[u8], signature: &[u8]) -> Vec<u8> {
    /// AlgorithmIdentifier { id-Ed25519 (1.3.101.112) }, no parameters (RFC 8410).
    const ED25519_ALGORITHM: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
    let mut body = info.to_vec();
    body.extend_from_slice(&ED25519_ALGORITHM);
    body.push(0x03); // BIT STRING
    push_der_len(&mut body, signature.len() + 1);
    body.push(0x00); // no unused bits
    body.extend_from_slice(signature);
    let mut der = vec![0x30]; // SEQUENCE
    push_der_len(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

/// Appends a DER definite length.
fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// A distinguished name holding only `CN=<cn>`.
pub(crate) fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A URI SAN entry.
pub(crate) fn uri_san(uri: &str) -> Result<SanType, TrustError> {
    Ia5String::try_from(uri).map(SanType::URI).map_err(|e| TrustError::Generate(format!("SAN URI {uri:?}: {e}")))
}

fn malformed(detail: String) -> TrustError {
    TrustError::Malformed { what: "CSR", detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pem::der_to_pem;

    const PEER: &str = "12D3KooWGzTestPeer";

    /// A CSR built from arbitrary params, signed by `key`.
    fn csr_with(params: &CertificateParams, key: &NodeKey) -> String {
        params.serialize_request(&key.rcgen_signer()).expect("serialize").pem().expect("pem")
    }

    fn params(cn: &str, uris: &[String]) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(cn);
        params.subject_alt_names = uris.iter().map(|u| uri_san(u).expect("san")).collect();
        params
    }

    #[test]
    fn create_then_inspect_round_trip() {
        let key = NodeKey::generate();
        let pem = create_csr("acme", &key, PEER).expect("create");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let info = inspect_csr(&pem).expect("inspect");
        assert_eq!(info, CsrInfo { org: "acme".into(), peer_id: PEER.into(), public_key: key.public_key() });
    }

    #[test]
    fn create_refuses_bad_org_and_peer() {
        let key = NodeKey::generate();
        assert!(matches!(create_csr("Acme", &key, PEER), Err(TrustError::InvalidName { kind: "org", .. })));
        assert!(matches!(create_csr("acme", &key, "bad peer"), Err(TrustError::InvalidPeerId(_))));
    }

    #[test]
    fn tampered_csr_refused() {
        let key = NodeKey::generate();
        let der = pem_to_der(&create_csr("acme", &key, PEER).expect("create"), "CERTIFICATE REQUEST").expect("der");
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            let result = inspect_csr(&der_to_pem("CERTIFICATE REQUEST", &bad));
            assert!(result.is_err(), "flipped byte {i} accepted");
        }
    }

    #[test]
    fn csr_with_swapped_key_refused() {
        let key = NodeKey::generate();
        let other = NodeKey::generate();
        let der = pem_to_der(&create_csr("acme", &key, PEER).expect("create"), "CERTIFICATE REQUEST").expect("der");
        let at = der.windows(32).position(|w| w == key.public_key()).expect("public key inside the CSR");
        let mut swapped = der.clone();
        swapped[at..at + 32].copy_from_slice(&other.public_key());
        let err = inspect_csr(&der_to_pem("CERTIFICATE REQUEST", &swapped)).expect_err("swap");
        assert!(matches!(err, TrustError::BadSignature(_)), "{err}");
    }

    #[test]
    fn csr_fields_must_be_exact() {
        let key = NodeKey::generate();
        let org = ossa_uri(KIND_ORG, "acme");
        let peer = ossa_uri(KIND_PEER, PEER);
        let cases = [
            ("missing peer", params("acme", std::slice::from_ref(&org))),
            ("missing org", params("acme", std::slice::from_ref(&peer))),
            ("cn differs", params("other", &[org.clone(), peer.clone()])),
            ("role requested", params("acme", &[org.clone(), peer.clone(), "urn:ossa:role:steward".into()])),
            ("duplicate peer", params("acme", &[org.clone(), peer.clone(), ossa_uri(KIND_PEER, "x")])),
            ("foreign uri", params("acme", &[org.clone(), peer.clone(), "https://x".into()])),
            ("bad org name", params("Acme", &[ossa_uri(KIND_ORG, "Acme"), peer.clone()])),
        ];
        for (why, params) in cases {
            assert!(inspect_csr(&csr_with(&params, &key)).is_err(), "{why}");
        }
        let mut with_ca = params("acme", &[org.clone(), peer.clone()]);
        with_ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        assert!(inspect_csr(&csr_with(&with_ca, &key)).is_err(), "CA requested");
        let mut with_dns = params("acme", &[org, peer]);
        with_dns.subject_alt_names.push(SanType::DnsName(Ia5String::try_from("x.example").expect("ia5")));
        assert!(inspect_csr(&csr_with(&with_dns, &key)).is_err(), "dns san");
    }

    #[test]
    fn non_ed25519_csr_refused() {
        let ecdsa = rcgen::KeyPair::generate().expect("p256 key");
        let params = params("acme", &[ossa_uri(KIND_ORG, "acme"), ossa_uri(KIND_PEER, PEER)]);
        let pem = params.serialize_request(&ecdsa).expect("serialize").pem().expect("pem");
        let err = inspect_csr(&pem).expect_err("ecdsa");
        assert!(err.to_string().contains("ed25519"), "{err}");
    }

    #[test]
    fn malformed_and_oversized_csr_refused_clearly() {
        let err = inspect_csr("garbage").expect_err("garbage");
        assert!(err.to_string().contains("CERTIFICATE REQUEST"), "{err}");
        let err = inspect_csr(&der_to_pem("CERTIFICATE REQUEST", &[0x30, 0x03, 1, 2, 3])).expect_err("junk der");
        assert!(err.to_string().contains("malformed CSR"), "{err}");
        let big = "A".repeat(crate::MAX_PEM_BYTES + 1);
        assert!(matches!(inspect_csr(&big), Err(TrustError::TooLarge { .. })));
    }
}
