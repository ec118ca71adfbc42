//! Protected publication links: a password, or a one-time code sent by e-mail, before the viewer
//! opens. What is checked here is the secret and its rules; the registry holds the hashes, the
//! wrong attempts and the lock (`shares/store/protection.rs`), so every replica applies the
//! same lock.
//!
//! The rules: a password of 8 characters or more, stored as an Argon2id hash; codes of 6 digits
//! from a CSPRNG, valid 10 minutes, one active per share and address, at most 3 sent per share in
//! any 15 minutes, stored as a keyed hash and compared in constant time; 5 wrong passwords or codes
//! within 15 minutes lock the share for 15 minutes, during which even the right secret is refused.
mod codes;
mod mail_links;
mod password;
mod rules;

pub use codes::{CodeKey, CODE_DIGITS};
pub use mail_links::tokens_in;
pub use password::{hash_password, verify_password};
pub use rules::{
    Protection, ProtectionRefused, CODE_SENDS_PER_WINDOW, CODE_SEND_WINDOW, CODE_VALIDITY,
    FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, MAX_PASSWORD_CHARS, MAX_PROTECTION_ADDRESSES,
    MIN_PASSWORD_CHARS,
};
