//! Builds the HTTP server from the settings: binds its own listener so tests can use port 0.
use std::net::TcpListener;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Condition, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::app_state::AppState;
use crate::basic_auth::BasicCredentials;
use crate::emails::Emails;
use crate::gate::Gate;
use crate::readiness::Readiness;
use crate::routes::metrics::MetricsOnMainAddress;
use crate::routes::openapi::Document;
use crate::settings::Settings;
use crate::shares::{RegistryOptions, ShareRegistry};
use crate::shutdown::ShutdownHooks;
use crate::throttle::LoginThrottle;
use crate::user_profiles::UserProfiles;
use crate::{metrics, routes, telemetry};

/// Bodies past this are refused (413): the largest real body is a share of a few hundred ids.
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    shutdown_hooks: ShutdownHooks,
    shutdown_timeout: Duration,
    /// The METRICS_BIND_ADDRESS server and its port, when set.
    metrics_server: Option<(u16, Server)>,
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
        let services = Services::build(&settings).await?;
        let shutdown_timeout = settings.operations.shutdown_timeout;
        let metrics_server = settings
            .operations
            .metrics_bind_address
            .as_deref()
            .filter(|_| services.metrics.enabled)
            .map(|address| {
                let metrics = services.metrics.clone();
                service_telemetry::metrics_server(address, move |config| {
                    config
                        .app_data(metrics.clone())
                        .route("/metrics", web::get().to(routes::metrics::scrape));
                })
            })
            .transpose()?;
        let shares = services.shares.clone();
        let server = HttpServer::new(move || services.app())
            // SIGTERM (docker stop): stop accepting, let in-flight requests finish within this.
            .shutdown_timeout(shutdown_timeout.as_secs())
            .listen(listener)
            .context("Failed to start the HTTP server")?
            .run();
        Ok(Application {
            port,
            server,
            shutdown_hooks: {
                // The registry's batched use counts are written after the last request.
                let mut hooks = ShutdownHooks::default();
                hooks.add("share registry flush", move || async move {
                    shares.close().await;
                });
                hooks
            },
            shutdown_timeout,
            metrics_server,
        })
    }

    /// The port of the separate metrics address (METRICS_BIND_ADDRESS), when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
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
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        tracing::info!("HTTP server stopped; running shutdown hooks");
        self.shutdown_hooks.run(self.shutdown_timeout).await;
        served
    }
}

/// Everything the routes need, built once from the settings. [`Services::app`] makes the App a
/// server worker runs; the in-process bench (benches/in_process.rs) drives the same App without
/// a socket.
#[derive(Clone)]
pub struct Services {
    state: web::Data<AppState>,
    credentials: web::Data<BasicCredentials>,
    profiles: web::Data<UserProfiles>,
    emails: web::Data<Emails>,
    gate: Option<web::Data<Gate>>,
    readiness: web::Data<Readiness>,
    throttle: web::Data<LoginThrottle>,
    metrics: web::Data<metrics::Metrics>,
    metrics_on_main: web::Data<MetricsOnMainAddress>,
    document: web::Data<Document>,
    /// Kept for the shutdown hook that flushes it.
    shares: Arc<ShareRegistry>,
}

impl Services {
    /// Opens the share registry (migrations, load), then builds every service the routes use.
    pub async fn build(settings: &Settings) -> anyhow::Result<Services> {
        let shares = ShareRegistry::open(RegistryOptions {
            url: secrecy::ExposeSecret::expose_secret(&settings.registry_url()),
            require_registered: settings.require_registered_tokens,
            retention_days: settings.shares_retention_days,
            data_dir: settings.data_dir.clone(),
            timeout: settings.database_timeout,
        })
        .await?;
        shares.start().await?;
        let state = web::Data::new(AppState::new(settings, shares.clone())?);
        let credentials = web::Data::new(BasicCredentials::new(&settings.users));
        let profiles = web::Data::new(UserProfiles::load(settings)?);
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
        let readiness = web::Data::new(Readiness::new(settings)?);
        let throttle = web::Data::new(LoginThrottle::new(&settings.operations.throttle));
        let metrics = web::Data::from(state.metrics.clone());
        if let Some(keycloak) = &profiles.keycloak {
            metrics.register(keycloak.calls())?;
        }
        if let Some(emails) = emails.enabled() {
            metrics.register(&emails.calls)?;
        }
        metrics.register(&shares.calls)?;
        metrics.register_known_shares(shares.known().clone())?;
        let metrics_address = settings.operations.metrics_bind_address.as_deref();
        let metrics_on_main = web::Data::new(MetricsOnMainAddress(metrics_address.is_none()));
        let layout_templates = match emails.enabled() {
            Some(service) => service.templates.names().await.unwrap_or_default(),
            None => Vec::new(),
        };
        let document = web::Data::new(Document::new(
            &state.links,
            &state.protection,
            &layout_templates,
        ));
        Ok(Services {
            state,
            credentials,
            profiles,
            emails,
            gate,
            readiness,
            throttle,
            metrics,
            metrics_on_main,
            document,
            shares,
        })
    }

    /// The App of one server worker: shared state, middleware and every route.
    pub fn app(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new()
            .app_data(self.state.clone())
            .app_data(self.credentials.clone())
            .app_data(self.profiles.clone())
            .app_data(self.emails.clone())
            .configure(|cfg| {
                if let Some(gate) = &self.gate {
                    cfg.app_data(gate.clone());
                }
            })
            .app_data(self.readiness.clone())
            .app_data(self.throttle.clone())
            .app_data(self.metrics.clone())
            .app_data(self.metrics_on_main.clone())
            .app_data(self.document.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                crate::error::Error::bad_request("invalid query", query_problem(&e)).into()
            }))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|_, _| crate::error::Error::RouteNotFound.into()),
            )
            .wrap(ErrorHandlers::new().handler(StatusCode::PAYLOAD_TOO_LARGE, body_too_large))
            .wrap(Condition::new(
                self.metrics.enabled,
                from_fn(metrics::observe),
            ))
            .wrap(from_fn(telemetry::request_span))
            .configure(routes::configure)
    }
}

/// What is wrong with a query string, without echoing it: only the route's own argument names
/// are repeated (serde names the one given twice, and those it takes), never the request's.
fn query_problem(e: &actix_web::error::QueryPayloadError) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("Query deserialize error: ")
        .unwrap_or(&text);
    if let Some(field) = text.strip_prefix("duplicate field ") {
        format!("{field} given twice")
    } else if let Some((_, known)) = text.split_once("expected one of ") {
        format!("an argument this route does not take (it takes {known})")
    } else {
        "the query string does not read: each argument once, percent-encoded UTF-8".into()
    }
}

/// actix-web refuses a body past [`MAX_BODY_BYTES`] (413) with a text body: answer it with the
/// JSON error body every other refusal has.
fn body_too_large<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let detail = format!("a request body is at most {MAX_BODY_BYTES} bytes");
    let answer = HttpResponse::PayloadTooLarge().json(crate::error::ErrorBody {
        error: "body too large",
        detail: Some(&detail),
    });
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, answer).map_into_right_body(),
    ))
}
