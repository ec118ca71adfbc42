//! `GET /gate`: nginx `auth_request` asks whether the visitor's request may reach Orthanc.
//! 204 allows; 401/403 deny with `X-Auth-Reason`; 503 when Orthanc cannot be asked.
use actix_web::http::header::{HeaderName, CACHE_CONTROL, COOKIE, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::json;

use crate::access::Denial;
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::error::{Error, Result};
use crate::gate::{cookie_token, Gate, TokenSource, Verdict, Visit};
use crate::metrics::GATE_UNAVAILABLE;
use crate::share_token::fingerprint;

pub const REASON_HEADER: &str = "x-auth-reason";

#[utoipa::path(get, path = "/gate", tag = "gate",
    params(("X-Original-URI" = String, Header, description = "The visitor's request URI, as nginx saw it"),
        ("X-Original-Method" = String, Header, description = "The visitor's method"),
        ("token" = Option<String>, Header, description = "The share token (else the `token` query argument, `X-Original-Authorization: Bearer`, or the gate's cookie)")),
    responses((status = 204, description = "Allowed (may set the token cookie)"),
        (status = 401, description = "The token is missing, invalid, expired, revoked or used up, or is a protected link's own token (`protected`, ours) (`X-Auth-Reason`), or no Basic credentials"),
        (status = 403, description = "The request is no read a share allows (a method other than GET or HEAD, a method override, a route, tail or query key outside the allowlist), or the token does not cover it (`X-Auth-Reason: forbidden`)"),
        (status = 404, description = "The gate is off (no ORTHANC_URL)"),
        (status = 503, description = "Orthanc cannot be asked: denied")))]
pub async fn gate(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    gate: Option<web::Data<Gate>>,
) -> Result<HttpResponse> {
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
            Ok(denied(denial))
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

/// 401 when the token itself is unusable (missing, invalid, expired, revoked...), 403 when a good
/// token does not cover the request.
fn denied(denial: Denial) -> HttpResponse {
    let status = match denial {
        Denial::Forbidden => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    HttpResponse::build(status)
        .insert_header((HeaderName::from_static(REASON_HEADER), denial.reason()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"error": "access denied", "detail": denial.reason()}))
}
