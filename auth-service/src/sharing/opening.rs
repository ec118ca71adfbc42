//! Opening a publication (`POST /tokens/decode`, and the protected links' unlock): the token
//! checked as far as the registry and its expiry, where it opens, one use counted before any
//! MedDream link is minted.
use chrono::Utc;

use crate::access::{Denial, Verified};
use crate::api::{DecodeErrorCode, DecodeResponse, ResourceDto};
use crate::app_state::AppState;
use crate::domain::{ShareToken, TokenType};
use crate::error::Result;
use crate::share_token::DecodeError;

/// What opening a publication leads to, known before a use is counted.
pub enum Opening {
    Viewer(String),
    /// A MedDream link, minted (or reused) once the use is counted.
    Meddream,
}

impl Opening {
    /// Where a share opens with `token` in the viewer link; None when it cannot open here (an
    /// instant link, an old token without type, a viewer without public root).
    pub fn of(state: &AppState, share: &ShareToken, token: &str) -> Option<Opening> {
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
    pub async fn url(self, state: &AppState, verified: &Verified) -> Result<String> {
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
pub fn opened_answer(
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
pub fn refused(token_type: Option<&str>, code: DecodeErrorCode) -> DecodeResponse {
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
pub async fn checked(
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

/// What opening `token` leads to: the viewer link (none for a `preview`), or why it does not
/// open. Counts one use when it opens.
pub async fn open(state: &AppState, token: &str, preview: bool) -> Result<DecodeResponse> {
    let (verified, type_name) = match checked(state, token).await {
        Ok(checked) => checked,
        Err(answer) => return Ok(answer),
    };
    let Some(opening) = Opening::of(state, &verified.share, token) else {
        return Ok(refused(Some(type_name), DecodeErrorCode::Unknown));
    };
    // A protected link opens the landing page's form: what it needs, nothing of what it shares.
    if state.access.unprotected(&verified).is_err() {
        return super::unlocking::needs(state, &verified, type_name).await;
    }
    let opened = |redirect_url| opened_answer(&verified, type_name, redirect_url);
    if preview {
        return Ok(opened(None));
    }
    // The use is counted before MedDream is asked: opens past a share's limit mint nothing.
    if let Err(denial) = state.access.count_use(&verified.id, Utc::now()) {
        return Ok(refused(Some(type_name), denial_code(denial)));
    }
    let url = opening.url(state, &verified).await?;
    Ok(opened(Some(url)))
}

pub fn denial_code(denial: Denial) -> DecodeErrorCode {
    match denial {
        Denial::Revoked => DecodeErrorCode::Revoked,
        Denial::UsedUp => DecodeErrorCode::UsedUp,
        Denial::Expired => DecodeErrorCode::Expired,
        Denial::Missing | Denial::Invalid | Denial::Forbidden => DecodeErrorCode::Invalid,
        Denial::Protected => DecodeErrorCode::PasswordRequired,
    }
}
