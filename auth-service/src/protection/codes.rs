//! One-time codes: 6 digits from the thread's CSPRNG (ChaCha, seeded by the OS), stored as an
//! HMAC-SHA256 under a key derived from `SECRET_KEY`, bound to the share and the address: a copy
//! of the database alone does not give the codes away (a million plain hashes would), and a code
//! opens only the share it was sent for.
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::ShareId;

pub const CODE_DIGITS: usize = 6;

/// The key of the codes' hashes, derived once from `SECRET_KEY` (so every replica has it).
pub struct CodeKey(Hmac<Sha256>);

impl CodeKey {
    pub fn new(secret_key: &SecretString) -> CodeKey {
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length
        let mut derive = Hmac::<Sha256>::new_from_slice(secret_key.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        derive.update(b"auth-service link unlock codes v1");
        let key = derive.finalize().into_bytes();
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        CodeKey(mac)
    }

    /// A new code.
    pub fn new_code() -> SecretString {
        let n: u32 = rand::rng().random_range(0..1_000_000);
        SecretString::from(format!("{n:06}"))
    }

    /// The stored form of `code` sent for `share` to `address` (hex).
    pub fn hash(&self, share: &ShareId, address: &str, code: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(share.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(address.to_ascii_lowercase().as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `typed` (spaces ignored) is the code stored as `stored`, in constant time.
    pub fn matches(&self, share: &ShareId, address: &str, typed: &str, stored: &str) -> bool {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let well_formed = typed.len() == CODE_DIGITS && typed.bytes().all(|b| b.is_ascii_digit());
        let computed = self.hash(share, address, &typed);
        let same: bool = computed.as_bytes().ct_eq(stored.as_bytes()).into();
        well_formed && same
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_their_hash_binds_share_address_and_key() {
        let key = CodeKey::new(&SecretString::from("k1"));
        let share = ShareId::of_token("t");
        let other = ShareId::of_token("u");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let code = CodeKey::new_code();
            let text = code.expose_secret();
            assert_eq!(text.len(), 6);
            assert!(text.bytes().all(|b| b.is_ascii_digit()), "{text}");
            seen.insert(text.to_owned());
        }
        assert!(seen.len() > 40, "random codes: {seen:?}");
        let stored = key.hash(&share, "Alice@Example.org", "012345");
        assert!(!stored.contains("012345"));
        assert!(key.matches(&share, "alice@example.org", "012 345", &stored));
        assert!(!key.matches(&share, "alice@example.org", "012346", &stored));
        assert!(!key.matches(&other, "alice@example.org", "012345", &stored));
        assert!(!key.matches(&share, "bob@example.org", "012345", &stored));
        let other_key = CodeKey::new(&SecretString::from("k2"));
        assert!(!other_key.matches(&share, "alice@example.org", "012345", &stored));
        assert!(!key.matches(
            &share,
            "alice@example.org",
            "12345",
            &key.hash(&share, "alice@example.org", "12345")
        ));
    }
}
