//! Protected publication links (ours; the Python service's clients never send or see these): the
//! `protection` of a creation request, what the creation answer says of it, what decode tells the
//! landing page a protected link needs, and the bodies of `POST /tokens/unlock` and
//! `POST /tokens/send-code`.
use std::fmt;

use serde::{Deserialize, Serialize};

/// The shortest password a protected link takes, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest, in characters: Argon2 reads the whole password, a bound keeps one request's
/// work small.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Addresses a share may be bound to, as given (before duplicates are dropped).
pub const MAX_PROTECTION_ADDRESSES: usize = 20;

/// How a protected link is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ProtectionMethod {
    /// The visitor types a password the sender gave them another way (phone, SMS).
    Password,
    /// The visitor asks for a one-time code, sent by e-mail to one of the share's addresses.
    EmailCode,
}

impl ProtectionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectionMethod::Password => "password",
            ProtectionMethod::EmailCode => "email-code",
        }
    }

    pub fn parse(text: &str) -> Option<ProtectionMethod> {
        match text {
            "password" => Some(ProtectionMethod::Password),
            "email-code" => Some(ProtectionMethod::EmailCode),
            _ => None,
        }
    }
}

/// `"protection"` of `PUT /tokens/{type}` as a client writes it: exactly one of the two.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtectionRequest {
    #[serde(rename = "password")]
    Password(String),
    #[serde(rename = "email-code")]
    EmailCode(Vec<String>),
}

/// Never prints the password.
impl fmt::Debug for ProtectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtectionRequest::Password(_) => f.write_str("Password([REDACTED])"),
            ProtectionRequest::EmailCode(addresses) => {
                f.debug_tuple("EmailCode").field(addresses).finish()
            }
        }
    }
}

/// What the creation answer repeats of the protection: the method and the addresses, never the
/// password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProtectionEcho {
    pub method: ProtectionMethod,
    /// The addresses codes may be sent to (each once), for `email-code`.
    #[serde(
        rename = "email-code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false, example = json!(["alice@example.org"])))]
    pub email_code: Option<Vec<String>>,
}

/// What a protected link needs, in decode's, unlock's and send-code's answers: never the hash,
/// never a full address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProtectionInfo {
    pub method: ProtectionMethod,
    /// The addresses a code may be sent to, masked (`a***@example.org`), in the order the send
    /// route's `address` index counts them. Empty for a password.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = json!(["a***@example.org"])))]
    pub addresses: Vec<String>,
    /// Wrong passwords or codes allowed before the share locks.
    #[serde(rename = "attempts-left")]
    #[cfg_attr(feature = "openapi", schema(maximum = 5))]
    pub attempts_left: u32,
    /// Set while the share is locked after too many wrong attempts (RFC 3339, UTC).
    #[serde(rename = "locked-until", default)]
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime))]
    pub locked_until: Option<String>,
    /// Set by `POST /tokens/send-code` when a code went out.
    #[serde(rename = "code-sent", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub code_sent: Option<CodeSent>,
    /// With `too-many-codes`: seconds until another code may be sent.
    #[serde(
        rename = "retry-after",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false, minimum = 1))]
    pub retry_after: Option<u64>,
}

/// A code that went out: to which (masked) address, valid until when (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeSent {
    #[cfg_attr(feature = "openapi", schema(example = "a***@example.org"))]
    pub address: String,
    #[serde(rename = "expires-at")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: String,
}

/// `POST /tokens/unlock`: the protected link's token and the secret, one of `password` or
/// `code`. Never printed whole. (Its OpenAPI schema is written out in `openapi.rs`: one of
/// the two, the other absent or null.)
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockRequest {
    #[serde(rename = "token-value")]
    pub token_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl fmt::Debug for UnlockRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlockRequest")
            .field("token_value", &"[REDACTED]")
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("code", &self.code.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// `POST /tokens/send-code`: send a code for the protected link to the address at this index of
/// the masked list decode gave.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"token-value": crate::openapi::EXAMPLE_TOKEN, "address": 0})))]
pub struct SendCodeRequest {
    /// The protected link's share token (a `Bearer ` prefix is stripped).
    #[serde(rename = "token-value")]
    pub token_value: String,
    /// An index into decode's `protection.addresses` (at most 20 addresses: 0 to 19).
    #[serde(deserialize_with = "whole_index")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 19))]
    pub address: usize,
}

/// A whole number of JSON, `17` or `17.0` alike (JSON Schema's `integer` is any number without
/// a fraction): what a client generated from the document may send.
fn whole_index<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    struct Index;
    impl serde::de::Visitor<'_> for Index {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number from 0")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom("address: too large"))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom("address: a whole number from 0"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<usize, E> {
            // Exact below 2^53; anything larger is past every list anyway.
            if v.fract() == 0.0 && (0.0..9.0e15).contains(&v) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(v as usize)
            } else {
                Err(E::custom("address: a whole number from 0"))
            }
        }
    }
    d.deserialize_any(Index)
}

impl fmt::Debug for SendCodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendCodeRequest")
            .field("token_value", &"[REDACTED]")
            .field("address", &self.address)
            .finish()
    }
}

/// `a***@example.org`: the first character of the local part, the domain whole. What a visitor
/// sees to pick an address without learning it.
pub fn mask_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_request_reads_either_form_and_never_prints_the_password() {
        let p: ProtectionRequest = serde_json::from_str(r#"{"password":"hunter2-long"}"#).unwrap();
        assert_eq!(p, ProtectionRequest::Password("hunter2-long".into()));
        assert!(!format!("{p:?}").contains("hunter2"));
        let e: ProtectionRequest =
            serde_json::from_str(r#"{"email-code":["alice@example.org"]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"email-code":["alice@example.org"]}"#
        );
        assert!(serde_json::from_str::<ProtectionRequest>(r#"{"pin":"1"}"#).is_err());
        let unlock = UnlockRequest {
            token_value: "eyJ.x.y".into(),
            password: Some("hunter2-long".into()),
            code: None,
        };
        let text = format!("{unlock:?}");
        assert!(!text.contains("hunter2") && !text.contains("eyJ"), "{text}");
        assert_eq!(
            serde_json::to_string(&unlock).unwrap(),
            r#"{"token-value":"eyJ.x.y","password":"hunter2-long"}"#
        );
    }

    #[test]
    fn the_address_index_is_any_whole_json_number() {
        let read = |body: &str| serde_json::from_str::<SendCodeRequest>(body).map(|r| r.address);
        assert_eq!(read(r#"{"token-value":"t","address":17}"#).unwrap(), 17);
        assert_eq!(read(r#"{"token-value":"t","address":17.0}"#).unwrap(), 17);
        assert_eq!(read(r#"{"token-value":"t","address":1e300}"#).ok(), None);
        for bad in ["-1", "1.5", "\"1\"", "null", "1e300"] {
            assert!(
                read(&format!(r#"{{"token-value":"t","address":{bad}}}"#)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask_address("alice@example.org"), "a***@example.org");
        assert_eq!(mask_address("b@x.test"), "b***@x.test");
        assert_eq!(mask_address("élodie@exemple.fr"), "é***@exemple.fr");
        assert_eq!(mask_address("no-at-sign"), "***");
    }
}
