//! `GET /emails/templates`, `GET /emails/templates/{name}`, `POST /emails/send`.
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_object;
use crate::access::Verified;
use crate::api::{SendEmailRequest, SendEmailResponse};
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::Guard;
use crate::emails::{EmailService, Emails, Outgoing, Recipients, TemplateError, MAX_CONTENT_CHARS};
use crate::error::{Error, ErrorBody, Result};
use crate::protection::tokens_in;
use crate::routes::openapi::AnyError;
use crate::shares::Bound;

#[utoipa::path(get, path = "/emails/templates", tag = "emails",
    responses((status = 200, description = "The names of the templates (the `*.html` files of EMAILS_TEMPLATES_ROOT, without `.html`), sorted", body = Vec<String>, example = json!(["layout", "share-link"])),
        (status = 404, description = "E-mails are off (`e-mails disabled`)", body = ErrorBody),
        (status = 500, description = "EMAILS_TEMPLATES_ROOT cannot be read (see the log)", body = ErrorBody)))]
pub async fn list_templates(_caller: Caller, emails: web::Data<Emails>) -> Result<HttpResponse> {
    let names = enabled(&emails)?
        .templates
        .names()
        .await
        .map_err(template_error)?;
    Ok(HttpResponse::Ok().json(names))
}

#[utoipa::path(get, path = "/emails/templates/{name}", tag = "emails",
    params(("name" = String, Path, description = "A template name, without .html", example = "layout")),
    responses((status = 200, description = "The template's HTML", content_type = "text/html", body = String),
        (status = 404, description = "No such template (`unknown template`; a name that could be no file of the folder: the Python service's `Not Found`), or e-mails are off (`e-mails disabled`)", body = AnyError),
        (status = 500, description = "EMAILS_TEMPLATES_ROOT cannot be read (see the log)", body = ErrorBody)))]
pub async fn get_template(
    _caller: Caller,
    name: web::Path<String>,
    emails: web::Data<Emails>,
) -> Result<HttpResponse> {
    let html = enabled(&emails)?
        .templates
        .read(&name)
        .await
        .map_err(template_error)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Answers `{"success", "details"}` as the Python service does: 200 when the SMTP server took
/// the message, 400 for a request we cannot send, 502 when the SMTP server failed or refused.
/// With PROTECT_EMAILED_LINKS=code, the shares whose links the content carries are bound to the
/// destination addresses first (503 when the registry cannot record it: nothing is sent
/// unprotected).
#[utoipa::path(post, path = "/emails/send", tag = "emails",
    request_body(content = SendEmailRequest),
    responses((status = 200, description = "Sent: the SMTP server took the message (for at least one recipient; those it refused are in the log)", body = SendEmailResponse),
        (status = 400, description = "Not sent: a field missing, an address that is not one, a content past 65536 characters, an unknown layout-template; with PROTECT_EMAILED_LINKS=code, a link of ours in the content that cannot be protected by a code", body = SendEmailResponse, example = json!({"success": false, "details": "destination-email: not an e-mail address: dr.house"})),
        (status = 404, description = "E-mails are off (`e-mails disabled`)", body = ErrorBody),
        (status = 500, description = "The message could not be built, or the templates folder read (see the log)", body = ErrorBody),
        (status = 502, description = "Not sent: the SMTP server is unreachable, failed or refused every recipient", body = SendEmailResponse),
        (status = 503, description = "Not sent: PROTECT_EMAILED_LINKS=code and the share registry cannot bind the link", body = SendEmailResponse)))]
pub async fn send(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    emails: web::Data<Emails>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let service = enabled(&emails)?;
    let request: SendEmailRequest = json_object(&req, &body)?;
    let (Some(destination), Some(title), Some(content)) = (
        request.destination_email,
        request.email_title,
        request.email_content,
    ) else {
        return Err(Error::not_sent(
            StatusCode::BAD_REQUEST,
            "destination-email, email-title and email-content are required".into(),
        ));
    };
    let chars = content.chars().count();
    if chars > MAX_CONTENT_CHARS {
        // A field past its documented length, in a body under the size cap: a 400 like the
        // other field checks (413 is the whole body's).
        return Err(Error::not_sent(
            StatusCode::BAD_REQUEST,
            format!("email-content: at most {MAX_CONTENT_CHARS} characters (this one has {chars})"),
        ));
    }
    let recipients = match Recipients::parse(&destination) {
        Ok(recipients) => recipients,
        Err(e) => return Err(Error::not_sent(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let layout = match request.layout_template.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(name) => match service.templates.read(name).await {
            Ok(html) => Some(html),
            Err(TemplateError::BadName | TemplateError::Unknown) => {
                return Err(Error::not_sent(
                    StatusCode::BAD_REQUEST,
                    "layout-template: no such template in EMAILS_TEMPLATES_ROOT (GET /emails/templates lists them)".into(),
                ))
            }
            Err(e) => return Err(template_error(e)),
        },
    };
    let notice = match state.protection.settings.protect_emailed {
        false => None,
        true => match bind_links(&state, &content, &recipients).await {
            Ok(0) => None,
            Ok(_) => Some(state.protection.settings.notice.clone()),
            Err(refused) => return Err(refused),
        },
    };
    let outgoing = Outgoing {
        recipients,
        subject: title,
        content,
        layout,
        notice,
    };
    let message = crate::emails::compose_off_workers(&emails, outgoing).await?;
    match service.send(&message).await {
        Ok(delivery) => {
            for (address, reply) in &delivery.refused {
                tracing::warn!(%address, reply, "recipient refused by the SMTP server; sent to the others");
            }
            tracing::info!(user = %caller.user, recipients = delivery.accepted.len(), "e-mail sent");
            Ok(HttpResponse::Ok().json(SendEmailResponse {
                success: true,
                details: None,
            }))
        }
        Err(e) => Err(Error::not_sent(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

/// PROTECT_EMAILED_LINKS=code: binds every share whose token the content carries to the
/// destination addresses, committed before the message goes out. How many now ask for a code
/// (a password share is left as it is), or the answer refusing to send: a link of ours that
/// cannot be protected is not sent unprotected.
async fn bind_links(state: &AppState, content: &str, recipients: &Recipients) -> Result<usize> {
    let addresses: Vec<String> = recipients
        .addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut bound = 0;
    for token in tokens_in(content) {
        // Not ours (or not a token at all): nothing to bind.
        let Ok(Verified { share, id }) = state.access.share(token) else {
            continue;
        };
        let refuse = |why: &str| {
            Error::not_sent(
                StatusCode::BAD_REQUEST,
                format!("email-content: a link in the message cannot be protected by a code (PROTECT_EMAILED_LINKS=code): {why}"),
            )
        };
        if matches!(share.guard, Guard::Unlocked(_)) {
            return Err(refuse(
                "it is a visitor's session of a protected link; send the link itself",
            ));
        }
        if !share.token_type.is_some_and(|t| t.is_publication()) {
            return Err(refuse(
                "only publications open through the landing page, which asks for the code",
            ));
        }
        match state.shares.bind(&id, &addresses).await {
            Ok(Bound::Bound(_)) => {
                tracing::info!(share = %id.fingerprint(), recipients = addresses.len(), "e-mailed link bound to its recipients");
                bound += 1;
            }
            Ok(Bound::Password) => {}
            Ok(Bound::NotFound) => {
                return Err(refuse(
                    "its share is not in the share registry; create a new link",
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e.0, "e-mailed link not bound: the registry database is unavailable");
                return Err(Error::not_sent(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the share registry is unavailable: the link could not be protected, nothing was sent; try again later".into(),
                ));
            }
        }
    }
    Ok(bound)
}

fn enabled(emails: &Emails) -> Result<&EmailService> {
    emails.enabled().ok_or_else(|| Error::NotFound {
        error: "e-mails disabled",
        detail: "sharing by e-mail is off: set ENABLE_EMAILS=true and the EMAILS_* settings".into(),
    })
}

fn template_error(e: TemplateError) -> Error {
    match e {
        // A name that cannot be a file of the folder: the path does not exist, as upstream says.
        TemplateError::BadName => Error::RouteNotFound,
        TemplateError::Unknown => Error::NotFound {
            error: "unknown template",
            detail: "no such template in EMAILS_TEMPLATES_ROOT (GET /emails/templates lists them)"
                .into(),
        },
        TemplateError::Io(e) => Error::Unexpected(
            anyhow::Error::new(e).context("Failed to read the e-mail templates folder"),
        ),
    }
}
