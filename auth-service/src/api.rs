//! Request and answer bodies of the HTTP API, with the dashed JSON names of the contract
//! (../shared/PROTOCOL.md). Parsing here turns outside input into domain types or a 4xx.
use serde_json::{Map, Value};

use crate::domain::{
    ExpirationDate, ExpirationParseError, Level, Resource, TokenType, MAX_VALIDITY_SECONDS,
};
use crate::error::Error;

// The bodies themselves live in the wire crate, shared with the landing page and other clients.
pub use auth_wire::{
    CreateTokenEcho, CreateTokenResponse, DecodeErrorCode, DecodeRequest, DecodeResponse, Method,
    ResourceDto, SendEmailRequest, SendEmailResponse, ValidateRequest, ValidateResponse,
};

impl From<&Resource> for ResourceDto {
    fn from(r: &Resource) -> Self {
        ResourceDto {
            dicom_uid: r.dicom_uid.clone(),
            orthanc_id: r.orthanc_id.clone(),
            url: r.url.clone(),
            level: r.level,
        }
    }
}

/// `PUT /tokens/{type}` body, checked.
#[derive(Debug)]
pub struct CreateTokenRequest {
    pub id: Option<String>,
    pub resources: Vec<Resource>,
    pub token_type: Option<TokenType>,
    pub expiration_date: Option<ExpirationDate>,
    pub validity_duration: Option<i64>,
    /// A validity-duration so large it can only be the plugin's uninitialised number; ignored.
    pub absurd_validity_duration: bool,
}

impl CreateTokenRequest {
    /// Reads the body like the Python service's pydantic model (dashed or snake_case names, last
    /// duplicate key wins, Unix timestamps and integral floats accepted) but refuses a date
    /// without offset.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let value: Value = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        let Value::Object(obj) = value else {
            return Err(Error::invalid_body("the body must be a JSON object"));
        };
        let id = opt_string(field(&obj, "id", "id"), "id")?;
        let resources = match field(&obj, "resources", "resources") {
            None => return Err(Error::invalid_body("resources: field required")),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_resource(i, item))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(Error::invalid_body("resources: must be a list")),
        };
        let token_type = match field(&obj, "type", "type") {
            None => None,
            Some(Value::String(name)) => Some(
                TokenType::parse(name)
                    .ok_or_else(|| Error::invalid_body("type: not a known token type"))?,
            ),
            Some(_) => return Err(Error::invalid_body("type: must be a token type name")),
        };
        let expiration_date = match field(&obj, "expiration-date", "expiration_date") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(ExpirationDate::parse_request_str(text).map_err(date_error)?)
            }
            Some(Value::Number(n)) => Some(
                n.as_f64()
                    .ok_or(ExpirationParseError::Invalid)
                    .and_then(ExpirationDate::from_unix)
                    .map_err(date_error)?,
            ),
            Some(_) => {
                return Err(Error::invalid_body(
                    "expiration-date: must be a date and time",
                ))
            }
        };
        let mut validity_duration = match field(&obj, "validity-duration", "validity_duration") {
            None | Some(Value::Null) => None,
            Some(v) => Some(integer(v).ok_or_else(|| {
                Error::invalid_body("validity-duration: must be a whole number of seconds")
            })?),
        };
        let absurd_validity_duration = validity_duration
            .is_some_and(|d| !(-MAX_VALIDITY_SECONDS..=MAX_VALIDITY_SECONDS).contains(&d));
        if absurd_validity_duration {
            validity_duration = None;
        }
        Ok(CreateTokenRequest {
            id,
            resources,
            token_type,
            expiration_date,
            validity_duration,
            absurd_validity_duration,
        })
    }
}

fn date_error(e: ExpirationParseError) -> Error {
    match e {
        ExpirationParseError::NoOffset => Error::bad_request(
            "expiration date without offset",
            format!("expiration-date: {e}"),
        ),
        ExpirationParseError::Invalid => Error::invalid_body(format!("expiration-date: {e}")),
    }
}

/// serde_json's message names line and column, never the content.
pub fn json_error(e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Error::invalid_body(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
        Category::Data => Error::invalid_body(data_error_text(e)),
    }
}

/// For typed bodies: "missing field `method`" and similar, without the offending value.
fn data_error_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde's messages put values after "invalid type: " / "invalid value: " — keep only the kind.
    let text = text.split(" at line").next().unwrap_or("");
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        let expected = rest.split(", expected ").nth(1).unwrap_or("another type");
        return format!("a field has the wrong type (expected {expected})");
    }
    if text.starts_with("invalid value") || text.starts_with("unknown variant") {
        let expected = text.split("expected ").nth(1).unwrap_or("another value");
        return format!("a field has an unknown value (expected {expected})");
    }
    text.to_owned()
}

fn field<'a>(obj: &'a Map<String, Value>, dashed: &str, snake: &str) -> Option<&'a Value> {
    obj.get(dashed).or_else(|| obj.get(snake))
}

fn opt_string(v: Option<&Value>, name: &str) -> Result<Option<String>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid_body(format!("{name}: must be a string"))),
    }
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_resource(i: usize, item: &Value) -> Result<Resource, Error> {
    let Value::Object(obj) = item else {
        return Err(Error::invalid_body(format!(
            "resources[{i}]: must be an object"
        )));
    };
    let name = |f: &str| format!("resources[{i}].{f}");
    let level = match obj.get("level") {
        None => {
            return Err(Error::invalid_body(format!(
                "{}: field required",
                name("level")
            )))
        }
        Some(Value::String(l)) => Level::parse(l).ok_or_else(|| {
            Error::invalid_body(format!(
                "{}: must be one of patient, study, series, instance, system",
                name("level")
            ))
        })?,
        Some(_) => {
            return Err(Error::invalid_body(format!(
                "{}: must be a string",
                name("level")
            )))
        }
    };
    Ok(Resource {
        dicom_uid: opt_string(field(obj, "dicom-uid", "dicom_uid"), &name("dicom-uid"))?,
        orthanc_id: opt_string(field(obj, "orthanc-id", "orthanc_id"), &name("orthanc-id"))?,
        url: opt_string(obj.get("url"), &name("url"))?,
        level,
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn parse(body: &str) -> Result<CreateTokenRequest, String> {
        CreateTokenRequest::parse(body.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn create_body_follows_pydantic_leniency() {
        let r = parse(r#"{"id":"a","id":"b","resources":[{"dicom_uid":"1.2","level":"study","label":"x"}],"validity_duration":"120"}"#)
            .expect("valid");
        assert_eq!(r.id.as_deref(), Some("b"));
        assert_eq!(r.resources[0].dicom_uid.as_deref(), Some("1.2"));
        assert_eq!(r.validity_duration, Some(120));
        assert_eq!(
            parse(r#"{"resources":[],"validity-duration":60.0}"#).map(|r| r.validity_duration),
            Ok(Some(60))
        );
    }

    #[test]
    fn create_body_errors_name_the_field_and_not_the_value() {
        assert_eq!(
            parse(r#"{"id":"s"}"#).err().as_deref(),
            Some("resources: field required")
        );
        assert_eq!(
            parse(r#"{"resources":[{"dicom-uid":"1"}]}"#)
                .err()
                .as_deref(),
            Some("resources[0].level: field required")
        );
        assert_eq!(
            parse(r#"{"resources":[],"validity-duration":1.5}"#)
                .err()
                .as_deref(),
            Some("validity-duration: must be a whole number of seconds")
        );
        let e = parse(r#"{"resources":[],"expiration-date":"secret-garbage"}"#)
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("expiration-date:") && !e.contains("secret-garbage"),
            "{e}"
        );
        let e = parse(r#"{"resources":[], "token-value": "eyJhbGciOi"#)
            .err()
            .unwrap_or_default();
        assert!(!e.contains("eyJ"), "{e}");
    }

    #[test]
    fn an_absurd_validity_duration_is_ignored() {
        let r = parse(r#"{"resources":[],"validity-duration":140326900184013}"#).expect("valid");
        assert_eq!(r.validity_duration, None);
        assert!(r.absurd_validity_duration);
    }

    #[test]
    fn validate_body_borrows_and_requires_level_and_method() {
        let body =
            r#"{"dicom-uid":"1.2","level":null,"method":"get","server-id":null,"labels":["a"]}"#;
        let r: ValidateRequest = serde_json::from_str(body).expect("valid");
        assert!(matches!(r.dicom_uid, Some(Cow::Borrowed("1.2"))));
        assert_eq!(r.level, None);
        assert!(serde_json::from_str::<ValidateRequest>(r#"{"method":"get"}"#).is_err());
        assert!(
            serde_json::from_str::<ValidateRequest>(r#"{"level":"study","method":"GET"}"#).is_err()
        );
        assert!(serde_json::from_str::<ValidateRequest>(
            r#"{"level":"study","method":"get","dicom-uid":1.2}"#
        )
        .is_err());
    }
}
