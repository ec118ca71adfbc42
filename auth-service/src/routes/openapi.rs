//! The OpenAPI description of every route, and a Redoc page to read it, both behind Basic auth
//! (the Python service's `/docs` is open to anyone).
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_redoc::Redoc;

use super::{emails, gate, health, metrics, roles, shares, tokens, unlock, user, users};
use crate::basic_auth::Caller;

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-service", description = "Share tokens, viewer links and user profiles for the Orthanc authorization plugin (drop-in for orthanc-auth-service)."),
    paths(
        health::health,
        health::ready,
        metrics::scrape_behind_auth,
        tokens::create,
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
    modifiers(&BasicAuth),
    security(("basic" = []))
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

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = serde_json::Value),
        (status = 401, description = "No or wrong Basic credentials")))]
pub async fn openapi_json(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "The API documentation page (Redoc)", content_type = "text/html", body = String),
        (status = 401, description = "No or wrong Basic credentials")))]
pub async fn docs(_caller: Caller, page: web::Data<DocsPage>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.0.clone())
}

/// The Redoc page, rendered once at start.
pub struct DocsPage(pub String);

impl DocsPage {
    pub fn new() -> DocsPage {
        DocsPage(
            Redoc::new(ApiDoc::openapi())
                .custom_html(DOCS_HTML)
                .to_html(),
        )
    }
}

impl Default for DocsPage {
    fn default() -> Self {
        DocsPage::new()
    }
}

/// The page around Redoc: utoipa-redoc's own loads Redoc and fonts from CDNs, which a hospital
/// network often cannot reach. Ours loads the vendored bundle from this service.
const DOCS_HTML: &str = include_str!("../../static/redoc.html");
/// Redoc 2.5.4's standalone bundle (npm `redoc`, MIT: static/redoc.standalone.js.LICENSE.txt).
const REDOC_JS: &[u8] = include_bytes!("../../static/redoc.standalone.js");

#[utoipa::path(get, path = "/docs/redoc.standalone.js", tag = "operations",
    responses((status = 200, description = "The Redoc script the /docs page loads", content_type = "application/javascript", body = String),
        (status = 401, description = "No or wrong Basic credentials")))]
pub async fn redoc_js(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "private, max-age=86400"))
        .body(REDOC_JS)
}
