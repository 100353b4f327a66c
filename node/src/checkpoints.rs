//! Signed checkpoints of this node's audit log, and the witnesses' cosignatures on them.
//!
//! The checkpointer signs the log's tree head (size and RFC 6962 root) as a C2SP
//! `tlog-checkpoint` signed note with the org key, under the log's origin
//! `<federation>/<org>` (also the signature's key name), whenever the log has grown by
//! `[audit] checkpoint_entries` entries or `[audit] checkpoint_interval_ms` has passed since
//! the last one and it grew at all. Each new checkpoint is published on the checkpoints gossip
//! topic, where the stewards witness it ([`crate::witness`]) and gossip back their
//! cosignatures, which [`OwnCheckpoints::add_cosignatures`] merges into the note they sign.
//! While a steward has not cosigned the latest checkpoint it is published again every 5 s.
//!
//! The checkpointer also keeps the audit log's tail short: every poll (50 ms) it writes the
//! entries appended one at a time since the last write to sled ([`AuditLog::persist`]), so an
//! entry stays only in memory for at most 50 ms. Before signing it flushes the log
//! ([`AuditLog::flush`]: the tail written, then fsync) and signs the tree head that flush
//! made durable, so a checkpoint never covers an entry a crash could lose. Otherwise a node
//! restarted after a crash could sign a different tree of a size it had signed before, which
//! its witnesses would rightly take for equivocation.
//!
//! The node keeps its [`RECENT_CHECKPOINTS`] latest notes. `GET /v1/audit/checkpoint` serves
//! the latest, or with `?min_cosigners=K` the latest that K witnesses cosigned; an auditor
//! verifies an export against it offline with `ossa audit verify FILE --checkpoint NOTE
//! --cert org.pem [--witness-cert PEM --min-cosigners K]`. Signing per period rather than per
//! entry keeps ed25519 (~25 us) off the append path.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ossa_audit::{merge_cosignatures, parse_note, sign_checkpoint, AuditLog, Checkpoint, MemoryAuditStore, NoteError};

use crate::daemon::NodeContext;

/// How many of its latest checkpoints a node keeps, with their cosignatures: witnesses
/// answer within a gossip round trip, so the last few cover every checkpoint still being
/// cosigned.
pub const RECENT_CHECKPOINTS: usize = 16;

/// How often the checkpointer looks at the log: bounds how late an entry-count checkpoint is.
const POLL: Duration = Duration::from_millis(50);

/// How often the latest checkpoint is published again while some steward has not cosigned it:
/// gossip published before the mesh formed, or while a witness was cut off, is lost, and an
/// idle log signs nothing new.
const REPUBLISH_PERIOD: Duration = Duration::from_secs(5);

/// The environment variable that makes a node equivocate, for tests of witnessing only: with
/// it set to `1`, next to each checkpoint the node also signs and publishes one of the same
/// size over a rewritten history (its first entry changed).
pub const FORK_HOOK_ENV: &str = "OSSA_TEST_EQUIVOCATE";

/// This node's recent checkpoints, newest last, each with the cosignatures gathered so far.
#[derive(Default)]
pub struct OwnCheckpoints(RwLock<VecDeque<OwnCheckpoint>>);

struct OwnCheckpoint {
    size: u64,
    note: String,
    cosigners: usize,
}

impl OwnCheckpoints {
    /// The latest note with at least `min_cosigners` cosignatures.
    pub fn latest_cosigned(&self, min_cosigners: usize) -> Option<String> {
        self.read().iter().rev().find(|c| c.cosigners >= min_cosigners).map(|c| c.note.clone())
    }

    /// Among the recent notes that cover entry `index`, the one with the most cosignatures,
    /// the newest on a tie.
    pub fn best_witnessed(&self, index: u64) -> Option<String> {
        let recent = self.read();
        let covering = || recent.iter().rev().filter(|c| c.size > index);
        let most = covering().map(|c| c.cosigners).max()?;
        covering().find(|c| c.cosigners == most).map(|c| c.note.clone())
    }

    /// The latest note, if fewer than `witnesses` have cosigned it.
    fn latest_with_fewer_than(&self, witnesses: usize) -> Option<String> {
        self.read().back().filter(|c| c.cosigners < witnesses).map(|c| c.note.clone())
    }

    fn latest_size(&self) -> Option<u64> {
        self.read().back().map(|c| c.size)
    }

    fn push(&self, size: u64, note: String) {
        let mut recent = self.0.write().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_CHECKPOINTS {
            recent.pop_front();
        }
        recent.push_back(OwnCheckpoint { size, note, cosigners: 0 });
    }

    /// Merges the signature lines of `cosigned` into the recent note that signs the same
    /// checkpoint. The caller passes only lines it has verified. Returns whether a recent
    /// note matched.
    pub fn add_cosignatures(&self, cosigned: &str) -> Result<bool, NoteError> {
        let text = parse_note(cosigned)?.text;
        let mut recent = self.0.write().unwrap_or_else(|p| p.into_inner());
        for own in recent.iter_mut().rev() {
            if parse_note(&own.note).is_ok_and(|n| n.text == text) {
                let merged = merge_cosignatures(&own.note, cosigned)?;
                // Signature lines other than the log's own one are cosignatures.
                own.cosigners = parse_note(&merged)?.signatures.len().saturating_sub(1);
                own.note = merged;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, VecDeque<OwnCheckpoint>> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// The origin (and key name) of a node's audit log.
pub fn audit_origin(federation: &str, org: &str) -> String {
    format!("{federation}/{org}")
}

/// Signs checkpoints as configured and keeps the audit log's tail written, for as long as the
/// node runs.
pub async fn run_checkpointer(node: Arc<NodeContext>, every_entries: u64, interval: Duration) {
    let origin = audit_origin(&node.federation, &node.org);
    let fork = std::env::var(FORK_HOOK_ENV).is_ok_and(|v| v == "1");
    let mut last_signed = Instant::now();
    let mut last_published = Instant::now();
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let grown = node.audit.len().saturating_sub(node.checkpoints.latest_size().unwrap_or(0));
        if grown > 0 && (grown >= every_entries || last_signed.elapsed() >= interval) {
            match node.audit_blocking(|audit| audit.flush()).await {
                Ok(durable) => {
                    sign_and_publish(&node, &origin, durable, fork).await;
                    (last_signed, last_published) = (Instant::now(), Instant::now());
                }
                Err(err) => tracing::warn!(%err, "cannot flush the audit log before a checkpoint"),
            }
            continue;
        }
        if let Err(err) = node.audit_blocking(|audit| audit.persist()).await {
            tracing::warn!(%err, "cannot write the audit log's tail");
        }
        if last_published.elapsed() >= REPUBLISH_PERIOD {
            let witnesses = crate::witness::witnesses_of(&node.consensus.registry.read().registry, &node.org);
            if let Some(note) = node.checkpoints.latest_with_fewer_than(witnesses) {
                crate::witness::publish_checkpoint(&node, note).await;
            }
            last_published = Instant::now();
        }
    }
}

async fn sign_and_publish(node: &NodeContext, origin: &str, head: ossa_audit::TreeHead, fork: bool) {
    let note = match sign_checkpoint(&Checkpoint::new(origin, head), origin, &node.key) {
        Ok(note) => note,
        Err(err) => return tracing::warn!(%err, "cannot sign audit checkpoint"),
    };
    node.checkpoints.push(head.size, note.clone());
    node.metrics.checkpoints_signed.inc();
    node.metrics.checkpoint_size.set(i64::try_from(head.size).unwrap_or(i64::MAX));
    node.metrics.checkpoint_time.set(i64::try_from(crate::clock::now_ms() / 1000).unwrap_or(i64::MAX));
    crate::witness::publish_checkpoint(node, note).await;
    if fork {
        match rewritten_history_checkpoint(&node.audit, origin, &node.key, head.size) {
            Ok(forged) => {
                tracing::warn!(size = head.size, "{FORK_HOOK_ENV}: publishing a checkpoint of a rewritten history");
                crate::witness::publish_checkpoint(node, forged).await;
            }
            Err(err) => tracing::warn!(%err, "{FORK_HOOK_ENV}: cannot rewrite the history"),
        }
    }
}

/// Test hook ([`FORK_HOOK_ENV`]): a checkpoint of size `size` signed over a copy of the log
/// whose first entry names another actor.
fn rewritten_history_checkpoint(
    log: &AuditLog<ossa_audit::SledAuditStore>,
    origin: &str,
    key: &ossa_trust::NodeKey,
    size: u64,
) -> anyhow::Result<String> {
    let copy = AuditLog::open(MemoryAuditStore::new())?;
    let len = usize::try_from(size)?;
    for (i, entry) in log.entries(0, len)?.into_iter().enumerate() {
        let actor = if i == 0 { format!("{}-rewritten", entry.actor) } else { entry.actor };
        copy.append(ossa_audit::EntryDraft {
            time_ms: entry.time_ms,
            kind: entry.kind,
            actor,
            payload: entry.payload,
            raft_index: entry.raft_index,
        })?;
    }
    Ok(sign_checkpoint(&Checkpoint::new(origin, copy.tree_head()), origin, key)?)
}
