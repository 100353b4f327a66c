//! Node identity: the org's ed25519 key.
//!
//! One key per org does three jobs: it is the libp2p identity of the node (the node crate
//! builds it from [`NodeKey::secret_bytes`]), it signs the org's CSR, and it signs envelopes
//! and observations. It is stored as PKCS#8 PEM. The federation CA key is a `NodeKey` too.
//! [`RcgenSigner`] lets rcgen sign certificates and CSRs with it without a second key format.

use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::{pem_to_der, TrustError};

/// Length of an ed25519 public key in bytes.
const PUBLIC_KEY_LEN: usize = 32;

/// An org's (or the federation CA's) ed25519 signing key.
pub struct NodeKey {
    key: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey").field("public_key", &hex::encode(self.public_key())).finish_non_exhaustive()
    }
}

impl NodeKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// Parses a PKCS#8 PEM ("PRIVATE KEY") ed25519 key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, TrustError> {
        let der = Zeroizing::new(pem_to_der(pem, "PRIVATE KEY")?);
        let key = SigningKey::from_pkcs8_der(&der).map_err(|e| TrustError::Malformed {
            what: "private key",
            detail: format!("not a PKCS#8 ed25519 key: {e}"),
        })?;
        Ok(Self { key })
    }

    /// Encodes the key as PKCS#8 PEM ("PRIVATE KEY").
    pub fn to_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .expect("encoding a 32-byte ed25519 key as PKCS#8 cannot fail")
            .to_string()
    }

    /// The 32-byte secret seed.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `msg` (pure ed25519, no prehash).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// An adapter that lets rcgen sign with this key.
    pub(crate) fn rcgen_signer(&self) -> RcgenSigner<'_> {
        RcgenSigner { key: &self.key, public: self.public_key() }
    }
}

/// Verifies an ed25519 signature over `msg` (strict: rejects weak keys and malleable
/// signatures).
pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], signature: &[u8]) -> Result<(), TrustError> {
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|e| TrustError::BadSignature(format!("invalid public key: {e}")))?;
    let signature = Signature::from_slice(signature)
        .map_err(|_| TrustError::BadSignature(format!("signature is {} bytes, expected 64", signature.len())))?;
    key.verify_strict(msg, &signature).map_err(|_| TrustError::BadSignature("signature does not match".into()))
}

/// Borrowed [`NodeKey`] implementing rcgen's signing traits.
pub(crate) struct RcgenSigner<'a> {
    key: &'a SigningKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// Raw ed25519 public key taken from a CSR, for rcgen to put into an issued certificate.
pub(crate) struct RawPublicKey(pub(crate) [u8; PUBLIC_KEY_LEN]);

impl rcgen::PublicKeyData for RawPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_flipped_bit_rejected() {
        let key = NodeKey::generate();
        let sig = key.sign(b"hello");
        assert!(verify_signature(&key.public_key(), b"hello", &sig).is_ok());
        assert!(verify_signature(&key.public_key(), b"hellp", &sig).is_err());
        for bit in [0usize, 7, 255, 511] {
            let mut bad = sig;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(verify_signature(&key.public_key(), b"hello", &bad).is_err());
        }
        let other = NodeKey::generate();
        assert!(verify_signature(&other.public_key(), b"hello", &sig).is_err());
        assert!(verify_signature(&key.public_key(), b"hello", &sig[..63]).is_err());
    }

    #[test]
    fn pkcs8_pem_round_trip() {
        let key = NodeKey::generate();
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = NodeKey::from_pkcs8_pem(&pem).expect("parse own PEM");
        assert_eq!(back.secret_bytes(), key.secret_bytes());
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn malformed_key_pem_refused() {
        assert!(NodeKey::from_pkcs8_pem("not pem").is_err());
        let cert_label = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = NodeKey::from_pkcs8_pem(cert_label).expect_err("wrong label");
        assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
        let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(NodeKey::from_pkcs8_pem(junk).is_err());
    }

    #[test]
    fn debug_does_not_leak_secret() {
        let key = NodeKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(key.secret_bytes())));
    }
}
