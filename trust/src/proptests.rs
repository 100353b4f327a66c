//! Property tests: hostile bytes never panic the parsers, and a mutated certificate or CSR
//! is either refused or still says exactly what the original said.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::pem::der_to_pem;
use crate::{
    create_csr, inspect_csr, parse_org_cert_pem, pem_to_der, verify_org_cert, CsrInfo, FederationCa, NodeKey,
    OrgCertificate, Role,
};

/// A CA, a valid org cert (DER) with its parsed fields, and a valid CSR (DER) with its info.
struct Fixture {
    ca: FederationCa,
    cert: Vec<u8>,
    fields: OrgCertificate,
    csr: Vec<u8>,
    csr_info: CsrInfo,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = FederationCa::create("fed").expect("ca");
        let key = NodeKey::generate();
        let csr_pem = create_csr("acme", &key, "12D3KooWPropPeer").expect("csr");
        let cert_pem = ca.admit(&csr_pem, Role::Steward, 30).expect("admit");
        let cert = pem_to_der(&cert_pem, "CERTIFICATE").expect("der");
        let fields = verify_org_cert(&cert, ca.cert_der(), now()).expect("valid");
        Fixture {
            csr: pem_to_der(&csr_pem, "CERTIFICATE REQUEST").expect("csr der"),
            csr_info: inspect_csr(&csr_pem).expect("csr info"),
            ca,
            cert,
            fields,
        }
    })
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Fixed seed so a failure reproduces on every machine.
fn config() -> Config {
    Config { cases: 512, rng_seed: RngSeed::Fixed(0x05_5A_7E_57), ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        let text = String::from_utf8_lossy(&bytes);
        let _ = pem_to_der(&text, "CERTIFICATE");
        let _ = inspect_csr(&text);
        let _ = parse_org_cert_pem(&text);
        prop_assert!(inspect_csr(&der_to_pem("CERTIFICATE REQUEST", &bytes)).is_err());
        let _ = parse_org_cert_pem(&der_to_pem("CERTIFICATE", &bytes));
        prop_assert!(verify_org_cert(&bytes, f.ca.cert_der(), now()).is_err());
        prop_assert!(verify_org_cert(&f.cert, &bytes, now()).is_err());
    }

    #[test]
    fn mutated_cert_is_refused_or_unchanged(index in any::<prop::sample::Index>(), mask in 1u8..) {
        let f = fixture();
        let mut cert = f.cert.clone();
        let i = index.index(cert.len());
        cert[i] ^= mask;
        if let Ok(fields) = verify_org_cert(&cert, f.ca.cert_der(), now()) {
            prop_assert_eq!(fields, f.fields.clone());
        }
    }

    #[test]
    fn mutated_csr_is_refused_or_unchanged(index in any::<prop::sample::Index>(), mask in 1u8..) {
        let f = fixture();
        let mut csr = f.csr.clone();
        let i = index.index(csr.len());
        csr[i] ^= mask;
        if let Ok(info) = inspect_csr(&der_to_pem("CERTIFICATE REQUEST", &csr)) {
            prop_assert_eq!(info, f.csr_info.clone());
        }
    }
}
