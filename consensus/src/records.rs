//! How registry records are laid out in the state machine's sled tree.
//!
//! One key per record, so an applied entry writes only what it changed:
//! `member/<org>`, `tenant/<name>`, `tenant_policy/<tenant>` (the tenant's version history),
//! `federation_policy` (the federation's version history), `proposal/<id, 20 digits>` and
//! `revoked/<org>` (which outranks the org's `member/` record, left in place) and
//! `rotation/<org>` (the org's key rotation history).
//! Values are JSON. Keys under `meta/` belong to the state machine itself and are not records.

use crate::registry::Change;

const MEMBER: &str = "member/";
const TENANT: &str = "tenant/";
const TENANT_POLICY: &str = "tenant_policy/";
const FEDERATION_POLICY: &str = "federation_policy";
const PROPOSAL: &str = "proposal/";
const REVOKED: &str = "revoked/";
const ROTATION: &str = "rotation/";

/// The key and JSON value of a record.
pub fn encode(change: &Change) -> Result<(Vec<u8>, Vec<u8>), serde_json::Error> {
    let (key, value) = match change {
        Change::Member(m) => (format!("{MEMBER}{}", m.org), serde_json::to_vec(m)?),
        Change::Tenant(t) => (format!("{TENANT}{}", t.name), serde_json::to_vec(t)?),
        Change::TenantPolicies(tenant, versions) => (format!("{TENANT_POLICY}{tenant}"), serde_json::to_vec(versions)?),
        Change::FederationPolicies(versions) => (FEDERATION_POLICY.to_owned(), serde_json::to_vec(versions)?),
        Change::Proposal(p) => (format!("{PROPOSAL}{:020}", p.id), serde_json::to_vec(p)?),
        Change::Revoked(r) => (format!("{REVOKED}{}", r.org), serde_json::to_vec(r)?),
        Change::KeyRotations(org, history) => (format!("{ROTATION}{org}"), serde_json::to_vec(history)?),
    };
    Ok((key.into_bytes(), value))
}

/// The record stored under `key`, or `None` if the key is not a record key.
pub fn decode(key: &str, value: &[u8]) -> Option<Result<Change, serde_json::Error>> {
    let record = if key.starts_with(MEMBER) {
        serde_json::from_slice(value).map(Change::Member)
    } else if let Some(tenant) = key.strip_prefix(TENANT_POLICY) {
        serde_json::from_slice(value).map(|v| Change::TenantPolicies(tenant.to_owned(), v))
    } else if key.starts_with(TENANT) {
        serde_json::from_slice(value).map(Change::Tenant)
    } else if key == FEDERATION_POLICY {
        serde_json::from_slice(value).map(Change::FederationPolicies)
    } else if key.starts_with(PROPOSAL) {
        serde_json::from_slice(value).map(Change::Proposal)
    } else if key.starts_with(REVOKED) {
        serde_json::from_slice(value).map(Change::Revoked)
    } else if let Some(org) = key.strip_prefix(ROTATION) {
        serde_json::from_slice(value).map(|history| Change::KeyRotations(org.to_owned(), history))
    } else {
        return None;
    };
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Member, MemberRole, Tenant};

    #[test]
    fn every_record_round_trips_and_meta_keys_are_not_records() {
        let records = [
            Change::Member(Member {
                org: "acme".into(),
                peer_id: "p".into(),
                node_id: 1,
                role: MemberRole::Steward,
                admitted_at: 2,
            }),
            Change::Tenant(Tenant { name: "t".into(), owner: "acme".into(), created_at: 3 }),
            Change::TenantPolicies("t".into(), vec![]),
            Change::FederationPolicies(vec![]),
            Change::Revoked(crate::registry::Revocation {
                org: "mallory".into(),
                peer_id: "p".into(),
                node_id: 9,
                role: MemberRole::Member,
                reason: "spam".into(),
                proposal: 4,
                raft_index: 5,
            }),
            Change::KeyRotations(
                "acme".into(),
                vec![crate::rotation::KeyRotation {
                    org: "acme".into(),
                    old_peer_id: "p".into(),
                    old_node_id: 1,
                    new_peer_id: "q".into(),
                    new_node_id: 2,
                    at_ms: 6,
                    retire_at_ms: 7,
                    raft_index: 8,
                }],
            ),
        ];
        for record in records {
            let (key, value) = encode(&record).expect("encode");
            let key = String::from_utf8(key).expect("utf8");
            assert_eq!(decode(&key, &value).expect("a record").expect("decode"), record, "{key}");
        }
        assert!(decode("meta/last_applied", b"null").is_none());
    }
}
