//! `GET /?token=T` (and `?reason=R` from the nginx gate), `POST /?token=T` (the confirm button):
//! ask auth-service what the link opens, then redirect or explain.
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use auth_client::AuthClient;
use service_settings::TrustedProxies;

use crate::i18n::{Catalog, Language};
use crate::link_claims::{expiration_date, fingerprint, MAX_TOKEN_BYTES};
use crate::metrics::Metrics;
use crate::open_limits::OpenBuckets;
use crate::outcome::{self, Refusal};
use crate::pages::{respond, ConfirmPage, Frame, OutcomePage};
use crate::redirects::{Refused, ViewerOrigins};
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
    pub origins: Arc<ViewerOrigins>,
    pub limits: Arc<OpenBuckets>,
    pub trusted_proxies: Arc<TrustedProxies>,
    pub metrics: Arc<Metrics>,
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
        (Some(token), _) if state.confirm => state.confirm_page(&req, language, &token).await,
        (Some(token), _) => {
            state
                .follow(&req, language, &token, StatusCode::FOUND)
                .await
        }
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
        Some(token) => {
            state
                .follow(&req, language, &token, StatusCode::SEE_OTHER)
                .await
        }
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

    /// The visitor's address: the peer, or the client a trusted proxy names.
    fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        Some(
            self.trusted_proxies
                .client(req.peer_addr()?.ip(), forwarded),
        )
    }

    fn refusal_page(&self, language: Language, refusal: Refusal) -> HttpResponse {
        self.metrics.visit(refusal.name());
        let strings = self.catalog.get(language);
        let page = OutcomePage::new(self.frame(language), strings, refusal);
        let mut response = respond(refusal.status(), &page);
        if let Some(seconds) = refusal.retry_after() {
            if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }

    fn refused(&self, language: Language, fingerprint: &str, refusal: Refusal) -> HttpResponse {
        tracing::info!(token = %fingerprint, outcome = refusal.name(), "link refused");
        self.refusal_page(language, refusal)
    }

    /// What a link must pass before auth-service is asked: a size one of ours can have, and
    /// the visitor's own limit (and, for an open, the link's).
    fn admit(&self, req: &HttpRequest, token: &str, open: bool) -> Result<(), Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::Invalid);
        }
        let limited = self
            .limits
            .client(self.client(req))
            .and_then(|()| match open {
                true => self.limits.link(token),
                false => Ok(()),
            });
        limited.map_err(|retry_after| Refusal::TooManyOpens { retry_after })
    }

    /// Asks auth-service (which counts a use and may mint a MedDream link) and redirects to
    /// the viewer, or explains.
    async fn follow(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        redirect: StatusCode,
    ) -> HttpResponse {
        let fingerprint = fingerprint(token);
        if let Err(refusal) = self.admit(req, token, true) {
            return self.refused(language, &fingerprint, refusal);
        }
        let answer = self.auth.decode(token).await;
        if let Err(error) = &answer {
            tracing::warn!(token = %fingerprint, %error, "auth-service gave no decode answer");
        }
        let link = match outcome::from_decode(answer, || expiration_date(token)) {
            Ok(link) => link,
            Err(refusal) => return self.refused(language, &fingerprint, refusal),
        };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        match self.origins.location(&link, host) {
            Ok(location) => {
                tracing::info!(token = %fingerprint, outcome = "redirect", "link opened");
                self.metrics.visit("redirect");
                HttpResponse::build(redirect)
                    .insert_header((header::LOCATION, location))
                    .finish()
            }
            Err(refused) => {
                match refused {
                    Refused::NotWeb => tracing::warn!(
                        token = %fingerprint,
                        "auth-service answered a redirect that is not a web address"
                    ),
                    Refused::Elsewhere(origin) => tracing::warn!(
                        token = %fingerprint,
                        %origin,
                        allowed = %self.origins.describe(),
                        "redirect refused: not a viewer origin of this page (PUBLIC_ORTHANC_ROOT, PUBLIC_OHIF_ROOT, PUBLIC_MEDDREAM_ROOT)"
                    ),
                }
                self.refused(language, &fingerprint, Refusal::ServiceUnavailable)
            }
        }
    }

    /// Confirm mode's first page: what auth-service confirms the link shares (a preview, which
    /// counts no use and mints no MedDream link, so a link scanner costs nothing), and the
    /// button. A link that does not open gets its page at once.
    async fn confirm_page(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
    ) -> HttpResponse {
        let fingerprint = fingerprint(token);
        if let Err(refusal) = self.admit(req, token, false) {
            return self.refused(language, &fingerprint, refusal);
        }
        let answer = self.auth.preview(token).await;
        if let Err(error) = &answer {
            tracing::warn!(token = %fingerprint, %error, "auth-service gave no preview answer");
        }
        match outcome::from_preview(answer, || expiration_date(token)) {
            Ok(shared) => {
                tracing::info!(token = %fingerprint, outcome = "confirm", "confirm page shown");
                self.metrics.visit("confirm");
                let strings = self.catalog.get(language);
                // The token's own date: auth-service has just verified its signature.
                let page = ConfirmPage::new(
                    self.frame(language),
                    strings,
                    &shared.resources,
                    expiration_date(token),
                );
                respond(StatusCode::OK, &page)
            }
            Err(refusal) => self.refused(language, &fingerprint, refusal),
        }
    }
}
