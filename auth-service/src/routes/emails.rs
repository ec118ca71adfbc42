//! `GET /emails/templates`, `GET /emails/templates/{name}`, `POST /emails/send`.
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_object;
use crate::api::{SendEmailRequest, SendEmailResponse};
use crate::basic_auth::Caller;
use crate::emails::{
    EmailService, Emails, Outgoing, Recipients, SendError, TemplateError, MAX_CONTENT_CHARS,
};
use crate::error::{Error, ErrorBody, Result};
use crate::routes::openapi::AnyError;

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
#[utoipa::path(post, path = "/emails/send", tag = "emails",
    request_body(content = SendEmailRequest),
    responses((status = 200, description = "Sent: the SMTP server took the message (for at least one recipient; those it refused are in the log)", body = SendEmailResponse),
        (status = 400, description = "Not sent: a field missing, an address that is not one, a content past 65536 characters, an unknown layout-template", body = SendEmailResponse, example = json!({"success": false, "details": "destination-email: not an e-mail address: dr.house"})),
        (status = 404, description = "E-mails are off (`e-mails disabled`)", body = ErrorBody),
        (status = 500, description = "The message could not be built, or the templates folder read (see the log)", body = ErrorBody),
        (status = 502, description = "Not sent: the SMTP server is unreachable, failed or refused every recipient", body = SendEmailResponse)))]
pub async fn send(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    emails: web::Data<Emails>,
) -> Result<HttpResponse> {
    let service = enabled(&emails)?;
    let request: SendEmailRequest = json_object(&req, &body)?;
    let (Some(destination), Some(title), Some(content)) = (
        request.destination_email,
        request.email_title,
        request.email_content,
    ) else {
        return Ok(not_sent(
            StatusCode::BAD_REQUEST,
            "destination-email, email-title and email-content are required".into(),
        ));
    };
    let chars = content.chars().count();
    if chars > MAX_CONTENT_CHARS {
        // A field past its documented length, in a body under the size cap: a 400 like the
        // other field checks (413 is the whole body's).
        return Ok(not_sent(
            StatusCode::BAD_REQUEST,
            format!("email-content: at most {MAX_CONTENT_CHARS} characters (this one has {chars})"),
        ));
    }
    let recipients = match Recipients::parse(&destination) {
        Ok(recipients) => recipients,
        Err(e) => return Ok(not_sent(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let layout = match request.layout_template.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(name) => match service.templates.read(name).await {
            Ok(html) => Some(html),
            Err(TemplateError::BadName | TemplateError::Unknown) => {
                return Ok(not_sent(
                    StatusCode::BAD_REQUEST,
                    "layout-template: no such template in EMAILS_TEMPLATES_ROOT (GET /emails/templates lists them)".into(),
                ))
            }
            Err(e) => return Err(template_error(e)),
        },
    };
    let outgoing = Outgoing {
        recipients,
        subject: title,
        content,
        layout,
    };
    // Cleaning and text conversion cost CPU: never on the workers that answer validate.
    let composing = emails.clone();
    let message = web::block(move || match composing.enabled() {
        Some(service) => service.compose(outgoing),
        None => Err(SendError::Compose("e-mails disabled".into())),
    })
    .await
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("Failed to compose the e-mail: {e}")))?
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("Failed to build the e-mail: {e}")))?;
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
        Err(e) => Ok(not_sent(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

fn enabled(emails: &Emails) -> Result<&EmailService> {
    emails.enabled().ok_or_else(|| Error::NotFound {
        error: "e-mails disabled",
        detail: "sharing by e-mail is off: set ENABLE_EMAILS=true and the EMAILS_* settings".into(),
    })
}

fn not_sent(status: StatusCode, details: String) -> HttpResponse {
    tracing::warn!(status = status.as_u16(), details, "e-mail not sent");
    HttpResponse::build(status).json(SendEmailResponse {
        success: false,
        details: Some(details),
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
