//! `PUT /tokens/{type}`, `POST /tokens/validate`, `POST /tokens/decode`.
use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::{json_body, json_borrowed};
use crate::access::Target;
use crate::api::{
    create_answer_json, CreateTokenRequest, DecodeRequest, DecodeResponse, ValidateRequest,
    ValidateResponse,
};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::TokenType;
use crate::error::{Error, ErrorBody, Result};
use crate::share_token::strip_bearer;
use crate::sharing;
use crate::telemetry;

const GRANTED: &str = r#"{"granted":true,"validity":60}"#;
const DENIED: &str = r#"{"granted":false,"validity":60}"#;

/// `PUT /tokens/{type}` for a type without a route of its own (see routes/mod.rs): unknown
/// types answer 404 whatever the body holds. The document describes each type's route
/// (routes/openapi/create.rs).
pub async fn create(
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let token_type = TokenType::parse(&path).ok_or_else(|| Error::NotFound {
        error: "unknown token type",
        detail: format!("known types: {}", TokenType::known_names()),
    })?;
    create_typed(token_type, caller, req, body, state).await
}

/// `PUT /tokens/{type}` once the type is known.
pub async fn create_typed(
    token_type: TokenType,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let request = CreateTokenRequest::parse(json_body(&req, &body)?)?;
    let response = sharing::issue(&state, &caller, token_type, request).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(create_answer_json(&response)))
}

/// Called by the Orthanc authorization plugin for every resource a token is used on.
#[utoipa::path(post, path = "/tokens/validate", tag = "tokens",
    params(("token" = Option<String>, Header, description = "The share token (a `Bearer ` prefix is stripped); when absent or empty, `token-value` of the body")),
    request_body(content = ValidateRequest, description = "The plugin's question: may this token reach this resource?"),
    responses((status = 200, description = "The access decision: granted when the token is good, not expired, revoked or used up, of this SERVER_ID, and shares the resource", body = ValidateResponse, example = json!({"granted": true, "validity": 60}))))]
pub async fn validate(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let request: ValidateRequest = json_borrowed(&req, &body)?;
    // The header wins when it holds something; the body's token-value is the fallback.
    let header = req
        .headers()
        .get("token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty());
    let token = header
        .or(request.token_value.as_deref())
        .map(strip_bearer)
        .filter(|t| !t.is_empty());
    if let Some(token) = token {
        telemetry::note_token(&req, || state.access.fingerprint(token));
    }
    let target = Target {
        dicom_uid: request.dicom_uid.as_deref(),
        orthanc_id: request.orthanc_id.as_deref(),
        server_id: request.server_id.as_deref(),
        usage: None,
    };
    state.access.sight(token).await;
    let decision = state.access.decide(token, &target, Utc::now());
    state.metrics.record_decision(&decision);
    let granted = decision.is_ok();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(if granted { GRANTED } else { DENIED }))
}

/// What the landing page asks when a publication link is opened: where to send the visitor, or
/// why not. Each answer with a `redirect-url` counts one use of the share.
#[utoipa::path(post, path = "/tokens/decode", tag = "tokens",
    request_body(content = DecodeRequest, description = "`preview` (ours): check the token and list what it shares, without counting a use or minting a MedDream link; `redirect-url` is then null"),
    responses((status = 200, description = "What the landing page needs (a token that does not open is a 200 with its error-code)", body = DecodeResponse),
        (status = 400, description = "No token-value (`missing token`)", body = ErrorBody),
        (status = 502, description = "MedDream failed to mint the link of a MedDream publication", body = ErrorBody),
        (status = 503, description = "MedDream is busy: too many links are being minted at once", body = ErrorBody)))]
pub async fn decode(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let request: DecodeRequest = json_borrowed(&req, &body)?;
    let token = request
        .token_value
        .as_deref()
        .map(strip_bearer)
        .ok_or_else(|| Error::bad_request("missing token", "token-value: field required"))?;
    let answer = sharing::open(&state, token, request.preview).await;
    // After the decision: the token was verified (and its id cached) if it is ours.
    let token_fingerprint = state.access.fingerprint(token);
    telemetry::note_token(&req, || token_fingerprint.clone());
    let answer = answer?;
    tracing::info!(token = %token_fingerprint, preview = request.preview, error_code = ?answer.error_code, "share token decoded");
    Ok(HttpResponse::Ok().json(answer))
}
