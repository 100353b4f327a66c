//! Key rotation, as registry state transitions.
//!
//! An org replaces its node key in one replicated step: its own node, holding a certificate
//! the federation CA issued for the new key, proposes [`crate::RegistryCommand::RotateKey`]. When it
//! applies, the org's [`Member`] record switches to the new peer id and Raft node id, and a
//! [`KeyRotation`] links the old key to the new one. From then on:
//!
//! - the new key speaks for the org at once (agent records, observations, joins);
//! - the old key still speaks for it until the rotation's grace period ends
//!   ([`Registry::speaks_for`]), so the node keeps working until it restarts on the new key;
//! - after that, the old key is retired for good ([`Registry::retired_peer_ids`]): nodes refuse
//!   it at admission and the registry never takes it back (`AddMember` with a retired key is
//!   refused). A newer rotation ends the grace period of the previous one.
//!
//! The Raft side (the new node id joining, the old one leaving the membership) is the node's
//! job; it reads the [`KeyRotation`] records to know which ids belong together.

use serde::{Deserialize, Serialize};

use crate::registry::{Change, Member, NodeId, RefusalCode, Registry, RegistryResponse};

/// Longest grace period a rotation may give the old key: a week, time enough for any planned
/// restart, short enough that a leaked old key is not usable for long.
pub const MAX_ROTATION_GRACE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Longest peer id accepted in a rotation (a base58 ed25519 peer id is 52 characters).
const MAX_PEER_ID_LEN: usize = 128;

/// One key rotation of an org: the old key, the new one, and until when the old one is honoured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    /// The org.
    pub org: String,
    /// Peer id of the key rotated away from.
    pub old_peer_id: String,
    /// Raft node id of the old key.
    pub old_node_id: NodeId,
    /// Peer id of the new key.
    pub new_peer_id: String,
    /// Raft node id of the new key.
    pub new_node_id: NodeId,
    /// When the rotation was proposed (Unix ms, from the org's node).
    pub at_ms: u64,
    /// Until when the old key is still honoured (Unix ms).
    pub retire_at_ms: u64,
    /// Raft index of the entry that made the rotation.
    pub raft_index: u64,
}

/// Applies `RotateKey` proposed by `by` (only an org may rotate its own key).
pub(crate) fn rotate_key(
    registry: &mut Registry,
    index: u64,
    by: &str,
    new_peer_id: &str,
    new_node_id: NodeId,
    grace_ms: u64,
    at_ms: u64,
) -> (RegistryResponse, Vec<Change>) {
    let refuse = |code, reason: String| (RegistryResponse::refused(code, reason), vec![]);
    let Some(member) = registry.members.get(by).cloned() else {
        return refuse(RefusalCode::Forbidden, format!("org {by:?} is not a member of the federation"));
    };
    if new_peer_id.is_empty() || new_peer_id.len() > MAX_PEER_ID_LEN {
        return refuse(RefusalCode::Invalid, format!("a peer id has 1 to {MAX_PEER_ID_LEN} characters"));
    }
    if grace_ms > MAX_ROTATION_GRACE_MS {
        return refuse(RefusalCode::Invalid, format!("the grace period is at most {MAX_ROTATION_GRACE_MS} ms"));
    }
    if new_peer_id == member.peer_id {
        return refuse(RefusalCode::Conflict, format!("{by} already uses peer {new_peer_id}"));
    }
    if registry.is_retired_anywhere(new_peer_id) {
        return refuse(RefusalCode::Conflict, format!("peer {new_peer_id} is a retired key; use a new key"));
    }
    let clash = |peer_id: &str, node_id: NodeId| peer_id == new_peer_id || node_id == new_node_id;
    let taken = registry.members.values().any(|m| m.org != by && clash(&m.peer_id, m.node_id))
        || registry.revoked.values().any(|r| clash(&r.peer_id, r.node_id));
    if taken {
        return refuse(RefusalCode::Conflict, format!("peer {new_peer_id} or its node id belongs to another org"));
    }
    let rotation = KeyRotation {
        org: by.to_owned(),
        old_peer_id: member.peer_id.clone(),
        old_node_id: member.node_id,
        new_peer_id: new_peer_id.to_owned(),
        new_node_id,
        at_ms,
        retire_at_ms: at_ms.saturating_add(grace_ms),
        raft_index: index,
    };
    let updated = Member { peer_id: new_peer_id.to_owned(), node_id: new_node_id, admitted_at: index, ..member };
    registry.members.insert(by.to_owned(), updated.clone());
    let history = registry.rotations.entry(by.to_owned()).or_default();
    history.push(rotation.clone());
    let changes = vec![Change::Member(updated), Change::KeyRotations(by.to_owned(), history.clone())];
    (RegistryResponse::KeyRotated { rotation }, changes)
}

impl Registry {
    /// Whether the key of `peer_id` speaks for `org` at `now_ms`: the org's current key, or the
    /// key its latest rotation replaced while the grace period runs.
    pub fn speaks_for(&self, org: &str, peer_id: &str, now_ms: u64) -> bool {
        if self.members.get(org).is_some_and(|m| m.peer_id == peer_id) {
            return true;
        }
        self.rotations
            .get(org)
            .and_then(|history| history.last())
            .is_some_and(|r| r.old_peer_id == peer_id && now_ms < r.retire_at_ms)
    }

    /// The org whose key `peer_id` is at `now_ms` (see [`Registry::speaks_for`]).
    pub fn org_of_peer(&self, peer_id: &str, now_ms: u64) -> Option<&str> {
        if let Some(member) = self.members.values().find(|m| m.peer_id == peer_id) {
            return Some(&member.org);
        }
        self.rotations.iter().find(|(org, _)| self.speaks_for(org, peer_id, now_ms)).map(|(org, _)| org.as_str())
    }

    /// Peer ids of keys that no longer speak for their org at `now_ms`: every key an org
    /// rotated away from, once its grace period is over.
    pub fn retired_peer_ids(&self, now_ms: u64) -> impl Iterator<Item = (&str, &str)> {
        self.rotations.iter().flat_map(move |(org, history)| {
            history
                .iter()
                .filter(move |r| !self.speaks_for(org, &r.old_peer_id, now_ms))
                .map(|r| (org.as_str(), r.old_peer_id.as_str()))
        })
    }

    /// Whether `org` ever rotated away from the key of `peer_id` (grace period or not).
    pub fn is_rotated_away(&self, org: &str, peer_id: &str) -> bool {
        self.rotations.get(org).is_some_and(|history| history.iter().any(|r| r.old_peer_id == peer_id))
    }

    fn is_retired_anywhere(&self, peer_id: &str) -> bool {
        self.rotations.values().flatten().any(|r| r.old_peer_id == peer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MemberRole, Proposal, RegistryCommand};

    fn add(org: &str, peer: &str, node_id: u64) -> Proposal {
        let command =
            RegistryCommand::AddMember { org: org.into(), peer_id: peer.into(), node_id, role: MemberRole::Steward };
        Proposal { by: "leader".into(), command }
    }

    fn rotate(by: &str, peer: &str, node_id: u64, grace_ms: u64) -> Proposal {
        let command =
            RegistryCommand::RotateKey { new_peer_id: peer.into(), new_node_id: node_id, grace_ms, at_ms: 1_000 };
        Proposal { by: by.into(), command }
    }

    fn federation() -> Registry {
        let mut registry = Registry::default();
        registry.apply(1, &add("acme", "p1", 1));
        registry.apply(2, &add("globex", "p2", 2));
        registry
    }

    fn refused(response: &RegistryResponse) -> Option<RefusalCode> {
        match response {
            RegistryResponse::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn a_rotation_switches_the_member_and_honours_the_old_key_for_the_grace_period() {
        let mut registry = federation();
        let (response, changes) = registry.apply(3, &rotate("acme", "p9", 9, 500));
        let RegistryResponse::KeyRotated { rotation } = response else { panic!("{response:?}") };
        assert_eq!((rotation.old_peer_id.as_str(), rotation.old_node_id), ("p1", 1));
        assert_eq!(rotation.retire_at_ms, 1_500);
        assert_eq!(changes.len(), 2, "the member record and the rotation history");
        let member = &registry.members["acme"];
        assert_eq!((member.peer_id.as_str(), member.node_id, member.role), ("p9", 9, MemberRole::Steward));

        assert!(registry.speaks_for("acme", "p9", 1_000));
        assert!(registry.speaks_for("acme", "p1", 1_499), "grace period");
        assert!(!registry.speaks_for("acme", "p1", 1_500), "retired");
        assert!(!registry.speaks_for("globex", "p1", 1_000), "a key speaks only for its own org");
        assert_eq!(registry.org_of_peer("p1", 1_200), Some("acme"));
        assert_eq!(registry.org_of_peer("p1", 1_500), None);
        assert_eq!(registry.retired_peer_ids(1_200).count(), 0);
        assert_eq!(registry.retired_peer_ids(1_500).collect::<Vec<_>>(), vec![("acme", "p1")]);
    }

    #[test]
    fn a_retired_key_never_comes_back() {
        let mut registry = federation();
        registry.apply(3, &rotate("acme", "p9", 9, 0));
        let (response, changes) = registry.apply(4, &add("acme", "p1", 1));
        assert_eq!(refused(&response), Some(RefusalCode::Forbidden), "{response:?}");
        assert!(changes.is_empty());
        assert_eq!(registry.members["acme"].peer_id, "p9");
        // Nor can the org rotate back to it, or anyone take it.
        assert_eq!(refused(&registry.apply(5, &rotate("acme", "p1", 1, 0)).0), Some(RefusalCode::Conflict));
        assert_eq!(refused(&registry.apply(6, &rotate("globex", "p1", 1, 0)).0), Some(RefusalCode::Conflict));
        // Re-admission with the current key is still fine.
        assert!(matches!(registry.apply(7, &add("acme", "p9", 9)).0, RegistryResponse::MemberAdded { .. }));
    }

    #[test]
    fn a_second_rotation_ends_the_first_grace_period() {
        let mut registry = federation();
        registry.apply(3, &rotate("acme", "p9", 9, 10_000));
        registry.apply(4, &rotate("acme", "p10", 10, 10_000));
        assert!(registry.speaks_for("acme", "p9", 2_000));
        assert!(!registry.speaks_for("acme", "p1", 2_000));
        assert_eq!(registry.retired_peer_ids(2_000).collect::<Vec<_>>(), vec![("acme", "p1")]);
    }

    #[test]
    fn bad_rotations_are_refused_and_change_nothing() {
        let mut registry = federation();
        let before = registry.clone();
        let cases = [
            (rotate("stranger", "p9", 9, 0), RefusalCode::Forbidden),
            (rotate("acme", "p1", 1, 0), RefusalCode::Conflict),
            (rotate("acme", "p2", 9, 0), RefusalCode::Conflict),
            (rotate("acme", "p9", 2, 0), RefusalCode::Conflict),
            (rotate("acme", "", 9, 0), RefusalCode::Invalid),
            (rotate("acme", "p9", 9, MAX_ROTATION_GRACE_MS + 1), RefusalCode::Invalid),
        ];
        for (index, (proposal, code)) in cases.into_iter().enumerate() {
            let (response, changes) = registry.apply(10 + index as u64, &proposal);
            assert_eq!(refused(&response), Some(code), "{proposal:?}: {response:?}");
            assert!(changes.is_empty());
        }
        assert_eq!(registry, before);
    }

    #[test]
    fn rotations_survive_storage() {
        let mut registry = federation();
        registry.apply(3, &rotate("acme", "p9", 9, 0));
        let mut restored = Registry::default();
        registry.all_records().into_iter().for_each(|r| restored.restore(r));
        assert_eq!(restored, registry);
    }
}
