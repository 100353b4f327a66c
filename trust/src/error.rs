//! Error types of the trust crate.
//!
//! Two enums because callers branch on two different things: [`TrustError`] covers local
//! operations (keys, files, CSRs, issuing certificates) and is shown to an operator;
//! [`AdmissionError`] is the verdict of the per-connection admission check, whose
//! [`AdmissionError::reason`] is a stable label for metrics and logs.

use std::path::PathBuf;

/// Failure of a local trust operation: loading or saving keys, parsing PEM, CSRs and
/// certificates, or issuing a certificate.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file that must never be overwritten (a CA key) already exists.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An input is larger than this crate accepts.
    #[error("{what} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// What the input was (e.g. "PEM input").
        what: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A PEM document could not be decoded or had the wrong label.
    #[error("malformed PEM: {0}")]
    MalformedPem(String),
    /// A decoded object (key, CSR, certificate) is not what this crate expects.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The kind of object ("CSR", "private key", "CA certificate", ...).
        what: &'static str,
        /// What exactly is wrong with it.
        detail: String,
    },
    /// A signature did not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// An org or federation name breaks the naming rule.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// "org" or "federation".
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A peer id is not a plausible libp2p peer id string.
    #[error("invalid peer id {0:?}: expected 1..=128 ASCII letters and digits")]
    InvalidPeerId(String),
    /// A role string is neither "steward" nor "member".
    #[error("invalid role {0:?}: expected \"steward\" or \"member\"")]
    InvalidRole(String),
    /// The requested certificate lifetime is out of range.
    #[error("invalid validity of {0} days: expected 1..={max}", max = crate::ca::MAX_CERT_DAYS)]
    InvalidDays(u32),
    /// A certificate does not carry the OSSA fields or they are malformed.
    #[error("invalid org certificate: {0}")]
    InvalidCertificate(#[from] AdmissionError),
    /// The certificate library failed to build or sign a certificate or CSR.
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

/// Why a peer's certificate was refused at admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The certificate was not issued by the federation CA.
    #[error("certificate not issued by the federation CA")]
    UnknownIssuer,
    /// The chain to the federation CA is invalid for another reason.
    #[error("invalid certificate chain: {0}")]
    BadChain(String),
    /// The certificate's validity period is over.
    #[error("certificate expired")]
    Expired,
    /// The certificate's validity period has not started.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// A required OSSA field is absent.
    #[error("certificate lacks the {0} field")]
    MissingField(&'static str),
    /// The certificate names a different federation than the CA.
    #[error("certificate is for federation {found:?}, expected {expected:?}")]
    WrongFederation {
        /// The federation of the CA.
        expected: String,
        /// The federation named in the certificate.
        found: String,
    },
    /// The certificate (or CA certificate) could not be parsed or has bad fields.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The certificate is larger than [`crate::MAX_PEM_BYTES`].
    #[error("certificate larger than {} bytes", crate::MAX_PEM_BYTES)]
    TooLarge,
}

impl AdmissionError {
    /// A short, stable label for this error, used as a metrics label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownIssuer => "unknown_issuer",
            Self::BadChain(_) => "bad_chain",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MissingField(_) => "missing_field",
            Self::WrongFederation { .. } => "wrong_federation",
            Self::Malformed(_) => "malformed",
            Self::TooLarge => "too_large",
        }
    }
}
