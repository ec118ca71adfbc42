//! `GET /gate`: nginx `auth_request` asks whether the visitor's request may reach Orthanc.
//! 204 allows; 401/403 deny with `X-Auth-Reason`; 503 when Orthanc cannot be asked.
use actix_web::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use crate::access::Denial;
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::error::{Error, ErrorBody, Result};
use crate::gate::{cookie_token, Gate, TokenSource, Verdict, Visit};
use crate::metrics::GATE_UNAVAILABLE;
use crate::routes::openapi::AnyError;
use crate::share_token::fingerprint;

/// The `X-Auth-Reason` of a denial.
pub struct AuthReason;

impl utoipa::PartialSchema for AuthReason {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Denial::ALL.iter().map(|d| d.reason())))
            .into()
    }
}

impl utoipa::ToSchema for AuthReason {}

/// nginx's `auth_request` subrequest: may the visitor's request reach Orthanc? nginx lets a 2xx
/// through, turns 401 and 403 into its denied page, and any other answer into an error: a
/// gate that cannot decide never lets a request through.
#[utoipa::path(get, path = "/gate", tag = "gate",
    params(("X-Original-URI" = String, Header, description = "The visitor's request URI, as nginx saw it (`$request_uri`)", example = "/orthanc/instances/6e2c0ec2-5d99c8ca-c1c21cee-79a09605-68391d12/preview"),
        ("X-Original-Method" = String, Header, description = "The visitor's method (`$request_method`)", example = "GET"),
        ("token" = Option<String>, Header, description = "The share token; else the `token` query argument of X-Original-URI, X-Original-Authorization, or the gate's cookie"),
        ("X-Original-Authorization" = Option<String>, Header, description = "The visitor's own `Authorization` (`Bearer <token>`)"),
        ("X-HTTP-Method-Override" = Option<String>, Header, description = "Orthanc would run the method it names: present at all, the request is refused (403)"),
        ("orthanc-share-token" = Option<String>, Cookie, description = "The cookie the gate sets on an allowed request, so a viewer's later requests carry the token")),
    responses((status = 204, description = "Allowed", headers(("Set-Cookie" = String, description = "The token cookie (HttpOnly, SameSite=Strict, scoped to GATE_PATH_PREFIX), when the token came another way"), ("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "X-Original-URI or X-Original-Method missing (`missing header`): nginx is not set up as the share-gate snippet says", body = ErrorBody),
        (status = 401, description = "The token is missing, invalid, expired, revoked or used up, or is a protected link's own token (`protected`, ours) (X-Auth-Reason, `access denied`); or no Basic credentials (WWW-Authenticate, the Python service's body)", body = AnyError, headers(("X-Auth-Reason" = AuthReason, description = "Why the token is refused"), ("WWW-Authenticate" = String, description = "`Basic`, when the credentials are the problem"))),
        (status = 403, description = "The request is no read a share allows (a method other than GET or HEAD, a method override, a route, tail or query key outside the allowlist), or the token does not cover it", body = ErrorBody, headers(("X-Auth-Reason" = AuthReason, description = "`forbidden`"))),
        (status = 404, description = "The gate is off (`gate disabled`: no ORTHANC_URL)", body = ErrorBody),
        (status = 503, description = "Orthanc cannot be asked (`orthanc unavailable`): denied", body = ErrorBody)))]
pub async fn gate(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    gate: Option<web::Data<Gate>>,
) -> Result<HttpResponse> {
    // nginx sets both (the shipped snippet does): without one the call is no gate question at
    // all, whether the gate is on or not. nginx turns this 400 into a 500 for the visitor, so
    // a snippet that lost them fails closed and loudly.
    for name in ["x-original-uri", "x-original-method"] {
        if !req.headers().contains_key(name) {
            return Err(Error::bad_request(
                "missing header",
                format!("{name}: required (nginx: proxy_set_header, see the share-gate snippet)"),
            ));
        }
    }
    let gate = gate.ok_or_else(|| Error::NotFound {
        error: "gate disabled",
        detail: "set ORTHANC_URL (and ORTHANC_USER, ORTHANC_PASSWORD) on auth-service".into(),
    })?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let visit = Visit {
        method: header("x-original-method"),
        // Present at all (even empty, or not text) counts: Orthanc reads it before the method.
        method_override: req
            .headers()
            .get("x-http-method-override")
            .map(|v| v.to_str().unwrap_or("?")),
        uri: header("x-original-uri"),
        token_header: header("token"),
        authorization: header("x-original-authorization"),
        cookie: req.headers().get(COOKIE).and_then(|v| v.to_str().ok()),
    };
    match gate.decide(&state.access, &visit, Utc::now()).await {
        Verdict::Allow { token, source, .. } => {
            state.metrics.record_gate_decision("granted");
            tracing::debug!(token = %fingerprint(&token), ?source, "gate: allowed");
            let mut answer = HttpResponse::NoContent();
            answer.insert_header((CACHE_CONTROL, "no-store"));
            // A viewer sending the token on every request gets the cookie once.
            let known = visit.cookie.and_then(cookie_token) == Some(token.as_str());
            if source != TokenSource::Cookie && !known {
                if let Some(cookie) = gate.cookie(&token) {
                    answer.insert_header((SET_COOKIE, cookie));
                }
            }
            Ok(answer.finish())
        }
        Verdict::Deny { denial, why } => {
            state.metrics.record_gate_decision(denial.reason());
            tracing::info!(reason = denial.reason(), %why, "gate: denied");
            Err(Error::AccessDenied(denial))
        }
        Verdict::Unavailable(why) => {
            state.metrics.record_gate_decision(GATE_UNAVAILABLE);
            tracing::warn!(%why, "gate: Orthanc unavailable, request denied");
            Err(Error::Unavailable {
                error: "orthanc unavailable",
                detail: Some("the gate cannot place the resource; see the auth-service log".into()),
            })
        }
    }
}
