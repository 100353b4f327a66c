//! OSSA trust: identities, federation certificates and the admission check.
//!
//! Data flows in one direction through the join:
//! 1. an org generates a [`NodeKey`] (also its libp2p identity) and a CSR binding its org
//!    name to its peer id ([`create_csr`]);
//! 2. the federation admin's [`FederationCa`] checks the CSR ([`inspect_csr`]) and issues an
//!    org certificate ([`FederationCa::admit`]);
//! 3. on every connection the node runs [`verify_org_cert`] against the CA certificate and
//!    then binds the returned key / peer id to the Noise-authenticated peer.
//!
//! Messages that travel beyond one connection (gossiped agent records) carry their own
//! signature: [`sign_envelope`] / [`verify_envelope`] sign exact bytes under a domain.
//!
//! Trust scores ([`score`]) turn signed observations into a 0..=1000 score per org and
//! agent: a [`TrustLedger`] ingests them, [`TrustLedger::compute`] runs EigenTrust in fixed
//! point, and a [`CircuitBreaker`] quarantines the orgs and agents that misbehave.
//!
//! All PEM/DER input is size-limited ([`MAX_PEM_BYTES`]) and parsing never panics. This crate
//! is synchronous and knows nothing of libp2p or tokio.

mod ca;
mod cert;
mod csr;
mod envelope;
mod error;
mod fields;
mod identity;
mod names;
mod pem;
#[cfg(test)]
mod proptests;
mod role;
pub mod score;

pub use ca::{FederationCa, MAX_CERT_DAYS};
pub use cert::{parse_org_cert_pem, verify_org_cert, OrgCertificate};
pub use csr::{create_csr, inspect_csr, CsrInfo};
pub use envelope::{sign_envelope, verify_envelope, MAX_DOMAIN_LEN};
pub use error::{AdmissionError, TrustError};
pub use identity::{verify_signature, NodeKey};
pub use names::{validate_federation_name, validate_org_name};
pub use pem::{pem_to_der, MAX_PEM_BYTES};
pub use role::Role;
pub use score::{
    bench_workload, AgentScore, BreakerConfig, Change, CircuitBreaker, Evidence, LedgerStats, Observation, OrgScore,
    Outcome, Penalty, PenaltyKind, Refusal, Subject, Transition, TrustConfig, TrustConfigError, TrustLedger,
    TrustScores, TrustWorkload, MAX_SCORE, SHARE_SCALE,
};
