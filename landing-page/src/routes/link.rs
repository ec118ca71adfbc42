//! `GET /?token=T` (and `?reason=R` from the nginx gate), `POST /?token=T` (the confirm button):
//! ask auth-service what the link opens, then redirect or explain.
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use auth_client::AuthClient;
use chrono::Utc;

use crate::i18n::{Catalog, Language};
use crate::link_claims::{fingerprint, LinkClaims, MAX_TOKEN_BYTES};
use crate::outcome::{self, Refusal};
use crate::pages::{respond, ConfirmPage, Frame, OutcomePage};
use crate::settings::Branding;

/// What the handlers use: one per worker thread, so each worker has its own connection pool to
/// auth-service (a connection is driven by a task on the worker that opened it; sharing the pool
/// across workers turned half the calls into cross-thread wake-ups). The rest is built once.
#[derive(Clone)]
pub struct AppState {
    pub auth: AuthClient,
    pub catalog: Arc<Catalog>,
    pub branding: Branding,
    pub default_language: Language,
    pub confirm: bool,
    pub css_href: String,
}

/// The link's query: the first `token` and `reason`, empty ones counting as absent.
struct LinkQuery {
    token: Option<String>,
    reason: Option<String>,
}

impl LinkQuery {
    fn of(req: &HttpRequest) -> LinkQuery {
        let mut token = None;
        let mut reason = None;
        for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            let slot = match key.as_ref() {
                "token" => &mut token,
                "reason" => &mut reason,
                _ => continue,
            };
            if slot.is_none() && !value.trim().is_empty() {
                *slot = Some(value.trim().to_owned());
            }
        }
        LinkQuery { token, reason }
    }
}

pub async fn open(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let link = LinkQuery::of(&req);
    let language = state.language(&req);
    match (link.token, link.reason) {
        (Some(token), _) if state.confirm => state.confirm_page(language, &token),
        (Some(token), _) => state.follow(language, &token, StatusCode::FOUND).await,
        (None, Some(reason)) => {
            let refusal = Refusal::from_reason(&reason).unwrap_or(Refusal::Invalid);
            tracing::info!(outcome = refusal.name(), "denial from the gate shown");
            state.refusal_page(language, refusal)
        }
        (None, None) => state.refusal_page(language, Refusal::NoLink),
    }
}

/// The confirm button: 303 to the viewer (the browser follows with a GET).
pub async fn confirmed(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let language = state.language(&req);
    match LinkQuery::of(&req).token {
        Some(token) => state.follow(language, &token, StatusCode::SEE_OTHER).await,
        None => state.refusal_page(language, Refusal::NoLink),
    }
}

pub async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    state.refusal_page(state.language(&req), Refusal::NotFound)
}

impl AppState {
    fn language(&self, req: &HttpRequest) -> Language {
        let header = req
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Language::negotiate(header, self.default_language)
    }

    fn frame(&self, language: Language) -> Frame<'_> {
        Frame::new(
            language,
            self.catalog.get(language),
            &self.branding,
            &self.css_href,
        )
    }

    fn refusal_page(&self, language: Language, refusal: Refusal) -> HttpResponse {
        let strings = self.catalog.get(language);
        let page = OutcomePage::new(self.frame(language), strings, refusal);
        let mut response = respond(refusal.status(), &page);
        if refusal.is_transient() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        }
        response
    }

    /// Asks auth-service (which may mint a MedDream link) and redirects, or explains.
    async fn follow(&self, language: Language, token: &str, redirect: StatusCode) -> HttpResponse {
        let fingerprint = fingerprint(token);
        if token.len() > MAX_TOKEN_BYTES {
            tracing::info!(token = %fingerprint, outcome = "invalid", "oversized link refused");
            return self.refusal_page(language, Refusal::Invalid);
        }
        let answer = self.auth.decode(token).await;
        if let Err(error) = &answer {
            tracing::warn!(token = %fingerprint, %error, "auth-service gave no decode answer");
        }
        let expiry = || LinkClaims::read(token).and_then(|c| c.expiration_date);
        match outcome::from_decode(answer, expiry) {
            Ok(location) => {
                tracing::info!(token = %fingerprint, outcome = "redirect", "link opened");
                HttpResponse::build(redirect)
                    .insert_header((header::LOCATION, location))
                    .finish()
            }
            Err(refusal) => {
                tracing::info!(token = %fingerprint, outcome = refusal.name(), "link refused");
                self.refusal_page(language, refusal)
            }
        }
    }

    /// Confirm mode's first page. auth-service is not called (so a link scanner neither mints a
    /// MedDream token nor counts as a visit): the figures are the link's own, checked when the
    /// button is pressed. A link that cannot be read, or that says it has expired, gets its
    /// page at once.
    fn confirm_page(&self, language: Language, token: &str) -> HttpResponse {
        let fingerprint = fingerprint(token);
        let refusal = match LinkClaims::read(token) {
            None => Refusal::Invalid,
            Some(claims) if claims.is_expired(Utc::now()) => Refusal::Expired {
                on: claims.expiration_date,
            },
            Some(claims) => {
                tracing::info!(token = %fingerprint, outcome = "confirm", "confirm page shown");
                let strings = self.catalog.get(language);
                let page = ConfirmPage::new(self.frame(language), strings, &claims);
                return respond(StatusCode::OK, &page);
            }
        };
        tracing::info!(token = %fingerprint, outcome = refusal.name(), "link refused");
        self.refusal_page(language, refusal)
    }
}
