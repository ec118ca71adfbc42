//! One error type for the service, turned into a status and a JSON body in one place.
//!
//! Bodies: answers the Python service also gives (401, 404, 405) keep its exact body
//! `{"detail": "..."}` so existing clients and the compatibility replay see no change; every other
//! error carries `{"error": "<stable short text>", "detail": "<what to fix>"}`. No body ever
//! echoes request input (tokens travel in bodies).
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Python service's error body: 401, 405, the 404 of a path no route takes, and the roles
/// routes' 404 without a Keycloak admin client.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"detail": "Not authenticated"}))]
pub struct PythonError<'a> {
    pub detail: &'a str,
}

/// Every other error body: a stable short text to branch on, and what to fix (null when there
/// is nothing more to say). Never an echo of the request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": "invalid request body", "detail": "resources: field required"}))]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    #[schema(required = true)]
    pub detail: Option<&'a str>,
}

/// The header of the gate's refusals naming their reason (`missing`, `expired`, `forbidden`...).
pub const REASON_HEADER: &str = "x-auth-reason";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Not authenticated")]
    NotAuthenticated,
    #[error("Incorrect username or password.")]
    BadCredentials,
    #[error("Not Found")]
    RouteNotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: &'static str },
    /// 422: the body is not JSON, or a field is missing or of the wrong type.
    #[error("{detail}")]
    InvalidBody { detail: String },
    /// 400: well-formed but not acceptable.
    #[error("{detail}")]
    BadRequest { error: &'static str, detail: String },
    /// 409: a good request the current state refuses (a share identical to a revoked one).
    #[error("{detail}")]
    Conflict {
        error: &'static str,
        detail: &'static str,
    },
    /// 404 for a thing named in the path (token type, template).
    #[error("{detail}")]
    NotFound { error: &'static str, detail: String },
    /// 502: a service we depend on (MedDream, SMTP) failed.
    #[error("{error}")]
    BadGateway {
        error: &'static str,
        detail: Option<String>,
    },
    /// 404 of the roles routes without KEYCLOAK_CLIENT_SECRET; the Python service's exact body.
    #[error(
        "No Keycloack admin client defined, you probably should define KEYCLOAK_CLIENT_SECRET"
    )]
    KeycloakAdminMissing,
    /// 503: a dependency is down and we cannot answer without it.
    #[error("{error}")]
    Unavailable {
        error: &'static str,
        detail: Option<String>,
    },
    /// 429: too many wrong user/password pairs from this client (throttle.rs).
    #[error("too many failed logins")]
    TooManyFailedLogins { retry_after: u64 },
    /// `POST /emails/send` refused or failed: its status (400, 502, 503) with the Python
    /// service's body for that route, `{"success": false, "details": ...}`.
    #[error("e-mail not sent: {details}")]
    EmailNotSent { status: StatusCode, details: String },
    /// The token gate's refusal: 401 when the token itself is unusable (missing, invalid,
    /// expired, revoked...), 403 when a good token does not cover the request. `X-Auth-Reason`
    /// says which, for nginx to send the visitor to the page that explains.
    #[error("access denied: {}", .0.reason())]
    AccessDenied(crate::access::Denial),
    /// Our own fault: logged with its cause chain, answered opaquely.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Error::InvalidBody {
            detail: detail.into(),
        }
    }
    pub fn not_sent(status: StatusCode, details: String) -> Self {
        Error::EmailNotSent { status, details }
    }
    pub fn bad_request(error: &'static str, detail: impl Into<String>) -> Self {
        Error::BadRequest {
            error,
            detail: detail.into(),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotAuthenticated | Error::BadCredentials => StatusCode::UNAUTHORIZED,
            Error::RouteNotFound | Error::NotFound { .. } | Error::KeycloakAdminMissing => {
                StatusCode::NOT_FOUND
            }
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::InvalidBody { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::TooManyFailedLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::EmailNotSent { status, .. } => *status,
            Error::AccessDenied(crate::access::Denial::Forbidden) => StatusCode::FORBIDDEN,
            Error::AccessDenied(_) => StatusCode::UNAUTHORIZED,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut answer = HttpResponse::build(status);
        let retry;
        // Every variant named (no `_`): a new one must be given its body here.
        let (error, detail) = match self {
            Error::NotAuthenticated | Error::BadCredentials => {
                answer.insert_header((header::WWW_AUTHENTICATE, "Basic"));
                return python_body(answer, status, self);
            }
            Error::RouteNotFound | Error::KeycloakAdminMissing => {
                return python_body(answer, status, self)
            }
            Error::MethodNotAllowed { allow } => {
                answer.insert_header((header::ALLOW, *allow));
                return python_body(answer, status, self);
            }
            Error::InvalidBody { detail } => ("invalid request body", Some(detail.as_str())),
            Error::Conflict { error, detail } => (*error, Some(*detail)),
            Error::BadRequest { error, detail } | Error::NotFound { error, detail } => {
                (*error, Some(detail.as_str()))
            }
            Error::BadGateway { error, detail } | Error::Unavailable { error, detail } => {
                (*error, detail.as_deref())
            }
            Error::TooManyFailedLogins { retry_after } => {
                answer.insert_header((header::RETRY_AFTER, retry_after.to_string()));
                retry = format!("retry after {retry_after} seconds");
                ("too many failed logins", Some(retry.as_str()))
            }
            Error::EmailNotSent { details, .. } => {
                tracing::warn!(status = status.as_u16(), details, "e-mail not sent");
                return answer.json(auth_wire::SendEmailResponse {
                    success: false,
                    details: Some(details.clone()),
                });
            }
            // Not logged here: the gate logs every decision (a visitor without a token is routine).
            Error::AccessDenied(denial) => {
                answer
                    .insert_header((
                        header::HeaderName::from_static(REASON_HEADER),
                        denial.reason(),
                    ))
                    .insert_header((header::CACHE_CONTROL, "no-store"));
                return answer.json(ErrorBody {
                    error: "access denied",
                    detail: Some(denial.reason()),
                });
            }
            Error::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                return answer.json(ErrorBody {
                    error: "internal error",
                    detail: Some("see the service log"),
                });
            }
        };
        tracing::warn!(status = status.as_u16(), error, detail = %self, "request refused");
        answer.json(ErrorBody { error, detail })
    }
}

/// The Python service's `{"detail"}` body, its text the error's own.
fn python_body(
    mut answer: actix_web::HttpResponseBuilder,
    status: StatusCode,
    error: &Error,
) -> HttpResponse {
    tracing::info!(status = status.as_u16(), %error, "request refused");
    answer.json(PythonError {
        detail: &error.to_string(),
    })
}
