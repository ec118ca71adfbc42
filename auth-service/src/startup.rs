//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::app_state::AppState;
use crate::basic_auth::BasicCredentials;
use crate::emails::Emails;
use crate::gate::Gate;
use crate::settings::Settings;
use crate::shares::ShareRegistry;
use crate::user_profiles::UserProfiles;
use crate::{routes, telemetry};

/// Bodies past this are refused (413): the largest real body is a share of a few hundred ids.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    shares: Arc<ShareRegistry>,
}

impl Application {
    /// Async for the database: its migrations run and the share registry loads before the
    /// service listens.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind_address).with_context(|| {
            format!("Failed to listen on BIND_ADDRESS {}", settings.bind_address)
        })?;
        let port = listener
            .local_addr()
            .context("Failed to read the bound address")?
            .port();
        let shares = ShareRegistry::open(
            secrecy::ExposeSecret::expose_secret(&settings.registry_url()),
            settings.require_registered_tokens,
            settings.shares_retention_days,
        )
        .await?;
        shares.start().await?;
        let state = web::Data::new(AppState::new(&settings, shares.clone())?);
        let credentials = web::Data::new(BasicCredentials::new(&settings.users));
        let profiles = web::Data::new(UserProfiles::load(&settings)?);
        if shares.store().is_postgres() {
            // Several replicas: the roles live in the database, the file only seeds it.
            profiles.roles.use_database(shares.store().clone()).await?;
            let follower = profiles.clone();
            shares.add_follower(Box::new(move |name, value| {
                follower.roles.setting_changed(name, value)
            }));
        }
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
        Ok(Application {
            port,
            server,
            shares,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a stop signal, then writes the use counts still pending.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.shares.flush_before_exit(3).await;
        self.shares.store().close().await;
        served
    }
}
