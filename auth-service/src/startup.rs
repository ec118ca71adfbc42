//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::app_state::AppState;
use crate::basic_auth::BasicCredentials;
use crate::emails::Emails;
use crate::readiness::Readiness;
use crate::settings::Settings;
use crate::shutdown::ShutdownHooks;
use crate::throttle::LoginThrottle;
use crate::user_profiles::UserProfiles;
use crate::{routes, telemetry};

/// Bodies past this are refused (413): the largest real body is a share of a few hundred ids.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    shutdown_hooks: ShutdownHooks,
    shutdown_timeout: Duration,
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
        let state = web::Data::new(AppState::new(&settings)?);
        let credentials = web::Data::new(BasicCredentials::new(&settings.users));
        let profiles = web::Data::new(UserProfiles::load(&settings)?);
        let emails = web::Data::new(Emails::new(settings.emails.as_ref())?);
        let readiness = web::Data::new(Readiness::new(&settings)?);
        let throttle = web::Data::new(LoginThrottle::new(&settings.operations.throttle));
        let shutdown_timeout = settings.operations.shutdown_timeout;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(credentials.clone())
                .app_data(profiles.clone())
                .app_data(emails.clone())
                .app_data(readiness.clone())
                .app_data(throttle.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap(from_fn(telemetry::request_span))
                .configure(routes::configure)
        })
        // SIGTERM (docker stop): stop accepting, let in-flight requests finish within this.
        .shutdown_timeout(shutdown_timeout.as_secs())
        .listen(listener)
        .context("Failed to start the HTTP server")?
        .run();
        Ok(Application {
            port,
            server,
            shutdown_hooks: ShutdownHooks::default(),
            shutdown_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server as SIGTERM does (graceful: in-flight requests finish) when asked.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Work to do after the last request, before the process exits (batched writes to flush).
    pub fn shutdown_hooks(&mut self) -> &mut ShutdownHooks {
        &mut self.shutdown_hooks
    }

    /// Serves until SIGTERM/SIGINT (or [`Application::handle`]) stops the server, then runs the
    /// shutdown hooks.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        tracing::info!("HTTP server stopped; running shutdown hooks");
        self.shutdown_hooks.run(self.shutdown_timeout).await;
        served
    }
}
