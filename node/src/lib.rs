//! The OSSA federation node: the `ossa` binary's library.
//!
//! How data flows through a node:
//! - [`swarm`] owns the libp2p swarm (TCP + Noise + Yamux, identify, gossipsub,
//!   `/ossa/admission/1`, `/ossa/raft/1`, and Kademlia `/ossa/kad/1` to find peers beyond the
//!   bootstrap list); [`admission`] decides which peers are let in.
//! - [`raft_glue`] carries Raft over the swarm; [`membership`] joins the node to the Raft
//!   group; [`readiness`] tracks whether it has caught up; [`writes`] sends registry writes
//!   to the leader.
//! - `ossa-consensus` applies committed entries to the registry and the `ossa-audit` log;
//!   [`checkpoints`] signs the log's tree head; [`witness`] checks and cosigns the other
//!   orgs' checkpoints and catches equivocation.
//! - [`agents`] imports manifests, signs agent records, gossips them and keeps the directory;
//!   [`router`] hands inbound requests and gossip to their component.
//! - [`revocation`] enforces revocations decided by governance (connections, Raft);
//!   [`voters`] makes the Raft voters follow the stewards after promotions and demotions;
//!   [`key_rotation`] replaces an org's node key and retires the old one.
//! - [`trust_scores`] signs and checks observations and turns them into EigenTrust scores
//!   and circuit breaker quarantines.
//! - [`authz`] decides Cedar authorization requests against the replicated policy sets.
//! - [`api`] serves the HTTP API; [`cli`] is the command line; [`launch`] runs local testnets,
//!   [`chaos`] puts faults and writes on them and checks them;
//!   [`mod@bench`] measures the performance goals.

pub mod admission;
pub mod agents;
pub mod api;
pub mod authz;
pub mod bench;
#[macro_use]
pub mod cli;
pub mod chaos;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod expiry;
pub mod key_rotation;
pub mod launch;
pub mod leader_loss;
pub mod membership;
pub mod metrics;
pub mod raft_glue;
pub mod readiness;
pub mod revocation;
pub mod router;
pub mod swarm;
pub mod telemetry;
pub mod trust_scores;
pub mod voters;
pub mod wire;
pub mod witness;
pub mod writes;
