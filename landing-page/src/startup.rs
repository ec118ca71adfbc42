//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use auth_client::{AuthClient, Timeouts};

use crate::forms::FormGuard;
use crate::i18n::Catalog;
use crate::metrics::{self, Metrics};
use crate::open_limits::OpenBuckets;
use crate::redirects::ViewerOrigins;
use crate::routes::{self, AppState};
use crate::security_headers;
use crate::settings::Settings;
use crate::telemetry;

/// The confirm button posts no body, a protected link's form a password of at most 1 KiB
/// (percent-encoded, three bytes a character at most) and a CSRF token; anything larger is not
/// ours.
const MAX_BODY_BYTES: usize = 8 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    /// `GET /metrics` on METRICS_BIND_ADDRESS, when set.
    metrics_server: Option<(u16, Server)>,
}

impl Application {
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind_address).with_context(|| {
            format!("Failed to listen on BIND_ADDRESS {}", settings.bind_address)
        })?;
        let port = listener
            .local_addr()
            .context("Failed to read the bound address")?
            .port();
        let timeouts = Timeouts {
            total: settings.auth_service_timeout,
            ..Timeouts::default()
        };
        let url = settings.auth_service_url.clone();
        let user = settings.auth_service_user.clone();
        let password = settings.auth_service_password.clone();
        let client = move || AuthClient::new(&url, &user, &password, timeouts);
        let auth = client().context("Failed to build the auth-service client")?;
        let csp = security_headers::content_security_policy(settings.branding.logo_url.as_deref());
        security_headers::middleware(&csp).context("Failed to build the security headers")?;
        let origins = ViewerOrigins::new(&settings.viewer_roots);
        tracing::info!(to = %origins.describe(), "landing-page redirects visitors");
        let metrics = Arc::new(Metrics::new()?);
        let metrics_server = settings
            .metrics_bind_address
            .as_deref()
            .map(|address| {
                let metrics = web::Data::from(metrics.clone());
                service_telemetry::metrics_server(address, move |config| {
                    config
                        .app_data(metrics.clone())
                        .route("/metrics", web::get().to(metrics::scrape));
                })
            })
            .transpose()?;
        let state = AppState {
            auth,
            catalog: Arc::new(Catalog::load()?),
            branding: settings.branding,
            default_language: settings.default_language,
            confirm: settings.confirm,
            css_href: routes::css_href(),
            origins: Arc::new(origins),
            limits: Arc::new(OpenBuckets::new(settings.open_limits)),
            trusted_proxies: Arc::new(settings.trusted_proxies),
            metrics,
            forms: Arc::new(FormGuard::new(
                &settings.auth_service_password,
                settings.cookie_secure,
            )),
        };
        let server = HttpServer::new(move || {
            // Its own pool per worker (see AppState); built once above, so this cannot fail.
            let worker = AppState {
                auth: client().unwrap_or_else(|_| state.auth.clone()),
                ..state.clone()
            };
            App::new()
                .app_data(web::Data::new(worker))
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                // Checked above; building it again per worker cannot fail.
                .wrap(security_headers::middleware(&csp).unwrap_or_default())
                .wrap(from_fn(telemetry::request_span))
                .configure(routes::configure)
        })
        .listen(listener)
        .context("Failed to start the HTTP server")?
        .run();
        Ok(Application {
            port,
            server,
            metrics_server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of METRICS_BIND_ADDRESS, when set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics_server {
            None => self.server.await,
            Some((_, metrics)) => {
                let metrics_handle = metrics.handle();
                let metrics = tokio::spawn(metrics);
                let served = self.server.await;
                metrics_handle.stop(true).await;
                let _ = metrics.await;
                served
            }
        }
    }
}
