//! What logs show instead of a token, the same in every service (auth-service, the landing page):
//! one token can be followed from one log to the other, and never read from either.
use std::fmt::Write;

use sha2::{Digest, Sha256};

/// Bytes of the SHA-256 a fingerprint shows: 8 hex digits, enough to tell tokens apart in a
/// log, useless to an attacker.
pub const FINGERPRINT_BYTES: usize = 4;

/// The fingerprint of a token (or of any secret): the first 8 hex digits of its SHA-256.
pub fn token_fingerprint(token: &str) -> String {
    fingerprint_of_sha256(&Sha256::digest(token.as_bytes()))
}

/// The fingerprint of a token whose SHA-256 (or its start, at least [`FINGERPRINT_BYTES`]) is
/// at hand already: auth-service's share ids are the first 16 bytes of it.
pub fn fingerprint_of_sha256(digest: &[u8]) -> String {
    let mut text = String::with_capacity(2 * FINGERPRINT_BYTES);
    for byte in digest.iter().take(FINGERPRINT_BYTES) {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_the_start_of_the_sha256_in_hex() {
        // SHA-256("abc") = ba7816bf 8f01cfea ...
        assert_eq!(token_fingerprint("abc"), "ba7816bf");
        let digest = Sha256::digest(b"abc");
        assert_eq!(fingerprint_of_sha256(&digest[..16]), "ba7816bf");
    }
}
