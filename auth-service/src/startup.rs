//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::app_state::AppState;
use crate::basic_auth::BasicCredentials;
use crate::emails::Emails;
use crate::gate::Gate;
use crate::settings::Settings;
use crate::user_profiles::UserProfiles;
use crate::{routes, telemetry};

/// Bodies past this are refused (413): the largest real body is a share of a few hundred ids.
const MAX_BODY_BYTES: usize = 1024 * 1024;

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
        let state = web::Data::new(AppState::new(&settings)?);
        let credentials = web::Data::new(BasicCredentials::new(&settings.users));
        let profiles = web::Data::new(UserProfiles::load(&settings)?);
        let emails = web::Data::new(Emails::new(settings.emails.as_ref())?);
        let gate = match &settings.orthanc {
            Some(orthanc) => Some(web::Data::new(Gate::new(orthanc, &settings.gate)?)),
            None => None,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(credentials.clone())
                .app_data(profiles.clone())
                .app_data(emails.clone())
                .configure(|cfg| {
                    if let Some(gate) = &gate {
                        cfg.app_data(gate.clone());
                    }
                })
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
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
