//! Signed reports on the wire: a protobuf [`pb::Observation`] inside a [`pb::SignedRecord`]
//! whose signature covers the exact encoded bytes under the domain [`OBSERVATION_DOMAIN`]. A
//! report is an observation of an agent ([`Report::Observation`]) or, with the outcome
//! `invalid_signature`, an org-level penalty ([`Report::Penalty`]): the reporter's node saw the
//! subject org's node forward a message whose signature does not verify, which an honest node,
//! validating before it forwards, never does.
//!
//! [`verify_report`] is the check every node runs before it forwards or counts one: size,
//! signature, the signer is the admitted node of the reporting org (from the replicated
//! registry), an observed agent is in the directory and belongs to the subject org, a penalized
//! org is a member, and no org rates itself. Replays, stale sequences and times out of range
//! are the ledger's to refuse ([`ossa_trust::TrustLedger::record`]).

use ossa_consensus::Registry;
use ossa_trust::{sign_envelope, NodeKey, Observation, Outcome, Penalty, PenaltyKind};
use prost::Message;

use crate::agents::directory::Directory;
use crate::agents::record::{open_signed, Opened, Rejection};
use crate::wire::pb;

/// Signature domain of observations.
pub const OBSERVATION_DOMAIN: &str = "ossa/observation/1";

/// Largest signed observation accepted: names are bounded by the ledger's limits (a few
/// hundred bytes); 4 KiB leaves room for the envelope.
pub const MAX_OBSERVATION_BYTES: usize = 4 * 1024;

/// Why an observation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ObservationRefusal {
    /// Too large, or not a signed observation.
    #[error("malformed observation: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// The signer is not the admitted node of the observer org.
    #[error("signer is not the admitted node of org {0:?}")]
    SignerNotMember(String),
    /// The subject agent is not in this node's directory (it may not have arrived yet).
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    /// The agent belongs to another org than the observation says.
    #[error("agent {agent:?} belongs to {actual:?}, not {claimed:?}")]
    WrongSubjectOrg {
        /// The agent.
        agent: String,
        /// Its org in the directory.
        actual: String,
        /// The org the observation names.
        claimed: String,
    },
    /// An org observed its own agent, or reported itself.
    #[error("an org cannot rate itself")]
    SelfRating,
    /// A penalty names an org that is not a member.
    #[error("unknown org {0:?}")]
    UnknownOrg(String),
}

/// What a signed report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// An observation of an agent.
    Observation(Observation),
    /// A penalty against an org (an invalid signature it forwarded).
    Penalty(Penalty),
}

/// The wire outcome of an invalid-signature penalty.
const INVALID_SIGNATURE: &str = "invalid_signature";

impl ObservationRefusal {
    /// Short stable reason, for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::BadSignature => "bad_signature",
            Self::SignerNotMember(_) => "signer_not_member",
            Self::UnknownAgent(_) => "unknown_agent",
            Self::WrongSubjectOrg { .. } => "wrong_subject_org",
            Self::SelfRating => "self_rating",
            Self::UnknownOrg(_) => "unknown_org",
        }
    }

    /// Whether gossipsub should lower the forwarder's score: only for what an honest
    /// forwarder, which checked the message itself, could not have passed on. An agent this
    /// node has not heard of yet may just be late.
    pub fn penalizes_sender(&self) -> bool {
        !matches!(self, Self::UnknownAgent(_) | Self::UnknownOrg(_))
    }
}

/// Encodes and signs `observation` with the observer org's node key.
pub fn sign_observation(key: &NodeKey, observation: &Observation) -> Vec<u8> {
    sign_payload(
        key,
        pb::Observation {
            observer_org: observation.observer_org.clone(),
            subject_org: observation.subject_org.clone(),
            subject_agent: observation.subject_agent.clone(),
            outcome: outcome_name(observation.outcome).to_owned(),
            latency_ms: observation.latency_ms.unwrap_or(0),
            has_latency: observation.latency_ms.is_some(),
            at_ms: observation.at_ms,
            sequence: observation.sequence,
            evidence_id: String::new(),
        },
    )
}

/// Encodes and signs an invalid-signature `penalty` with the reporting org's node key.
pub fn sign_penalty(key: &NodeKey, penalty: &Penalty, sequence: u64) -> Vec<u8> {
    sign_payload(
        key,
        pb::Observation {
            observer_org: penalty.reporter_org.clone(),
            subject_org: penalty.subject_org.clone(),
            outcome: INVALID_SIGNATURE.to_owned(),
            at_ms: penalty.at_ms,
            sequence,
            evidence_id: penalty.evidence_id.clone(),
            ..Default::default()
        },
    )
}

fn sign_payload(key: &NodeKey, report: pb::Observation) -> Vec<u8> {
    let payload = report.encode_to_vec();
    let signature = sign_envelope(key, OBSERVATION_DOMAIN, &payload);
    pb::SignedRecord { payload, signer: key.public_key().to_vec(), signature: signature.to_vec() }.encode_to_vec()
}

/// The wire name of an outcome.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Violation => "violation",
    }
}

/// Parses a wire outcome name.
pub fn parse_outcome(name: &str) -> Option<Outcome> {
    match name {
        "success" => Some(Outcome::Success),
        "failure" => Some(Outcome::Failure),
        "violation" => Some(Outcome::Violation),
        _ => None,
    }
}

/// Decodes a signed report without checking it against the registry or directory (for
/// replaying the node's own verified store at start).
pub fn decode_report(bytes: &[u8]) -> Result<Report, ObservationRefusal> {
    let signed = decode_signed(bytes)?;
    decode_payload(&signed.payload)
}

/// The envelope checks shared with agent records (`open_signed`) refuse in their own terms;
/// here a too large or undecodable message is malformed.
impl From<Rejection> for ObservationRefusal {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::BadSignature => Self::BadSignature,
            Rejection::TooLarge { len, limit } => Self::Malformed(format!("{len} bytes, the limit is {limit}")),
            Rejection::Malformed(why) => Self::Malformed(why),
            other => Self::Malformed(other.to_string()),
        }
    }
}

fn decode_signed(bytes: &[u8]) -> Result<pb::SignedRecord, ObservationRefusal> {
    if bytes.len() > MAX_OBSERVATION_BYTES {
        return Err(ObservationRefusal::Malformed(format!(
            "{} bytes, the limit is {MAX_OBSERVATION_BYTES}",
            bytes.len()
        )));
    }
    pb::SignedRecord::decode(bytes).map_err(|e| ObservationRefusal::Malformed(e.to_string()))
}

fn decode_payload(payload: &[u8]) -> Result<Report, ObservationRefusal> {
    let o = pb::Observation::decode(payload).map_err(|e| ObservationRefusal::Malformed(e.to_string()))?;
    if o.outcome == INVALID_SIGNATURE {
        if !o.subject_agent.is_empty() || o.evidence_id.is_empty() {
            return Err(ObservationRefusal::Malformed("a penalty names an org and its evidence, no agent".into()));
        }
        return Ok(Report::Penalty(Penalty {
            reporter_org: o.observer_org,
            subject_org: o.subject_org,
            kind: PenaltyKind::InvalidSignature,
            evidence_id: o.evidence_id,
            at_ms: o.at_ms,
        }));
    }
    let outcome = parse_outcome(&o.outcome)
        .ok_or_else(|| ObservationRefusal::Malformed(format!("unknown outcome {:?}", o.outcome)))?;
    Ok(Report::Observation(Observation {
        observer_org: o.observer_org,
        subject_org: o.subject_org,
        subject_agent: o.subject_agent,
        outcome,
        latency_ms: o.has_latency.then_some(o.latency_ms),
        at_ms: o.at_ms,
        sequence: o.sequence,
    }))
}

/// Checks a signed report (see the module docs) and returns it.
pub fn verify_report(
    bytes: &[u8],
    registry: &Registry,
    directory: &Directory,
    now_ms: u64,
) -> Result<Report, ObservationRefusal> {
    let Opened { payload, signer_peer } = open_signed(bytes, OBSERVATION_DOMAIN, MAX_OBSERVATION_BYTES)?;
    let report = decode_payload(&payload)?;
    let (reporter, subject) = match &report {
        Report::Observation(o) => (&o.observer_org, &o.subject_org),
        Report::Penalty(p) => (&p.reporter_org, &p.subject_org),
    };
    if !registry.speaks_for(reporter, &signer_peer, now_ms) {
        return Err(ObservationRefusal::SignerNotMember(reporter.clone()));
    }
    if reporter == subject {
        return Err(ObservationRefusal::SelfRating);
    }
    match &report {
        Report::Penalty(p) if !registry.members.contains_key(&p.subject_org) => {
            Err(ObservationRefusal::UnknownOrg(p.subject_org.clone()))
        }
        Report::Penalty(_) => Ok(report),
        Report::Observation(o) => {
            let (tenant, agent) = o
                .subject_agent
                .split_once('/')
                .ok_or_else(|| ObservationRefusal::Malformed("subject agent is not TENANT/ID".into()))?;
            let record = directory
                .record(tenant, agent)
                .ok_or_else(|| ObservationRefusal::UnknownAgent(o.subject_agent.clone()))?;
            if record.org != o.subject_org {
                return Err(ObservationRefusal::WrongSubjectOrg {
                    agent: o.subject_agent.clone(),
                    actual: record.org,
                    claimed: o.subject_org.clone(),
                });
            }
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use ossa_consensus::{Member, MemberRole, Tenant};

    use super::*;
    use crate::admission::peer_id_of_key;
    use crate::agents::record::{sign_record, verify_record, RECORD_TTL_MS};
    use crate::clock::now_ms;

    struct World {
        acme: NodeKey,
        globex: NodeKey,
        registry: Registry,
        directory: Directory,
        _db: sled::Db,
    }

    /// Two member orgs; acme's agent `acme-t/summarizer` is in the directory.
    fn world() -> World {
        let (acme, globex) = (NodeKey::generate(), NodeKey::generate());
        let mut registry = Registry::default();
        for (org, key) in [("acme", &acme), ("globex", &globex)] {
            let peer_id = peer_id_of_key(&key.public_key()).expect("key").to_string();
            let member = Member { org: org.into(), peer_id, node_id: 1, role: MemberRole::Steward, admitted_at: 1 };
            registry.members.insert(org.into(), member);
        }
        registry.tenants.insert("acme-t".into(), Tenant { name: "acme-t".into(), owner: "acme".into(), created_at: 2 });
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let directory = Directory::open(&db).expect("directory");
        let now = now_ms();
        let record = pb::AgentRecord {
            org: "acme".into(),
            tenant: "acme-t".into(),
            agent_id: "summarizer".into(),
            sequence: 1,
            issued_at_ms: now,
            expires_at_ms: now + RECORD_TTL_MS,
            ..Default::default()
        };
        let verified = verify_record(&sign_record(&acme, &record), &registry, now).expect("record");
        directory.insert(verified).expect("insert");
        World { acme, globex, registry, directory, _db: db }
    }

    fn observation(observer: &str, subject_org: &str) -> Observation {
        Observation {
            observer_org: observer.into(),
            subject_org: subject_org.into(),
            subject_agent: "acme-t/summarizer".into(),
            outcome: Outcome::Failure,
            latency_ms: Some(12),
            at_ms: 1_000,
            sequence: 1,
        }
    }

    fn check(world: &World, bytes: &[u8]) -> Result<Report, &'static str> {
        verify_report(bytes, &world.registry, &world.directory, 0).map_err(|r| r.reason())
    }

    #[test]
    fn accepts_a_member_observing_another_orgs_agent_and_round_trips_it() {
        let world = world();
        let sent = observation("globex", "acme");
        assert_eq!(check(&world, &sign_observation(&world.globex, &sent)), Ok(Report::Observation(sent.clone())));
        assert_eq!(decode_report(&sign_observation(&world.globex, &sent)).expect("decode"), Report::Observation(sent));
    }

    #[test]
    fn an_invalid_signature_penalty_round_trips_and_names_a_member() {
        let world = world();
        let penalty = |subject: &str| Penalty {
            reporter_org: "globex".into(),
            subject_org: subject.into(),
            kind: PenaltyKind::InvalidSignature,
            evidence_id: "ab12".into(),
            at_ms: 5,
        };
        let signed = sign_penalty(&world.globex, &penalty("acme"), 3);
        assert_eq!(check(&world, &signed), Ok(Report::Penalty(penalty("acme"))));
        assert_eq!(check(&world, &sign_penalty(&world.globex, &penalty("nobody"), 4)), Err("unknown_org"));
        assert_eq!(check(&world, &sign_penalty(&world.globex, &penalty("globex"), 5)), Err("self_rating"));
    }

    #[test]
    fn refuses_forgeries_outsiders_self_ratings_and_wrong_subjects() {
        let world = world();
        let mut forged = sign_observation(&world.globex, &observation("globex", "acme"));
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(check(&world, &forged), Err("bad_signature"));
        let outsider = NodeKey::generate();
        assert_eq!(
            check(&world, &sign_observation(&outsider, &observation("globex", "acme"))),
            Err("signer_not_member")
        );
        assert_eq!(check(&world, &sign_observation(&world.acme, &observation("acme", "acme"))), Err("self_rating"));
        assert_eq!(
            check(&world, &sign_observation(&world.acme, &observation("acme", "globex"))),
            Err("wrong_subject_org")
        );
        let mut unknown = observation("globex", "acme");
        unknown.subject_agent = "acme-t/nobody".into();
        assert_eq!(check(&world, &sign_observation(&world.globex, &unknown)), Err("unknown_agent"));
        assert_eq!(check(&world, &vec![0u8; MAX_OBSERVATION_BYTES + 1]), Err("malformed"));
        assert_eq!(check(&world, b"\xff\xff not protobuf"), Err("malformed"));
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_bytes() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..512))| {
            let world = world();
            let _ = verify_report(&bytes, &world.registry, &world.directory, 0);
            let _ = decode_report(&bytes);
        });
    }
}
