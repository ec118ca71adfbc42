//! Prometheus metrics: requests by route and status, request latency, validate and gate
//! decisions, the latency and outcome of calls to Keycloak, MedDream, SMTP and the database, and
//! the shares held in memory. One registry per application (two apps in one test process keep
//! their own counts). On the hot path every handle is found without allocating or hashing label
//! values: a parameterless route's series are resolved once and remembered by exact path, and
//! decision counters are resolved at start.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use anyhow::Context;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use crate::access::Denial;
use crate::shares::{KnownShares, Standing};

/// Request latencies: validate answers in tens of microseconds, a MedDream link in tens of ms.
const REQUEST_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
/// Outbound calls: milliseconds to the timeouts (seconds).
const CALL_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Route label of a request that matched no route (never the path: it is unbounded and may hold
/// a token).
const NO_ROUTE: &str = "(none)";
/// The gate's outcome when Orthanc cannot be asked (denied with 503).
pub const GATE_UNAVAILABLE: &str = "unavailable";
/// Statuses whose request counter a remembered route keeps resolved; others are looked up.
const COMMON_STATUSES: [&str; 12] = [
    "200", "201", "204", "302", "400", "401", "403", "404", "410", "429", "502", "503",
];

pub struct Metrics {
    /// ENABLE_METRICS: off, nothing is counted on the request path and `/metrics` is not served
    /// (the bench compares both).
    pub enabled: bool,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    decisions: Outcomes,
    gate_decisions: Outcomes,
    /// Exact paths of parameterless routes to their series; bounded by the route table.
    routes: RwLock<HashMap<Box<str>, RouteSeries>>,
}

/// A counter family by outcome, its listed outcomes resolved at start.
struct Outcomes {
    vec: IntCounterVec,
    listed: Vec<(&'static str, IntCounter)>,
}

impl Outcomes {
    fn new(vec: IntCounterVec, outcomes: &[&'static str]) -> anyhow::Result<Outcomes> {
        let listed = outcomes
            .iter()
            .map(|name| Ok((*name, vec.get_metric_with_label_values(&[name])?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Outcomes { vec, listed })
    }

    fn inc(&self, outcome: &str) {
        match self.listed.iter().find(|(name, _)| *name == outcome) {
            Some((_, counter)) => counter.inc(),
            None => {
                if let Ok(counter) = self.vec.get_metric_with_label_values(&[outcome]) {
                    counter.inc();
                }
            }
        }
    }
}

/// One parameterless route's latency histogram and its request counters by common status.
struct RouteSeries {
    label: Box<str>,
    latency: Histogram,
    statuses: [OnceLock<IntCounter>; COMMON_STATUSES.len()],
}

impl Metrics {
    pub fn new(enabled: bool) -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "auth_http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "auth_http_request_duration_seconds",
                "Time from request to answer, by route",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["route"],
        )?;
        let decisions = IntCounterVec::new(
            Opts::new(
                "auth_validate_decisions_total",
                "Share-token access decisions of POST /tokens/validate, by outcome",
            ),
            &["outcome"],
        )?;
        let gate_decisions = IntCounterVec::new(
            Opts::new(
                "auth_gate_decisions_total",
                "Access decisions of GET /gate (nginx auth_request), by outcome",
            ),
            &["outcome"],
        )?;
        let outcomes: Vec<&'static str> = std::iter::once("granted")
            .chain(Denial::ALL.map(Denial::reason))
            .collect();
        let decisions = Outcomes::new(decisions, &outcomes)?;
        let gate_decisions = Outcomes::new(
            gate_decisions,
            &[outcomes.as_slice(), &[GATE_UNAVAILABLE]].concat(),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(decisions.vec.clone()))?;
        registry.register(Box::new(gate_decisions.vec.clone()))?;
        registry.register(Box::new(
            service_telemetry::MalformedRequestsCollector::new("auth")?,
        ))?;
        registry.register(Box::new(DroppedLogLines(IntCounter::new(
            "auth_log_lines_dropped_total",
            "Log lines dropped because the log writer's queue was full (a request never waits on the log)",
        )?)))?;
        Ok(Metrics {
            enabled,
            registry,
            requests,
            latency,
            decisions,
            gate_decisions,
            routes: RwLock::new(HashMap::new()),
        })
    }

    /// Makes a dependency's call timings part of this registry.
    pub fn register(&self, calls: &DependencyCalls) -> anyhow::Result<()> {
        self.registry
            .register(Box::new(calls.vec.clone()))
            .with_context(|| format!("Failed to register the {} call metrics", calls.name))
    }

    /// The share registry's in-memory view, counted at each scrape: `auth_shares_known{state}`
    /// (active, revoked, used-up), the revocation set's size among them.
    pub fn register_known_shares(&self, known: Arc<KnownShares>) -> anyhow::Result<()> {
        let gauges = IntGaugeVec::new(
            Opts::new(
                "auth_shares_known",
                "Shares this replica holds in memory, by state (revoked: the revocation set)",
            ),
            &["state"],
        )?;
        self.registry
            .register(Box::new(KnownSharesCollector { known, gauges }))
            .context("Failed to register the share counts")
    }

    pub fn record_decision<T>(&self, decision: &Result<T, Denial>) {
        let outcome = match decision {
            Ok(_) => "granted",
            Err(denial) => denial.reason(),
        };
        self.count(&self.decisions, outcome);
    }

    /// A gate decision: `granted`, a denial's reason, or `unavailable` (Orthanc could not be
    /// asked, so the request was denied).
    pub fn record_gate_decision(&self, outcome: &str) {
        self.count(&self.gate_decisions, outcome);
    }

    fn count(&self, outcomes: &Outcomes, outcome: &str) {
        if self.enabled {
            outcomes.inc(outcome);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> anyhow::Result<String> {
        service_telemetry::prometheus_text(&self.registry).context("Failed to encode the metrics")
    }

    fn record_request(&self, req: &actix_web::HttpRequest, status: &str, seconds: f64) {
        if let Ok(routes) = self.routes.read() {
            if let Some(series) = routes.get(req.path()) {
                return self.record_on(series, status, seconds);
            }
        }
        let label: Box<str> = match req.match_pattern() {
            None => Box::from(NO_ROUTE),
            Some(pattern) => Box::from(pattern.as_str()),
        };
        let Ok(latency) = self.latency.get_metric_with_label_values(&[&label]) else {
            return self.count_request(&label, status);
        };
        let series = RouteSeries {
            label,
            latency,
            statuses: Default::default(),
        };
        self.record_on(&series, status, seconds);
        // Only parameterless patterns equal their path: remembering those stays bounded.
        if series.label.as_ref() == req.path() {
            if let Ok(mut routes) = self.routes.write() {
                routes.insert(Box::from(req.path()), series);
            }
        }
    }

    fn record_on(&self, series: &RouteSeries, status: &str, seconds: f64) {
        series.latency.observe(seconds);
        self.count_route_request(series, status);
    }

    fn count_route_request(&self, series: &RouteSeries, status: &str) {
        let Some(i) = COMMON_STATUSES.iter().position(|s| *s == status) else {
            return self.count_request(&series.label, status);
        };
        if let Some(counter) = series.statuses[i].get() {
            return counter.inc();
        }
        if let Ok(counter) = self
            .requests
            .get_metric_with_label_values(&[&series.label, status])
        {
            series.statuses[i].get_or_init(|| counter).inc();
        }
    }

    fn count_request(&self, label: &str, status: &str) {
        if let Ok(counter) = self.requests.get_metric_with_label_values(&[label, status]) {
            counter.inc();
        }
    }
}

/// Middleware: counts every answer and its latency under the route pattern.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let result = next.call(req).await;
    if let (Some(metrics), Ok(res)) = (metrics, &result) {
        metrics.record_request(
            res.request(),
            res.status().as_str(),
            started.elapsed().as_secs_f64(),
        );
    }
    result
}

/// Latency and outcome of the calls to one dependency (`auth_dependency_call_seconds`, labels
/// `dependency` and `outcome` = `ok` | `error` | `timeout`; `_count` with `outcome="error"`
/// counts errors, with `outcome="timeout"` the calls given up at their bound).
#[derive(Clone)]
pub struct DependencyCalls {
    name: &'static str,
    vec: HistogramVec,
    ok: Histogram,
    error: Histogram,
    timeout: Histogram,
}

impl DependencyCalls {
    pub fn new(name: &'static str) -> anyhow::Result<DependencyCalls> {
        let vec = HistogramVec::new(
            HistogramOpts::new(
                "auth_dependency_call_seconds",
                "Calls to Keycloak, MedDream, SMTP and the database: latency by dependency and outcome",
            )
            .const_label("dependency", name)
            .buckets(CALL_BUCKETS.to_vec()),
            &["outcome"],
        )?;
        Ok(DependencyCalls {
            name,
            ok: vec.get_metric_with_label_values(&["ok"])?,
            error: vec.get_metric_with_label_values(&["error"])?,
            timeout: vec.get_metric_with_label_values(&["timeout"])?,
            vec,
        })
    }

    /// Runs `call` for at most `limit`: past it the call is dropped and `timed_out()` is the
    /// error. Counted as a timeout then, or when the call's own error `is_timeout` (a pool that
    /// gave up waiting for a connection).
    pub async fn time_within<T, E>(
        &self,
        limit: std::time::Duration,
        call: impl Future<Output = Result<T, E>>,
        is_timeout: impl FnOnce(&E) -> bool,
        timed_out: impl FnOnce() -> E,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = tokio::time::timeout(limit, call).await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(Ok(value)) => {
                self.ok.observe(seconds);
                Ok(value)
            }
            Ok(Err(e)) => {
                if is_timeout(&e) {
                    self.timeout.observe(seconds);
                } else {
                    self.error.observe(seconds);
                }
                Err(e)
            }
            Err(_) => {
                self.timeout.observe(seconds);
                Err(timed_out())
            }
        }
    }

    /// Runs `call`, recording how long it took and whether it failed.
    pub async fn time<T, E>(&self, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok(_) => self.ok.observe(seconds),
            Err(_) => self.error.observe(seconds),
        }
        result
    }

    /// Times an HTTP exchange: a transport failure or an error status (but 404, an answer about
    /// a thing that does not exist) counts as an error.
    pub async fn time_http(
        &self,
        send: impl Future<Output = reqwest::Result<reqwest::Response>>,
    ) -> reqwest::Result<reqwest::Response> {
        let started = Instant::now();
        let result = send.await;
        let seconds = started.elapsed().as_secs_f64();
        let failed = match &result {
            Ok(response) => {
                let status = response.status();
                status.as_u16() >= 400 && status != reqwest::StatusCode::NOT_FOUND
            }
            Err(_) => true,
        };
        if failed {
            self.error.observe(seconds);
        } else {
            self.ok.observe(seconds);
        }
        result
    }
}

/// Sets the share gauges from the in-memory registry when Prometheus scrapes.
struct KnownSharesCollector {
    known: Arc<KnownShares>,
    gauges: IntGaugeVec,
}

impl Collector for KnownSharesCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for (standing, count) in self.known.counts() {
            let state = match standing {
                Standing::Active => "active",
                Standing::Revoked => "revoked",
                Standing::UsedUp => "used-up",
                Standing::Unknown => continue,
            };
            self.gauges
                .with_label_values(&[state])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.gauges.collect()
    }
}

/// `auth_log_lines_dropped_total`, read from the log writer at each scrape.
struct DroppedLogLines(IntCounter);

impl Collector for DroppedLogLines {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let dropped = service_telemetry::dropped_lines();
        self.0.inc_by(dropped.saturating_sub(self.0.get()));
        self.0.collect()
    }
}
