//! The OpenAPI schemas of the words and of the body fields auth-service reads leniently (feature
//! `openapi`; the rest of this crate derives `utoipa::ToSchema` under the same feature). They say
//! exactly what auth-service accepts: a request that fits them is taken, one that does not is
//! refused with a 4xx, so a generated client and a fuzzer meet no surprise.
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::RefOr;

use crate::{Level, Permission, TokenType};

/// A DICOM UID: digits in dot-separated components (at most 64 characters: [`MAX_ID_CHARS`]).
pub const DICOM_UID_PATTERN: &str = r"^[0-9]+(\.[0-9]+)*$";
/// A PatientID (a DICOM LO value): no control character, no backslash.
pub const PATIENT_ID_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f\\]*$";
/// An Orthanc resource id: a SHA-1 as five groups of 8 lower-case hex digits.
pub const ORTHANC_ID_PATTERN: &str = r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$";
/// The longest DICOM UID or PatientID, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// One e-mail address auth-service sends to: an ASCII dot-atom local part, `@`, a host name
/// (labels of letters, digits and inner hyphens, at most 63 characters each).
pub const EMAIL_ADDRESS_PATTERN: &str = concat!(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
);
/// `destination-email`: one address or more, separated by commas, semicolons or white space.
pub const EMAIL_LIST_PATTERN: &str = concat!(
    r"^[,; \t\r\n]*",
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    r"([,; \t\r\n]+",
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    r")*[,; \t\r\n]*$"
);
/// A real share token for examples: PROTOCOL.md's first (signed with `my-secret-key`).
pub const EXAMPLE_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMiIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6InN0b25lLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjYtMTItMzFUMTE6MDA6MDArMDA6MDAifQ.RlB9x56eQSaJNt3t4hDxAHdM7BhBbah5CWWBBZQf7x0";

/// The words of the contract: a string schema listing every wire name.
macro_rules! words_schema {
    ($t:ty, $description:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(<$t>::ALL.iter().map(|w| w.as_str())))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $t {}
    };
}

words_schema!(
    TokenType,
    "A kind of share: publications are opened from a link (through the landing page when \
     PUBLIC_LANDING_ROOT is set), instant links are handed to a viewer or a download at once."
);
words_schema!(
    Level,
    "An Orthanc resource level, as the authorization plugin names it."
);
words_schema!(Permission, "One word of the permissions vocabulary.");

fn typed(types: &[Type]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(match types {
        [one] => SchemaType::Type(one.clone()),
        many => many.iter().cloned().collect(),
    })
}

fn null() -> Schema {
    typed(&[Type::Null]).into()
}

/// `token-type` of a decode answer: a type, `invalid` for an old token without one, or null.
pub fn decoded_token_type() -> Schema {
    typed(&[Type::String, Type::Null])
        .enum_values(Some(
            TokenType::ALL
                .iter()
                .map(|t| Some(t.as_str()))
                .chain([Some("invalid"), None]),
        ))
        .into()
}

/// `resources` of a creation request of any type (each type's own is narrower: see
/// [`resources_request`]).
pub fn any_resources() -> Schema {
    resources_request(None, Level::ALL, 0)
}

/// `destination-email` of `POST /emails/send`.
pub fn email_list() -> Schema {
    typed(&[Type::String])
        .pattern(Some(EMAIL_LIST_PATTERN))
        .examples(["dr.house@example.org, radiology@example.org"])
        .into()
}

/// `expiration-date` of a creation request.
pub fn expiration_date() -> Schema {
    AnyOfBuilder::new()
        .item(
            typed(&[Type::String])
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some(
                    "An RFC 3339 date and time with its UTC offset, in the years 1 to 9999 \
                     (Python's range). A local time without offset is refused (400).",
                )),
        )
        .item(
            typed(&[Type::String])
                .pattern(Some("^ *[0-9]{1,14} *$"))
                .description(Some("A Unix timestamp as digits (as pydantic reads it)")),
        )
        .item(
            typed(&[Type::Number])
                .minimum(Some(-62_135_596_800_000_i64))
                .maximum(Some(253_402_300_799_999_i64))
                .description(Some(
                    "A Unix timestamp: seconds, or milliseconds when past 2e10 (as pydantic \
                     reads it)",
                )),
        )
        .item(null())
        .description(Some(
            "When the share stops opening; absent or null: never (unless validity-duration is \
             given). The form to send is an RFC 3339 date-time; the others are read for the \
             Python service's clients.",
        ))
        .examples(["2030-12-31T23:59:59Z"])
        .into()
}

/// `validity-duration` of a creation request.
pub fn validity_duration() -> Schema {
    AnyOfBuilder::new()
        .item(
            typed(&[Type::Integer])
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(i64::MIN))
                .maximum(Some(i64::MAX)),
        )
        .item(
            typed(&[Type::String])
                .pattern(Some("^ *[+-]?0*[0-9]{1,18} *$"))
                .description(Some("The same number as digits (as pydantic reads it)")),
        )
        .item(null())
        .description(Some(
            "Seconds from now until the share stops opening, when expiration-date is not given. \
             Beyond 100 years it is ignored as if absent (the Orthanc plugin sends an \
             uninitialised number when its caller gave none).",
        ))
        .examples([86_400])
        .into()
}

/// `max-uses` of a creation request (ours).
pub fn max_uses() -> Schema {
    AnyOfBuilder::new()
        .item(
            typed(&[Type::Integer])
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        )
        .item(
            typed(&[Type::String])
                .pattern(Some(r"^ *\+?0*[1-9][0-9]{0,17} *$"))
                .description(Some("The same number as digits")),
        )
        .item(null())
        .description(Some(
            "How many times the link may be opened through the landing page (the share registry \
             counts them); absent or null: no limit.",
        ))
        .examples([5])
        .into()
}

/// Which id every resource of a share must carry, for the viewer its link opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequiredId {
    DicomUid,
    OrthancId,
}

/// A resource of a creation request: `level` among `levels`, the ids checked as auth-service
/// checks them (a DICOM UID, or a PatientID at patient level; an Orthanc id), `required` one
/// present and not empty. Empty ids count as absent.
pub fn resource_request(required: Option<RequiredId>, levels: &[Level]) -> Schema {
    let patient = levels.contains(&Level::Patient);
    let others: Vec<Level> = levels
        .iter()
        .copied()
        .filter(|l| *l != Level::Patient)
        .collect();
    let mut shapes: Vec<Schema> = Vec::new();
    if patient {
        shapes.push(resource_shape(
            &[Level::Patient],
            PATIENT_ID_PATTERN,
            "A PatientID (at patient level the plugin names a patient by it)",
            required,
        ));
    }
    if !others.is_empty() {
        shapes.push(resource_shape(
            &others,
            DICOM_UID_PATTERN,
            "A DICOM UID",
            required,
        ));
    }
    match shapes.len() {
        1 => shapes.remove(0),
        _ => {
            let mut one_of = OneOfBuilder::new().description(Some(
                "A resource; its dicom-uid is a PatientID at patient level, a DICOM UID at \
                 other levels. The Python service's snake_case names (dicom_uid, orthanc_id) are \
                 read too; the dashed name wins.",
            ));
            for shape in shapes {
                one_of = one_of.item(shape);
            }
            one_of.into()
        }
    }
}

fn resource_shape(
    levels: &[Level],
    uid_pattern: &str,
    uid_text: &str,
    required: Option<RequiredId>,
) -> Schema {
    let id = |pattern: &str, max: Option<usize>, text: &str, needed: bool| -> ObjectBuilder {
        if needed {
            typed(&[Type::String])
                .pattern(Some(pattern))
                .min_length(Some(1))
                .max_length(max)
                .description(Some(format!("{text}; required for this type")))
        } else {
            typed(&[Type::String, Type::Null])
                .pattern(Some(format!("^$|{pattern}")))
                .max_length(max)
                .description(Some(text))
        }
    };
    let mut shape = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "dicom-uid",
            id(
                uid_pattern,
                Some(MAX_ID_CHARS),
                uid_text,
                required == Some(RequiredId::DicomUid),
            ),
        )
        .property(
            "orthanc-id",
            id(
                ORTHANC_ID_PATTERN,
                None,
                "An Orthanc resource id",
                required == Some(RequiredId::OrthancId),
            ),
        )
        .property(
            "url",
            typed(&[Type::String, Type::Null])
                .description(Some("Kept in the token, as the Python service does")),
        )
        .property(
            "level",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(levels.iter().map(|l| l.as_str()))),
        )
        .required("level");
    match required {
        Some(RequiredId::DicomUid) => shape = shape.required("dicom-uid"),
        Some(RequiredId::OrthancId) => shape = shape.required("orthanc-id"),
        None => {}
    }
    shape.into()
}

/// `resources` of a creation request.
pub fn resources_request(
    required: Option<RequiredId>,
    levels: &[Level],
    min_items: usize,
) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(resource_request(required, levels)))
        .min_items((min_items > 0).then_some(min_items))
        .description(Some(
            "What the share opens. A publication's link carries them all and must stay under \
             8000 bytes (a proxy cuts longer ones): past that, 400 share too large.",
        ))
        .into()
}

/// Which protections a publication may ask for on a server, for `protection` of its creation
/// body (ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtectionChoices {
    /// A password (the link opens through the landing page).
    pub password: bool,
    /// E-mailed codes (the landing page, and e-mails on).
    pub email_code: bool,
    /// REQUIRE_LINK_PROTECTION: absent or null is refused.
    pub required: bool,
}

impl ProtectionChoices {
    /// Every choice: the wire type's own schema, before a server narrows it.
    pub const ALL: ProtectionChoices = ProtectionChoices {
        password: true,
        email_code: true,
        required: false,
    };
}

/// `protection` of a creation request, as [`ProtectionChoices::ALL`] allows it.
pub fn protection() -> Schema {
    protection_request(ProtectionChoices::ALL)
}

/// `protection` of a creation request: exactly one of `{"password"}` and `{"email-code"}` among
/// those `choices` allows, or (unless required) absent or null. A server refuses the others with
/// a 400 (a protection it cannot honour) or a 422 (a wrong shape).
pub fn protection_request(choices: ProtectionChoices) -> Schema {
    use crate::protection::{MAX_PASSWORD_CHARS, MAX_PROTECTION_ADDRESSES, MIN_PASSWORD_CHARS};
    let mut shapes: Vec<Schema> = Vec::new();
    if choices.password {
        shapes.push(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "password",
                    typed(&[Type::String])
                        .min_length(Some(MIN_PASSWORD_CHARS))
                        .max_length(Some(MAX_PASSWORD_CHARS))
                        .description(Some(
                            "The visitor types it; the sender tells it another way (phone, \
                             SMS). Kept as an Argon2id hash, never logged or returned.",
                        )),
                )
                .required("password")
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
                .into(),
        );
    }
    if choices.email_code {
        shapes.push(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "email-code",
                    ArrayBuilder::new()
                        .items(typed(&[Type::String]).pattern(Some(EMAIL_ADDRESS_PATTERN)))
                        .min_items(Some(1))
                        .max_items(Some(MAX_PROTECTION_ADDRESSES))
                        .description(Some(
                            "The visitor picks one (shown masked), gets a one-time code there \
                             and types it",
                        )),
                )
                .required("email-code")
                .additional_properties(Some(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ))
                .into(),
        );
    }
    // Required with nothing this type can take (no landing page here): every creation of it is
    // refused (400); the schema still lets null through rather than describe no body at all.
    if !choices.required || shapes.is_empty() {
        shapes.push(null());
    }
    let text = match (choices.password || choices.email_code, choices.required) {
        (false, _) => {
            "Ours: a password or e-mailed codes before the link opens; not for this type \
                       on this server (only publications opened through the landing page, codes \
                       with e-mails on): absent or null"
        }
        (true, false) => {
            "Ours: a password or e-mailed codes before the link opens (a protected \
                          link's own token opens no data: the landing page asks for the secret); \
                          absent or null: none"
        }
        (true, true) => {
            "Ours: a password or e-mailed codes before the link opens; required here \
                         (REQUIRE_LINK_PROTECTION)"
        }
    };
    let mut one_of = OneOfBuilder::new().description(Some(text));
    for shape in shapes {
        one_of = one_of.item(shape);
    }
    one_of.into()
}

/// `POST /tokens/unlock`'s body: the token and one of `password` and `code`, the other absent
/// or null (both, or neither: 400).
impl utoipa::PartialSchema for crate::UnlockRequest {
    fn schema() -> RefOr<Schema> {
        let token = || {
            typed(&[Type::String])
                .description(Some(
                    "The protected link's share token (a `Bearer ` prefix is stripped); one that \
                     does not read answers error-code invalid",
                ))
                .examples([EXAMPLE_TOKEN])
        };
        let branch = |given: &str, absent: &str, text: &str| -> Schema {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("token-value", token())
                .property(given, typed(&[Type::String]).description(Some(text)))
                .property(absent, null())
                .required("token-value")
                .required(given)
                .into()
        };
        OneOfBuilder::new()
            .item(branch("password", "code", "The password the sender gave"))
            .item(branch(
                "code",
                "password",
                "A code POST /tokens/send-code sent (6 digits)",
            ))
            .description(Some(
                "The protected link's token and its password, or a code it was sent (ours)",
            ))
            .examples([serde_json::json!({"token-value": EXAMPLE_TOKEN, "password": "correct horse battery"})])
            .into()
    }
}

impl utoipa::ToSchema for crate::UnlockRequest {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn protection_schemas_state_the_bounds_the_service_applies() {
        let all = serde_json::to_value(protection()).unwrap();
        let shapes = all["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 3, "password, email-code, null: {all}");
        let password = &shapes[0]["properties"]["password"];
        assert_eq!(password["minLength"], crate::MIN_PASSWORD_CHARS);
        assert_eq!(password["maxLength"], crate::MAX_PASSWORD_CHARS);
        let addresses = &shapes[1]["properties"]["email-code"];
        assert_eq!(addresses["maxItems"], crate::MAX_PROTECTION_ADDRESSES);
        assert_eq!(addresses["items"]["pattern"], EMAIL_ADDRESS_PATTERN);
        let none = serde_json::to_value(protection_request(ProtectionChoices {
            password: false,
            email_code: false,
            required: false,
        }))
        .unwrap();
        assert_eq!(
            none["oneOf"],
            serde_json::json!([{"type": "null"}]),
            "{none}"
        );
        let required = serde_json::to_value(protection_request(ProtectionChoices {
            required: true,
            ..ProtectionChoices::ALL
        }))
        .unwrap();
        assert_eq!(required["oneOf"].as_array().unwrap().len(), 2, "{required}");
        let send = serde_json::to_value(crate::SendCodeRequest::schema()).unwrap();
        assert_eq!(
            send["properties"]["address"]["maximum"],
            crate::MAX_PROTECTION_ADDRESSES - 1,
            "{send}"
        );
    }

    #[test]
    fn the_words_list_every_wire_name() {
        let text = serde_json::to_string(&TokenType::schema()).unwrap();
        for t in TokenType::ALL {
            assert!(text.contains(&format!("\"{t}\"")), "{text}");
        }
        let text = serde_json::to_string(&Permission::schema()).unwrap();
        assert!(text.contains("\"q-r-remote-modalities\""), "{text}");
        let text = serde_json::to_string(&Level::schema()).unwrap();
        assert!(
            text.contains(r#"["patient","study","series","instance","system"]"#),
            "{text}"
        );
    }

    #[test]
    fn a_resource_at_every_level_is_one_of_two_shapes_by_level() {
        let any = serde_json::to_value(resource_request(None, Level::ALL)).unwrap();
        let shapes = any["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2);
        assert_eq!(
            shapes[0]["properties"]["level"]["enum"],
            serde_json::json!(["patient"])
        );
        assert_eq!(
            shapes[1]["properties"]["dicom-uid"]["pattern"],
            format!("^$|{DICOM_UID_PATTERN}")
        );
        assert_eq!(shapes[1]["required"], serde_json::json!(["level"]));
        let studies = serde_json::to_value(resource_request(
            Some(RequiredId::DicomUid),
            &[Level::Study],
        ))
        .unwrap();
        assert_eq!(
            studies["required"],
            serde_json::json!(["level", "dicom-uid"])
        );
        assert_eq!(studies["properties"]["dicom-uid"]["type"], "string");
    }
}
