//! OSSA policy: the rules that decide whether a registry write is acceptable.
//!
//! Every function here is pure: it looks only at its arguments, so every replica of the
//! registry reaches the same verdict for the same command. The consensus crate calls these
//! rules inside its state machine (on every node, at apply time) and the node calls them again
//! before proposing, so a bad request is refused early with the same message.
//!
//! This session holds the naming and ownership rules of the registry; Cedar policy sets and
//! governance proposals grow here (see the README's roadmap).

mod names;

pub use names::{validate_tenant_name, NameError, MAX_TENANT_NAME_LEN};
