//! The OpenAPI description of every route, and a Redoc page to read it, both behind Basic auth
//! (the Python service's `/docs` is open to anyone).
//!
//! The document is the contract integrators generate clients from: request schemas say exactly
//! what a route takes (a request that fits is taken, one that does not is refused with a 4xx),
//! every status a route answers is listed with its body. It is made once at start for this
//! deployment: the creation body of each token type says which ids its viewer needs here
//! (OHIF's depend on OHIF_DATA_SOURCE), and `layout-template` lists the templates found.
mod create;
mod responses;

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_redoc::Redoc;

use super::{emails, gate, health, metrics, roles, shares, tokens, unlock, user, users};
use crate::app_state::ProtectedLinks;
use crate::basic_auth::Caller;
use crate::error::{ErrorBody, PythonError};
use crate::viewer_links::ViewerLinks;
pub use responses::AnyError;
use responses::{BodyTooLarge, InvalidBody, MethodNotAllowed, TooManyRequests, Unauthorized};

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-service", description = "Share tokens, viewer links and user profiles for the Orthanc authorization plugin (drop-in for orthanc-auth-service).\n\nEvery route but `/health` and `/ready` takes HTTP Basic credentials of `USERS`. Errors come in two bodies: `{\"detail\"}` where the Python service answers so (401, 405, the 404 of an unknown path, the roles routes without a Keycloak admin client), `{\"error\", \"detail\"}` everywhere else, `error` being a stable short text to branch on. No error body ever repeats the request. A route whose feature is off here answers 404."),
    paths(
        health::health,
        health::ready,
        metrics::scrape_behind_auth,
        tokens::validate,
        tokens::decode,
        unlock::unlock,
        unlock::send_code,
        user::get_profile,
        roles::get_roles,
        roles::put_roles,
        users::list,
        users::explain,
        emails::list_templates,
        emails::get_template,
        emails::send,
        shares::list,
        shares::get,
        shares::revoke,
        shares::revoke_resource,
        gate::gate,
        openapi_json,
        docs,
        redoc_js,
    ),
    components(
        schemas(
            PythonError,
            ErrorBody,
            AnyError,
            auth_wire::CreateTokenResponse,
            shares::TypeFilter,
            shares::StateFilter,
            gate::AuthReason,
        ),
        responses(Unauthorized, TooManyRequests, MethodNotAllowed, BodyTooLarge, InvalidBody)
    ),
    modifiers(&BasicAuth),
    security(("basic" = [])),
    tags(
        (name = "tokens", description = "Share tokens: created for a viewer or a download, checked by the Orthanc authorization plugin, opened by the landing page."),
        (name = "shares", description = "The share registry: which links exist for a study, and closing them."),
        (name = "users", description = "User profiles from Keycloak roles, the roles file OE2 edits, and who may do what."),
        (name = "emails", description = "Sharing by e-mail (ENABLE_EMAILS)."),
        (name = "gate", description = "The nginx auth_request token gate in front of Orthanc (ORTHANC_URL)."),
        (name = "operations", description = "Health, readiness, metrics and this documentation."),
    )
)]
pub struct ApiDoc;

struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// This deployment's document and its Redoc page, made once at start.
pub struct Document {
    json: web::Bytes,
    page: String,
}

impl Document {
    /// `layout_templates`: the e-mail templates found at start (none when e-mails are off).
    pub fn new(
        links: &ViewerLinks,
        protection: &ProtectedLinks,
        layout_templates: &[String],
    ) -> Document {
        let doc = document(links, protection, layout_templates);
        let json = serde_json::to_vec(&doc).unwrap_or_default();
        let page = Redoc::new(doc).custom_html(DOCS_HTML).to_html();
        Document {
            json: json.into(),
            page,
        }
    }
}

/// The whole document: the routes' own descriptions, a creation operation per token type, and
/// the statuses every route shares (credentials, method, body).
pub fn document(
    links: &ViewerLinks,
    protection: &ProtectedLinks,
    layout_templates: &[String],
) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    create::add_operations(&mut doc, links, protection);
    list_layout_templates(&mut doc, layout_templates);
    responses::complete(&mut doc);
    doc
}

/// `layout-template` of `POST /emails/send`: a template of this deployment, or none.
fn list_layout_templates(doc: &mut utoipa::openapi::OpenApi, names: &[String]) {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut("SendEmailRequest") else {
        return;
    };
    let choices = names
        .iter()
        .map(|n| Some(n.as_str()))
        .chain([Some(""), None]);
    body.properties.insert(
        "layout-template".into(),
        ObjectBuilder::new()
            .schema_type(
                [Type::String, Type::Null]
                    .into_iter()
                    .collect::<SchemaType>(),
            )
            .enum_values(Some(choices))
            .description(Some(
                "A template of GET /emails/templates (those of this server when it started); \
                 absent, null or empty: the content alone. Another name: 400.",
            ))
            .into(),
    );
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn openapi_json(_caller: Caller, document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document.json.clone())
}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "The API documentation page (Redoc): the reference for integrators", content_type = "text/html", body = String)))]
pub async fn docs(_caller: Caller, document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(document.page.clone())
}

/// The page around Redoc: utoipa-redoc's own loads Redoc and fonts from CDNs, which a hospital
/// network often cannot reach. Ours loads the vendored bundle from this service.
const DOCS_HTML: &str = include_str!("../../../static/redoc.html");
/// Redoc 2.5.4's standalone bundle (npm `redoc`, MIT: static/redoc.standalone.js.LICENSE.txt).
const REDOC_JS: &[u8] = include_bytes!("../../../static/redoc.standalone.js");

#[utoipa::path(get, path = "/docs/redoc.standalone.js", tag = "operations",
    responses((status = 200, description = "The Redoc script the /docs page loads", content_type = "application/javascript", body = String)))]
pub async fn redoc_js(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "private, max-age=86400"))
        .body(REDOC_JS)
}
