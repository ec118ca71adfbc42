//! Password hashes: Argon2id with the `argon2` crate's defaults (19 MiB, 2 passes, 1 lane, the
//! parameters OWASP recommends), a random salt each, kept as a PHC string. Both calls cost tens of
//! milliseconds of CPU and memory on purpose: run them off the async workers (`web::block`).
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};

/// The PHC string of a password's Argon2id hash.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("Failed to hash a link password: {e}"))
}

/// Whether `password` is the one `phc` was made from. A hash that does not read is a mismatch
/// (fail closed), logged.
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        tracing::error!("a stored link password hash does not read as a PHC string");
        return false;
    };
    Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let password = SecretString::from("correct horse battery");
        let one = hash_password(&password).expect("hashed");
        let two = hash_password(&password).expect("hashed");
        assert!(one.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{one}");
        assert_ne!(one, two, "a salt of its own each");
        assert!(!one.contains("correct horse"));
        assert!(verify_password(&password, &one));
        assert!(verify_password(&password, &two));
        assert!(!verify_password(&SecretString::from("correct horse"), &one));
        assert!(!verify_password(&password, "not a hash"));
    }
}
