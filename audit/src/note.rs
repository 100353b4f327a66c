//! C2SP signed notes: the envelope of checkpoints and their cosignatures.
//!
//! A note is UTF-8 text, then a blank line, then one signature line per signature:
//!
//! ```text
//! <text, one or more lines, each ending in \n>
//!
//! — <key name> <base64(4-byte key id || signature bytes)>
//! ```
//!
//! The text is what is signed. The key id is the first 4 bytes of
//! `SHA-256(key name || "\n" || signature type || public key)` ([`key_id`]); a verifier
//! looks for lines whose name and key id are the key it trusts and ignores the others, so
//! one note can carry the log's signature and any number of cosignatures.
//! [`parse_note`] splits and checks the envelope; [`crate::checkpoint`] and
//! [`crate::cosign`] give the text and the signatures their meaning. Every input is bounded
//! ([`MAX_NOTE_LEN`], [`MAX_SIGNATURES`]) and every malformation is a [`NoteError`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Longest note accepted or produced: a checkpoint body is under 400 bytes and a signature
/// line under 400 (name included), so 16 KiB leaves room for dozens of cosignatures while
/// bounding what a peer can make a node parse.
pub const MAX_NOTE_LEN: usize = 16 * 1024;

/// Most signature lines in one note: the limit of the Go `golang.org/x/mod/sumdb/note`
/// reference implementation, far more than a federation has witnesses.
pub const MAX_SIGNATURES: usize = 100;

/// Longest key name: names are host-like (an org or log origin), and 255 is the longest DNS
/// name, like [`crate::MAX_ORIGIN_LEN`].
pub const MAX_KEY_NAME_LEN: usize = 255;

/// Signature type byte of a plain ed25519 note signature (C2SP signed-note).
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// Signature type byte of a `cosignature/v1` signature (C2SP tlog-cosignature).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// What starts every signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Shortest decoded signature: a 4-byte key id and at least one signature byte.
const MIN_SIGNATURE_LEN: usize = 5;

/// Why a note (or the checkpoint or cosignature in it) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is longer than [`MAX_NOTE_LEN`].
    #[error("note is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The note's envelope is malformed (no blank line, bad signature line, ...).
    #[error("malformed note: {0}")]
    Malformed(String),
    /// More signature lines than [`MAX_SIGNATURES`].
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A key name is empty, too long, or contains whitespace or `+`.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// The note's text is not a valid checkpoint.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    /// No signature line is by the expected key (name and key id).
    #[error("no signature by key {0:?}")]
    NoSignature(String),
    /// A signature line by the expected key does not verify.
    #[error("invalid signature by key {0:?}")]
    BadSignature(String),
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id: first 4 bytes of the key hash ([`key_id`]).
    pub key_id: [u8; 4],
    /// The signature bytes after the key id (their layout depends on the signature type).
    pub signature: Vec<u8>,
}

/// A parsed note: the signed text and its signature lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in `\n`.
    pub text: String,
    /// The signature lines.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// The note as text: the signed text, a blank line, the signature lines.
    pub fn encode(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            out.push_str(&signature_line(&s.name, s.key_id, &s.signature));
        }
        out
    }

    /// The signatures whose name and key id are `name` and `key_id`.
    pub(crate) fn signatures_by<'a>(&'a self, name: &'a str, key_id: [u8; 4]) -> impl Iterator<Item = &'a [u8]> {
        self.signatures.iter().filter(move |s| s.name == name && s.key_id == key_id).map(|s| s.signature.as_slice())
    }
}

/// The C2SP key id: the first 4 bytes of `SHA-256(name || "\n" || sig_type || public_key)`.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([sig_type]);
    h.update(public_key);
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0; 4];
    id.copy_from_slice(&digest[..4]);
    id
}

/// Checks a key name: 1..=[`MAX_KEY_NAME_LEN`] bytes, no whitespace, no `+`.
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_KEY_NAME_LEN
        && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+');
    if ok {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.chars().take(MAX_KEY_NAME_LEN).collect()))
    }
}

/// Splits a note into its text and signature lines, checking the envelope (size, UTF-8
/// text without control characters other than newlines, blank line, signature line syntax,
/// base64). Verifies no signature.
pub fn parse_note(note: &str) -> Result<Note, NoteError> {
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge { len: note.len(), max: MAX_NOTE_LEN });
    }
    let malformed = |what: &str| NoteError::Malformed(what.into());
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("control character"));
    }
    let split = note.rfind("\n\n").ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(malformed("signatures do not end with a newline"));
    }
    let mut signatures = Vec::new();
    for line in sigs.split_terminator('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        signatures.push(parse_signature_line(line)?);
    }
    if signatures.is_empty() {
        return Err(malformed("no signatures"));
    }
    Ok(Note { text: text.to_owned(), signatures })
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let malformed = |what: &str| NoteError::Malformed(what.into());
    let rest =
        line.strip_prefix(SIG_PREFIX).ok_or_else(|| malformed("signature line does not start with an em dash"))?;
    let (name, b64) = rest.split_once(' ').ok_or_else(|| malformed("signature line has no signature"))?;
    check_key_name(name)?;
    let bytes = STANDARD.decode(b64).map_err(|_| malformed("signature is not base64"))?;
    if bytes.len() < MIN_SIGNATURE_LEN {
        return Err(malformed("signature too short"));
    }
    let (id, signature) = bytes.split_at(4);
    let mut key_id = [0; 4];
    key_id.copy_from_slice(id);
    Ok(NoteSignature { name: name.to_owned(), key_id, signature: signature.to_vec() })
}

/// Parses `note` and checks that it carries a valid ed25519 signature by the key `key_name`
/// / `public_key` ([`SIG_TYPE_ED25519`]). Signature lines by other keys are ignored; a line
/// with this key's name and key id that does not verify is an error.
pub fn verify_note(note: &str, key_name: &str, public_key: &[u8; 32]) -> Result<Note, NoteError> {
    check_key_name(key_name)?;
    let parsed = parse_note(note)?;
    let id = key_id(key_name, SIG_TYPE_ED25519, public_key);
    let mut found = false;
    for sig in parsed.signatures_by(key_name, id) {
        ossa_trust::verify_signature(public_key, parsed.text.as_bytes(), sig)
            .map_err(|_| NoteError::BadSignature(key_name.to_owned()))?;
        found = true;
    }
    if !found {
        return Err(NoteError::NoSignature(key_name.to_owned()));
    }
    Ok(parsed)
}

/// Signs `text` (which must end in `\n`) with `signer` as `key_name` and returns the note.
pub(crate) fn sign_text(text: &str, key_name: &str, signer: &ossa_trust::NodeKey) -> Result<String, NoteError> {
    check_key_name(key_name)?;
    let id = key_id(key_name, SIG_TYPE_ED25519, &signer.public_key());
    let signature = signer.sign(text.as_bytes());
    check_len(format!("{text}\n{}", signature_line(key_name, id, &signature)))
}

/// One signature line, newline included.
pub(crate) fn signature_line(name: &str, key_id: [u8; 4], signature: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(4 + signature.len());
    bytes.extend_from_slice(&key_id);
    bytes.extend_from_slice(signature);
    format!("{SIG_PREFIX}{name} {}\n", STANDARD.encode(bytes))
}

/// Checks that `note` fits in [`MAX_NOTE_LEN`].
pub(crate) fn check_len(note: String) -> Result<String, NoteError> {
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge { len: note.len(), max: MAX_NOTE_LEN });
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_signature_lines() {
        let line = signature_line("a.example", [1, 2, 3, 4], &[9; 64]);
        let note = format!("body\nmore\n\n{line}{}", signature_line("b", [5; 4], &[7]));
        let parsed = parse_note(&note).expect("parses");
        assert_eq!(parsed.text, "body\nmore\n");
        assert_eq!(parsed.signatures.len(), 2);
        assert_eq!(parsed.signatures[0].key_id, [1, 2, 3, 4]);
        assert_eq!(parsed.signatures[0].signature, vec![9; 64]);
        assert_eq!(parsed.encode(), note);
    }

    #[test]
    fn rejects_malformed_envelopes() {
        let good = signature_line("k", [0; 4], &[1; 64]);
        let cases = [
            String::new(),
            "body\n".into(),
            format!("body\n{good}"),
            "body\n\n".into(),
            format!("body\n\n{}", good.trim_end()),
            format!("body\n\n- k {}\n", STANDARD.encode([0u8; 68])),
            "body\n\n\u{2014} k\n".into(),
            "body\n\n\u{2014} k !!!\n".into(),
            format!("body\n\n\u{2014} k {}\n", STANDARD.encode([0u8; 4])),
            format!("body\n\n\u{2014} a+b {}\n", STANDARD.encode([0u8; 68])),
            format!("bo\rdy\n\n{good}"),
        ];
        for note in cases {
            assert!(parse_note(&note).is_err(), "{note:?}");
        }
        let huge = format!("{}\n\n{good}", "x".repeat(MAX_NOTE_LEN));
        assert!(matches!(parse_note(&huge), Err(NoteError::TooLarge { .. })));
        let many = format!("body\n\n{}", good.repeat(MAX_SIGNATURES + 1));
        assert_eq!(parse_note(&many), Err(NoteError::TooManySignatures));
    }

    /// The example of the Go reference implementation (`golang.org/x/mod/sumdb/note`): key
    /// `PeterNeumann+c74f20a3+ARpc2Q...`, its text and its exact signed note.
    #[test]
    fn verifies_the_go_reference_note() {
        let vkey = STANDARD.decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").expect("b64");
        assert_eq!(vkey[0], SIG_TYPE_ED25519);
        let public: [u8; 32] = vkey[1..].try_into().expect("32 bytes");
        assert_eq!(key_id("PeterNeumann", SIG_TYPE_ED25519, &public), [0xc7, 0x4f, 0x20, 0xa3]);
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = format!(
            "{text}\n\u{2014} PeterNeumann \
             x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        assert_eq!(verify_note(&note, "PeterNeumann", &public).expect("verifies").text, text);
        let other = format!("{note}{}", signature_line("EnochRoot", [1, 2, 3, 4], &[0; 64]));
        assert!(verify_note(&other, "PeterNeumann", &public).is_ok(), "unknown keys are ignored");
        assert_eq!(verify_note(&note, "Peter", &public), Err(NoteError::NoSignature("Peter".into())));
        let forged = note.replace("problem is", "problem was");
        assert_eq!(verify_note(&forged, "PeterNeumann", &public), Err(NoteError::BadSignature("PeterNeumann".into())));
    }

    #[test]
    fn key_names_are_checked() {
        assert!(check_key_name("org-a.example/log").is_ok());
        for bad in ["", "a b", "a+b", "a\tb", &"n".repeat(MAX_KEY_NAME_LEN + 1)] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }
}
