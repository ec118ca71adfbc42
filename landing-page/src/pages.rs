//! The pages, one askama template struct each, and the one function that renders them into a
//! response. Every page carries the same frame: language, site name, logo, contact line.
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;
use auth_wire::{Level, ResourceDto};
use chrono::{DateTime, Utc};

use crate::i18n::{Language, Strings};
use crate::outcome::Refusal;
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
        let text = match refusal {
            Refusal::Expired { on } => {
                let e = &o.expired;
                let message = match on {
                    Some(date) => e.message.replace("{date}", &strings.date(date)),
                    None => e.message_undated.clone(),
                };
                return OutcomePage {
                    frame,
                    tone: "warning",
                    title: &e.title,
                    message,
                    advice: &e.advice,
                    retry: None,
                };
            }
            Refusal::NoLink => &o.no_link,
            Refusal::Revoked => &o.revoked,
            Refusal::UsedUp => &o.used_up,
            Refusal::Invalid => &o.invalid,
            Refusal::CannotOpen => &o.cannot_open,
            Refusal::ViewerUnavailable => &o.viewer_unavailable,
            Refusal::Forbidden => &o.forbidden,
            Refusal::ServiceUnavailable => &o.service_unavailable,
            Refusal::ViewerServiceFailed => &o.viewer_service_failed,
            Refusal::ViewerBusy => &o.viewer_busy,
            Refusal::TooManyOpens { .. } => &o.too_many_opens,
            Refusal::NotFound => &o.not_found,
        };
        let tone = match refusal {
            Refusal::Revoked | Refusal::UsedUp => "warning",
            r if r.is_transient() => "info",
            _ => "error",
        };
        OutcomePage {
            frame,
            tone,
            title: &text.title,
            message: text.message.clone(),
            advice: &text.advice,
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
