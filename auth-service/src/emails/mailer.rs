//! The SMTP client: one connection per message, plain, STARTTLS or implicit TLS as configured,
//! a login when a user is set, and failures that say which step went wrong (never with the
//! password).
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::Address;
use secrecy::{ExposeSecret, SecretString};

use crate::settings::EmailSettings;

/// How the connection is protected.
///
/// `EMAILS_SMTP_SERVER_USES_TLS=false` is plain SMTP, as the Python service does. `true` is
/// STARTTLS, as the Python service's `smtplib` `starttls()` — except on port 465, where servers
/// speak TLS from the first byte (RFC 8314 "implicit TLS"), so we do that there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    Plain,
    StartTls,
    ImplicitTls,
}

impl SmtpSecurity {
    pub fn from_settings(uses_tls: bool, port: u16) -> SmtpSecurity {
        match (uses_tls, port) {
            (false, _) => SmtpSecurity::Plain,
            (true, 465) => SmtpSecurity::ImplicitTls,
            (true, _) => SmtpSecurity::StartTls,
        }
    }
}

/// Deliberately no `Debug`: it holds the SMTP password.
pub struct Mailer {
    hostname: String,
    port: u16,
    security: SmtpSecurity,
    tls: Option<TlsParameters>,
    user: Option<String>,
    password: Option<SecretString>,
    /// Bounds the connection; the whole exchange gets [`EXCHANGE_TIMEOUTS`] times it.
    timeout: Duration,
    hello: ClientId,
}

/// A slow but live server gets this many connection timeouts for the whole exchange.
const EXCHANGE_TIMEOUTS: u32 = 3;

/// What the server accepted. Recipients it refused while accepting others are listed here: the
/// message went to the others (as with the Python service's `smtplib.sendmail`).
#[derive(Debug)]
pub struct Delivery {
    pub accepted: Vec<Address>,
    pub refused: Vec<(Address, String)>,
}

/// Why a message was not sent; the text is what the caller sees in `details`.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("could not connect to the SMTP server {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("the SMTP server {server} did not answer in time (EMAILS_SMTP_SERVER_TIMEOUT)")]
    Timeout { server: String },
    #[error("the SMTP server {server} does not offer STARTTLS, which EMAILS_SMTP_SERVER_USES_TLS=true requires")]
    NoStartTls { server: String },
    #[error("TLS with the SMTP server {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error("the SMTP server refused the login of user {user}: {reply}")]
    LoginRefused { user: String, reply: String },
    #[error("the SMTP server refused the sender address: {reply}")]
    SenderRefused { reply: String },
    #[error("the SMTP server refused every recipient: {0}")]
    RecipientsRefused(String),
    #[error("the SMTP server refused the message: {reply}")]
    MessageRefused { reply: String },
    #[error("the SMTP exchange failed: {reason}")]
    Exchange { reason: String },
    #[error("the message could not be built: {0}")]
    Compose(String),
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        let security = SmtpSecurity::from_settings(settings.smtp_uses_tls, settings.smtp_port);
        let tls = match security {
            SmtpSecurity::Plain => None,
            SmtpSecurity::StartTls | SmtpSecurity::ImplicitTls => {
                let mut builder = TlsParameters::builder(settings.smtp_hostname.clone());
                if let Some(path) = &settings.smtp_ca_file {
                    let pem = std::fs::read(path).with_context(|| {
                        format!("EMAILS_SMTP_SERVER_CA_FILE: cannot read {}", path.display())
                    })?;
                    let certificate = Certificate::from_pem(&pem).map_err(|e| {
                        anyhow::anyhow!("EMAILS_SMTP_SERVER_CA_FILE: not a PEM certificate ({e})")
                    })?;
                    builder = builder.add_root_certificate(certificate);
                }
                Some(builder.build_rustls().map_err(|e| {
                    anyhow::anyhow!("EMAILS_SMTP_SERVER_HOSTNAME: cannot set up TLS ({e})")
                })?)
            }
        };
        Ok(Mailer {
            hostname: settings.smtp_hostname.clone(),
            port: settings.smtp_port,
            security,
            tls,
            user: settings.smtp_user_name.clone(),
            password: settings.smtp_password.clone(),
            timeout: settings.smtp_timeout,
            hello: ClientId::default(),
        })
    }

    fn server(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }

    /// One SMTP transaction for `envelope`, within the exchange deadline.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Delivery, SendError> {
        let deadline = self.timeout * EXCHANGE_TIMEOUTS;
        let result = tokio::time::timeout(deadline, self.exchange(envelope, message))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Timeout {
                    server: self.server(),
                })
            });
        result.map_err(|e| self.redacted(e))
    }

    async fn exchange(&self, envelope: &Envelope, message: &[u8]) -> Result<Delivery, SendError> {
        let implicit_tls = match self.security {
            SmtpSecurity::ImplicitTls => self.tls.clone(),
            SmtpSecurity::Plain | SmtpSecurity::StartTls => None,
        };
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (self.hostname.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit_tls,
            None,
        )
        .await
        .map_err(|e| self.connect_error(&e))?;
        let result = self.session(&mut connection, envelope, message).await;
        match result {
            Ok(_) => {
                // The message is queued: a failing QUIT changes nothing for the caller.
                let _ = connection.quit().await;
            }
            // A failed TLS upgrade leaves lettre without a stream to say QUIT on (its debug
            // builds panic if one tries): just drop the connection.
            Err(SendError::Tls { .. }) => {}
            Err(_) => connection.abort().await,
        }
        result
    }

    async fn session(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, SendError> {
        if let (SmtpSecurity::StartTls, Some(tls)) = (self.security, &self.tls) {
            if !connection.can_starttls() {
                return Err(SendError::NoStartTls {
                    server: self.server(),
                });
            }
            connection
                .starttls(tls.clone(), &self.hello)
                .await
                .map_err(|e| SendError::Tls {
                    server: self.server(),
                    reason: reason(&e),
                })?;
        }
        if let Some(user) = &self.user {
            let password = self
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            let credentials = Credentials::new(user.clone(), password);
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| {
                    self.step_error(&e, |reply| SendError::LoginRefused {
                        user: user.clone(),
                        reply,
                    })
                })?;
        }
        let mut parameters = Vec::new();
        let info = connection.server_info();
        let non_ascii_addresses = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_addresses && info.supports_feature(Extension::SmtpUtfEight) {
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() && info.supports_feature(Extension::EightBitMime) {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        connection
            .command(Mail::new(envelope.from().cloned(), parameters))
            .await
            .map_err(|e| self.step_error(&e, |reply| SendError::SenderRefused { reply }))?;
        let mut delivery = Delivery {
            accepted: Vec::new(),
            refused: Vec::new(),
        };
        for recipient in envelope.to() {
            match connection
                .command(Rcpt::new(recipient.clone(), vec![]))
                .await
            {
                Ok(_) => delivery.accepted.push(recipient.clone()),
                Err(e) if e.status().is_some() => {
                    delivery.refused.push((recipient.clone(), reason(&e)))
                }
                Err(e) => return Err(self.step_error(&e, |reason| SendError::Exchange { reason })),
            }
        }
        if delivery.accepted.is_empty() {
            let mut list = String::new();
            for (address, reply) in &delivery.refused {
                let sep = if list.is_empty() { "" } else { ", " };
                let _ = write!(list, "{sep}{address} ({reply})");
            }
            return Err(SendError::RecipientsRefused(list));
        }
        connection
            .command(Data)
            .await
            .map_err(|e| self.step_error(&e, |reply| SendError::MessageRefused { reply }))?;
        connection
            .message(message)
            .await
            .map_err(|e| self.step_error(&e, |reply| SendError::MessageRefused { reply }))?;
        Ok(delivery)
    }

    fn connect_error(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let server = self.server();
        if e.is_timeout() {
            SendError::Timeout { server }
        } else if e.is_tls() {
            SendError::Tls {
                server,
                reason: reason(e),
            }
        } else {
            SendError::Connect {
                server,
                reason: reason(e),
            }
        }
    }

    /// A refusal (an SMTP reply) becomes `refused`; a broken connection says so.
    fn step_error(
        &self,
        e: &lettre::transport::smtp::Error,
        refused: impl FnOnce(String) -> SendError,
    ) -> SendError {
        if e.status().is_some() {
            refused(reason(e))
        } else if e.is_timeout() {
            SendError::Timeout {
                server: self.server(),
            }
        } else {
            SendError::Exchange { reason: reason(e) }
        }
    }

    /// Belt and braces: a server that echoes the password back never gets it into an answer.
    fn redacted(&self, e: SendError) -> SendError {
        let Some(password) = self.password.as_ref().map(ExposeSecret::expose_secret) else {
            return e;
        };
        let text = e.to_string();
        if password.is_empty() || !text.contains(password) {
            return e;
        }
        SendError::Exchange {
            reason: text.replace(password, "[password]"),
        }
    }
}

/// "550 5.1.1 mailbox unavailable" for a reply; the error and its causes otherwise.
fn reason(e: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    let mut text = match (e.status(), e.source()) {
        (Some(code), Some(message)) => return format!("{code} {message}"),
        (Some(code), None) => return code.to_string(),
        (None, _) => e.to_string(),
    };
    let mut cause = e.source().and_then(|s| s.source());
    while let Some(c) = cause {
        let _ = write!(text, ": {c}");
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::SmtpSecurity;

    #[test]
    fn uses_tls_means_starttls_except_on_the_implicit_tls_port() {
        assert_eq!(SmtpSecurity::from_settings(false, 465), SmtpSecurity::Plain);
        assert_eq!(SmtpSecurity::from_settings(false, 587), SmtpSecurity::Plain);
        assert_eq!(
            SmtpSecurity::from_settings(true, 587),
            SmtpSecurity::StartTls
        );
        assert_eq!(
            SmtpSecurity::from_settings(true, 25),
            SmtpSecurity::StartTls
        );
        assert_eq!(
            SmtpSecurity::from_settings(true, 465),
            SmtpSecurity::ImplicitTls
        );
    }
}
