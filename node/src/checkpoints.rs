//! Signed checkpoints of this node's audit log.
//!
//! Every [`CHECKPOINT_PERIOD`], if the log grew, the node signs its tree head (size and
//! RFC 6962 root) as a C2SP `tlog-checkpoint` signed note with its org key, under the log's
//! origin `<federation>/<org>` (also the signature's key name). The latest note is served at
//! `GET /v1/audit/checkpoint`; an auditor verifies an export against it offline with
//! `ossa audit verify FILE --checkpoint NOTE --cert org.pem`. Signing per period rather than
//! per entry keeps ed25519 (~25 us) off the append path.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ossa_audit::{sign_checkpoint, Checkpoint};

use crate::daemon::NodeContext;

/// How often the tree head is signed when the log has grown: once a second bounds how stale
/// a served checkpoint can be while costing at most one signature per second.
pub const CHECKPOINT_PERIOD: Duration = Duration::from_secs(1);

/// The latest signed checkpoint, shared with the API.
#[derive(Default)]
pub struct LatestCheckpoint(RwLock<Option<(u64, String)>>);

impl LatestCheckpoint {
    /// The latest signed note, if any.
    pub fn note(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, note)| note.clone())
    }

    fn size(&self) -> Option<u64> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(size, _)| *size)
    }

    fn set(&self, size: u64, note: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((size, note));
    }
}

/// The origin (and key name) of a node's audit log.
pub fn audit_origin(federation: &str, org: &str) -> String {
    format!("{federation}/{org}")
}

/// Signs a checkpoint whenever the log has grown, for as long as the node runs.
pub async fn run_checkpointer(node: Arc<NodeContext>) {
    let origin = audit_origin(&node.federation, &node.org);
    let mut tick = tokio::time::interval(CHECKPOINT_PERIOD);
    loop {
        tick.tick().await;
        let head = node.audit.tree_head();
        if head.size == 0 || node.checkpoint.size() == Some(head.size) {
            continue;
        }
        match sign_checkpoint(&Checkpoint::new(origin.clone(), head), &origin, &node.key) {
            Ok(note) => node.checkpoint.set(head.size, note),
            Err(err) => tracing::warn!(%err, "cannot sign audit checkpoint"),
        }
    }
}
