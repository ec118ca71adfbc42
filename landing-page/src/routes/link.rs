//! `GET /?token=T` (and `?reason=R` from the nginx gate), `POST /?token=T` (the confirm button,
//! and a protected link's forms): ask auth-service what the link opens, then redirect, ask for
//! the password or code, or explain.
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use auth_client::{AuthClient, AuthError};
use auth_wire::{DecodeErrorCode, DecodeResponse, UnlockRequest};
use secrecy::ExposeSecret;
use service_settings::TrustedProxies;

use crate::forms::{FormGuard, Posted};
use crate::i18n::{Catalog, Language};
use crate::link_claims::{expiration_date, fingerprint, MAX_TOKEN_BYTES};
use crate::metrics::Metrics;
use crate::open_limits::OpenBuckets;
use crate::outcome::{self, Ask, Next, Refusal};
use crate::pages::{respond, ConfirmPage, FormNote, Frame, OutcomePage, ProtectedPage};
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
    /// The CSRF tokens of a protected link's forms.
    pub forms: Arc<FormGuard>,
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

/// The confirm button (no body): 303 to the viewer (the browser follows with a GET). A protected
/// link's forms: `action=unlock` with `password` or `code`, `action=send-code` with `address`,
/// each with its CSRF token `form`.
pub async fn confirmed(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let language = state.language(&req);
    let Some(token) = LinkQuery::of(&req).token else {
        return state.refusal_page(language, Refusal::NoLink);
    };
    let posted = Posted::parse(&body);
    match posted.action.as_deref() {
        None => {
            state
                .follow(&req, language, &token, StatusCode::SEE_OTHER)
                .await
        }
        Some("unlock") => state.unlock(&req, language, &token, posted).await,
        Some("send-code") => state.send_code(&req, language, &token, posted).await,
        Some(_) => state.refused(language, &fingerprint(&token), Refusal::Invalid),
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
        if let Some(seconds) = refusal.wait(chrono::Utc::now()) {
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
        match outcome::from_decode(answer, || expiration_date(token)) {
            Ok(Next::Go(link)) => self.redirect(req, language, &fingerprint, &link, redirect),
            Ok(Next::Ask(ask)) => self.ask(req, language, token, &ask, None, StatusCode::OK),
            Err(refusal) => self.refused(language, &fingerprint, refusal),
        }
    }

    /// The redirect to the viewer auth-service answered, if it leads to one of ours.
    fn redirect(
        &self,
        req: &HttpRequest,
        language: Language,
        fingerprint: &str,
        link: &str,
        redirect: StatusCode,
    ) -> HttpResponse {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        match self.origins.location(link, host) {
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
                self.refused(language, fingerprint, Refusal::ServiceUnavailable)
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
            Ok(Next::Ask(ask)) => self.ask(req, language, token, &ask, None, StatusCode::OK),
            Ok(Next::Go(shared)) => {
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

    /// A protected link's page (the password form, or the code forms) for what auth-service
    /// asked, with a CSRF token bound to the link and this browser (its cookie set when it has
    /// none yet).
    fn ask(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        ask: &Ask,
        note: Option<FormNote>,
        status: StatusCode,
    ) -> HttpResponse {
        let (browser, new) = match FormGuard::browser(req) {
            Some(browser) => (browser, false),
            None => (FormGuard::new_browser(), true),
        };
        let form_token = self
            .forms
            .token(&browser, token, chrono::Utc::now().timestamp());
        let strings = self.catalog.get(language);
        let page = ProtectedPage::new(self.frame(language), strings, ask, note, &form_token);
        let mut response = respond(status, &page);
        if new {
            if let Ok(cookie) = header::HeaderValue::from_str(&self.forms.cookie(&browser)) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
        }
        let shown = form_name(ask, note);
        tracing::info!(token = %fingerprint(token), outcome = shown, "protected link form shown");
        self.metrics.visit(shown);
        response
    }

    /// The form again when nothing was asked of auth-service's unlock (an expired form, an empty
    /// field): what the link needs comes from a preview, which counts nothing.
    async fn ask_again(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        note: FormNote,
        status: StatusCode,
    ) -> HttpResponse {
        let answer = self.auth.preview(token).await;
        match outcome::from_preview(answer, || expiration_date(token)) {
            Ok(Next::Ask(ask)) => self.ask(req, language, token, &ask, Some(note), status),
            // No longer protected, or never was: the link is opened as any other.
            Ok(Next::Go(_)) => self.refused(language, &fingerprint(token), Refusal::Invalid),
            Err(refusal) => self.refused(language, &fingerprint(token), refusal),
        }
    }

    /// The answer to a form post that goes no further: past the open limits, or not a form this
    /// page made for this link and browser (its form shown again, 403).
    async fn form_refused(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        posted: &Posted,
    ) -> Option<HttpResponse> {
        if let Err(refusal) = self.admit(req, token, true) {
            return Some(self.refused(language, &fingerprint(token), refusal));
        }
        if self.form_checks(req, token, posted) {
            return None;
        }
        tracing::info!(token = %fingerprint(token), "protected link form refused: its CSRF token or cookie does not check out");
        Some(
            self.ask_again(
                req,
                language,
                token,
                FormNote::Expired,
                StatusCode::FORBIDDEN,
            )
            .await,
        )
    }

    /// Whether a posted form is one this page made for this link and browser.
    fn form_checks(&self, req: &HttpRequest, token: &str, posted: &Posted) -> bool {
        match (FormGuard::browser(req), posted.form.as_deref()) {
            (Some(browser), Some(form)) => {
                self.forms
                    .check(&browser, token, form, chrono::Utc::now().timestamp())
            }
            _ => false,
        }
    }

    /// The password or code form posted: auth-service checks it; the viewer (303), the form
    /// again with what was wrong, or the page that explains (locked, revoked...).
    async fn unlock(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        posted: Posted,
    ) -> HttpResponse {
        if let Some(refused) = self.form_refused(req, language, token, &posted).await {
            return refused;
        }
        let filled = |s: &Option<secrecy::SecretString>| {
            s.as_ref()
                .map(|s| s.expose_secret().to_owned())
                .filter(|s| !s.trim().is_empty())
        };
        let request = UnlockRequest {
            token_value: token.to_owned(),
            password: filled(&posted.password),
            code: filled(&posted.code),
        };
        if request.password.is_none() && request.code.is_none() {
            return self
                .ask_again(req, language, token, FormNote::Empty, StatusCode::OK)
                .await;
        }
        let answer = self.auth.unlock(&request).await;
        drop(request);
        self.answered(req, language, token, answer)
    }

    /// "Send me a code": auth-service e-mails one to the address picked.
    async fn send_code(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        posted: Posted,
    ) -> HttpResponse {
        if let Some(refused) = self.form_refused(req, language, token, &posted).await {
            return refused;
        }
        let fingerprint = fingerprint(token);
        let answer = match self
            .auth
            .send_code(token, posted.address.unwrap_or(0))
            .await
        {
            // E-mails off on auth-service: no link there takes codes, so no page of ours posts
            // this form (a forged one, like a 400).
            Err(AuthError::Status(404)) => Err(AuthError::Status(400)),
            answer => answer,
        };
        if let Err(AuthError::Status(502)) = answer {
            tracing::warn!(token = %fingerprint, "the code's e-mail was not sent (auth-service: SMTP failed)");
            return self
                .ask_again(
                    req,
                    language,
                    token,
                    FormNote::NotSent,
                    StatusCode::BAD_GATEWAY,
                )
                .await;
        }
        self.answered(req, language, token, answer)
    }

    /// An unlock's or a code's answer: the viewer, the form again, or the page that explains.
    fn answered(
        &self,
        req: &HttpRequest,
        language: Language,
        token: &str,
        answer: Result<DecodeResponse, AuthError>,
    ) -> HttpResponse {
        let fingerprint = fingerprint(token);
        if let Err(error) = &answer {
            tracing::warn!(token = %fingerprint, %error, "auth-service gave no unlock answer");
        }
        match outcome::from_decode(answer, || expiration_date(token)) {
            Ok(Next::Go(link)) => {
                self.redirect(req, language, &fingerprint, &link, StatusCode::SEE_OTHER)
            }
            Ok(Next::Ask(ask)) => self.ask(req, language, token, &ask, None, StatusCode::OK),
            Err(refusal) => self.refused(language, &fingerprint, refusal),
        }
    }
}

/// What a protected link's page shows, for logs and metrics.
fn form_name(ask: &Ask, note: Option<FormNote>) -> &'static str {
    match (note, ask.code) {
        (Some(FormNote::Expired), _) => "form-expired",
        (Some(FormNote::Empty), _) => "form-empty",
        (Some(FormNote::NotSent), _) => "code-not-sent",
        (None, DecodeErrorCode::PasswordRequired) => "password-form",
        (None, DecodeErrorCode::CodeRequired) if ask.protection.code_sent.is_some() => "code-sent",
        (None, DecodeErrorCode::CodeRequired) => "code-form",
        (None, DecodeErrorCode::WrongPassword) => "wrong-password",
        (None, DecodeErrorCode::WrongCode) => "wrong-code",
        (None, DecodeErrorCode::CodeExpired) => "code-expired",
        (None, DecodeErrorCode::TooManyCodes) => "too-many-codes",
        (None, _) => "protected-form",
    }
}
