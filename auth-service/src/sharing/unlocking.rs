//! Protected links (ours): a password or an e-mailed code checked before a publication opens,
//! guesses counted towards a lock in the registry, codes issued and e-mailed, and the session
//! token a visitor gets once unlocked. No password, code or token is ever logged or echoed.
use auth_wire::{mask_address, CodeSent, ProtectionInfo, ProtectionMethod};
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{checked, denial_code, opened_answer, refused, Opening};
use crate::access::Verified;
use crate::api::{DecodeErrorCode, DecodeResponse};
use crate::app_state::AppState;
use crate::domain::{ExpirationDate, Guard, ShareId, ShareToken};
use crate::emails::{Emails, Outgoing, Recipients};
use crate::error::{Error, Result};
use crate::protection::{
    verify_password, CodeKey, CODE_SENDS_PER_WINDOW, CODE_SEND_WINDOW, CODE_VALIDITY,
    FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES,
};
use crate::share_token::fingerprint;
use crate::shares::{CodeIssue, NewCode, SendLimit, UnlockState};

/// What the visitor typed.
pub enum Secret {
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
pub async fn needs(
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

/// A protected link's password or code, checked: decode's answer with the viewer link carrying
/// the visitor's session token, or why not (a wrong secret counted towards the lock).
pub async fn unlock(state: &AppState, token: &str, secret: Secret) -> Result<DecodeResponse> {
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
                    actix_web::web::block(move || verify_password(&password, &hash))
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
    if let Err(denial) = state.access.count_use(&verified.id, now) {
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

/// A one-time code for a protected link, e-mailed to its address number `address`.
pub async fn send_code(
    state: &AppState,
    emails: &actix_web::web::Data<Emails>,
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
    let message = crate::emails::compose_off_workers(emails, outgoing).await?;
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
