//! What opening a link led to, decided from auth-service's decode answer (or its failure, or
//! the nginx gate's `?reason=`): a redirect to the viewer, or a page with a fitting status.
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use auth_client::AuthError;
use auth_wire::{DecodeErrorCode, DecodeResponse, TokenType};
use chrono::{DateTime, Utc};
use url::Url;

/// Why a link does not open, one page each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoLink,
    Expired {
        on: Option<DateTime<Utc>>,
    },
    Revoked,
    UsedUp,
    Invalid,
    /// An instant link, an old token without type, a type we do not know.
    CannotOpen,
    /// A publication whose viewer auth-service has no public root for.
    ViewerUnavailable,
    /// The nginx gate: a valid link asked for something it does not share.
    Forbidden,
    /// auth-service unreachable, failing, or answering nonsense.
    ServiceUnavailable,
    /// auth-service's 502: the viewer's own service (MedDream) failed to mint a link.
    ViewerServiceFailed,
    /// A path of ours that does not exist.
    NotFound,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NoLink | Refusal::NotFound | Refusal::ViewerUnavailable => {
                StatusCode::NOT_FOUND
            }
            Refusal::Expired { .. } | Refusal::Revoked | Refusal::UsedUp => StatusCode::GONE,
            Refusal::Invalid | Refusal::CannotOpen => StatusCode::BAD_REQUEST,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
            Refusal::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::ViewerServiceFailed => StatusCode::BAD_GATEWAY,
        }
    }

    /// Pages after which trying the same link again may work.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Refusal::ServiceUnavailable | Refusal::ViewerServiceFailed
        )
    }

    /// A short stable name, for logs and tests.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NoLink => "no-link",
            Refusal::Expired { .. } => "expired",
            Refusal::Revoked => "revoked",
            Refusal::UsedUp => "used-up",
            Refusal::Invalid => "invalid",
            Refusal::CannotOpen => "cannot-open",
            Refusal::ViewerUnavailable => "viewer-unavailable",
            Refusal::Forbidden => "forbidden",
            Refusal::ServiceUnavailable => "service-unavailable",
            Refusal::ViewerServiceFailed => "viewer-service-failed",
            Refusal::NotFound => "not-found",
        }
    }

    /// The nginx gate's `?reason=` values.
    pub fn from_reason(reason: &str) -> Option<Refusal> {
        Some(match reason {
            "missing" => Refusal::NoLink,
            "invalid" => Refusal::Invalid,
            "expired" => Refusal::Expired { on: None },
            "revoked" => Refusal::Revoked,
            "used-up" => Refusal::UsedUp,
            "forbidden" => Refusal::Forbidden,
            _ => return None,
        })
    }
}

/// Where a decode answer leads: the `Location` of the redirect, or the page that explains.
/// `expiry` reads the token's own (unverified) date; it is called only once auth-service has
/// said the token is expired, to show that date, so the redirect path does not parse the token.
pub fn from_decode(
    answer: Result<DecodeResponse, AuthError>,
    expiry: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Result<HeaderValue, Refusal> {
    let answer = match answer {
        Ok(answer) => answer,
        Err(AuthError::Status(502)) => return Err(Refusal::ViewerServiceFailed),
        Err(_) => return Err(Refusal::ServiceUnavailable),
    };
    match answer.error_code {
        Some(DecodeErrorCode::Expired) => return Err(Refusal::Expired { on: expiry() }),
        Some(DecodeErrorCode::Revoked) => return Err(Refusal::Revoked),
        Some(DecodeErrorCode::UsedUp) => return Err(Refusal::UsedUp),
        Some(DecodeErrorCode::Invalid) => return Err(Refusal::Invalid),
        Some(DecodeErrorCode::Unknown) => return Err(unknown(answer.token_type.as_deref())),
        None => {}
    }
    let Some(text) = answer.redirect_url else {
        return Err(unknown(answer.token_type.as_deref()));
    };
    location(&text).ok_or(Refusal::ServiceUnavailable)
}

/// Only a web address leaves this page: anything else in the answer is a fault upstream.
/// auth-service's links are plain ASCII and taken as they are (parsing every one showed in the
/// landing bench's profile); anything else goes through the URL parser, which encodes it.
fn location(text: &str) -> Option<HeaderValue> {
    let web =
        |scheme: &str| scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let plain = text
        .split_once("://")
        .is_some_and(|(scheme, rest)| web(scheme) && !rest.is_empty())
        && text.bytes().all(|b| b.is_ascii_graphic());
    if plain {
        return HeaderValue::from_str(text).ok();
    }
    match Url::parse(text) {
        Ok(url) if web(url.scheme()) => HeaderValue::from_str(url.as_str()).ok(),
        _ => None,
    }
}

fn unknown(token_type: Option<&str>) -> Refusal {
    match token_type.and_then(TokenType::parse) {
        Some(t) if t.is_publication() => Refusal::ViewerUnavailable,
        _ => Refusal::CannotOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        token_type: Option<&str>,
        code: Option<DecodeErrorCode>,
        url: Option<&str>,
    ) -> Result<DecodeResponse, AuthError> {
        Ok(DecodeResponse {
            token_type: token_type.map(str::to_owned),
            error_code: code,
            redirect_url: url.map(str::to_owned),
            resources: vec![],
        })
    }

    #[test]
    fn every_decode_answer_has_its_page() {
        use DecodeErrorCode::*;
        let stone = Some("stone-viewer-publication");
        let cases = [
            (
                answer(stone, Some(Expired), None),
                Refusal::Expired { on: None },
            ),
            (answer(stone, Some(Revoked), None), Refusal::Revoked),
            (answer(stone, Some(UsedUp), None), Refusal::UsedUp),
            (answer(None, Some(Invalid), None), Refusal::Invalid),
            (
                answer(stone, Some(Unknown), None),
                Refusal::ViewerUnavailable,
            ),
            (
                answer(Some("viewer-instant-link"), Some(Unknown), None),
                Refusal::CannotOpen,
            ),
            (
                answer(Some("invalid"), Some(Unknown), None),
                Refusal::CannotOpen,
            ),
            (answer(stone, None, None), Refusal::ViewerUnavailable),
            (
                answer(stone, None, Some("javascript:alert(1)")),
                Refusal::ServiceUnavailable,
            ),
            (Err(AuthError::Status(502)), Refusal::ViewerServiceFailed),
            (Err(AuthError::Status(401)), Refusal::ServiceUnavailable),
            (Err(AuthError::Status(500)), Refusal::ServiceUnavailable),
            (
                Err(AuthError::Unreachable("x".into())),
                Refusal::ServiceUnavailable,
            ),
            (Err(AuthError::OversizedAnswer), Refusal::ServiceUnavailable),
        ];
        for (given, expected) in cases {
            assert_eq!(from_decode(given, || None), Err(expected));
        }
        let location = |url: &str| {
            from_decode(answer(stone, None, Some(url)), || None)
                .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
        };
        assert_eq!(
            location("https://v.example/x?token=t"),
            Ok("https://v.example/x?token=t".to_owned())
        );
        assert_eq!(
            location("HTTP://v.example/x"),
            Ok("HTTP://v.example/x".to_owned())
        );
        // Not plain ASCII: the URL parser encodes it.
        assert_eq!(
            location("https://v.example/a b?token=t"),
            Ok("https://v.example/a%20b?token=t".to_owned())
        );
        for refused in ["https://", "javascript://x", "/relative?token=t", ""] {
            assert_eq!(
                location(refused),
                Err(Refusal::ServiceUnavailable),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_token_is_read_for_its_date_only_when_expired() {
        let stone = Some("stone-viewer-publication");
        let date = chrono::DateTime::from_timestamp(1_900_000_000, 0);
        let expired = from_decode(answer(stone, Some(DecodeErrorCode::Expired), None), || date);
        assert_eq!(expired, Err(Refusal::Expired { on: date }));
        let opened = from_decode(answer(stone, None, Some("https://v.example/")), || {
            panic!("the token was parsed on the redirect path")
        });
        assert!(opened.is_ok());
    }

    #[test]
    fn statuses_follow_the_issue() {
        assert_eq!(Refusal::Expired { on: None }.status(), StatusCode::GONE);
        assert_eq!(Refusal::Revoked.status(), StatusCode::GONE);
        assert_eq!(Refusal::Invalid.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Refusal::NoLink.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            Refusal::ServiceUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Refusal::from_reason("forbidden"), Some(Refusal::Forbidden));
        assert_eq!(Refusal::from_reason("bogus"), None);
    }
}
