//! Request and answer bodies of the HTTP API, with the dashed JSON names of the contract
//! (the wire contract: the bodies are auth-wire's types). Parsing here turns outside input into domain types or a 4xx.
mod create_answer;
mod json_tree;

pub use create_answer::create_answer_json;

use json_tree::Node;

use crate::domain::{
    ExpirationDate, ExpirationParseError, Level, Resource, TokenType, MAX_VALIDITY_SECONDS,
};
use crate::error::Error;

// The bodies themselves live in the wire crate, shared with the landing page and other clients.
pub use auth_wire::{
    CreateTokenEcho, CreateTokenResponse, DecodeErrorCode, DecodeRequest, DecodeResponse, Method,
    ResourceDto, SendEmailRequest, SendEmailResponse, ValidateRequest, ValidateResponse,
};

/// For answers built once the share is done with: its strings move, not copied.
impl From<Resource> for ResourceDto {
    fn from(r: Resource) -> Self {
        ResourceDto {
            dicom_uid: r.dicom_uid,
            orthanc_id: r.orthanc_id,
            url: r.url,
            level: r.level,
        }
    }
}

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
    /// `max-uses`: landing-page opens allowed (ours; the share registry enforces it).
    pub max_uses: Option<u64>,
}

impl CreateTokenRequest {
    /// Reads the body like the Python service's pydantic model (dashed or snake_case names, last
    /// duplicate key wins, Unix timestamps and integral floats accepted) but refuses a date
    /// without offset.
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let body: Node = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        Self::from_node(&body)
    }

    fn from_node(obj: &Node) -> Result<Self, Error> {
        if !matches!(obj, Node::Object(_)) {
            return Err(Error::invalid_body("the body must be a JSON object"));
        }
        let id = opt_string(field(obj, "id", "id"), "id")?;
        let resources = match field(obj, "resources", "resources") {
            None => return Err(Error::invalid_body("resources: field required")),
            Some(Node::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_resource(i, item))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(Error::invalid_body("resources: must be a list")),
        };
        let token_type = match field(obj, "type", "type") {
            None => None,
            Some(Node::Str(name)) => Some(
                TokenType::parse(name)
                    .ok_or_else(|| Error::invalid_body("type: not a known token type"))?,
            ),
            Some(_) => return Err(Error::invalid_body("type: must be a token type name")),
        };
        let expiration_date = match field(obj, "expiration-date", "expiration_date") {
            None | Some(Node::Null) => None,
            Some(Node::Str(text)) => {
                Some(ExpirationDate::parse_request_str(text).map_err(date_error)?)
            }
            Some(Node::Number(n)) => Some(
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
        // pydantic refuses these too (422): Python's datetime ends with the year 9999.
        if expiration_date.is_some_and(|d| !d.is_in_python_range()) {
            return Err(Error::invalid_body(
                "expiration-date: must fall between the years 1 and 9999",
            ));
        }
        let mut validity_duration = match field(obj, "validity-duration", "validity_duration") {
            None | Some(Node::Null) => None,
            Some(v) => Some(integer(v).ok_or_else(|| {
                Error::invalid_body("validity-duration: must be a whole number of seconds")
            })?),
        };
        let absurd_validity_duration = validity_duration
            .is_some_and(|d| !(-MAX_VALIDITY_SECONDS..=MAX_VALIDITY_SECONDS).contains(&d));
        if absurd_validity_duration {
            validity_duration = None;
        }
        let max_uses = match field(obj, "max-uses", "max_uses") {
            None | Some(Node::Null) => None,
            Some(v) => Some(
                integer(v)
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        Error::invalid_body("max-uses: must be a whole number of at least 1")
                    })?,
            ),
        };
        Ok(CreateTokenRequest {
            max_uses,
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

fn field<'n, 'a>(obj: &'n Node<'a>, dashed: &str, snake: &str) -> Option<&'n Node<'a>> {
    obj.get(dashed).or_else(|| obj.get(snake))
}

fn opt_string(v: Option<&Node>, name: &str) -> Result<Option<String>, Error> {
    match v {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(String::from(s.as_ref()))),
        Some(_) => Err(Error::invalid_body(format!("{name}: must be a string"))),
    }
}

fn integer(v: &Node) -> Option<i64> {
    match v {
        Node::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
        }),
        Node::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_resource(i: usize, obj: &Node) -> Result<Resource, Error> {
    if !matches!(obj, Node::Object(_)) {
        return Err(Error::invalid_body(format!(
            "resources[{i}]: must be an object"
        )));
    }
    let name = |f: &str| format!("resources[{i}].{f}");
    let level = match obj.get("level") {
        None => {
            return Err(Error::invalid_body(format!(
                "{}: field required",
                name("level")
            )))
        }
        Some(Node::Str(l)) => Level::parse(l).ok_or_else(|| {
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
    let resource = Resource {
        dicom_uid: opt_string(field(obj, "dicom-uid", "dicom_uid"), &name("dicom-uid"))?,
        orthanc_id: opt_string(field(obj, "orthanc-id", "orthanc_id"), &name("orthanc-id"))?,
        url: opt_string(obj.get("url"), &name("url"))?,
        level,
    };
    match resource.id_problem() {
        None => Ok(resource),
        Some((id, rule)) => Err(Error::bad_request(
            "invalid resource id",
            format!("{}: {rule}", name(id)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;

    /// How `parse` read the body before the borrowed tree: through serde_json's `Value`.
    fn parse_through_value(body: &[u8]) -> Result<CreateTokenRequest, Error> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
        CreateTokenRequest::from_node(&Node::from(&value))
    }

    const TOP_KEYS: &[&str] = &[
        "id",
        "resources",
        "type",
        "expiration-date",
        "expiration_date",
        "validity-duration",
        "validity_duration",
        "max-uses",
        "max_uses",
        "label",
        "\\u0069d",
        "resource\\u0073",
        "expiration-date ",
        "",
    ];
    const RESOURCE_KEYS: &[&str] = &[
        "level",
        "dicom-uid",
        "dicom_uid",
        "orthanc-id",
        "orthanc_id",
        "url",
        "label",
        "lev\\u0065l",
        "Level",
    ];
    /// String contents as they stand in the JSON text (escapes included).
    const TEXTS: &[&str] = &[
        "",
        "study",
        "series",
        "patient",
        "instance",
        "system",
        "STUDY",
        "1.2.3",
        "abc-def",
        "stone-viewer-publication",
        "ohif-viewer-publication",
        "meddream-instant-link",
        "viewer-instant-link",
        "nonsense-type",
        "2030-01-01T00:00:00+00:00",
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00",
        "2030-01-01",
        "2030-13-45T99:00:00Z",
        " 120 ",
        "120",
        "-5",
        "1.5",
        "1e3",
        "x\\ny",
        "\\u0041",
        "\\ud800",
        "\\udc00x",
        "\\ud83d\\ude00",
        "\\\"quoted\\\"",
        "caf\u{e9}",
        "\\x",
        "tab\there",
    ];
    const NUMBERS: &[&str] = &[
        "0",
        "1",
        "-1",
        "60",
        "60.0",
        "1.5",
        "-0.0",
        "1e3",
        "1E400",
        "-1e-400",
        "2e9",
        "140326900184013",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "9.2e18",
        "1700000000",
        "1700000000.25",
        "-1700000000",
        "01",
        "1.",
        ".5",
        "+1",
        "NaN",
    ];

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            prop::sample::select(NUMBERS).prop_map(str::to_owned),
            prop::sample::select(TEXTS).prop_map(|t| format!("\"{t}\"")),
        ]
    }

    fn object(pairs: Vec<(String, String)>) -> String {
        let body: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    fn any_json() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        prop::sample::select(TOP_KEYS).prop_map(str::to_owned),
                        inner
                    ),
                    0..4
                )
                .prop_map(object),
            ]
        })
    }

    fn resource() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::collection::vec(
                (prop::sample::select(RESOURCE_KEYS).prop_map(str::to_owned), prop_oneof![3 => leaf(), 1 => any_json()]),
                0..6,
            )
            .prop_map(object),
            1 => any_json(),
        ]
    }

    fn create_body() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            4 => leaf(),
            3 => prop::collection::vec(resource(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            1 => any_json(),
        ];
        let top = prop_oneof![
            8 => prop::collection::vec((prop::sample::select(TOP_KEYS).prop_map(str::to_owned), value), 0..9)
                .prop_map(object),
            1 => any_json(),
        ];
        // Now and then the text is cut short or has a stray byte: the syntax errors must agree too.
        (
            top,
            0..100usize,
            any::<prop::sample::Index>(),
            prop::sample::select(&[b' ', b'}', b',', b'"', 0xff][..]),
        )
            .prop_map(|(text, roll, at, byte)| {
                let mut bytes = text.into_bytes();
                match roll {
                    0..=4 => bytes.truncate(at.index(bytes.len() + 1)),
                    5..=9 => bytes.insert(at.index(bytes.len() + 1), byte),
                    _ => {}
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The borrowed tree reads every body as serde_json's `Value` did: the same request, or
        /// the same error (status and text).
        #[test]
        fn the_borrowed_parse_answers_as_the_value_parse(body in create_body()) {
            let borrowed = format!("{:?}", CreateTokenRequest::parse(body.as_bytes()));
            let through_value = format!("{:?}", parse_through_value(body.as_bytes()));
            prop_assert_eq!(borrowed, through_value, "body: {}", body);
        }
    }

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
