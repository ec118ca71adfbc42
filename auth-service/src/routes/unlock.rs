//! `POST /tokens/unlock` and `POST /tokens/send-code` (ours): the landing page's calls for a
//! protected link. Unlock checks a password or a code and answers the viewer link carrying the
//! visitor's session token (same resources and type, valid PROTECTED_SESSION_HOURS and never past
//! the share's expiry, tied to the share's registry id); send-code e-mails a one-time code to one
//! of the share's addresses. Both answer decode's shape, with `protection` saying what the page
//! needs next. No password, code or token is ever logged or echoed.
use actix_web::{web, HttpRequest, HttpResponse};
use auth_wire::{SendCodeRequest, UnlockRequest};
use secrecy::SecretString;

use super::json_object;
use crate::api::DecodeResponse;
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::emails::Emails;
use crate::error::{Error, ErrorBody, Result};
use crate::protection::MAX_PROTECTION_ADDRESSES;
use crate::share_token::{fingerprint, strip_bearer};
use crate::sharing::unlocking::{self, Secret};
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
    let answer = unlocking::unlock(&state, token, secret).await?;
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
    let answer = unlocking::send_code(&state, &emails, token, request.address).await?;
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
