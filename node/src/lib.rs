//! The OSSA federation node: the `ossa` binary's library.
//!
//! How data flows through a node:
//! - [`swarm`] owns the libp2p swarm (TCP + Noise + Yamux, identify, `/ossa/admission/1`,
//!   `/ossa/raft/1`); [`admission`] decides which peers are let in.
//! - [`raft_glue`] carries Raft over the swarm and routes inbound requests; [`membership`]
//!   joins the node to the Raft group; [`readiness`] tracks whether it has caught up; [`writes`] sends registry writes to the leader.
//! - `ossa-consensus` applies committed entries to the registry and the `ossa-audit` log.
//! - [`api`] serves the HTTP API; [`cli`] is the command line; [`launch`] runs local testnets.

pub mod admission;
pub mod api;
#[macro_use]
pub mod cli;
pub mod config;
pub mod daemon;
pub mod launch;
pub mod membership;
pub mod metrics;
pub mod raft_glue;
pub mod readiness;
pub mod swarm;
pub mod wire;
pub mod writes;
