//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use auth_client::{AuthClient, Timeouts};

use crate::i18n::Catalog;
use crate::routes::{self, AppState};
use crate::security_headers;
use crate::settings::Settings;
use crate::telemetry;

/// The confirm button posts no body; anything larger is not ours.
const MAX_BODY_BYTES: usize = 4 * 1024;

pub struct Application {
    port: u16,
    server: Server,
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
        let state = AppState {
            auth,
            catalog: Arc::new(Catalog::load()?),
            branding: settings.branding,
            default_language: settings.default_language,
            confirm: settings.confirm,
            css_href: routes::css_href(),
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
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
