//! Protected publication links (ours; the Python service's clients never send or see these): the
//! `protection` of a creation request, what the creation answer says of it, what decode tells the
//! landing page a protected link needs, and the bodies of `POST /tokens/unlock` and
//! `POST /tokens/send-code`.
use std::fmt;

use serde::{Deserialize, Serialize};

/// How a protected link is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct ProtectionEcho {
    pub method: ProtectionMethod,
    #[serde(
        rename = "email-code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_code: Option<Vec<String>>,
}

/// What a protected link needs, in decode's, unlock's and send-code's answers: never the hash,
/// never a full address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionInfo {
    pub method: ProtectionMethod,
    /// The addresses a code may be sent to, masked (`a***@example.org`), in the order the send
    /// route's `address` index counts them. Empty for a password.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Wrong passwords or codes allowed before the share locks.
    #[serde(rename = "attempts-left")]
    pub attempts_left: u32,
    /// Set while the share is locked after too many wrong attempts (RFC 3339, UTC).
    #[serde(rename = "locked-until", default)]
    pub locked_until: Option<String>,
    /// Set by `POST /tokens/send-code` when a code went out.
    #[serde(rename = "code-sent", default, skip_serializing_if = "Option::is_none")]
    pub code_sent: Option<CodeSent>,
    /// With `too-many-codes`: seconds until another code may be sent.
    #[serde(
        rename = "retry-after",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<u64>,
}

/// A code that went out: to which (masked) address, valid until when (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSent {
    pub address: String,
    #[serde(rename = "expires-at")]
    pub expires_at: String,
}

/// `POST /tokens/unlock`: the protected link's token and the secret, one of `password` or
/// `code`. Never printed whole.
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
pub struct SendCodeRequest {
    #[serde(rename = "token-value")]
    pub token_value: String,
    pub address: usize,
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
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask_address("alice@example.org"), "a***@example.org");
        assert_eq!(mask_address("b@x.test"), "b***@x.test");
        assert_eq!(mask_address("élodie@exemple.fr"), "é***@exemple.fr");
        assert_eq!(mask_address("no-at-sign"), "***");
    }
}
