//! The pages, one askama template struct each, and the one function that renders them into a
//! response. Every page carries the same frame: language, site name, logo, contact line.
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use auth_wire::{DecodeErrorCode, Level, ProtectionMethod, ResourceDto};
use chrono::{DateTime, Utc};

use crate::i18n::{DatedText, Language, OutcomeText, Strings};
use crate::outcome::{Ask, Refusal};
use crate::settings::Branding;

/// What every page shows around its message.
pub struct Frame<'a> {
    pub lang: &'static str,
    pub site_name: &'a str,
    pub logo_url: Option<&'a str>,
    pub contact: Option<&'a str>,
    /// Relative, so the pages work under whatever path nginx serves them (`/share/`).
    pub css_href: &'a str,
}

impl<'a> Frame<'a> {
    pub fn new(
        language: Language,
        strings: &'a Strings,
        branding: &'a Branding,
        css_href: &'a str,
    ) -> Self {
        Frame {
            lang: language.code(),
            site_name: branding
                .site_name
                .as_deref()
                .unwrap_or(&strings.default_site_name),
            logo_url: branding.logo_url.as_deref(),
            contact: branding.contact.as_deref(),
            css_href,
        }
    }
}

/// Why a link did not open, and what to do.
#[derive(Template)]
#[template(path = "outcome.html")]
pub struct OutcomePage<'a> {
    pub frame: Frame<'a>,
    /// `error`, `warning` or `info`: the page's accent.
    pub tone: &'static str,
    pub title: &'a str,
    pub message: String,
    pub advice: &'a str,
    /// The "Try again" label, on pages after which the same link may work.
    pub retry: Option<&'a str>,
}

impl<'a> OutcomePage<'a> {
    pub fn new(frame: Frame<'a>, strings: &'a Strings, refusal: Refusal) -> Self {
        let o = &strings.outcomes;
        let dated = |text: &'a DatedText, date: Option<DateTime<Utc>>| {
            let message = match date {
                Some(date) => text.message.replace("{date}", &strings.date(date)),
                None => text.message_undated.clone(),
            };
            (&text.title, message, &text.advice)
        };
        let plain = |text: &'a OutcomeText| (&text.title, text.message.clone(), &text.advice);
        let (title, message, advice) = match refusal {
            Refusal::Expired { on } => dated(&o.expired, on),
            Refusal::Locked { until } => dated(&o.locked, until),
            Refusal::NoLink => plain(&o.no_link),
            Refusal::Revoked => plain(&o.revoked),
            Refusal::UsedUp => plain(&o.used_up),
            Refusal::Invalid => plain(&o.invalid),
            Refusal::CannotOpen => plain(&o.cannot_open),
            Refusal::ViewerUnavailable => plain(&o.viewer_unavailable),
            Refusal::Forbidden => plain(&o.forbidden),
            Refusal::Protected => plain(&o.protected),
            Refusal::AwaitingEmail => plain(&o.awaiting_email),
            Refusal::ServiceUnavailable => plain(&o.service_unavailable),
            Refusal::ViewerServiceFailed => plain(&o.viewer_service_failed),
            Refusal::ViewerBusy => plain(&o.viewer_busy),
            Refusal::TooManyOpens { .. } => plain(&o.too_many_opens),
            Refusal::NotFound => plain(&o.not_found),
        };
        let tone = match refusal {
            Refusal::Revoked
            | Refusal::UsedUp
            | Refusal::Expired { .. }
            | Refusal::Locked { .. } => "warning",
            r if r.is_transient() => "info",
            _ => "error",
        };
        OutcomePage {
            frame,
            tone,
            title,
            message,
            advice,
            retry: refusal.is_transient().then_some(strings.retry.as_str()),
        }
    }
}

/// Confirm mode: what the link shares, and a button that opens the viewer (a form POST).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage<'a> {
    pub frame: Frame<'a>,
    pub title: &'a str,
    pub intro: &'a str,
    pub shared: String,
    pub expiry: String,
    pub button: &'a str,
    pub note: &'a str,
}

impl<'a> ConfirmPage<'a> {
    /// From what auth-service confirmed of the link: the resources its preview listed and the
    /// expiry of the token it verified.
    pub fn new(
        frame: Frame<'a>,
        strings: &'a Strings,
        resources: &[ResourceDto],
        expiration_date: Option<DateTime<Utc>>,
    ) -> Self {
        let c = &strings.confirm;
        let all_studies = resources.iter().all(|r| r.level == Level::Study);
        let shared = match (all_studies, resources.len()) {
            (true, 1) => c.studies_one.clone(),
            (true, n) => c.studies_many.replace("{count}", &n.to_string()),
            (false, 1) => c.items_one.clone(),
            (false, n) => c.items_many.replace("{count}", &n.to_string()),
        };
        let expiry = match expiration_date {
            Some(date) => c.expires.replace("{date}", &strings.date(date)),
            None => c.never_expires.clone(),
        };
        ConfirmPage {
            frame,
            title: &c.title,
            intro: &c.intro,
            shared,
            expiry,
            button: &c.button,
            note: &c.note,
        }
    }
}

/// A protected link's page: the password form, or the code forms (send a code to one of the
/// masked addresses, then type it), with what the last answer said. Every form posts to this
/// very address (the link stays in the URL, never in the page) with the CSRF token.
#[derive(Template)]
#[template(path = "protected.html")]
pub struct ProtectedPage<'a> {
    pub frame: Frame<'a>,
    pub title: &'a str,
    pub intro: &'a str,
    /// What the last answer said, and its accent (`error`, `info`).
    pub message: Option<(&'static str, String)>,
    /// The CSRF token of every form (bound to the link and this browser's cookie).
    pub form_token: &'a str,
    pub password: bool,
    pub password_label: &'a str,
    /// The masked addresses a code may be sent to, by index; empty for a password link.
    pub addresses: Vec<(usize, &'a str)>,
    pub send_label: &'a str,
    pub send_button: &'a str,
    /// Whether the visitor has a code to type now (one was sent, or one was typed): its form
    /// comes first.
    pub code_first: bool,
    /// `"send"` and `"code"`, in the order the forms show.
    pub code_sections: [&'static str; 2],
    pub code_label: &'a str,
    pub code_hint: &'a str,
    pub open_button: &'a str,
    pub note: &'a str,
}

/// Why a protected link's form is shown again, besides what auth-service answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormNote {
    /// The CSRF token or its cookie did not check out.
    Expired,
    /// The field was empty: nothing was sent to auth-service.
    Empty,
    /// The code's e-mail did not go out.
    NotSent,
}

impl<'a> ProtectedPage<'a> {
    pub fn new(
        frame: Frame<'a>,
        strings: &'a Strings,
        ask: &'a Ask,
        note: Option<FormNote>,
        form_token: &'a str,
    ) -> Self {
        let p = &strings.protected;
        let protection = &ask.protection;
        let password = protection.method == ProtectionMethod::Password;
        let left = protection.attempts_left;
        let count = |one: &str, many: &str| match left {
            1 => one.to_owned(),
            n => many.replace("{count}", &n.to_string()),
        };
        let answered = match ask.code {
            DecodeErrorCode::WrongPassword => {
                Some(("error", count(&p.wrong_password_one, &p.wrong_password)))
            }
            DecodeErrorCode::WrongCode => Some(("error", count(&p.wrong_code_one, &p.wrong_code))),
            DecodeErrorCode::CodeExpired => Some(("error", p.code_expired.clone())),
            DecodeErrorCode::TooManyCodes => {
                let minutes = protection.retry_after.unwrap_or(900).div_ceil(60);
                Some((
                    "error",
                    p.too_many_codes.replace("{minutes}", &minutes.to_string()),
                ))
            }
            _ => protection.code_sent.as_ref().map(|sent| {
                let until = DateTime::parse_from_rfc3339(&sent.expires_at)
                    .map(|t| strings.date(t.with_timezone(&Utc)))
                    .unwrap_or_default();
                (
                    "info",
                    p.code_sent
                        .replace("{address}", &sent.address)
                        .replace("{date}", &until),
                )
            }),
        };
        let message = match note {
            Some(FormNote::Expired) => Some(("error", p.form_expired.clone())),
            Some(FormNote::Empty) => Some(("error", p.empty.clone())),
            Some(FormNote::NotSent) => Some(("error", p.code_not_sent.clone())),
            None => answered,
        };
        let code_first = protection.code_sent.is_some()
            || matches!(
                ask.code,
                DecodeErrorCode::WrongCode | DecodeErrorCode::TooManyCodes
            );
        ProtectedPage {
            frame,
            title: if password {
                &p.password_title
            } else {
                &p.code_title
            },
            intro: if password {
                &p.password_intro
            } else {
                &p.code_intro
            },
            message,
            form_token,
            password,
            password_label: &p.password_label,
            addresses: protection
                .addresses
                .iter()
                .map(String::as_str)
                .enumerate()
                .collect(),
            send_label: &p.send_label,
            send_button: if code_first {
                &p.send_again_button
            } else {
                &p.send_button
            },
            code_first,
            code_sections: if code_first {
                ["code", "send"]
            } else {
                ["send", "code"]
            },
            code_label: &p.code_label,
            code_hint: &p.code_hint,
            open_button: &p.open_button,
            note: &p.note,
        }
    }
}

/// The page as an HTML response with `status`. Pages vary with Accept-Language.
pub fn respond(status: StatusCode, page: &impl Template) -> HttpResponse {
    let body = page.render().unwrap_or_else(|e| {
        // Rendering only writes fields into a String; keep the status, say it plainly.
        tracing::error!(error = %e, "Failed to render a page");
        "<!DOCTYPE html><title>Error</title><p>This page could not be shown.</p>".to_owned()
    });
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::VARY, "Accept-Language"))
        .body(body)
}
