//! Malformed requests: actix-http answers them itself (400, 431, 408) and reports each as an
//! ERROR ("stream error: request parse error: ..."). Anyone can send those, so they would fill
//! an operator's error log on demand: each is counted (for `/metrics`) and logged again on the
//! access target at INFO, the level of any other request's line; the ERROR itself is dropped.
//! Also the Prometheus text both services' `/metrics` answer with.
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, IntCounter, Registry, TextEncoder};
use tracing_subscriber::layer::{Context, Layer};

use crate::ACCESS_TARGET;

/// Requests so malformed that actix-http answered them itself (400, 431, 408) and closed the
/// connection, since the start of the process.
pub fn malformed_requests() -> u64 {
    MALFORMED_REQUESTS.load(Ordering::Relaxed)
}

/// Process-wide, as the log subscriber that counts it.
static MALFORMED_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Where actix-http reports a connection it closed on a client's bad request.
const DISPATCHER_TARGET: &str = "actix_http::h1::dispatcher";
const STREAM_ERROR: &str = "stream error: ";

pub(crate) struct MalformedRequests;

impl<S: tracing::Subscriber> Layer<S> for MalformedRequests {
    fn event_enabled(&self, event: &tracing::Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || meta.target() != DISPATCHER_TARGET {
            return true;
        }
        let mut message = MessageText(String::new());
        event.record(&mut message);
        let Some(cause) = message.0.strip_prefix(STREAM_ERROR) else {
            return true;
        };
        MALFORMED_REQUESTS.fetch_add(1, Ordering::Relaxed);
        // actix-http's text names the kind of fault (parse error, head too large, timeout),
        // never the request's bytes.
        tracing::info!(target: ACCESS_TARGET, error = cause, "malformed request refused");
        false
    }
}

/// The `message` field of an event, as text.
struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }
}
/// `{prefix}_http_malformed_requests_total` for a service's Prometheus registry, read from the
/// count above at each scrape.
pub struct MalformedRequestsCollector(IntCounter);

impl MalformedRequestsCollector {
    pub fn new(prefix: &str) -> prometheus::Result<MalformedRequestsCollector> {
        IntCounter::new(
            format!("{prefix}_http_malformed_requests_total"),
            "Requests refused as malformed before reaching a route (bad request line or headers, head too large, too slow)",
        )
        .map(MalformedRequestsCollector)
    }
}

impl Collector for MalformedRequestsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (now, shown) = (malformed_requests(), self.0.get());
        if now > shown {
            self.0.inc_by(now - shown);
        }
        self.0.collect()
    }
}

/// A registry's Prometheus text exposition (what `GET /metrics` answers, in both services).
pub fn prometheus_text(registry: &Registry) -> prometheus::Result<String> {
    let mut text = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut text)?;
    String::from_utf8(text).map_err(|e| prometheus::Error::Msg(e.to_string()))
}
