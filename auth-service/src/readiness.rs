//! `GET /ready`: are the dependencies the configured features need reachable? The answer is
//! remembered for a few seconds so a busy probe cannot turn into load on Keycloak, and the
//! details go to the log only (the route is open to anyone).
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use url::Url;

use crate::settings::Settings;

/// One probe never waits longer than this: orchestrators give readiness probes a few seconds.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
enum Probe {
    /// A 2xx answer to a GET (Keycloak's OpenID configuration: the realm is served).
    Http { name: &'static str, url: Url },
    /// A TCP connection (MedDream's token service, the SMTP server, the database).
    Tcp {
        name: &'static str,
        host: String,
        port: u16,
    },
}

pub struct Readiness {
    probes: Arc<[Probe]>,
    http: reqwest::Client,
    ttl: Duration,
    /// The last answer and when it was found. Behind an async mutex so concurrent callers wait
    /// for the one check in progress instead of starting their own.
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    pub fn new(settings: &Settings) -> anyhow::Result<Readiness> {
        let mut probes = Vec::new();
        if let Some(k) = &settings.keycloak {
            let mut uri = k.uri.clone();
            if !uri.path().ends_with('/') {
                let path = format!("{}/", uri.path());
                uri.set_path(&path);
            }
            if let Ok(url) = uri.join(".well-known/openid-configuration") {
                probes.push(Probe::Http {
                    name: "keycloak",
                    url,
                });
            }
        }
        if let Some(m) = &settings.meddream {
            probes.extend(tcp_probe("meddream", &m.token_service_url));
        }
        if let Some(e) = &settings.emails {
            probes.push(Probe::Tcp {
                name: "smtp",
                host: e.smtp_hostname.clone(),
                port: e.smtp_port,
            });
        }
        // A SQLite file needs no probe; a PostgreSQL server does.
        if let Some(db) = settings.database_url.as_ref().map(|d| d.expose_secret()) {
            if let Some(url) = Url::parse(db)
                .ok()
                .filter(|u| u.scheme().starts_with("postgres"))
            {
                probes.extend(tcp_probe("database", &url));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "auth-service/",
                env!("CARGO_PKG_VERSION"),
                " ready"
            ))
            .build()
            .context("Failed to build the readiness HTTP client")?;
        Ok(Readiness {
            probes: probes.into(),
            http,
            ttl: settings.operations.ready_cache,
            last: Mutex::new(None),
        })
    }

    /// True when every probe passes; reuses an answer younger than the cache time.
    pub async fn is_ready(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = *last {
            if at.elapsed() < self.ttl {
                return ready;
            }
        }
        let ready = self.check().await;
        *last = Some((Instant::now(), ready));
        ready
    }

    async fn check(&self) -> bool {
        let mut running = tokio::task::JoinSet::new();
        for probe in self.probes.iter().cloned() {
            let http = self.http.clone();
            running.spawn(async move {
                let outcome = tokio::time::timeout(PROBE_TIMEOUT, run(&http, &probe))
                    .await
                    .unwrap_or_else(|_| Err("no answer in time".to_owned()));
                (probe, outcome)
            });
        }
        let mut ready = true;
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((probe, Err(reason))) => {
                    ready = false;
                    tracing::warn!(dependency = probe.name(), %reason, "not ready");
                }
                Err(e) => {
                    ready = false;
                    tracing::error!(error = %e, "a readiness probe failed to run");
                }
            }
        }
        ready
    }
}

impl Probe {
    fn name(&self) -> &'static str {
        match self {
            Probe::Http { name, .. } | Probe::Tcp { name, .. } => name,
        }
    }
}

fn tcp_probe(name: &'static str, url: &Url) -> Option<Probe> {
    Some(Probe::Tcp {
        name,
        host: url.host_str()?.trim_matches(['[', ']']).to_owned(),
        port: url
            .port_or_known_default()
            .or_else(|| url.scheme().starts_with("postgres").then_some(5432))?,
    })
}

async fn run(http: &reqwest::Client, probe: &Probe) -> Result<(), String> {
    match probe {
        Probe::Http { url, .. } => {
            let response = http
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("GET {url} failed: {}", e.without_url()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("GET {url} answered {}", response.status()))
            }
        }
        Probe::Tcp { host, port, .. } => TcpStream::connect((host.as_str(), *port))
            .await
            .map(drop)
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}")),
    }
}
