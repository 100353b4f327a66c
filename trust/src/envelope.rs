//! Signed envelopes: a signature over exact bytes, bound to what the bytes are for.
//!
//! The signed message is `domain || 0x00 || payload`. The domain (for example
//! `ossa/agent-record/1`) keeps a signature made for one kind of message from being accepted
//! as another; the payload is the exact encoded bytes that travel, never a re-encoding.

use crate::{verify_signature, NodeKey, TrustError};

/// Longest domain accepted: domains are short constant protocol names.
pub const MAX_DOMAIN_LEN: usize = 64;

fn message(domain: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + 1 + payload.len());
    message.extend_from_slice(domain.as_bytes());
    message.push(0);
    message.extend_from_slice(payload);
    message
}

/// Signs `payload` for `domain` with `key`.
pub fn sign_envelope(key: &NodeKey, domain: &str, payload: &[u8]) -> [u8; 64] {
    key.sign(&message(domain, payload))
}

/// Verifies a signature made by [`sign_envelope`].
pub fn verify_envelope(
    public_key: &[u8; 32],
    domain: &str,
    payload: &[u8],
    signature: &[u8],
) -> Result<(), TrustError> {
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(TrustError::BadSignature(format!("domain is longer than {MAX_DOMAIN_LEN} bytes")));
    }
    verify_signature(public_key, &message(domain, payload), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_bound_to_domain_payload_and_key() {
        let key = NodeKey::generate();
        let sig = sign_envelope(&key, "ossa/agent-record/1", b"payload");
        assert!(verify_envelope(&key.public_key(), "ossa/agent-record/1", b"payload", &sig).is_ok());
        assert!(verify_envelope(&key.public_key(), "ossa/observation/1", b"payload", &sig).is_err());
        assert!(verify_envelope(&key.public_key(), "ossa/agent-record/1", b"payloaD", &sig).is_err());
        let other = NodeKey::generate();
        assert!(verify_envelope(&other.public_key(), "ossa/agent-record/1", b"payload", &sig).is_err());
    }
}
