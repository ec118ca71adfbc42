//! The protection a sender asks for, checked, and the numbers the issue sets.
use std::time::Duration;

use auth_wire::{ProtectionEcho, ProtectionMethod};
pub use auth_wire::{MAX_PASSWORD_CHARS, MAX_PROTECTION_ADDRESSES, MIN_PASSWORD_CHARS};
use secrecy::SecretString;

use crate::emails::plain_address;

/// Wrong passwords or codes that lock a share.
pub const MAX_FAILURES: u32 = 5;
/// How long wrong attempts are remembered, and how long a lock lasts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCK_DURATION: Duration = Duration::from_secs(15 * 60);
/// How long a code opens the link.
pub const CODE_VALIDITY: Duration = Duration::from_secs(10 * 60);
/// Codes sent per share within `CODE_SEND_WINDOW` at most.
pub const CODE_SENDS_PER_WINDOW: u32 = 3;
pub const CODE_SEND_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What a sender asked for, checked.
#[derive(Debug)]
pub enum Protection {
    Password(SecretString),
    /// Valid addresses, each once (case-insensitively), in the sender's order.
    EmailCode(Vec<String>),
}

/// Why a protection is refused: a text naming the field, never the password.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtectionRefused(pub String);

impl Protection {
    pub fn password(text: &str) -> Result<Protection, ProtectionRefused> {
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(ProtectionRefused(format!(
                "protection.password: at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if text.chars().count() > MAX_PASSWORD_CHARS {
            return Err(ProtectionRefused(format!(
                "protection.password: at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        Ok(Protection::Password(SecretString::from(text)))
    }

    pub fn email_code<'a>(
        addresses: impl IntoIterator<Item = &'a str>,
    ) -> Result<Protection, ProtectionRefused> {
        // Exactly what the OpenAPI document states: at most 20 as given, each a plain address
        // (the form `/emails/send` takes, so a bound share's addresses always read there).
        let mut kept: Vec<String> = Vec::new();
        for (i, text) in addresses.into_iter().enumerate() {
            if i == MAX_PROTECTION_ADDRESSES {
                return Err(ProtectionRefused(format!(
                    "protection.email-code: at most {MAX_PROTECTION_ADDRESSES} addresses"
                )));
            }
            let address = plain_address(text).ok_or_else(|| {
                ProtectionRefused(format!("protection.email-code[{i}]: not an e-mail address"))
            })?;
            let address = address.to_string();
            if !kept.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
                kept.push(address);
            }
        }
        if kept.is_empty() {
            return Err(ProtectionRefused(
                "protection.email-code: at least one address".into(),
            ));
        }
        Ok(Protection::EmailCode(kept))
    }

    pub fn method(&self) -> ProtectionMethod {
        match self {
            Protection::Password(_) => ProtectionMethod::Password,
            Protection::EmailCode(_) => ProtectionMethod::EmailCode,
        }
    }

    /// What the creation answer repeats: never the password.
    pub fn echo(&self) -> ProtectionEcho {
        ProtectionEcho {
            method: self.method(),
            email_code: match self {
                Protection::Password(_) => None,
                Protection::EmailCode(addresses) => Some(addresses.clone()),
            },
        }
    }

    /// The password, for hashing.
    pub fn secret(&self) -> Option<&SecretString> {
        match self {
            Protection::Password(p) => Some(p),
            Protection::EmailCode(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_eight_characters_and_never_show_in_errors_or_debug() {
        assert!(Protection::password("1234567").is_err());
        assert!(
            Protection::password("ééééééé").is_err(),
            "characters, not bytes"
        );
        let p = Protection::password("s3cret-pw").expect("long enough");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(p.echo().email_code, None);
        assert!(Protection::password(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        let e = Protection::password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).expect_err("too long");
        assert!(e.0.starts_with("protection.password:"), "{e}");
        assert!(!e.0.contains("xxx"));
    }

    #[test]
    fn addresses_are_checked_named_by_index_and_kept_once() {
        let p = Protection::email_code(["a@example.org", "B@example.org", "A@EXAMPLE.ORG"])
            .expect("valid");
        let Protection::EmailCode(list) = &p else {
            panic!("email-code")
        };
        assert_eq!(list, &["a@example.org", "B@example.org"]);
        assert_eq!(
            Protection::email_code(["a@example.org", "nope"])
                .expect_err("a bad address")
                .0,
            "protection.email-code[1]: not an e-mail address"
        );
        assert!(Protection::email_code([]).is_err());
        assert!(
            Protection::email_code([" a@example.org"]).is_err(),
            "the document's pattern: no spaces"
        );
        let many: Vec<String> = (0..=MAX_PROTECTION_ADDRESSES)
            .map(|i| format!("u{i}@x.test"))
            .collect();
        assert!(Protection::email_code(many.iter().map(String::as_str)).is_err());
        let same = vec!["u@x.test"; MAX_PROTECTION_ADDRESSES + 1];
        assert!(
            Protection::email_code(same).is_err(),
            "counted as given, as the document's maxItems"
        );
    }
}
