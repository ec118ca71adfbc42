//! Logging set-up and the per-request span. Links carry their token in the query string, so
//! the span names the route pattern, never the path and query.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// `RUST_LOG` decides (default `default_filter`).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // On stderr, as auth-service's: stdout stays for what a program says to its operator.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// One span per request: id, method, route pattern, status and latency.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!(
        "request",
        id,
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_us = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    if let Ok(res) = &result {
        span.record(
            "route",
            res.request().match_pattern().as_deref().unwrap_or("(none)"),
        );
        span.record("status", res.status().as_u16());
        span.record("latency_us", started.elapsed().as_micros() as u64);
        tracing::debug!(parent: &span, "request completed");
    }
    result
}
