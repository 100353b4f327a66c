//! Witness cosignatures of checkpoints in the C2SP `tlog-cosignature` format
//! (`cosignature/v1`).
//!
//! A witness that has checked a log's checkpoint (its signature, and its consistency with
//! the last checkpoint it saw) signs the message
//!
//! ```text
//! cosignature/v1
//! time <unix seconds>
//! <checkpoint body>
//! ```
//!
//! with its ed25519 key, and adds to the note the signature line
//! `— <witness name> base64(key id || 8-byte big-endian time || 64-byte signature)`, whose
//! key id is computed with the signature type [`SIG_TYPE_COSIGNATURE_V1`]. The cosigned note
//! is still a valid checkpoint for [`crate::verify_checkpoint`], which ignores the extra
//! line; [`verify_cosignature`] checks one witness's line.

use crate::checkpoint::Checkpoint;
use crate::note::{self, check_key_name, key_id, parse_note, signature_line, NoteError, SIG_TYPE_COSIGNATURE_V1};

/// Length of a cosignature after the key id: 8-byte time and 64-byte ed25519 signature.
const COSIGNATURE_LEN: usize = 8 + 64;

/// A verified cosignature: the checkpoint the witness vouched for, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The cosigned checkpoint.
    pub checkpoint: Checkpoint,
    /// The witness's timestamp, Unix seconds.
    pub time: u64,
}

/// The message a `cosignature/v1` signature covers.
fn signed_message(time: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// Cosigns the checkpoint in `note` as witness `witness_name` with `signer` at `time`
/// (Unix seconds) and returns `note` with the cosignature line appended.
///
/// Checks that `note` is a well-formed checkpoint note, not its signatures: the caller
/// verifies the log's signature and the consistency with the last checkpoint first.
pub fn cosign_checkpoint(
    note: &str,
    witness_name: &str,
    signer: &ossa_trust::NodeKey,
    time: u64,
) -> Result<String, NoteError> {
    check_key_name(witness_name)?;
    let parsed = parse_note(note)?;
    Checkpoint::parse_body(&parsed.text)?;
    let signature = signer.sign(signed_message(time, &parsed.text).as_bytes());
    let mut payload = Vec::with_capacity(COSIGNATURE_LEN);
    payload.extend_from_slice(&time.to_be_bytes());
    payload.extend_from_slice(&signature);
    let id = key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, &signer.public_key());
    note::check_len(format!("{}{}", parsed.encode(), signature_line(witness_name, id, &payload)))
}

/// Verifies the cosignature of witness `witness_name` / `public_key` on the checkpoint in
/// `note`. Other signature lines are ignored; a line with the witness's name and key id that
/// is malformed or does not verify is an error. With several valid lines, the latest time
/// is returned.
pub fn verify_cosignature(note: &str, witness_name: &str, public_key: &[u8; 32]) -> Result<Cosigned, NoteError> {
    check_key_name(witness_name)?;
    let parsed = parse_note(note)?;
    let checkpoint = Checkpoint::parse_body(&parsed.text)?;
    let id = key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, public_key);
    let bad = || NoteError::BadSignature(witness_name.to_owned());
    let mut latest = None;
    for sig in parsed.signatures_by(witness_name, id) {
        let (time, signature) = sig.split_first_chunk::<8>().ok_or_else(bad)?;
        if signature.len() != COSIGNATURE_LEN - 8 {
            return Err(bad());
        }
        let time = u64::from_be_bytes(*time);
        let message = signed_message(time, &parsed.text);
        ossa_trust::verify_signature(public_key, message.as_bytes(), signature).map_err(|_| bad())?;
        latest = latest.max(Some(time));
    }
    let time = latest.ok_or_else(|| NoteError::NoSignature(witness_name.to_owned()))?;
    Ok(Cosigned { checkpoint, time })
}

/// Adds to `note` the signature lines of `other` that it lacks; both must sign the same text
/// (the same checkpoint). Verifies no signature: the caller checks the lines it relies on.
pub fn merge_cosignatures(note: &str, other: &str) -> Result<String, NoteError> {
    let mut merged = parse_note(note)?;
    let other = parse_note(other)?;
    if merged.text != other.text {
        return Err(NoteError::Malformed("the notes sign different checkpoints".into()));
    }
    for signature in other.signatures {
        if !merged.signatures.contains(&signature) {
            merged.signatures.push(signature);
        }
    }
    if merged.signatures.len() > note::MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    note::check_len(merged.encode())
}

#[cfg(test)]
mod tests {
    use ossa_trust::NodeKey;

    use super::*;
    use crate::{sign_checkpoint, verify_checkpoint};

    #[test]
    fn cosign_round_trip_keeps_the_log_signature() {
        let (log, w1, w2) = (NodeKey::generate(), NodeKey::generate(), NodeKey::generate());
        let cp = Checkpoint { origin: "org-a.example/audit".into(), size: 3, root: [9; 32] };
        let note = sign_checkpoint(&cp, "org-a.example", &log).expect("sign");
        let once = cosign_checkpoint(&note, "org-b.example", &w1, 1_700_000_000).expect("cosign");
        let twice = cosign_checkpoint(&once, "org-c.example", &w2, 1_700_000_001).expect("cosign");
        assert_eq!(verify_checkpoint(&twice, "org-a.example", &log.public_key()), Ok(cp.clone()));
        let b = verify_cosignature(&twice, "org-b.example", &w1.public_key()).expect("b");
        assert_eq!(b, Cosigned { checkpoint: cp.clone(), time: 1_700_000_000 });
        let c = verify_cosignature(&twice, "org-c.example", &w2.public_key()).expect("c");
        assert_eq!(c.time, 1_700_000_001);
        assert_eq!(
            verify_cosignature(&twice, "org-b.example", &w2.public_key()),
            Err(NoteError::NoSignature("org-b.example".into()))
        );
        // A cosignature is not a log signature: different key id type.
        assert!(verify_checkpoint(&once, "org-b.example", &w1.public_key()).is_err());
        assert!(verify_cosignature(&note, "org-a.example", &log.public_key()).is_err());
    }

    #[test]
    fn merging_collects_each_witness_once_and_refuses_another_checkpoint() {
        let (log, w1, w2) = (NodeKey::generate(), NodeKey::generate(), NodeKey::generate());
        let cp = Checkpoint { origin: "fed/acme".into(), size: 7, root: [4; 32] };
        let note = crate::sign_checkpoint(&cp, "fed/acme", &log).expect("sign");
        let by_w1 = cosign_checkpoint(&note, "fed/w1", &w1, 10).expect("cosign");
        let by_w2 = cosign_checkpoint(&note, "fed/w2", &w2, 11).expect("cosign");
        let merged = merge_cosignatures(&by_w1, &by_w2).expect("merge");
        let again = merge_cosignatures(&merged, &by_w1).expect("merge");
        assert_eq!(merged, again, "a line already present is not added twice");
        assert_eq!(parse_note(&merged).expect("parse").signatures.len(), 3);
        assert!(verify_cosignature(&merged, "fed/w1", &w1.public_key()).is_ok());
        assert!(verify_cosignature(&merged, "fed/w2", &w2.public_key()).is_ok());

        let other = Checkpoint { size: 8, ..cp };
        let other_note = crate::sign_checkpoint(&other, "fed/acme", &log).expect("sign");
        assert!(merge_cosignatures(&merged, &other_note).is_err());
    }

    #[test]
    fn changed_time_or_body_breaks_the_cosignature() {
        let (log, w) = (NodeKey::generate(), NodeKey::generate());
        let cp = Checkpoint { origin: "o".into(), size: 1, root: [1; 32] };
        let note = sign_checkpoint(&cp, "o", &log).expect("sign");
        let cosigned = cosign_checkpoint(&note, "w", &w, 42).expect("cosign");
        let parsed = parse_note(&cosigned).expect("parse");
        let mut changed = parsed.clone();
        changed.signatures[1].signature[7] ^= 1; // time
        let err = verify_cosignature(&changed.encode(), "w", &w.public_key());
        assert_eq!(err, Err(NoteError::BadSignature("w".into())));
        let mut short = parsed.clone();
        short.signatures[1].signature.truncate(20);
        assert!(verify_cosignature(&short.encode(), "w", &w.public_key()).is_err());
        let other = Checkpoint { size: 2, ..cp };
        let moved = cosigned.replacen(&note_body_line(&note), &other.body(), 1);
        assert!(verify_cosignature(&moved, "w", &w.public_key()).is_err());
    }

    fn note_body_line(note: &str) -> String {
        parse_note(note).expect("parse").text
    }
}
