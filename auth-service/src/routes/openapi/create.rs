//! `PUT /tokens/{type}`: an operation per token type (each has a route of its own, see
//! routes/mod.rs), with the body its viewer needs on this deployment. One operation for all
//! types could not say that a Stone link needs DICOM UIDs and an Osimis one Orthanc ids, so a
//! schema-valid request would be refused. A type outside these answers 404.
use serde_json::{json, Value};
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema,
};
use utoipa::PartialSchema;

use auth_wire::openapi::{protection_request, resources_request, ProtectionChoices, RequiredId};
use auth_wire::{CreateTokenBody, Level, TokenType};

use crate::app_state::ProtectedLinks;
use crate::viewer_links::{Id, Needs, ViewerLinks};

const EXAMPLE_UID: &str = "1.2.840.113619.2.55.3.604688119";
const EXAMPLE_ORTHANC_ID: &str = "6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12";

pub fn add_operations(doc: &mut OpenApi, links: &ViewerLinks, protection: &ProtectedLinks) {
    for &token_type in TokenType::ALL {
        let needs = links.needs(token_type);
        let name = body_name(token_type);
        let choices = protection_choices(token_type, links, protection);
        doc.components
            .get_or_insert_with(Default::default)
            .schemas
            .insert(name.clone(), body(token_type, needs, choices));
        doc.paths.add_path_operation(
            format!("/tokens/{token_type}"),
            vec![HttpMethod::Put],
            operation(token_type, needs, links.missing_setting(token_type), &name),
        );
    }
}

/// `CreateStoneViewerPublication` for stone-viewer-publication.
fn body_name(token_type: TokenType) -> String {
    let camel: String = token_type
        .as_str()
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("Create{camel}")
}

/// The protections a creation of this type may ask for here, as `check_protection`
/// (routes/tokens.rs) decides: publications through the landing page, codes with e-mails on.
fn protection_choices(
    token_type: TokenType,
    links: &ViewerLinks,
    protection: &ProtectedLinks,
) -> ProtectionChoices {
    let settings = &protection.settings;
    let landing = links.through_landing(token_type);
    ProtectionChoices {
        password: landing,
        email_code: landing && protection.emails,
        required: settings.require && token_type.is_publication() && !settings.protect_emailed,
    }
}

/// The wire type's schema with this type's `type`, `resources` and `protection`.
fn body(token_type: TokenType, needs: Needs, choices: ProtectionChoices) -> RefOr<Schema> {
    let mut schema = CreateTokenBody::schema();
    if let RefOr::T(Schema::Object(body)) = &mut schema {
        let levels: &[Level] = if needs.studies_only {
            &[Level::Study]
        } else {
            Level::ALL
        };
        let required = needs.id.map(|id| match id {
            Id::DicomUid => RequiredId::DicomUid,
            Id::OrthancId => RequiredId::OrthancId,
        });
        body.properties.insert(
            "resources".into(),
            resources_request(required, levels, usize::from(needs.studies_only)).into(),
        );
        body.properties
            .insert("protection".into(), protection_request(choices).into());
        if choices.required {
            body.required.push("protection".into());
        }
        body.properties.insert(
            "type".into(),
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .enum_values(Some([token_type.as_str()]))
                .description(Some("When given, the type of the path"))
                .into(),
        );
        body.description = Some(format!("A {token_type} to create: {}", needs_text(needs)));
        body.examples = vec![example(token_type, needs)];
    }
    schema
}

fn needs_text(needs: Needs) -> String {
    let id = match needs.id {
        Some(Id::DicomUid) => {
            "every resource needs its dicom-uid (its viewer opens studies by UID)"
        }
        Some(Id::OrthancId) => {
            "every resource needs its orthanc-id (its viewer opens studies by Orthanc id)"
        }
        None => "resources at any level, with either id",
    };
    if needs.studies_only {
        format!("{id}; MedDream opens studies only: study level, at least one")
    } else {
        id.to_owned()
    }
}

/// A real request of this type.
fn example(token_type: TokenType, needs: Needs) -> Value {
    let resource = match needs.id {
        Some(Id::DicomUid) => json!({"dicom-uid": EXAMPLE_UID, "level": "study"}),
        Some(Id::OrthancId) => json!({"orthanc-id": EXAMPLE_ORTHANC_ID, "level": "study"}),
        None => {
            json!({"dicom-uid": EXAMPLE_UID, "orthanc-id": EXAMPLE_ORTHANC_ID, "level": "study"})
        }
    };
    let mut request =
        json!({"id": "share-1", "resources": [resource], "type": token_type.as_str()});
    if token_type.is_publication() {
        request["expiration-date"] = json!("2030-12-31T23:59:59Z");
    } else {
        request["validity-duration"] = json!(3600);
    }
    request
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn operation(
    token_type: TokenType,
    needs: Needs,
    missing_setting: Option<&str>,
    body_name: &str,
) -> utoipa::openapi::path::Operation {
    let meddream_mint = token_type == TokenType::MeddreamInstantLink;
    let off_here = match missing_setting {
        Some(setting) => format!(" Off on this server: {setting} is not set."),
        None => String::new(),
    };
    let mut responses = ResponsesBuilder::new()
        .response(
            "200",
            ResponseBuilder::new()
                .description("The token and its link")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("CreateTokenResponse")))
                        .build(),
                ),
        )
        .response(
            "400",
            error_response(
                "Not a share that can be handed out: `type mismatch` (the body's type is not the \
                 path's), `missing resource id` (the id this viewer needs), `invalid resource id` \
                 (not a DICOM UID, PatientID or Orthanc id), `expiration date without offset`, \
                 `share too large` (its link would pass 8000 bytes), `meddream needs studies`; \
                 `protection refused` (a protection this type cannot take here, a password \
                 outside 8 to 1024 characters, more than 20 addresses), `protection required` \
                 (REQUIRE_LINK_PROTECTION)",
            ),
        )
        .response(
            "409",
            error_response(
                "`share revoked`: the same request gives the same token, and that share was \
                 revoked or used up; change its id or expiration to create a new one",
            ),
        )
        .response(
            "404",
            error_response(&format!(
                "`token type not configured`: this type is off here (its public root, or \
                 MedDream's settings, are not set).{off_here}"
            )),
        );
    if meddream_mint {
        responses = responses
            .response(
                "502",
                error_response("MedDream's token service failed, or answered no token"),
            )
            .response(
                "503",
                error_response(
                    "MedDream's token service is busy: too many links are being minted at once",
                ),
            );
    } else {
        responses = responses.response(
            "503",
            error_response(
                "The share registry cannot record the share now (database down or hung): \
                 nothing is handed out",
            ),
        );
    }
    OperationBuilder::new()
        .tag("tokens")
        .operation_id(Some(format!(
            "create_{}",
            token_type.as_str().replace('-', "_")
        )))
        .summary(Some(format!("Create a {token_type}")))
        .description(Some(format!(
            "{}. The answer repeats the request, dates normalised.",
            capitalised(&needs_text(needs))
        )))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(body_name)))
                        .build(),
                )
                .build(),
        ))
        .responses(responses.build())
        .build()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
