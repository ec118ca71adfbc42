//! Route table. One file per group of routes.
mod emails;
mod fallback;
mod gate;
mod health;
pub mod metrics;
pub mod openapi;
mod roles;
mod shares;
mod tokens;
mod unlock;
mod user;
mod users;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest};

use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::TokenType;
use crate::error::Error;
use crate::keycloak::{KeycloakAdmin, KeycloakUnavailable};
use crate::user_profiles::UserProfiles;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .get(health::health)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/gate")
            .get(gate::gate)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/ready")
            .get(health::ready)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/metrics")
            .get(metrics::scrape_behind_auth)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/openapi.json")
            .get(openapi::openapi_json)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/docs")
            .get(openapi::docs)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/docs/redoc.standalone.js")
            .get(openapi::redoc_js)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/tokens/validate")
            .post(tokens::validate)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/tokens/decode")
            .post(tokens::decode)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/tokens/unlock")
            .post(unlock::unlock)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/tokens/send-code")
            .post(unlock::send_code)
            .default_service(fallback::allow("POST")),
    )
    .configure(token_type_routes)
    .service(
        web::resource("/tokens/{token_type}")
            .put(tokens::create)
            .default_service(fallback::allow("PUT")),
    )
    .service(
        web::resource("/shares")
            .get(shares::list)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/shares/revoke")
            .post(shares::revoke_resource)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/shares/{id}")
            .get(shares::get)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/shares/{id}/revoke")
            .post(shares::revoke)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/user/get-profile")
            .post(user::get_profile)
            .default_service(fallback::allow("POST")),
    )
    .service(
        web::resource("/settings/roles")
            .get(roles::get_roles)
            .put(roles::put_roles)
            .default_service(fallback::allow("GET, PUT")),
    )
    .service(
        web::resource("/users")
            .get(users::list)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/users/{username}/explain")
            .get(users::explain)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/emails/templates")
            .get(emails::list_templates)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/emails/templates/{name}")
            .get(emails::get_template)
            .default_service(fallback::allow("GET")),
    )
    .service(
        web::resource("/emails/send")
            .post(emails::send)
            .default_service(fallback::allow("POST")),
    )
    .default_service(web::to(fallback::not_found));
}

/// One static route per known token type: a path with a `{type}` segment is matched by a regex
/// (actix-router), which cost more than the rest of share creation. Unknown types still reach
/// the `/tokens/{token_type}` route and its 404.
fn token_type_routes(cfg: &mut web::ServiceConfig) {
    for &token_type in TokenType::ALL {
        cfg.service(
            web::resource(format!("/tokens/{}", token_type.as_str()))
                .put(
                    move |caller: Caller,
                          req: HttpRequest,
                          body: web::Bytes,
                          state: web::Data<AppState>| {
                        tokens::create_typed(token_type, caller, req, body, state)
                    },
                )
                .default_service(fallback::allow("PUT")),
        );
    }
}

/// The body as JSON bytes: a declared non-JSON content type is refused (as the Python service
/// does), none at all is accepted, and a UTF-8 byte-order mark is skipped.
pub(crate) fn json_body<'b>(req: &HttpRequest, body: &'b [u8]) -> Result<&'b [u8], Error> {
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json =
            ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json"));
        if !json {
            return Err(Error::invalid_body(
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
    }
    Ok(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body))
}

/// A JSON object body turned into `T`: not JSON, not an object, or a field of the wrong type → 422
/// naming the problem, never echoing the input.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(json_body(req, body)?).map_err(|e| crate::api::json_error(&e))?;
    if !value.is_object() {
        return Err(Error::invalid_body("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| crate::api::json_error(&e))
}

/// A JSON object body read in place (borrowing its strings): for the hot routes. Anything but
/// an object (serde would read a struct from an array too) is a 422, as in [`json_object`].
pub(crate) fn json_borrowed<'b, T: serde::Deserialize<'b>>(
    req: &HttpRequest,
    body: &'b [u8],
) -> Result<T, Error> {
    let json = json_body(req, body)?;
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // Still a 422 naming the syntax error when it is not JSON at all.
        serde_json::from_slice::<serde::de::IgnoredAny>(json)
            .map_err(|e| crate::api::json_error(&e))?;
        return Err(Error::invalid_body("the body must be a JSON object"));
    }
    serde_json::from_slice(json).map_err(|e| crate::api::json_error(&e))
}

/// The Keycloak admin client, or the Python service's 404 for routes that need it.
pub(crate) fn keycloak_admin(profiles: &UserProfiles) -> Result<&KeycloakAdmin, Error> {
    profiles
        .keycloak
        .as_ref()
        .and_then(|k| k.admin())
        .ok_or(Error::KeycloakAdminMissing)
}

pub(crate) fn keycloak_unavailable(e: KeycloakUnavailable) -> Error {
    Error::Unavailable {
        error: "keycloak unavailable",
        detail: Some(e.to_string()),
    }
}
