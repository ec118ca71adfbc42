//! What opening a link led to, decided from auth-service's decode answer (or its failure, or
//! the nginx gate's `?reason=`): a redirect to the viewer, or a page with a fitting status.
use actix_web::http::StatusCode;
use auth_client::AuthError;
use auth_wire::{DecodeErrorCode, DecodeResponse, ProtectionInfo, TokenType};
use chrono::{DateTime, Utc};

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
    /// auth-service's 503: the viewer's own service (MedDream) has too many links to mint.
    ViewerBusy,
    /// This link, or this visitor, opened links too often: wait this many seconds.
    TooManyOpens {
        retry_after: u64,
    },
    /// A path of ours that does not exist.
    NotFound,
    /// A protected link locked after too many wrong passwords or codes, until then.
    Locked {
        until: Option<DateTime<Utc>>,
    },
    /// The nginx gate: a protected link's own token, used past the landing page.
    Protected,
    /// A publication that opens once e-mailed (REQUIRE_LINK_PROTECTION with
    /// PROTECT_EMAILED_LINKS=code on auth-service), not e-mailed yet.
    AwaitingEmail,
}

/// What a protected link asks of the visitor: the form to show, and what the last answer said
/// (`password-required`, `code-required`, `wrong-password`, `code-expired`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub code: DecodeErrorCode,
    pub protection: ProtectionInfo,
}

/// Where an answer leads when the link is good: on (to the viewer, or the confirm page), or a
/// protected link's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next<T> {
    Go(T),
    Ask(Ask),
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::NoLink | Refusal::NotFound | Refusal::ViewerUnavailable => {
                StatusCode::NOT_FOUND
            }
            Refusal::Expired { .. } | Refusal::Revoked | Refusal::UsedUp => StatusCode::GONE,
            Refusal::Invalid | Refusal::CannotOpen => StatusCode::BAD_REQUEST,
            Refusal::Forbidden | Refusal::Protected | Refusal::AwaitingEmail => {
                StatusCode::FORBIDDEN
            }
            Refusal::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::ServiceUnavailable | Refusal::ViewerBusy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::ViewerServiceFailed => StatusCode::BAD_GATEWAY,
            Refusal::TooManyOpens { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// For pages after which trying the same link again may work: when (`Retry-After`).
    pub fn retry_after(self) -> Option<u64> {
        match self {
            Refusal::ServiceUnavailable | Refusal::ViewerServiceFailed => Some(60),
            Refusal::ViewerBusy => Some(10),
            Refusal::TooManyOpens { retry_after } => Some(retry_after),
            _ => None,
        }
    }

    /// `Retry-After` of a page whose wait is not a retry of the same request.
    pub fn wait(self, now: DateTime<Utc>) -> Option<u64> {
        match self {
            Refusal::Locked { until: Some(until) } => Some(
                u64::try_from((until - now).num_seconds())
                    .unwrap_or(0)
                    .max(1),
            ),
            other => other.retry_after(),
        }
    }

    /// Pages after which trying the same link again may work.
    pub fn is_transient(self) -> bool {
        self.retry_after().is_some()
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
            Refusal::ViewerBusy => "viewer-busy",
            Refusal::TooManyOpens { .. } => "too-many-opens",
            Refusal::NotFound => "not-found",
            Refusal::Locked { .. } => "locked",
            Refusal::Protected => "protected",
            Refusal::AwaitingEmail => "awaiting-email",
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
            "protected" => Refusal::Protected,
            _ => return None,
        })
    }
}

/// Where a decode answer leads: the viewer link auth-service answered (checked by the caller
/// against the origins it may send visitors to), or the page that explains. `expiry` reads the
/// token's own date; it is called only once auth-service has said the token is expired (so
/// verified it), to show that date, so the redirect path does not parse the token.
pub fn from_decode(
    answer: Result<DecodeResponse, AuthError>,
    expiry: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Result<Next<String>, Refusal> {
    match checked(answer, expiry)? {
        Next::Go(answer) => answer
            .redirect_url
            .map(Next::Go)
            .ok_or_else(|| unknown(answer.token_type.as_deref())),
        Next::Ask(ask) => Ok(Next::Ask(ask)),
    }
}

/// A preview's answer: what the link shares, a protected link's form, or the page that explains.
pub fn from_preview(
    answer: Result<DecodeResponse, AuthError>,
    expiry: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Result<Next<DecodeResponse>, Refusal> {
    checked(answer, expiry)
}

/// The answer when auth-service says the token opens, or what a protected link asks; the
/// refusal otherwise.
fn checked(
    answer: Result<DecodeResponse, AuthError>,
    expiry: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Result<Next<DecodeResponse>, Refusal> {
    use DecodeErrorCode::*;
    let answer = match answer {
        Ok(answer) => answer,
        // Only a request the page should never make (a forged form) gets a 400, or a 409 (a
        // secret the link does not ask for, an address it does not have).
        Err(AuthError::Status(400 | 409)) => return Err(Refusal::Invalid),
        Err(AuthError::Status(502)) => return Err(Refusal::ViewerServiceFailed),
        Err(AuthError::Status(503)) => return Err(Refusal::ViewerBusy),
        Err(_) => return Err(Refusal::ServiceUnavailable),
    };
    match (answer.error_code, answer.protection) {
        (Some(Expired), _) => Err(Refusal::Expired { on: expiry() }),
        (Some(Revoked), _) => Err(Refusal::Revoked),
        (Some(UsedUp), _) => Err(Refusal::UsedUp),
        (Some(Invalid), _) => Err(Refusal::Invalid),
        (Some(Unknown), _) => Err(unknown(answer.token_type.as_deref())),
        (Some(NotSent), _) => Err(Refusal::AwaitingEmail),
        (Some(Locked), protection) => Err(Refusal::Locked {
            until: protection
                .and_then(|p| p.locked_until)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
        }),
        (
            Some(
                code @ (PasswordRequired | CodeRequired | WrongPassword | WrongCode | CodeExpired
                | TooManyCodes),
            ),
            Some(protection),
        ) => Ok(Next::Ask(Ask { code, protection })),
        // A protection code without what the form needs: not an answer of ours.
        (Some(_), None) => Err(Refusal::ServiceUnavailable),
        (None, protection) => Ok(Next::Go(DecodeResponse {
            protection,
            ..answer
        })),
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
            protection: None,
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
            (answer(stone, Some(NotSent), None), Refusal::AwaitingEmail),
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
        assert_eq!(
            from_decode(Err(AuthError::Status(400)), || None),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            from_decode(Err(AuthError::Status(503)), || None),
            Err(Refusal::ViewerBusy)
        );
        // The link as auth-service wrote it: the caller checks where it leads.
        assert_eq!(
            from_decode(
                answer(stone, None, Some("https://v.example/x?token=t")),
                || None
            ),
            Ok(Next::Go("https://v.example/x?token=t".to_owned()))
        );
    }

    #[test]
    fn a_preview_is_the_answer_itself_when_the_link_opens() {
        let stone = Some("stone-viewer-publication");
        let Ok(Next::Go(ok)) = from_preview(answer(stone, None, None), || None) else {
            panic!("opens")
        };
        assert_eq!(ok.token_type.as_deref(), stone);
        assert_eq!(
            from_preview(answer(stone, Some(DecodeErrorCode::UsedUp), None), || None).err(),
            Some(Refusal::UsedUp)
        );
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
    fn a_protected_link_asks_and_a_locked_one_says_until_when() {
        let protection = ProtectionInfo {
            method: auth_wire::ProtectionMethod::Password,
            addresses: vec![],
            attempts_left: 3,
            locked_until: Some("2030-01-01T10:15:00Z".into()),
            code_sent: None,
            retry_after: None,
        };
        let with = |code, protection: Option<ProtectionInfo>| {
            Ok(DecodeResponse {
                protection,
                ..answer(Some("stone-viewer-publication"), Some(code), None)?
            })
        };
        let asked = from_decode(
            with(DecodeErrorCode::WrongPassword, Some(protection.clone())),
            || None,
        );
        assert_eq!(
            asked,
            Ok(Next::Ask(Ask {
                code: DecodeErrorCode::WrongPassword,
                protection: protection.clone()
            }))
        );
        let until = chrono::DateTime::parse_from_rfc3339("2030-01-01T10:15:00Z")
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let locked = from_decode(with(DecodeErrorCode::Locked, Some(protection)), || None);
        assert_eq!(locked, Err(Refusal::Locked { until }));
        let now = until
            .map(|u| u - chrono::Duration::seconds(90))
            .unwrap_or_default();
        assert_eq!(Refusal::Locked { until }.wait(now), Some(90));
        assert_eq!(
            Refusal::Locked { until }.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            from_decode(with(DecodeErrorCode::PasswordRequired, None), || None),
            Err(Refusal::ServiceUnavailable),
            "a protection code without what the form needs"
        );
        assert_eq!(Refusal::from_reason("protected"), Some(Refusal::Protected));
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
        let slow_down = Refusal::TooManyOpens { retry_after: 7 };
        assert_eq!(slow_down.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(slow_down.retry_after(), Some(7));
        assert_eq!(
            Refusal::ViewerBusy.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Refusal::Revoked.retry_after(), None);
        assert_eq!(Refusal::from_reason("bogus"), None);
    }
}
