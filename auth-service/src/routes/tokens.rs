//! `PUT /tokens/{type}`, `POST /tokens/validate`, `POST /tokens/decode`.
use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::{json_body, json_borrowed};
use crate::access::Denial;
use crate::access::{Target, Verified};
use crate::api::{
    create_answer_json, CreateTokenEcho, CreateTokenRequest, CreateTokenResponse, DecodeErrorCode,
    DecodeRequest, DecodeResponse, ResourceDto, ValidateRequest, ValidateResponse,
};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ExpirationDate, ShareId, ShareToken, TokenType};
use crate::error::{Error, ErrorBody, Result};
use crate::share_token::{fingerprint, strip_bearer, DecodeError};
use crate::shares::{ShareRecord, Standing};
use crate::telemetry;
use auth_wire::MAX_LINK_BYTES;

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
    let (token, url, id) = if token_type == TokenType::MeddreamInstantLink {
        // The link carries MedDream's own token, minted now; no JWT of ours is involved.
        let (token, url) = state.meddream_instant_link(&share.resources).await?;
        (token, Some(url), None)
    } else {
        let token = state.codec().encode(&share, token_type);
        let url = state
            .links
            .share_url(token_type, &share.resources, &token)
            .map_err(|e| e.into_error(token_type))?;
        check_link_sizes(&state, token_type, &share, &token, url.as_deref())?;
        let id = record(
            &state,
            &caller,
            &share,
            token_type,
            &token,
            url.as_deref(),
            request.max_uses,
        )
        .await?;
        (token, url, Some(id))
    };
    // A share of ours has its registry id, the token's SHA-256, as is the fingerprint: no second
    // hash (and none at all when the line is filtered out).
    tracing::info!(user = %caller.user, r#type = %token_type, token = %id.map_or_else(|| fingerprint(&token), |id| id.fingerprint()), resources = share.resources.len(), "share token created");
    let response = CreateTokenResponse {
        request: CreateTokenEcho {
            id: share.id,
            resources: share.resources.into_iter().map(ResourceDto::from).collect(),
            token_type,
            expiration_date: share.expiration_date.map(|d| d.to_echo()),
            validity_duration: share.validity_duration,
            max_uses: request.max_uses,
        },
        token,
        url,
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(create_answer_json(&response)))
}

/// Refuses a publication whose links would not get through: longer than [`MAX_LINK_BYTES`], a
/// proxy or a browser cuts them (nginx's default request line buffer is 8 KiB) and the landing
/// page refuses them unread, so they would be dead links. Checked: the link handed out (whose
/// token is most of it) and the viewer link the landing page redirects to (MedDream's is
/// shorter than the landing link: its token is MedDream's). Instant links are handed to a
/// program, not opened from a link: their size is the caller's business, as in the Python
/// service.
fn check_link_sizes(
    state: &AppState,
    token_type: TokenType,
    share: &ShareToken,
    token: &str,
    url: Option<&str>,
) -> Result<()> {
    if !token_type.is_publication() {
        return Ok(());
    }
    let too_long = |what: &str, bytes: usize| {
        Error::bad_request(
            "share too large",
            format!(
                "the {what} would be {bytes} bytes, more than the {MAX_LINK_BYTES} a proxy and a browser pass: share fewer resources per link ({} here)",
                share.resources.len()
            ),
        )
    };
    let link = url.map_or(token.len(), str::len);
    if link > MAX_LINK_BYTES {
        return Err(too_long("link", link));
    }
    if state.links.through_landing(token_type) && token_type != TokenType::MeddreamViewerPublication
    {
        let viewer = state
            .links
            .viewer_url(token_type, &share.resources, token)
            .map_err(|e| e.into_error(token_type))?;
        if let Some(viewer) = viewer.filter(|v| v.len() > MAX_LINK_BYTES) {
            return Err(too_long("viewer link", viewer.len()));
        }
    }
    Ok(())
}

/// Puts a new share in the registry (MedDream instant links are MedDream's tokens, not ours);
/// gives its id.
async fn record(
    state: &AppState,
    caller: &Caller,
    share: &ShareToken,
    token_type: TokenType,
    token: &str,
    url: Option<&str>,
    max_uses: Option<u64>,
) -> Result<ShareId> {
    // The same request gives the same token: one revoked or used up must not be handed out
    // again, and one already recorded needs nothing more.
    let id = ShareId::of_token(token);
    match state.shares.known().standing(&id) {
        Standing::Revoked | Standing::UsedUp => return Err(revoked_share()),
        Standing::Active => return Ok(id),
        Standing::Unknown => {}
    }
    let record = ShareRecord {
        id,
        token_type: Some(token_type),
        recorded: true,
        resources: share.resources.iter().map(ResourceDto::from).collect(),
        url: url.map(|u| u.replace(token, "")),
        created_at: state.shares.stamp(),
        created_by: caller.user.to_string(),
        expires_at: share
            .expiration_date
            .map(|d| d.instant().timestamp_millis()),
        max_uses,
        use_count: 0,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    };
    // Handed out only once recorded: a link nobody can list, revoke or limit is never given.
    match state.shares.created(record).await {
        Ok(Standing::Revoked | Standing::UsedUp) => Err(revoked_share()),
        Ok(_) => Ok(id),
        Err(e) => {
            tracing::warn!(error = %e.0, "share refused: the registry database is unavailable");
            Err(Error::Unavailable {
                error: "share registry unavailable",
                detail: Some("the share could not be recorded; try again later".into()),
            })
        }
    }
}

/// 409: the request is good, but the share it would give again was revoked (or used up): the
/// registry's state refuses it, not the request's shape.
fn revoked_share() -> Error {
    Error::Conflict {
        error: "share revoked",
        detail: "an identical share was revoked or used up: change its id or expiration to create a new one",
    }
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
    let answer = decode_answer(&state, token, request.preview).await;
    // After the decision: the token was verified (and its id cached) if it is ours.
    let token_fingerprint = state.access.fingerprint(token);
    telemetry::note_token(&req, || token_fingerprint.clone());
    let answer = answer?;
    tracing::info!(token = %token_fingerprint, preview = request.preview, error_code = ?answer.error_code, "share token decoded");
    Ok(HttpResponse::Ok().json(answer))
}

/// What opening a publication leads to, known before a use is counted.
enum Opening {
    Viewer(String),
    /// A MedDream link, minted (or reused) once the use is counted.
    Meddream,
}

async fn decode_answer(state: &AppState, token: &str, preview: bool) -> Result<DecodeResponse> {
    let refused = |token_type: Option<&str>, code| DecodeResponse {
        token_type: token_type.map(str::to_owned),
        error_code: Some(code),
        redirect_url: None,
        resources: vec![],
    };
    let Verified { share, id } = match state.access.share(token) {
        Ok(verified) => verified,
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
    let now = Utc::now();
    // A share created on another replica a moment ago is loaded here before it is judged (and
    // its opens counted).
    state.shares.sight(&id).await;
    if let Err(denial) = state.access.registered(&id) {
        return Ok(refused(Some(type_name), denial_code(denial)));
    }
    if share.is_expired(now) {
        return Ok(refused(Some(type_name), DecodeErrorCode::Expired));
    }
    let opening = match share.token_type {
        Some(TokenType::MeddreamViewerPublication) if state.meddream.is_some() => {
            Some(Opening::Meddream)
        }
        Some(t) if t.is_publication() => state
            .links
            .viewer_url(t, &share.resources, token)
            .ok()
            .flatten()
            .map(Opening::Viewer),
        _ => None,
    };
    let Some(opening) = opening else {
        return Ok(refused(Some(type_name), DecodeErrorCode::Unknown));
    };
    let opened = |redirect_url| DecodeResponse {
        token_type: Some(type_name.to_owned()),
        error_code: None,
        redirect_url,
        resources: share.resources.iter().map(ResourceDto::from).collect(),
    };
    if preview {
        return Ok(opened(None));
    }
    // The use is counted before MedDream is asked: opens past a share's limit mint nothing.
    if let Err(denial) = state.access.open(&id, now) {
        return Ok(refused(Some(type_name), denial_code(denial)));
    }
    let url = match opening {
        Opening::Viewer(url) => url,
        Opening::Meddream => {
            state
                .meddream_publication_link(&id, &share.resources)
                .await?
        }
    };
    Ok(opened(Some(url)))
}

fn denial_code(denial: Denial) -> DecodeErrorCode {
    match denial {
        Denial::Revoked => DecodeErrorCode::Revoked,
        Denial::UsedUp => DecodeErrorCode::UsedUp,
        Denial::Expired => DecodeErrorCode::Expired,
        Denial::Missing | Denial::Invalid | Denial::Forbidden => DecodeErrorCode::Invalid,
    }
}
