//! `PUT /tokens/{type}`, `POST /tokens/validate`, `POST /tokens/decode`.
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::{json_body, json_borrowed};
use crate::access::Target;
use crate::api::{
    CreateTokenEcho, CreateTokenRequest, CreateTokenResponse, DecodeErrorCode, DecodeRequest,
    DecodeResponse, ResourceDto, ValidateRequest,
};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ExpirationDate, ShareToken, TokenType};
use crate::error::{Error, Result};
use crate::share_token::{fingerprint, strip_bearer, DecodeError};

const GRANTED: &str = r#"{"granted":true,"validity":60}"#;
const DENIED: &str = r#"{"granted":false,"validity":60}"#;

/// `PUT /tokens/{type}` for a type without a route of its own (see routes/mod.rs): unknown
/// types answer 404 whatever the body holds.
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
    if request.token_type.is_some_and(|t| t != token_type) {
        return Err(Error::bad_request(
            "type mismatch",
            "'type' in the body must equal the type in the path /tokens/{type}",
        ));
    }
    state
        .links
        .check(token_type, &request.resources)
        .map_err(|e| e.into_error(token_type))?;
    if request.absurd_validity_duration {
        tracing::warn!("validity-duration beyond 100 years ignored (the Orthanc plugin sends one when none was given)");
    }
    let expiration_date = match (request.expiration_date, request.validity_duration) {
        (Some(date), _) => Some(date),
        (None, Some(seconds)) => ExpirationDate::after(Utc::now(), seconds),
        (None, None) => None,
    };
    let share = ShareToken {
        id: request.id,
        resources: request.resources,
        token_type: Some(token_type),
        expiration_date,
        validity_duration: request.validity_duration,
    };
    let (token, url) = if token_type == TokenType::MeddreamInstantLink {
        // The link carries MedDream's own token, minted now; no JWT of ours is involved.
        let (token, url) = state.meddream_instant_link(&share.resources).await?;
        (token, Some(url))
    } else {
        let token = state.codec().encode(&share, token_type);
        let url = state
            .links
            .share_url(token_type, &share.resources, &token)
            .map_err(|e| e.into_error(token_type))?;
        (token, url)
    };
    tracing::info!(user = %caller.user, r#type = %token_type, token = %fingerprint(&token), resources = share.resources.len(), "share token created");
    Ok(HttpResponse::Ok().json(CreateTokenResponse {
        request: CreateTokenEcho {
            id: share.id,
            resources: share.resources.iter().map(ResourceDto::from).collect(),
            token_type,
            expiration_date: share.expiration_date.map(|d| d.to_echo()),
            validity_duration: share.validity_duration,
        },
        token,
        url,
    }))
}

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
    let target = Target {
        dicom_uid: request.dicom_uid.as_deref(),
        orthanc_id: request.orthanc_id.as_deref(),
        server_id: request.server_id.as_deref(),
    };
    let granted = state.access.decide(token, &target, Utc::now()).is_ok();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(if granted { GRANTED } else { DENIED }))
}

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
    let answer = decode_answer(&state, token).await?;
    tracing::info!(token = %fingerprint(token), error_code = ?answer.error_code, "share token decoded");
    Ok(HttpResponse::Ok().json(answer))
}

async fn decode_answer(state: &AppState, token: &str) -> Result<DecodeResponse> {
    let refused = |token_type: Option<&str>, code| DecodeResponse {
        token_type: token_type.map(str::to_owned),
        error_code: Some(code),
        redirect_url: None,
        resources: vec![],
    };
    let share = match state.access.share(token) {
        Ok(share) => share,
        Err(DecodeError::Invalid) => return Ok(refused(None, DecodeErrorCode::Invalid)),
        Err(DecodeError::Unreadable { token_type, .. }) => {
            return Ok(refused(
                token_type.map(TokenType::as_str),
                DecodeErrorCode::Unknown,
            ))
        }
    };
    // An old token without type: the Python service reports its type as "invalid".
    let type_name = share.token_type.map_or("invalid", TokenType::as_str);
    if share.is_expired(Utc::now()) {
        return Ok(refused(Some(type_name), DecodeErrorCode::Expired));
    }
    let redirect = match share.token_type {
        // Opening a MedDream publication mints a fresh, short-lived MedDream link each time.
        Some(TokenType::MeddreamViewerPublication) if state.meddream.is_some() => {
            Some(state.meddream_instant_link(&share.resources).await?.1)
        }
        Some(t) if t.is_publication() => state
            .links
            .viewer_url(t, &share.resources, token)
            .ok()
            .flatten(),
        _ => None,
    };
    Ok(match redirect {
        Some(url) => DecodeResponse {
            token_type: Some(type_name.to_owned()),
            error_code: None,
            redirect_url: Some(url),
            resources: share.resources.iter().map(ResourceDto::from).collect(),
        },
        None => refused(Some(type_name), DecodeErrorCode::Unknown),
    })
}
