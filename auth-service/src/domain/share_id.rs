use std::fmt;

use sha2::{Digest, Sha256};

/// A share's stable id in the registry: the first 128 bits of the SHA-256 of its token. Long
/// enough never to collide among millions of shares, and it cannot be turned back into the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareId([u8; 16]);

impl ShareId {
    pub fn of_token(token: &str) -> ShareId {
        let digest = Sha256::digest(token.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        ShareId(id)
    }

    /// What logs show of the token (`auth_wire::token_fingerprint`), from the id: both are the
    /// start of the token's SHA-256, so no second hash.
    pub fn fingerprint(&self) -> String {
        auth_wire::fingerprint_of_sha256(&self.0)
    }

    /// The 32 lower-case hex digits the API shows; anything else is `None`.
    pub fn parse(text: &str) -> Option<ShareId> {
        let mut id = [0u8; 16];
        if text.len() != 32 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(ShareId(id))
    }
}

impl fmt::Display for ShareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_round_trips_and_rejects_other_text() {
        let id = ShareId::of_token("abc");
        assert_eq!(id.to_string(), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(ShareId::parse(&id.to_string()), Some(id));
        assert_eq!(ShareId::parse("BA7816BF8F01CFEA414140DE5DAE2223"), None);
        assert_eq!(ShareId::parse("ba7816bf"), None);
        assert_eq!(id.fingerprint(), auth_wire::token_fingerprint("abc"));
        assert_eq!(ShareId::parse("zz7816bf8f01cfea414140de5dae2223"), None);
    }
}
