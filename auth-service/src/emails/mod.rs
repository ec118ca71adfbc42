//! Share by e-mail: the HTML templates of `EMAILS_TEMPLATES_ROOT`, the composition of a message
//! (cleaned HTML with a plain-text alternative) and the SMTP client that sends it.
//!
//! Nothing here knows about HTTP: `routes/emails.rs` turns these results into answers.
mod mailer;
mod message;
mod templates;
mod text;

use std::str::FromStr;

use anyhow::Context;
use lettre::message::Mailbox;

use crate::metrics::DependencyCalls;
use crate::settings::EmailSettings;

pub use mailer::{Delivery, Mailer, SendError, SmtpSecurity};
pub use message::{clean_html, plain_address, BadAddress, Recipients};
pub use templates::{TemplateError, Templates};
pub use text::html_to_text;

/// The placeholder of a layout template that the message content replaces.
pub const CONTENT_PLACEHOLDER: &str = "{email-content}";
/// The placeholder of a layout template that the protected-link notice replaces (empty when the
/// message carries no protected link).
pub const PROTECTION_PLACEHOLDER: &str = "{link-protection}";

/// The most `email-content` a message may carry, in characters (as the OpenAPI document's
/// maxLength counts): a share message is a few lines; the cap bounds the CPU that cleaning and
/// text conversion may spend on one request.
pub const MAX_CONTENT_CHARS: usize = 64 * 1024;

/// E-mail sharing as configured: `None` inside when `ENABLE_EMAILS` is off.
pub struct Emails {
    service: Option<EmailService>,
}

impl Emails {
    /// Builds the service once at start; a sender address or CA file that cannot be used stops
    /// the start with the name of the setting to fix.
    pub fn new(settings: Option<&EmailSettings>) -> anyhow::Result<Emails> {
        let service = settings.map(EmailService::new).transpose()?;
        Ok(Emails { service })
    }

    pub fn enabled(&self) -> Option<&EmailService> {
        self.service.as_ref()
    }
}

pub struct EmailService {
    pub templates: Templates,
    mailer: Mailer,
    /// Latency and errors of the SMTP exchanges (metrics.rs).
    pub calls: DependencyCalls,
    sender: Mailbox,
    reply_to: Option<Mailbox>,
}

/// One message to send, checked; the content is at most [`MAX_CONTENT_CHARS`].
pub struct Outgoing {
    pub recipients: Recipients,
    pub subject: String,
    /// As the caller sent it: cleaned when composed.
    pub content: String,
    pub layout: Option<String>,
    /// Plain text saying the link in the message will ask for a code (PROTECT_EMAILED_LINKS): in
    /// place of the layout's `{link-protection}`, or after the content when it has none.
    pub notice: Option<String>,
}

/// A message ready for the SMTP server.
pub struct Composed(lettre::Message);

impl EmailService {
    fn new(settings: &EmailSettings) -> anyhow::Result<EmailService> {
        if settings.login_without_tls() {
            tracing::warn!(
                "EMAILS_SMTP_SERVER_USER_NAME is set but EMAILS_SMTP_SERVER_USES_TLS is not: the SMTP password will cross the network in clear; set EMAILS_SMTP_SERVER_USES_TLS=true"
            );
        }
        let sender = Mailbox::from_str(&settings.sender_address)
            .context("EMAILS_SENDER_ADDRESS: not an e-mail address")?;
        let reply_to = settings
            .reply_to
            .as_deref()
            .map(Mailbox::from_str)
            .transpose()
            .context("EMAILS_REPLY_TO: not an e-mail address")?;
        Ok(EmailService {
            templates: Templates::new(settings.templates_root.clone()),
            mailer: Mailer::new(settings)?,
            calls: DependencyCalls::new("smtp")?,
            sender,
            reply_to,
        })
    }

    /// The HTML body: the cleaned content, inside the layout when one is given, with the
    /// protected-link notice where the layout asks for it (else after the content).
    pub fn body_html(content: &str, layout: Option<&str>, notice: Option<&str>) -> String {
        let mut content = clean_html(content);
        let notice = notice
            .map(|text| format!("<p>{}</p>", escape_html(text)))
            .unwrap_or_default();
        match layout {
            Some(layout) if layout.contains(PROTECTION_PLACEHOLDER) => layout
                .replace(PROTECTION_PLACEHOLDER, &notice)
                .replace(CONTENT_PLACEHOLDER, &content),
            Some(layout) => {
                content.push_str(&notice);
                layout.replace(CONTENT_PLACEHOLDER, &content)
            }
            None => {
                content.push_str(&notice);
                content
            }
        }
    }

    /// Cleans the content, applies the layout and adds the plain-text part. Costs CPU in
    /// proportion to the content: run it off the async workers (`spawn_blocking`).
    pub fn compose(&self, outgoing: Outgoing) -> Result<Composed, SendError> {
        let html = EmailService::body_html(
            &outgoing.content,
            outgoing.layout.as_deref(),
            outgoing.notice.as_deref(),
        );
        message::compose(
            &self.sender,
            self.reply_to.as_ref(),
            &outgoing.recipients,
            &outgoing.subject,
            html,
        )
        .map(Composed)
        .map_err(|e| SendError::Compose(e.to_string()))
    }

    /// Sends one message to every recipient (one SMTP transaction).
    pub async fn send(&self, message: &Composed) -> Result<Delivery, SendError> {
        let formatted = message.0.formatted();
        self.calls
            .time(self.mailer.send(message.0.envelope(), &formatted))
            .await
    }
}

/// Text as HTML: the five characters that could start markup or end an attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Cleaning and text conversion cost CPU: never on the workers that answer validate.
pub async fn compose_off_workers(
    emails: &actix_web::web::Data<Emails>,
    outgoing: Outgoing,
) -> crate::error::Result<Composed> {
    let composing = emails.clone();
    actix_web::web::block(move || match composing.enabled() {
        Some(service) => service.compose(outgoing),
        None => Err(SendError::Compose("e-mails disabled".into())),
    })
    .await
    .map_err(|e| {
        crate::error::Error::Unexpected(anyhow::anyhow!("Failed to compose the e-mail: {e}"))
    })?
    .map_err(|e| {
        crate::error::Error::Unexpected(anyhow::anyhow!("Failed to build the e-mail: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_goes_where_the_layout_asks_or_after_the_content() {
        let with = "<div>{email-content}</div><footer>{link-protection}</footer>";
        let without = "<div>{email-content}</div>";
        let notice = Some("A code <will> be asked");
        assert_eq!(
            EmailService::body_html("<p>x</p>", Some(with), notice),
            "<div><p>x</p></div><footer><p>A code &lt;will&gt; be asked</p></footer>"
        );
        assert_eq!(
            EmailService::body_html("<p>x</p>", Some(with), None),
            "<div><p>x</p></div><footer></footer>"
        );
        assert_eq!(
            EmailService::body_html("<p>x</p>", Some(without), notice),
            "<div><p>x</p><p>A code &lt;will&gt; be asked</p></div>"
        );
        assert_eq!(
            EmailService::body_html("<p>{link-protection}</p>", None, None),
            "<p>{link-protection}</p>",
            "the content's own text is left alone"
        );
    }
}
