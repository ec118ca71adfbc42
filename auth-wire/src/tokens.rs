//! `PUT /tokens/{type}`, `POST /tokens/validate`, `POST /tokens/decode`.
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::protection::{ProtectionEcho, ProtectionInfo, ProtectionRequest};
use crate::{Level, TokenType};

/// A resource as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDto {
    #[serde(rename = "dicom-uid", alias = "dicom_uid", default)]
    pub dicom_uid: Option<String>,
    #[serde(rename = "orthanc-id", alias = "orthanc_id", default)]
    pub orthanc_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    pub level: Level,
}

/// `PUT /tokens/{type}` body as a client writes it. (auth-service reads it more leniently, as
/// the Python service does: snake_case names, numbers as strings, Unix timestamps.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTokenBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub resources: Vec<ResourceDto>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    #[serde(
        rename = "expiration-date",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<String>,
    #[serde(
        rename = "validity-duration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub validity_duration: Option<i64>,
    /// Ours: a password or e-mailed codes before the link opens (publications only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionRequest>,
}

/// The creation request as the answer repeats it (dates normalised).
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateTokenEcho {
    pub id: Option<String>,
    pub resources: Vec<ResourceDto>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[serde(rename = "expiration-date")]
    pub expiration_date: Option<String>,
    #[serde(rename = "validity-duration")]
    pub validity_duration: Option<i64>,
    /// Only when asked for: answers to the plugin stay those of the Python service.
    #[serde(rename = "max-uses", default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u64>,
    /// Only when asked for; never the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionEcho>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreateTokenResponse {
    pub request: CreateTokenEcho,
    pub token: String,
    pub url: Option<String>,
}

/// HTTP methods as the plugin names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// `POST /tokens/validate` body. Borrowed from the request bytes: this is the hot path.
#[derive(Debug, Serialize, Deserialize)]
pub struct ValidateRequest<'a> {
    #[serde(rename = "dicom-uid", default, deserialize_with = "opt_cow", borrow)]
    pub dicom_uid: Option<Cow<'a, str>>,
    #[serde(rename = "orthanc-id", default, deserialize_with = "opt_cow", borrow)]
    pub orthanc_id: Option<Cow<'a, str>>,
    #[serde(rename = "token-key", default, deserialize_with = "opt_cow", borrow)]
    pub token_key: Option<Cow<'a, str>>,
    #[serde(rename = "token-value", default, deserialize_with = "opt_cow", borrow)]
    pub token_value: Option<Cow<'a, str>>,
    #[serde(rename = "server-id", default, deserialize_with = "opt_cow", borrow)]
    pub server_id: Option<Cow<'a, str>>,
    /// Required but may be null, as in the Python model.
    #[serde(deserialize_with = "nullable")]
    pub level: Option<Level>,
    pub method: Method,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidateResponse {
    pub granted: bool,
    pub validity: u32,
}

/// The longest link, and share token, auth-service hands out (bytes). A link travels in a
/// request line, and from the landing page in a `Location` header: nginx cuts request lines at
/// 8 KiB by default (`large_client_header_buffers`), with room kept here for `GET ` and the
/// protocol. The landing page refuses longer tokens unread.
pub const MAX_LINK_BYTES: usize = 8000;

/// `POST /tokens/decode` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct DecodeRequest<'a> {
    #[serde(rename = "token-key", default, deserialize_with = "opt_cow", borrow)]
    pub token_key: Option<Cow<'a, str>>,
    #[serde(rename = "token-value", default, deserialize_with = "opt_cow", borrow)]
    pub token_value: Option<Cow<'a, str>>,
    /// Ours (the Python service's clients never send it): check the token as an open would, and
    /// say what it shares, but count no use and mint no MedDream link; `redirect-url` stays null.
    /// The landing page's confirm mode shows what this answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

impl<'a> DecodeRequest<'a> {
    /// The body the plugin and the landing page send: `{"token-key":"token","token-value":T}`.
    pub fn of_token(token: &'a str) -> Self {
        DecodeRequest {
            token_key: Some(Cow::Borrowed("token")),
            token_value: Some(Cow::Borrowed(token)),
            preview: false,
        }
    }

    /// The landing page's confirm mode: `{"token-key":"token","token-value":T,"preview":true}`.
    pub fn preview_of_token(token: &'a str) -> Self {
        DecodeRequest {
            preview: true,
            ..DecodeRequest::of_token(token)
        }
    }
}

/// What the landing page reads to open a publication or explain why it cannot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecodeResponse {
    #[serde(rename = "token-type")]
    pub token_type: Option<String>,
    #[serde(rename = "error-code")]
    pub error_code: Option<DecodeErrorCode>,
    #[serde(rename = "redirect-url")]
    pub redirect_url: Option<String>,
    pub resources: Vec<ResourceDto>,
    /// Ours, for a protected link only: what opening it needs (masked addresses, lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionInfo>,
}

/// Why a token does not open. `revoked` and `used-up` come from the share registry; the codes
/// from `password-required` on are those of protected links (ours), answered by decode, unlock
/// and send-code.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DecodeErrorCode {
    Expired,
    Invalid,
    Unknown,
    Revoked,
    UsedUp,
    /// A protected link: the visitor must type the password.
    PasswordRequired,
    /// A protected link: the visitor must ask for a code by e-mail, then type it.
    CodeRequired,
    WrongPassword,
    WrongCode,
    /// The code matched one that expired (not counted as a wrong attempt).
    CodeExpired,
    /// Too many wrong attempts: the share is locked until `protection.locked-until`.
    Locked,
    /// Three codes were sent for this share in the last 15 minutes.
    TooManyCodes,
    /// A plain publication created under REQUIRE_LINK_PROTECTION with PROTECT_EMAILED_LINKS=code,
    /// never e-mailed yet: it opens once `/emails/send` has bound it to its recipients.
    NotSent,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// An optional string, borrowed when the JSON has no escapes in it.
fn opt_cow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(self)
        }
    }
    d.deserialize_option(V)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decode_request_round_trips_and_borrows() {
        let text = serde_json::to_string(&DecodeRequest::of_token("T.U.V")).unwrap();
        assert_eq!(text, r#"{"token-key":"token","token-value":"T.U.V"}"#);
        let back: DecodeRequest = serde_json::from_str(&text).unwrap();
        assert!(matches!(back.token_value, Some(Cow::Borrowed("T.U.V"))));
        assert!(!back.preview);
        let text = serde_json::to_string(&DecodeRequest::preview_of_token("T.U.V")).unwrap();
        assert_eq!(
            text,
            r#"{"token-key":"token","token-value":"T.U.V","preview":true}"#
        );
        assert!(
            serde_json::from_str::<DecodeRequest>(&text)
                .unwrap()
                .preview
        );
    }

    #[test]
    fn decode_error_codes_have_their_wire_names() {
        let codes = [
            (DecodeErrorCode::Expired, "\"expired\""),
            (DecodeErrorCode::Invalid, "\"invalid\""),
            (DecodeErrorCode::Unknown, "\"unknown\""),
            (DecodeErrorCode::Revoked, "\"revoked\""),
            (DecodeErrorCode::UsedUp, "\"used-up\""),
            (DecodeErrorCode::PasswordRequired, "\"password-required\""),
            (DecodeErrorCode::CodeRequired, "\"code-required\""),
            (DecodeErrorCode::WrongPassword, "\"wrong-password\""),
            (DecodeErrorCode::WrongCode, "\"wrong-code\""),
            (DecodeErrorCode::CodeExpired, "\"code-expired\""),
            (DecodeErrorCode::Locked, "\"locked\""),
            (DecodeErrorCode::TooManyCodes, "\"too-many-codes\""),
            (DecodeErrorCode::NotSent, "\"not-sent\""),
        ];
        for (code, text) in codes {
            assert_eq!(serde_json::to_string(&code).unwrap(), text);
            assert_eq!(serde_json::from_str::<DecodeErrorCode>(text).unwrap(), code);
        }
    }

    #[test]
    fn decode_response_keeps_the_field_order_of_the_python_service() {
        let answer = DecodeResponse {
            token_type: Some("stone-viewer-publication".into()),
            error_code: None,
            redirect_url: Some("http://o/".into()),
            resources: vec![ResourceDto {
                dicom_uid: Some("1.2".into()),
                orthanc_id: None,
                url: None,
                level: Level::Study,
            }],
            protection: None,
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(
            text,
            r#"{"token-type":"stone-viewer-publication","error-code":null,"redirect-url":"http://o/","resources":[{"dicom-uid":"1.2","orthanc-id":null,"url":null,"level":"study"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<DecodeResponse>(&text).unwrap(),
            answer
        );
    }

    #[test]
    fn create_body_leaves_out_what_is_unset() {
        let body = CreateTokenBody {
            resources: vec![],
            token_type: Some(TokenType::StoneViewerPublication),
            validity_duration: Some(60),
            ..CreateTokenBody::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"resources":[],"type":"stone-viewer-publication","validity-duration":60}"#
        );
    }
}
