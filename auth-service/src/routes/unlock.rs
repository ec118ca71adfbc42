//! `POST /tokens/unlock` and `POST /tokens/send-code` (ours): the landing page's calls for a
//! protected link. Unlock checks a password or a code and answers the viewer link carrying the
//! visitor's session token (same resources and type, valid PROTECTED_SESSION_HOURS and never past
//! the share's expiry, tied to the share's registry id); send-code e-mails a one-time code to one
//! of the share's addresses. Both answer decode's shape, with `protection` saying what the page
//! needs next. No password, code or token is ever logged or echoed.
use actix_web::{web, HttpRequest, HttpResponse};
use auth_wire::{
    mask_address, CodeSent, ProtectionInfo, ProtectionMethod, SendCodeRequest, UnlockRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::json_object;
use super::tokens::{checked, denial_code, opened_answer, refused, Opening};
use crate::access::Verified;
use crate::api::{DecodeErrorCode, DecodeResponse};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ExpirationDate, Guard, ShareId, ShareToken};
use crate::emails::{Emails, Outgoing, Recipients};
use crate::error::{Error, ErrorBody, Result};
use crate::protection::{
    verify_password, CodeKey, CODE_SENDS_PER_WINDOW, CODE_SEND_WINDOW, CODE_VALIDITY,
    FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, MAX_PROTECTION_ADDRESSES,
};
use crate::share_token::{fingerprint, strip_bearer};
use crate::shares::{CodeIssue, NewCode, SendLimit, UnlockState};
use crate::telemetry;

/// A protected link's password or code, checked: the viewer link with the visitor's session
/// token, or why not. A token that does not read answers `invalid`, as decode does.
#[utoipa::path(post, path = "/tokens/unlock", tag = "tokens",
    request_body(content = UnlockRequest),
    responses((status = 200, description = "Decode's answer. Unlocked: `redirect-url` is the viewer link with the visitor's session token (valid PROTECTED_SESSION_HOURS, never past the share's expiry). Else `error-code` says why, with `protection` for a protected link: wrong-password, wrong-code (counted: `attempts-left`), code-expired, locked (`protection.locked-until`), not-sent; or expired, revoked, used-up, invalid, unknown", body = DecodeResponse, example = json!({"token-type": "stone-viewer-publication", "error-code": "wrong-password", "redirect-url": null, "resources": [], "protection": {"method": "password", "addresses": [], "attempts-left": 4, "locked-until": null}})),
        (status = 400, description = "Both or neither of password and code (`password or code`)", body = ErrorBody),
        (status = 409, description = "The link's state refuses it: a link that needs no secret (`not protected`), or asks for the other one (`wrong method`)", body = ErrorBody),
        (status = 500, description = "The password could not be checked (see the log)", body = ErrorBody),
        (status = 502, description = "MedDream failed to mint the link of a MedDream publication", body = ErrorBody),
        (status = 503, description = "The share registry cannot answer now (`share registry unavailable`), or MedDream is busy", body = ErrorBody)))]
pub async fn unlock(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let request: UnlockRequest = json_object(&req, &body)?;
    let secret = match (request.password, request.code) {
        (Some(password), None) => Secret::Password(SecretString::from(password)),
        (None, Some(code)) => Secret::Code(SecretString::from(code)),
        _ => {
            return Err(Error::bad_request(
                "password or code",
                "give one of password and code",
            ))
        }
    };
    let token = token_of(&req, &request.token_value);
    let answer = unlock_answer(&state, token, secret).await?;
    tracing::info!(token = %fingerprint(token), error_code = ?answer.error_code, "protected link unlock");
    Ok(HttpResponse::Ok().json(answer))
}

/// E-mails a one-time code for a protected link to one of its addresses.
#[utoipa::path(post, path = "/tokens/send-code", tag = "tokens",
    request_body(content = SendCodeRequest),
    responses((status = 200, description = "Decode's answer: `code-required` with `protection.code-sent` when the code went out; else why not: too-many-codes (`protection.retry-after` seconds), locked, not-sent; or expired, revoked, used-up, invalid, unknown", body = DecodeResponse, example = json!({"token-type": "stone-viewer-publication", "error-code": "code-required", "redirect-url": null, "resources": [], "protection": {"method": "email-code", "addresses": ["a***@example.org"], "attempts-left": 5, "locked-until": null, "code-sent": {"address": "a***@example.org", "expires-at": "2030-01-01T10:10:00Z"}}})),
        (status = 400, description = "An address index past 19, the most addresses a link has (`no such address`)", body = ErrorBody),
        (status = 409, description = "The link's state refuses it: an address index past its list (`no such address`), a link that needs no code (`not protected`), or asks for a password (`wrong method`)", body = ErrorBody),
        (status = 404, description = "E-mails are off (`e-mails disabled`)", body = ErrorBody),
        (status = 500, description = "The message could not be built (see the log)", body = ErrorBody),
        (status = 502, description = "The SMTP server did not take the message (`code not sent`)", body = ErrorBody),
        (status = 503, description = "The share registry cannot answer now (`share registry unavailable`)", body = ErrorBody)))]
pub async fn send_code(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    emails: web::Data<Emails>,
) -> Result<HttpResponse> {
    let request: SendCodeRequest = json_object(&req, &body)?;
    if emails.enabled().is_none() {
        return Err(Error::NotFound {
            error: "e-mails disabled",
            detail: "codes are sent by e-mail: set ENABLE_EMAILS=true and the EMAILS_* settings"
                .into(),
        });
    }
    // Past any list a share can have: refused as the document says, whatever the token.
    if request.address >= MAX_PROTECTION_ADDRESSES {
        return Err(Error::bad_request(
            "no such address",
            format!("address: from 0 to {}", MAX_PROTECTION_ADDRESSES - 1),
        ));
    }
    let token = token_of(&req, &request.token_value);
    let answer = send_code_answer(&state, &emails, token, request.address).await?;
    tracing::info!(token = %fingerprint(token), error_code = ?answer.error_code, "protected link code");
    Ok(HttpResponse::Ok().json(answer))
}

/// The token of the body, noted for the access line. An empty one reads as no share token of
/// ours (`invalid`), as in decode.
fn token_of<'a>(req: &HttpRequest, value: &'a str) -> &'a str {
    let token = strip_bearer(value.trim());
    telemetry::note_token(req, || fingerprint(token));
    token
}

/// What the visitor typed.
enum Secret {
    Password(SecretString),
    Code(SecretString),
}

impl Secret {
    fn method(&self) -> ProtectionMethod {
        match self {
            Secret::Password(_) => ProtectionMethod::Password,
            Secret::Code(_) => ProtectionMethod::EmailCode,
        }
    }
}

fn unavailable(e: sqlx::Error) -> Error {
    tracing::warn!(error = %e, "protected link: the registry database is unavailable");
    Error::Unavailable {
        error: "share registry unavailable",
        detail: Some("the protected link cannot be checked now; try again later".into()),
    }
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn rfc3339(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The protection state of a share that needs one, or the answer when it does not open.
async fn protection_state(
    state: &AppState,
    verified: &Verified,
    type_name: &str,
) -> Result<std::result::Result<UnlockState, DecodeResponse>> {
    let now = Utc::now().timestamp_millis();
    let read = state
        .shares
        .store()
        .unlock_state(&verified.id, now - millis(FAILURE_WINDOW))
        .await
        .map_err(unavailable)?;
    Ok(match read {
        // Protected by its claim, yet no protected record: nothing can unlock it.
        None => Err(refused(Some(type_name), DecodeErrorCode::Invalid)),
        Some(lock) if lock.revoked => Err(refused(Some(type_name), DecodeErrorCode::Revoked)),
        Some(mut lock) => {
            lock.locked_until = lock.locked_until.filter(|until| *until > now);
            Ok(lock)
        }
    })
}

fn info(lock: &UnlockState) -> ProtectionInfo {
    ProtectionInfo {
        method: lock.method,
        addresses: lock.addresses.iter().map(|a| mask_address(a)).collect(),
        attempts_left: MAX_FAILURES.saturating_sub(lock.failures),
        locked_until: lock.locked_until.and_then(rfc3339),
        code_sent: None,
        retry_after: None,
    }
}

fn needing(type_name: &str, code: DecodeErrorCode, protection: ProtectionInfo) -> DecodeResponse {
    DecodeResponse {
        protection: Some(protection),
        ..refused(Some(type_name), code)
    }
}

/// A publication created under REQUIRE_LINK_PROTECTION and never e-mailed: no address to send a
/// code to yet.
fn awaiting_email(lock: &UnlockState) -> bool {
    lock.method == ProtectionMethod::EmailCode && lock.addresses.is_empty()
}

fn required(method: ProtectionMethod) -> DecodeErrorCode {
    match method {
        ProtectionMethod::Password => DecodeErrorCode::PasswordRequired,
        ProtectionMethod::EmailCode => DecodeErrorCode::CodeRequired,
    }
}

/// Decode's answer for a protected link: what the page must ask for, or that it is locked.
pub(super) async fn needs(
    state: &AppState,
    verified: &Verified,
    type_name: &str,
) -> Result<DecodeResponse> {
    let lock = match protection_state(state, verified, type_name).await? {
        Ok(lock) => lock,
        Err(answer) => return Ok(answer),
    };
    let code = match lock.locked_until {
        Some(_) => DecodeErrorCode::Locked,
        None if awaiting_email(&lock) => DecodeErrorCode::NotSent,
        None => required(lock.method),
    };
    Ok(needing(type_name, code, info(&lock)))
}

/// A protected share's token, checked; else the answer (or the 400 of a link that is not one).
async fn protected_share(
    state: &AppState,
    token: &str,
) -> Result<std::result::Result<(Verified, &'static str, UnlockState), DecodeResponse>> {
    let (verified, type_name) = match checked(state, token).await {
        Ok(checked) => checked,
        Err(answer) => return Ok(Err(answer)),
    };
    if state.access.unprotected(&verified).is_ok() {
        return Err(Error::Conflict {
            error: "not protected",
            detail: "this link needs no password or code: open it with POST /tokens/decode",
        });
    }
    Ok(match protection_state(state, &verified, type_name).await? {
        // Nothing to send a code to, nothing to count: it opens once e-mailed.
        Ok(lock) if awaiting_email(&lock) => {
            Err(needing(type_name, DecodeErrorCode::NotSent, info(&lock)))
        }
        Ok(lock) => Ok((verified, type_name, lock)),
        Err(answer) => Err(answer),
    })
}

/// What a code typed matched.
enum CodeMatch {
    Active(String),
    Expired,
    None,
}

async fn unlock_answer(state: &AppState, token: &str, secret: Secret) -> Result<DecodeResponse> {
    let (verified, type_name, lock) = match protected_share(state, token).await? {
        Ok(share) => share,
        Err(answer) => return Ok(answer),
    };
    if lock.locked_until.is_some() {
        return Ok(needing(type_name, DecodeErrorCode::Locked, info(&lock)));
    }
    if secret.method() != lock.method {
        return Err(Error::Conflict {
            error: "wrong method",
            detail: match lock.method {
                ProtectionMethod::Password => "this link asks for a password",
                ProtectionMethod::EmailCode => "this link asks for a code sent by e-mail",
            },
        });
    }
    let code_address = match &secret {
        Secret::Password(password) => {
            let right = match lock.password_hash.clone() {
                None => false,
                Some(hash) => {
                    let password = password.clone();
                    web::block(move || verify_password(&password, &hash))
                        .await
                        .map_err(|e| {
                            Error::Unexpected(anyhow::anyhow!("Failed to check a password: {e}"))
                        })?
                }
            };
            if !right {
                return wrong(
                    state,
                    &verified,
                    type_name,
                    lock,
                    DecodeErrorCode::WrongPassword,
                )
                .await;
            }
            None
        }
        Secret::Code(code) => match matching_code(state, &verified.id, code).await? {
            CodeMatch::Active(address) => Some(address),
            CodeMatch::Expired => {
                return Ok(needing(
                    type_name,
                    DecodeErrorCode::CodeExpired,
                    info(&lock),
                ))
            }
            CodeMatch::None => {
                return wrong(
                    state,
                    &verified,
                    type_name,
                    lock,
                    DecodeErrorCode::WrongCode,
                )
                .await
            }
        },
    };
    let now = Utc::now();
    let opened = state
        .shares
        .store()
        .unlocked(
            &verified.id,
            code_address.as_deref(),
            now.timestamp_millis(),
        )
        .await
        .map_err(unavailable)?;
    if !opened {
        // Locked or revoked meanwhile (by another replica), or the code used by a racing
        // request: say which.
        return match protection_state(state, &verified, type_name).await? {
            Err(answer) => Ok(answer),
            Ok(lock) if lock.locked_until.is_some() => {
                Ok(needing(type_name, DecodeErrorCode::Locked, info(&lock)))
            }
            Ok(lock) => Ok(needing(
                type_name,
                DecodeErrorCode::CodeExpired,
                info(&lock),
            )),
        };
    }
    let session = session_token(state, &verified, now);
    let Some(opening) = Opening::of(state, &verified.share, &session) else {
        return Ok(refused(Some(type_name), DecodeErrorCode::Unknown));
    };
    // Each unlock counts one use of the share.
    if let Err(denial) = state.access.open(&verified.id, now) {
        return Ok(refused(Some(type_name), denial_code(denial)));
    }
    tracing::info!(token = %fingerprint(token), session = %fingerprint(&session), "protected link unlocked");
    let url = opening.url(state, &verified).await?;
    Ok(opened_answer(&verified, type_name, Some(url)))
}

/// A wrong password or code: counted in the registry; the fifth in the window locks the share.
async fn wrong(
    state: &AppState,
    verified: &Verified,
    type_name: &str,
    mut lock: UnlockState,
    code: DecodeErrorCode,
) -> Result<DecodeResponse> {
    let now = Utc::now().timestamp_millis();
    let (failures, locked) = state
        .shares
        .store()
        .count_failure(
            &verified.id,
            now,
            now - millis(FAILURE_WINDOW),
            MAX_FAILURES,
            now + millis(LOCK_DURATION),
        )
        .await
        .map_err(unavailable)?;
    lock.failures = failures;
    if let Some(until) = locked {
        tracing::warn!(share = %verified.id.fingerprint(), until = ?rfc3339(until), "protected link locked after too many wrong attempts");
        lock.failures = 0;
        lock.locked_until = Some(until);
        return Ok(needing(type_name, DecodeErrorCode::Locked, info(&lock)));
    }
    Ok(needing(type_name, code, info(&lock)))
}

/// The code typed against every code of the share, each compared in constant time.
async fn matching_code(state: &AppState, id: &ShareId, typed: &SecretString) -> Result<CodeMatch> {
    let codes = state.shares.store().codes(id).await.map_err(unavailable)?;
    let now = Utc::now().timestamp_millis();
    let key: &CodeKey = &state.protection.codes;
    let mut found = CodeMatch::None;
    for (address, hash, expires_at) in codes {
        if key.matches(id, &address, typed.expose_secret(), &hash) {
            found = if expires_at > now {
                CodeMatch::Active(address)
            } else {
                CodeMatch::Expired
            };
        }
    }
    Ok(found)
}

/// The visitor's session: the share's resources and type, valid PROTECTED_SESSION_HOURS and
/// never past the share's own expiry, naming the share's registry id.
fn session_token(state: &AppState, verified: &Verified, now: DateTime<Utc>) -> String {
    let hours = i64::try_from(state.protection.settings.session.as_secs()).unwrap_or(i64::MAX);
    let session_end = ExpirationDate::after(now, hours);
    let expiration_date = match (session_end, verified.share.expiration_date) {
        (Some(end), Some(share_end)) if share_end.instant() < end.instant() => Some(share_end),
        (Some(end), _) => Some(end),
        (None, share_end) => share_end,
    };
    let share = &verified.share;
    let session = ShareToken {
        id: share.id.clone(),
        resources: share.resources.clone(),
        token_type: share.token_type,
        expiration_date,
        validity_duration: None,
        guard: Guard::Unlocked(verified.id),
    };
    let token_type = share
        .token_type
        .unwrap_or(crate::domain::TokenType::StoneViewerPublication);
    state.codec().encode(&session, token_type)
}

async fn send_code_answer(
    state: &AppState,
    emails: &web::Data<Emails>,
    token: &str,
    index: usize,
) -> Result<DecodeResponse> {
    let (verified, type_name, lock) = match protected_share(state, token).await? {
        Ok(share) => share,
        Err(answer) => return Ok(answer),
    };
    if lock.method != ProtectionMethod::EmailCode {
        return Err(Error::Conflict {
            error: "wrong method",
            detail: "this link asks for a password, not a code",
        });
    }
    if lock.locked_until.is_some() {
        return Ok(needing(type_name, DecodeErrorCode::Locked, info(&lock)));
    }
    let Some(address) = lock.addresses.get(index).cloned() else {
        // A good index for some link, not for this one: the link's state refuses it.
        return Err(Error::Conflict {
            error: "no such address",
            detail: "address: not an index of the addresses decode lists for this link",
        });
    };
    let Some(mailer) = emails.enabled() else {
        return Err(Error::NotFound {
            error: "e-mails disabled",
            detail: "codes are sent by e-mail: set ENABLE_EMAILS=true".into(),
        });
    };
    let code = CodeKey::new_code();
    let now = Utc::now().timestamp_millis();
    let expires = now + millis(CODE_VALIDITY);
    let hash = state
        .protection
        .codes
        .hash(&verified.id, &address, code.expose_secret());
    let code_row = NewCode {
        address: &address,
        hash: &hash,
        sent_at: now,
        expires_at: expires,
    };
    let limit = SendLimit {
        window_start: now - millis(CODE_SEND_WINDOW),
        max: CODE_SENDS_PER_WINDOW,
    };
    let issued = state
        .shares
        .store()
        .issue_code(&verified.id, &code_row, limit)
        .await
        .map_err(unavailable)?;
    if let CodeIssue::TooMany { retry_after_ms } = issued {
        let mut protection = info(&lock);
        protection.retry_after =
            Some(u64::try_from(retry_after_ms).map_or(1, |ms| ms.div_ceil(1000)));
        return Ok(needing(
            type_name,
            DecodeErrorCode::TooManyCodes,
            protection,
        ));
    }
    let recipients = Recipients::parse(&address).map_err(|e| {
        Error::Unexpected(anyhow::anyhow!(
            "A stored protection address does not read: {e}"
        ))
    })?;
    let outgoing = code_message(recipients, &code, CODE_VALIDITY.as_secs() / 60);
    let message = super::emails::compose(emails, outgoing).await?;
    if let Err(e) = mailer.send(&message).await {
        tracing::warn!(share = %verified.id.fingerprint(), error = %e, "unlock code not sent");
        return Err(Error::BadGateway {
            error: "code not sent",
            detail: Some(e.to_string()),
        });
    }
    tracing::info!(share = %verified.id.fingerprint(), to = %mask_address(&address), "unlock code sent");
    let mut protection = info(&lock);
    protection.code_sent = Some(CodeSent {
        address: mask_address(&address),
        expires_at: rfc3339(expires).unwrap_or_default(),
    });
    Ok(needing(
        type_name,
        DecodeErrorCode::CodeRequired,
        protection,
    ))
}

/// The code's e-mail, in English and French (the visitor's language is the page's, not known
/// here). The code is in the body only, never in the subject a lock screen shows.
fn code_message(recipients: Recipients, code: &SecretString, minutes: u64) -> Outgoing {
    let code = code.expose_secret();
    Outgoing {
        recipients,
        subject: "Your code to open the shared images / Votre code pour ouvrir les images partagées"
            .into(),
        content: format!(
            "<p>Your code to open the images shared with you: <b>{code}</b></p>\
             <p>It works once, for {minutes} minutes. If you did not ask for it, ignore this message: \
             nobody can open the link without the code.</p>\
             <hr><p>Votre code pour ouvrir les images partagées avec vous : <b>{code}</b></p>\
             <p>Il sert une fois, pendant {minutes} minutes. Si vous ne l'avez pas demandé, ignorez ce \
             message : personne ne peut ouvrir le lien sans le code.</p>"
        ),
        layout: None,
        notice: None,
    }
}
