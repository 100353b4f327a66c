//! Agents: how a node learns what an agent is and what it can do.
//!
//! Data flows in one direction: an operator hands the node a manifest file (an OSSA manifest
//! or an A2A agent card), [`manifest::import`] turns its bytes into one normalized
//! [`manifest::ImportedAgent`], and later stages (the signed agent record, the directory, the
//! router) work only on that normalized description, never on the original formats.
//!
//! From there: [`record`] builds and signs the agent record and is the one gate every record
//! passes ([`record::verify_record`]); [`directory`] stores records last-writer-wins and
//! answers capability queries; [`service`] ties them to the registry and to gossip; [`sync`]
//! pulls what gossip missed.
//!
//! Certification grades agents: a steward's node runs the [`conformance`] checks and
//! [`certify`] issues a signed [`certification`] (the one gate:
//! [`certification::verify_certification`]), gossiped and synced like records and kept in the
//! [`certifications`] store, from which the directory derives each agent's tier.

pub mod certification;
pub mod certifications;
pub mod certify;
pub mod conformance;
pub mod directory;
pub mod manifest;
pub mod record;
pub mod service;
pub mod sync;
