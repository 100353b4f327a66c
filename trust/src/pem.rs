//! PEM decoding with a size limit.
//!
//! Every PEM input (keys, CSRs, certificates) enters the crate through [`pem_to_der`]: it
//! refuses anything over [`MAX_PEM_BYTES`], requires exactly one PEM section carrying the
//! expected label, and hands back the DER bytes for the X.509 parsers.

use rustls_pki_types::pem::{PemObject, SectionKind};

use crate::TrustError;

/// Largest PEM or DER input accepted. OSSA keys, CSRs and certificates are well under 2 KiB;
/// 64 KiB leaves room for comments and chains while bounding parser work on hostile input.
pub const MAX_PEM_BYTES: usize = 64 * 1024;

/// Refuses an input of `len` bytes if it is over [`MAX_PEM_BYTES`].
pub(crate) fn check_size(what: &'static str, len: usize) -> Result<(), TrustError> {
    if len > MAX_PEM_BYTES {
        return Err(TrustError::TooLarge { what, len, max: MAX_PEM_BYTES });
    }
    Ok(())
}

/// Decodes a PEM document holding exactly one section labelled `expected_label`
/// (e.g. "CERTIFICATE", "CERTIFICATE REQUEST", "PRIVATE KEY") and returns its DER bytes.
pub fn pem_to_der(pem: &str, expected_label: &str) -> Result<Vec<u8>, TrustError> {
    check_size("PEM input", pem.len())?;
    let expected = SectionKind::try_from(expected_label.as_bytes())
        .map_err(|()| TrustError::MalformedPem(format!("unsupported PEM label {expected_label:?}")))?;
    let mut sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes());
    let (kind, der) = match sections.next() {
        Some(Ok(section)) => section,
        Some(Err(e)) => return Err(TrustError::MalformedPem(e.to_string())),
        None => return Err(TrustError::MalformedPem(format!("no \"-----BEGIN {expected_label}-----\" section found"))),
    };
    if kind != expected {
        return Err(TrustError::MalformedPem(format!("expected a {expected_label} section, found {kind:?}")));
    }
    if sections.next().is_some() {
        return Err(TrustError::MalformedPem(format!(
            "expected exactly one PEM section, found more after the {expected_label}"
        )));
    }
    if der.is_empty() {
        return Err(TrustError::MalformedPem(format!("the {expected_label} section is empty")));
    }
    Ok(der)
}

/// Encodes DER as PEM; test helper for building tampered inputs.
#[cfg(test)]
pub(crate) fn der_to_pem(label: &str, der: &[u8]) -> String {
    use ed25519_dalek::pkcs8::spki::der::pem::{encode_string, LineEnding};
    encode_string(label, LineEnding::LF, der).expect("PEM encoding of a short buffer")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";

    #[test]
    fn decodes_one_section() {
        assert_eq!(pem_to_der(CERT, "CERTIFICATE").ok(), Some(vec![1, 2, 3]));
    }

    #[test]
    fn refuses_wrong_label_missing_and_extra_sections() {
        let err = pem_to_der(CERT, "CERTIFICATE REQUEST").expect_err("wrong label");
        assert!(err.to_string().contains("CERTIFICATE REQUEST"), "{err}");
        assert!(pem_to_der("", "CERTIFICATE").is_err());
        assert!(pem_to_der("hello", "CERTIFICATE").is_err());
        assert!(pem_to_der(&format!("{CERT}{CERT}"), "CERTIFICATE").is_err());
        assert!(pem_to_der(CERT, "NO SUCH LABEL").is_err());
    }

    #[test]
    fn refuses_bad_base64_and_unterminated_sections() {
        let bad = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(pem_to_der(bad, "CERTIFICATE"), Err(TrustError::MalformedPem(_))));
        let open = "-----BEGIN CERTIFICATE-----\nAQID\n";
        assert!(matches!(pem_to_der(open, "CERTIFICATE"), Err(TrustError::MalformedPem(_))));
    }

    #[test]
    fn encode_decode_round_trip() {
        let pem = der_to_pem("CERTIFICATE REQUEST", &[9, 8, 7]);
        assert_eq!(pem_to_der(&pem, "CERTIFICATE REQUEST").ok(), Some(vec![9, 8, 7]));
    }

    #[test]
    fn refuses_oversized_input() {
        let big = format!("{CERT}{}", " ".repeat(MAX_PEM_BYTES));
        let err = pem_to_der(&big, "CERTIFICATE").expect_err("too large");
        assert!(matches!(err, TrustError::TooLarge { .. }));
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
