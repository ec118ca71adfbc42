//! `PUT /tokens/{type}`, `POST /tokens/validate`, `POST /tokens/decode`.
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::protection::{ProtectionEcho, ProtectionInfo, ProtectionRequest};
use crate::{Level, TokenType};

/// A resource as the API shows it (answers always carry the four keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Resource))]
pub struct ResourceDto {
    /// A DICOM UID (a PatientID at patient level).
    #[serde(rename = "dicom-uid", alias = "dicom_uid", default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, example = "1.2.840.113619.2.55.3.604688119")
    )]
    pub dicom_uid: Option<String>,
    /// An Orthanc resource id.
    #[serde(rename = "orthanc-id", alias = "orthanc_id", default)]
    #[cfg_attr(feature = "openapi", schema(required = true, example = json!(null)))]
    pub orthanc_id: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, example = json!(null)))]
    pub url: Option<String>,
    pub level: Level,
}

/// `PUT /tokens/{type}` body as a client writes it. (auth-service reads it more leniently, as
/// the Python service does: snake_case names, numbers as strings, Unix timestamps; its OpenAPI
/// schema says so.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenBody {
    /// Any text of the caller's, kept in the token (two shares differing only by it have
    /// different tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "share-1"))]
    pub id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::any_resources))]
    pub resources: Vec<ResourceDto>,
    /// When given, the type of the path.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub token_type: Option<TokenType>,
    #[serde(
        rename = "expiration-date",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::expiration_date))]
    pub expiration_date: Option<String>,
    #[serde(
        rename = "validity-duration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::validity_duration))]
    pub validity_duration: Option<i64>,
    /// Ours: opens allowed through the landing page.
    #[serde(rename = "max-uses", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::max_uses))]
    pub max_uses: Option<u64>,
    /// Ours: a password or e-mailed codes before the link opens (publications only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::protection))]
    pub protection: Option<ProtectionRequest>,
}

/// The creation request as the answer repeats it (dates normalised).
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenEcho {
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub id: Option<String>,
    pub resources: Vec<ResourceDto>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// The date the share stops opening, as Python's isoformat writes it (`Z` for a zero offset
    /// given by the caller, `+00:00` for one computed from validity-duration).
    #[serde(rename = "expiration-date")]
    #[cfg_attr(feature = "openapi", schema(required = true, format = DateTime, example = "2030-12-31T23:59:59Z"))]
    pub expiration_date: Option<String>,
    #[serde(rename = "validity-duration")]
    #[cfg_attr(feature = "openapi", schema(required = true, example = json!(null)))]
    pub validity_duration: Option<i64>,
    /// Only when asked for: answers to the plugin stay those of the Python service.
    #[serde(rename = "max-uses", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, minimum = 1))]
    pub max_uses: Option<u64>,
    /// Only when asked for; never the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub protection: Option<ProtectionEcho>,
}

/// `PUT /tokens/{type}` answer.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTokenResponse {
    pub request: CreateTokenEcho,
    /// The share token (for meddream-instant-link, MedDream's own token).
    #[cfg_attr(feature = "openapi", schema(example = json!(crate::openapi::EXAMPLE_TOKEN)))]
    pub token: String,
    /// The link to hand out: the landing page when PUBLIC_LANDING_ROOT is set, else the viewer;
    /// null for viewer-instant-link and download-instant-link.
    #[cfg_attr(feature = "openapi", schema(required = true, example = json!(format!("https://pacs.example.org/share/?token={}", crate::openapi::EXAMPLE_TOKEN))))]
    pub url: Option<String>,
}

/// HTTP methods as the plugin names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// `POST /tokens/validate` body. Borrowed from the request bytes: this is the hot path. Other
/// keys the plugin sends (`labels`, `uri`) are not read.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"dicom-uid": "1.2.840.113619.2.55.3.604688119", "orthanc-id": "6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12", "level": "study", "method": "get", "server-id": null, "token-key": "token", "token-value": crate::openapi::EXAMPLE_TOKEN})))]
pub struct ValidateRequest<'a> {
    /// The resource's DICOM UID (its PatientID at patient level).
    #[serde(rename = "dicom-uid", default, deserialize_with = "opt_cow", borrow)]
    pub dicom_uid: Option<Cow<'a, str>>,
    /// The resource's Orthanc id.
    #[serde(rename = "orthanc-id", default, deserialize_with = "opt_cow", borrow)]
    pub orthanc_id: Option<Cow<'a, str>>,
    /// The name of the header or argument the token came in (not read).
    #[serde(rename = "token-key", default, deserialize_with = "opt_cow", borrow)]
    pub token_key: Option<Cow<'a, str>>,
    /// The share token, when the `token` header does not carry it (a `Bearer ` prefix is
    /// stripped).
    #[serde(rename = "token-value", default, deserialize_with = "opt_cow", borrow)]
    pub token_value: Option<Cow<'a, str>>,
    /// The plugin's WebServiceIdentifier: must equal SERVER_ID when that is set.
    #[serde(rename = "server-id", default, deserialize_with = "opt_cow", borrow)]
    pub server_id: Option<Cow<'a, str>>,
    /// Required but may be null, as in the Python model.
    #[serde(deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub level: Option<Level>,
    pub method: Method,
}

/// `POST /tokens/validate` answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidateResponse {
    pub granted: bool,
    /// Seconds the plugin may cache this answer.
    #[cfg_attr(feature = "openapi", schema(example = 60))]
    pub validity: u32,
}

/// The longest link, and share token, auth-service hands out (bytes). A link travels in a
/// request line, and from the landing page in a `Location` header: nginx cuts request lines at
/// 8 KiB by default (`large_client_header_buffers`), with room kept here for `GET ` and the
/// protocol. The landing page refuses longer tokens unread.
pub const MAX_LINK_BYTES: usize = 8000;

/// `POST /tokens/decode` body.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"token-key": "token", "token-value": crate::openapi::EXAMPLE_TOKEN})))]
pub struct DecodeRequest<'a> {
    /// The name of the argument the token came in (not read).
    #[serde(rename = "token-key", default, deserialize_with = "opt_cow", borrow)]
    pub token_key: Option<Cow<'a, str>>,
    /// The share token (a `Bearer ` prefix is stripped). Without it: 400.
    #[serde(rename = "token-value", default, deserialize_with = "opt_cow", borrow)]
    #[cfg_attr(feature = "openapi", schema(required = true, nullable = false))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"token-type": "stone-viewer-publication", "error-code": null, "redirect-url": "https://pacs.example.org/orthanc/stone-webviewer/index.html?study=1.2.840.113619.2.55.3.604688119&selectedStudies=1.2.840.113619.2.55.3.604688119&token=PROTOCOL.md-token-1", "resources": [{"dicom-uid": "1.2.840.113619.2.55.3.604688119", "orthanc-id": null, "url": null, "level": "study"}]})))]
pub struct DecodeResponse {
    /// The token's type; `invalid` for an old token without one; null when the token does not
    /// read at all.
    #[serde(rename = "token-type")]
    #[cfg_attr(feature = "openapi", schema(required = true, schema_with = crate::openapi::decoded_token_type))]
    pub token_type: Option<String>,
    /// Null when the token opens.
    #[serde(rename = "error-code")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub error_code: Option<DecodeErrorCode>,
    /// The viewer link to open (for a MedDream publication, a freshly minted instant link);
    /// null when the token does not open, or for a preview.
    #[serde(rename = "redirect-url")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub redirect_url: Option<String>,
    /// What the share opens; empty when it does not open.
    pub resources: Vec<ResourceDto>,
    /// Ours, for a protected link only: what opening it needs (masked addresses, lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub protection: Option<ProtectionInfo>,
}

/// Why a token does not open: `expired`, `invalid` (forged, or not a share token), `unknown` (not
/// a publication, or its viewer is not configured here), `revoked` and `used-up` (from the share
/// registry); the codes from `password-required` on are those of protected links (ours),
/// answered by decode, unlock and send-code.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
