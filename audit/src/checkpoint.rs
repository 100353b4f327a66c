//! Signed checkpoints in the C2SP `tlog-checkpoint` format.
//!
//! A [`Checkpoint`] names a log (its origin), a tree size and the tree's root. Its body is
//! three lines, `<origin>\n<size>\n<base64 root>\n` (size in decimal without leading zeros,
//! root in standard base64), and the node signs that body as a signed note
//! ([`crate::note`]) with its ed25519 org key: [`sign_checkpoint`]. A verifier that trusts
//! the key checks it with [`verify_checkpoint`] and gets the checkpoint back; lines by
//! other keys (witness cosignatures, see [`crate::cosign`]) are ignored. Extension lines
//! after the root are accepted on input (they are signed) but not kept.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::export::check_origin;
use crate::merkle::TreeHead;
use crate::note::{self, NoteError};
use crate::Hash;

/// A log's signed tree head: which log, how many entries, and their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (first line), e.g. `org-a.example/audit`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Merkle root of the first `size` entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint of `head` for the log named `origin`.
    pub fn new(origin: impl Into<String>, head: TreeHead) -> Self {
        Self { origin: origin.into(), size: head.size, root: head.root }
    }

    /// The signed body: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Parses a checkpoint body (the text of a note); extension lines are checked to be
    /// non-empty and dropped.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |what: &str| NoteError::BadCheckpoint(what.into());
        let body = text.strip_suffix('\n').ok_or_else(|| bad("body does not end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(bad("fewer than three lines"));
        };
        check_origin(origin).map_err(NoteError::BadCheckpoint)?;
        let size = parse_decimal(size).ok_or_else(|| bad("size is not a decimal u64"))?;
        let decoded = STANDARD.decode(root).map_err(|_| bad("root hash is not base64"))?;
        let root = <Hash>::try_from(decoded.as_slice()).map_err(|_| bad("root hash is not 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Self { origin: origin.to_owned(), size, root })
    }

    /// The tree head this checkpoint signs.
    pub fn tree_head(&self) -> TreeHead {
        TreeHead { size: self.size, root: self.root }
    }
}

/// Parses a u64 written in decimal the one way C2SP formats write it: ASCII digits only (no
/// sign, no spaces) and no leading zero, so every number has exactly one text.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    text.parse().ok().filter(|_| canonical)
}

/// Signs `checkpoint` with `signer` under the key name `key_name` and returns the signed
/// note text. Fails if the origin or key name is invalid.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    key_name: &str,
    signer: &ossa_trust::NodeKey,
) -> Result<String, NoteError> {
    check_origin(&checkpoint.origin).map_err(NoteError::BadCheckpoint)?;
    note::sign_text(&checkpoint.body(), key_name, signer)
}

/// Verifies that `note` is a checkpoint signed by the key `key_name` / `public_key` and
/// returns it. Other signature lines (cosignatures) are ignored.
pub fn verify_checkpoint(note: &str, key_name: &str, public_key: &[u8; 32]) -> Result<Checkpoint, NoteError> {
    let parsed = note::verify_note(note, key_name, public_key)?;
    Checkpoint::parse_body(&parsed.text)
}

/// Parses the checkpoint in `note` without verifying any signature (to inspect it, or to
/// find which key to verify it with).
pub fn parse_checkpoint(note: &str) -> Result<Checkpoint, NoteError> {
    Checkpoint::parse_body(&note::parse_note(note)?.text)
}

#[cfg(test)]
mod tests {
    use ossa_trust::NodeKey;

    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint { origin: "org-a.example/audit".into(), size: 12, root: [0xab; 32] }
    }

    #[test]
    fn body_is_the_c2sp_layout() {
        let body = sample().body();
        assert_eq!(body, format!("org-a.example/audit\n12\n{}\n", STANDARD.encode([0xab; 32])));
        assert_eq!(Checkpoint::parse_body(&body), Ok(sample()));
        let with_ext = format!("{body}ext line\n");
        assert_eq!(Checkpoint::parse_body(&with_ext), Ok(sample()));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = STANDARD.encode([1u8; 32]);
        let cases = [
            String::new(),
            format!("o\n1\n{root}"),
            "o\n1\n".into(),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{}\n", STANDARD.encode([1u8; 31])),
            "o\n1\nnot base64!\n".into(),
            format!("o\n1\n{root}\n\n"),
        ];
        for body in cases {
            assert!(Checkpoint::parse_body(&body).is_err(), "{body:?}");
        }
        assert!(Checkpoint::parse_body(&format!("o\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let key = NodeKey::generate();
        let note = sign_checkpoint(&sample(), "org-a.example", &key).expect("sign");
        assert!(note.starts_with(&sample().body()));
        assert_eq!(verify_checkpoint(&note, "org-a.example", &key.public_key()), Ok(sample()));
        assert_eq!(parse_checkpoint(&note), Ok(sample()));
        let other = NodeKey::generate();
        let err = verify_checkpoint(&note, "org-a.example", &other.public_key());
        assert_eq!(err, Err(NoteError::NoSignature("org-a.example".into())));
        assert!(sign_checkpoint(&sample(), "bad name", &key).is_err());
        let bad_origin = Checkpoint { origin: "a\nb".into(), ..sample() };
        assert!(sign_checkpoint(&bad_origin, "k", &key).is_err());
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let key = NodeKey::generate();
        let note = sign_checkpoint(&sample(), "org-a.example", &key).expect("sign");
        for i in 0..note.len() {
            let mut bytes = note.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(text) = String::from_utf8(bytes) else { continue };
            let result = verify_checkpoint(&text, "org-a.example", &key.public_key());
            assert!(result.is_err(), "flip at {i} accepted: {text:?}");
        }
    }
}
