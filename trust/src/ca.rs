//! The federation certificate authority.
//!
//! `ossa federation init` calls [`FederationCa::create`] and [`FederationCa::save`]; `ossa
//! federation admit` calls [`FederationCa::load`] and [`FederationCa::admit`], which turns a
//! verified org CSR into an org certificate. Nodes only ever see the CA certificate (PEM/DER)
//! and hand it to [`crate::verify_org_cert`]. On disk: `ca.pem` (certificate) and `ca.key`
//! (PKCS#8 key, mode 0600, never overwritten).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::cert::{ca_federation, cert_public_key};
use crate::csr::{common_name, uri_san};
use crate::identity::RawPublicKey;
use crate::names::KIND_ROLE;
use crate::names::{ossa_uri, validate_federation_name, KIND_FEDERATION, KIND_ORG, KIND_PEER};
use crate::pem::check_size;
use crate::{inspect_csr, pem_to_der, NodeKey, Role, TrustError, MAX_PEM_BYTES};

/// Longest org certificate lifetime `admit` issues, and the CA's own lifetime: 10 years.
pub const MAX_CERT_DAYS: u32 = 3650;

/// Certificates start this far in the past so that a peer whose clock lags a little still
/// accepts a freshly issued certificate.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Bytes of random serial number; RFC 5280 allows up to 20, 16 makes collisions negligible.
const SERIAL_LEN: usize = 16;

/// File name of the CA certificate inside the CA directory.
const CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the CA directory.
const KEY_FILE: &str = "ca.key";

/// A federation CA: its name, its key and its self-signed certificate.
#[derive(Debug)]
pub struct FederationCa {
    federation: String,
    key: NodeKey,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl FederationCa {
    /// Creates a new CA for `federation` with a fresh ed25519 key and a 10-year self-signed
    /// certificate (CN `OSSA federation <name>`, SAN URI `urn:ossa:federation:<name>`).
    pub fn create(federation: &str) -> Result<Self, TrustError> {
        validate_federation_name(federation)?;
        let key = NodeKey::generate();
        let mut params = base_params(MAX_CERT_DAYS);
        params.distinguished_name = common_name(&format!("OSSA federation {federation}"));
        params.subject_alt_names = vec![uri_san(&ossa_uri(KIND_FEDERATION, federation))?];
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key.rcgen_signer()).map_err(|e| TrustError::Generate(e.to_string()))?;
        Ok(Self { federation: federation.to_string(), key, cert_pem: cert.pem(), cert_der: cert.der().to_vec() })
    }

    /// Writes `dir/ca.key` (mode 0600 on unix) and `dir/ca.pem`, creating `dir` if needed.
    /// Refuses with [`TrustError::AlreadyExists`] if `dir/ca.key` exists.
    pub fn save(&self, dir: &Path) -> Result<(), TrustError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let key_path = dir.join(KEY_FILE);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&key_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                TrustError::AlreadyExists { path: key_path.clone() }
            } else {
                io_error(&key_path)(e)
            }
        })?;
        file.write_all(self.key.to_pkcs8_pem().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_error(&key_path))?;
        let cert_path = dir.join(CERT_FILE);
        fs::write(&cert_path, &self.cert_pem).map_err(io_error(&cert_path))
    }

    /// Loads a CA saved by [`FederationCa::save`], checking that key and certificate match.
    pub fn load(dir: &Path) -> Result<Self, TrustError> {
        let cert_pem = read_limited(&dir.join(CERT_FILE))?;
        let key = NodeKey::from_pkcs8_pem(&read_limited(&dir.join(KEY_FILE))?)?;
        let cert_der = pem_to_der(&cert_pem, "CERTIFICATE")?;
        let bad_cert =
            |e: crate::AdmissionError| TrustError::Malformed { what: "CA certificate", detail: e.to_string() };
        let federation = ca_federation(&cert_der).map_err(bad_cert)?;
        if cert_public_key(&cert_der).map_err(bad_cert)? != key.public_key() {
            return Err(TrustError::Malformed {
                what: "CA certificate",
                detail: format!("{KEY_FILE} does not match {CERT_FILE}"),
            });
        }
        Ok(Self { federation, key, cert_pem, cert_der })
    }

    /// The federation name.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Signs an org CSR after checking it with [`inspect_csr`]: issues a certificate for the
    /// CSR's key, valid `days` (1..=3650) days from now (backdated 5 minutes for clock skew),
    /// with EKU serverAuth+clientAuth, CN=org and SAN URIs for org, peer, federation and role.
    pub fn admit(&self, csr_pem: &str, role: Role, days: u32) -> Result<String, TrustError> {
        if days == 0 || days > MAX_CERT_DAYS {
            return Err(TrustError::InvalidDays(days));
        }
        self.issue(csr_pem, role, base_params(days))
    }

    /// Test support (feature `testing`): like [`FederationCa::admit`], but valid from
    /// `not_before` to `not_after` (Unix seconds), which may both be past, so that tests can
    /// present an expired certificate. `admit` never issues one.
    #[cfg(feature = "testing")]
    pub fn admit_with_validity(
        &self,
        csr_pem: &str,
        role: Role,
        not_before: i64,
        not_after: i64,
    ) -> Result<String, TrustError> {
        let at = |secs| OffsetDateTime::from_unix_timestamp(secs).map_err(|e| TrustError::Generate(e.to_string()));
        let mut params = base_params(1);
        params.not_before = at(not_before)?;
        params.not_after = at(not_after)?;
        self.issue(csr_pem, role, params)
    }

    /// Issues the org certificate of `csr_pem` with the serial and validity in `params`.
    fn issue(&self, csr_pem: &str, role: Role, mut params: CertificateParams) -> Result<String, TrustError> {
        let csr = inspect_csr(csr_pem)?;
        params.distinguished_name = common_name(&csr.org);
        params.subject_alt_names = vec![
            uri_san(&ossa_uri(KIND_ORG, &csr.org))?,
            uri_san(&ossa_uri(KIND_PEER, &csr.peer_id))?,
            uri_san(&ossa_uri(KIND_FEDERATION, &self.federation))?,
            uri_san(&ossa_uri(KIND_ROLE, role.as_str()))?,
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        self.sign(&params, csr.public_key)
    }

    /// Signs `params` for `public_key` with this CA, returning the certificate PEM.
    fn sign(&self, params: &CertificateParams, public_key: [u8; 32]) -> Result<String, TrustError> {
        let generate = |e: rcgen::Error| TrustError::Generate(e.to_string());
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), self.key.rcgen_signer())
            .map_err(generate)?;
        let cert = params.signed_by(&RawPublicKey(public_key), &issuer).map_err(generate)?;
        Ok(cert.pem())
    }
}

/// Parameters shared by CA and org certificates: random serial, validity from now minus
/// [`CLOCK_SKEW`] to now plus `days`.
fn base_params(days: u32) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut serial: [u8; SERIAL_LEN] = rand::random();
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive and without a leading zero byte
    let mut params = CertificateParams::default();
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::days(i64::from(days));
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params
}

/// Reads a text file of at most [`MAX_PEM_BYTES`].
fn read_limited(path: &Path) -> Result<String, TrustError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    let mut text = String::new();
    file.take(MAX_PEM_BYTES as u64 + 1).read_to_string(&mut text).map_err(io_error(path))?;
    check_size("PEM file", text.len())?;
    Ok(text)
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io { path: PathBuf::from(path), source }
}

#[cfg(test)]
impl FederationCa {
    /// Signs arbitrary `params`; lets tests forge certificates `admit` would never issue.
    pub(crate) fn issue_raw(&self, params: &CertificateParams, public_key: [u8; 32]) -> String {
        self.sign(params, public_key).expect("signing test certificate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_save_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = FederationCa::create("acme-fed").expect("create");
        assert_eq!(ca.federation(), "acme-fed");
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let ca_dir = dir.path().join("ca");
        ca.save(&ca_dir).expect("save");
        let loaded = FederationCa::load(&ca_dir).expect("load");
        assert_eq!(loaded.federation(), "acme-fed");
        assert_eq!(loaded.cert_der(), ca.cert_der());
        assert_eq!(loaded.key.secret_bytes(), ca.key.secret_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(ca_dir.join(KEY_FILE)).expect("stat key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn ca_certificate_has_expected_fields() {
        let ca = FederationCa::create("fed1").expect("create");
        let (_, x509) = x509_parser::parse_x509_certificate(ca.cert_der()).expect("parse");
        assert!(x509.is_ca());
        assert_eq!(crate::fields::single_common_name(x509.subject()).ok(), Some("OSSA federation fed1".to_string()));
        let v = x509.validity();
        let lifetime = v.not_after.timestamp() - v.not_before.timestamp();
        assert_eq!(lifetime, i64::from(MAX_CERT_DAYS) * 86_400 + 300);
    }

    #[test]
    fn save_refuses_to_overwrite_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        FederationCa::create("fed").expect("create").save(dir.path()).expect("save");
        let second = FederationCa::create("fed").expect("create");
        let err = second.save(dir.path()).expect_err("overwrite");
        assert!(matches!(err, TrustError::AlreadyExists { .. }), "{err}");
        let loaded = FederationCa::load(dir.path()).expect("load");
        assert_ne!(loaded.cert_der(), second.cert_der());
    }

    #[test]
    fn load_refuses_mismatched_key_and_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = FederationCa::load(dir.path()).expect_err("empty dir");
        assert!(matches!(err, TrustError::Io { .. }));
        assert!(err.to_string().contains(CERT_FILE), "{err}");
        FederationCa::create("fed").expect("create").save(dir.path()).expect("save");
        fs::write(dir.path().join(KEY_FILE), NodeKey::generate().to_pkcs8_pem()).expect("replace key");
        let err = FederationCa::load(dir.path()).expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn load_refuses_oversized_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(CERT_FILE), vec![b'a'; MAX_PEM_BYTES + 1]).expect("write");
        let err = FederationCa::load(dir.path()).expect_err("too large");
        assert!(matches!(err, TrustError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn create_refuses_bad_federation_name() {
        assert!(matches!(FederationCa::create("Bad Name"), Err(TrustError::InvalidName { kind: "federation", .. })));
    }

    #[test]
    fn admit_refuses_out_of_range_days() {
        let ca = FederationCa::create("fed").expect("create");
        let key = NodeKey::generate();
        let csr = crate::create_csr("org", &key, "12D3KooWpeer").expect("csr");
        for days in [0, MAX_CERT_DAYS + 1] {
            assert!(matches!(
                ca.admit(&csr, Role::Member, days),
                Err(TrustError::InvalidDays(d)) if d == days
            ));
        }
        assert!(ca.admit(&csr, Role::Member, MAX_CERT_DAYS).is_ok());
    }
}
