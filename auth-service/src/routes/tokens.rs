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
use crate::domain::{ExpirationDate, Guard, ShareId, ShareToken, TokenType};
use crate::error::{Error, ErrorBody, Result};
use crate::protection::{hash_password, Protection};
use crate::share_token::{fingerprint, strip_bearer, DecodeError};
use crate::shares::{ShareRecord, Standing, StoredProtection};
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
    check_protection(&state, token_type, request.protection.as_ref())?;
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
    // OE2's plain publication when every link must be protected: it opens once e-mailed. Its
    // token carries the protected claim too, so no replica opens data with it, whatever it
    // holds in memory of the share.
    let awaits_email = request.protection.is_none() && awaits_email(&state, token_type);
    let share = ShareToken {
        id: request.id,
        resources: request.resources,
        token_type: Some(token_type),
        expiration_date,
        validity_duration: request.validity_duration,
        // A nonce of its own: two protected shares of one request never share a token.
        guard: match request.protection.is_some() || awaits_email {
            true => Guard::Protected(format!("{:032x}", rand::random::<u128>())),
            false => Guard::Open,
        },
    };
    let protection = match &request.protection {
        Some(p) => Some(stored_protection(p).await?),
        None if awaits_email => Some(StoredProtection::awaiting_email()),
        None => None,
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
        let terms = Terms {
            max_uses: request.max_uses,
            protection,
        };
        let id = record(&state, &caller, &share, &token, url.as_deref(), terms).await?;
        (token, url, Some(id))
    };
    // A share of ours has its registry id, the token's SHA-256, as is the fingerprint: no second
    // hash (and none at all when the line is filtered out).
    let method = match &request.protection {
        Some(p) => Some(p.method().as_str()),
        None => awaits_email.then_some("awaiting-email"),
    };
    tracing::info!(user = %caller.user, r#type = %token_type, token = %id.map_or_else(|| fingerprint(&token), |id| id.fingerprint()), resources = share.resources.len(), protection = method, "share token created");
    let response = CreateTokenResponse {
        request: CreateTokenEcho {
            id: share.id,
            resources: share.resources.into_iter().map(ResourceDto::from).collect(),
            token_type,
            expiration_date: share.expiration_date.map(|d| d.to_echo()),
            validity_duration: share.validity_duration,
            max_uses: request.max_uses,
            protection: request.protection.as_ref().map(Protection::echo),
        },
        token,
        url,
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(create_answer_json(&response)))
}

/// Protection is for publications opened through the landing page (the page asks for the
/// secret); codes need e-mails. Under REQUIRE_LINK_PROTECTION a publication must bring one,
/// unless PROTECT_EMAILED_LINKS=code protects it when it is e-mailed (OE2's share dialog).
fn check_protection(
    state: &AppState,
    token_type: TokenType,
    protection: Option<&Protection>,
) -> Result<()> {
    let refused = |detail: &str| Error::bad_request("protection refused", detail);
    let settings = &state.protection.settings;
    match protection {
        None if settings.require && token_type.is_publication() && !settings.protect_emailed => {
            Err(Error::bad_request(
                "protection required",
                "protection: REQUIRE_LINK_PROTECTION is on: give {\"password\": \"...\"} or {\"email-code\": [\"address\"]}",
            ))
        }
        None => Ok(()),
        Some(_) if !token_type.is_publication() => Err(refused(
            "protection: instant links cannot be protected (only publications, which open through the landing page)",
        )),
        Some(_) if !state.links.through_landing(token_type) => Err(refused(
            "protection: protected links need PUBLIC_LANDING_ROOT on auth-service (the landing page asks for the password or code)",
        )),
        Some(Protection::EmailCode(_)) if !state.protection.emails => Err(refused(
            "protection.email-code: codes are sent by e-mail: set ENABLE_EMAILS=true on auth-service",
        )),
        Some(_) => Ok(()),
    }
}

/// Under REQUIRE_LINK_PROTECTION, a plain publication is accepted only when
/// PROTECT_EMAILED_LINKS=code protects it once e-mailed; until then it opens nothing (not even
/// for its sender), so a link copied out of OE2's dialog is no way around the rule.
fn awaits_email(state: &AppState, token_type: TokenType) -> bool {
    let settings = &state.protection.settings;
    settings.require && settings.protect_emailed && token_type.is_publication()
}

/// What the registry keeps of a protection: a password only as its Argon2id hash, made off the
/// async workers.
async fn stored_protection(protection: &Protection) -> Result<StoredProtection> {
    let password_hash = match protection {
        Protection::Password(password) => {
            let password = password.clone();
            let hash = web::block(move || hash_password(&password))
                .await
                .map_err(|e| {
                    Error::Unexpected(anyhow::anyhow!("Failed to hash a password: {e}"))
                })??;
            Some(hash)
        }
        Protection::EmailCode(_) => None,
    };
    Ok(StoredProtection {
        method: protection.method(),
        addresses: match protection {
            Protection::EmailCode(addresses) => addresses.clone(),
            Protection::Password(_) => Vec::new(),
        },
        password_hash,
    })
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

/// What a share's creator asked for beyond the token's claims (ours).
struct Terms {
    max_uses: Option<u64>,
    protection: Option<StoredProtection>,
}

/// Puts a new share in the registry (MedDream instant links are MedDream's tokens, not ours);
/// gives its id.
async fn record(
    state: &AppState,
    caller: &Caller,
    share: &ShareToken,
    token: &str,
    url: Option<&str>,
    terms: Terms,
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
        token_type: share.token_type,
        recorded: true,
        resources: share.resources.iter().map(ResourceDto::from).collect(),
        url: url.map(|u| u.replace(token, "")),
        created_at: state.shares.stamp(),
        created_by: caller.user.to_string(),
        expires_at: share
            .expiration_date
            .map(|d| d.instant().timestamp_millis()),
        max_uses: terms.max_uses,
        use_count: 0,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        protection: terms.protection,
        locked_until: None,
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
pub(super) enum Opening {
    Viewer(String),
    /// A MedDream link, minted (or reused) once the use is counted.
    Meddream,
}

impl Opening {
    /// Where a share opens with `token` in the viewer link; None when it cannot open here (an
    /// instant link, an old token without type, a viewer without public root).
    pub(super) fn of(state: &AppState, share: &ShareToken, token: &str) -> Option<Opening> {
        match share.token_type {
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
        }
    }

    /// The link, once the use is counted.
    pub(super) async fn url(self, state: &AppState, verified: &Verified) -> Result<String> {
        match self {
            Opening::Viewer(url) => Ok(url),
            Opening::Meddream => {
                state
                    .meddream_publication_link(&verified.id, &verified.share.resources)
                    .await
            }
        }
    }
}

/// The answer for a share that opens: what it shares, and the viewer link (none for a preview).
pub(super) fn opened_answer(
    verified: &Verified,
    type_name: &str,
    redirect_url: Option<String>,
) -> DecodeResponse {
    DecodeResponse {
        token_type: Some(type_name.to_owned()),
        error_code: None,
        redirect_url,
        resources: verified
            .share
            .resources
            .iter()
            .map(ResourceDto::from)
            .collect(),
        protection: None,
    }
}

/// The answer for a token that does not open, and why.
pub(super) fn refused(token_type: Option<&str>, code: DecodeErrorCode) -> DecodeResponse {
    DecodeResponse {
        token_type: token_type.map(str::to_owned),
        error_code: Some(code),
        redirect_url: None,
        resources: vec![],
        protection: None,
    }
}

/// A token checked as far as the registry and its expiry: what it is, or the answer that
/// refuses it. Decode, unlock and send-code all start here.
pub(super) async fn checked(
    state: &AppState,
    token: &str,
) -> std::result::Result<(Verified, &'static str), DecodeResponse> {
    let verified = match state.access.share(token) {
        Ok(verified) => verified,
        Err(DecodeError::Invalid) => return Err(refused(None, DecodeErrorCode::Invalid)),
        Err(DecodeError::Unreadable { token_type, .. }) => {
            return Err(refused(
                token_type.map(TokenType::as_str),
                DecodeErrorCode::Unknown,
            ))
        }
    };
    // An old token without type: the Python service reports its type as "invalid".
    let type_name = verified
        .share
        .token_type
        .map_or("invalid", TokenType::as_str);
    // A share created on another replica a moment ago is loaded here before it is judged (and
    // its opens counted).
    state.shares.sight(&verified.id).await;
    if let Err(denial) = state.access.registered(&verified.id) {
        return Err(refused(Some(type_name), denial_code(denial)));
    }
    if verified.share.is_expired(Utc::now()) {
        return Err(refused(Some(type_name), DecodeErrorCode::Expired));
    }
    Ok((verified, type_name))
}

async fn decode_answer(state: &AppState, token: &str, preview: bool) -> Result<DecodeResponse> {
    let (verified, type_name) = match checked(state, token).await {
        Ok(checked) => checked,
        Err(answer) => return Ok(answer),
    };
    let Some(opening) = Opening::of(state, &verified.share, token) else {
        return Ok(refused(Some(type_name), DecodeErrorCode::Unknown));
    };
    // A protected link opens the landing page's form: what it needs, nothing of what it shares.
    if state.access.unprotected(&verified).is_err() {
        return super::unlock::needs(state, &verified, type_name).await;
    }
    let opened = |redirect_url| opened_answer(&verified, type_name, redirect_url);
    if preview {
        return Ok(opened(None));
    }
    // The use is counted before MedDream is asked: opens past a share's limit mint nothing.
    if let Err(denial) = state.access.open(&verified.id, Utc::now()) {
        return Ok(refused(Some(type_name), denial_code(denial)));
    }
    let url = opening.url(state, &verified).await?;
    Ok(opened(Some(url)))
}

pub(super) fn denial_code(denial: Denial) -> DecodeErrorCode {
    match denial {
        Denial::Revoked => DecodeErrorCode::Revoked,
        Denial::UsedUp => DecodeErrorCode::UsedUp,
        Denial::Expired => DecodeErrorCode::Expired,
        Denial::Missing | Denial::Invalid | Denial::Forbidden => DecodeErrorCode::Invalid,
        Denial::Protected => DecodeErrorCode::PasswordRequired,
    }
}
