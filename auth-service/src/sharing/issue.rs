//! Creating a share (`PUT /tokens/{type}`): the creator's request checked against this
//! deployment (viewers, protection, link sizes), its expiry, its protection stored, its record in
//! the registry before the token is handed out, MedDream's instant links minted.
use actix_web::web;
use chrono::Utc;

use crate::api::{CreateTokenEcho, CreateTokenRequest, CreateTokenResponse, ResourceDto};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ExpirationDate, Guard, ShareId, ShareToken, TokenType};
use crate::error::{Error, Result};
use crate::protection::{hash_password, Protection};
use crate::share_token::fingerprint;
use crate::shares::{ShareRecord, Standing, StoredProtection};
use auth_wire::MAX_LINK_BYTES;

/// A share of `token_type` as `request` asks, recorded for `caller`: its token and links.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    token_type: TokenType,
    request: CreateTokenRequest,
) -> Result<CreateTokenResponse> {
    if request.token_type.is_some_and(|t| t != token_type) {
        return Err(Error::bad_request(
            "type mismatch",
            "'type' in the body must equal the type in the path /tokens/{type}",
        ));
    }
    check_protection(state, token_type, request.protection.as_ref())?;
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
    let awaits_email = request.protection.is_none() && awaits_email(state, token_type);
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
        check_link_sizes(state, token_type, &share, &token, url.as_deref())?;
        let terms = Terms {
            max_uses: request.max_uses,
            protection,
        };
        let id = record(state, caller, &share, &token, url.as_deref(), terms).await?;
        (token, url, Some(id))
    };
    // A share of ours has its registry id, the token's SHA-256, as is the fingerprint: no second
    // hash (and none at all when the line is filtered out).
    let method = match &request.protection {
        Some(p) => Some(p.method().as_str()),
        None => awaits_email.then_some("awaiting-email"),
    };
    tracing::info!(user = %caller.user, r#type = %token_type, token = %id.map_or_else(|| fingerprint(&token), |id| id.fingerprint()), resources = share.resources.len(), protection = method, "share token created");
    Ok(CreateTokenResponse {
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
    })
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
