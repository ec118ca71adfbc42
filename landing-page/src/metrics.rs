//! Prometheus metrics of the landing page: what each visit led to, and the malformed requests
//! refused before any route. Served on `METRICS_BIND_ADDRESS` only: this page is public, and a
//! scraper belongs on a private network. One registry per application (tests run several).
use actix_web::{web, HttpResponse};
use anyhow::Context;
use prometheus::{IntCounterVec, Opts, Registry};

pub struct Metrics {
    registry: Registry,
    outcomes: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let outcomes = IntCounterVec::new(
            Opts::new(
                "landing_visits_total",
                "Visits of a link or a gate denial, by outcome (redirect, confirm, or the page shown: expired, too-many-opens, ...)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        registry.register(Box::new(
            service_telemetry::MalformedRequestsCollector::new("landing")?,
        ))?;
        Ok(Metrics { registry, outcomes })
    }

    pub fn visit(&self, outcome: &str) {
        if let Ok(counter) = self.outcomes.get_metric_with_label_values(&[outcome]) {
            counter.inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> anyhow::Result<String> {
        service_telemetry::prometheus_text(&self.registry).context("Failed to encode the metrics")
    }
}

/// `GET /metrics` on the metrics address.
pub async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::error!(error = ?e, "metrics not rendered");
            HttpResponse::InternalServerError().finish()
        }
    }
}
