//! Logging set-up and the per-request span of auth-service and landing-page. Share links carry
//! their token in the query string, so a request is named by its route pattern, never its path.
pub mod access_line;
mod metrics_server;
pub mod writer;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

mod malformed;

use malformed::MalformedRequests;
pub use malformed::{malformed_requests, prometheus_text, MalformedRequestsCollector};
pub use metrics_server::metrics_server;

use service_settings::SettingsError;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT` as written; `human` when unset.
    pub fn parse(text: Option<&str>) -> Result<LogFormat, SettingsError> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None | Some("human") | Some("text") => Ok(LogFormat::Human),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(SettingsError {
                name: "LOG_FORMAT",
                reason: "must be human or json".into(),
            }),
        }
    }
}

/// Target of the one line per request: `RUST_LOG=info,access=off` silences it alone.
pub const ACCESS_TARGET: &str = "access";

/// Lines the writer's queue holds before new ones are dropped (and counted): a few seconds of
/// access lines at full load, a few MiB at most.
const QUEUE_LINES: usize = 64 * 1024;
/// The writer thread writes what it finds queued through this buffer, then flushes: one write
/// system call per batch rather than per line.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

static QUEUE: OnceLock<Arc<writer::LineQueue>> = OnceLock::new();
/// Set when access lines may skip tracing's generic formatting (access_line.rs): lines go to the
/// queue, without colours, in this format.
static DIRECT_ACCESS_LINES: OnceLock<LogFormat> = OnceLock::new();

/// Log lines dropped since start because the writer's queue was full (a worker never waits on
/// the log). Exposed in `/metrics`.
pub fn dropped_lines() -> u64 {
    QUEUE.get().map_or(0, |q| q.dropped())
}

/// Keeps the log writer's thread; dropping it (at the end of `main`, once the server has
/// stopped and its shutdown hooks have run) writes every line still queued.
#[must_use = "dropping the guard stops the log writer: keep it until main returns"]
pub struct LogGuard {
    _writer: Option<writer::WriterThread>,
}

/// `RUST_LOG` decides (default `info`).
pub fn init(default_filter: &str) -> LogGuard {
    init_with_format(default_filter, LogFormat::Human)
}

/// As [`init`], in the format `LOG_FORMAT` asks for: readable lines or one JSON object per line.
/// Lines go to stderr, as uvicorn's, through a queue and one writer thread: a request formats its
/// line and queues it, it never waits on a write.
pub fn init_with_format(default_filter: &str, format: LogFormat) -> LogGuard {
    let filter = env_filter(default_filter);
    // stdout stays for what the service says to its operator (the dev banner, the doctor).
    match writer::spawn(std::io::stderr(), QUEUE_LINES, WRITE_BUFFER_BYTES) {
        Ok((writer, thread)) => {
            let queue = writer.queue().clone();
            if install(filter, format, writer) {
                let _ = QUEUE.set(queue);
                if !colours(format) {
                    let _ = DIRECT_ACCESS_LINES.set(format);
                }
                return LogGuard {
                    _writer: Some(thread),
                };
            }
            // Another subscriber came first (a test process): this writer is not used.
            LogGuard { _writer: None }
        }
        // No thread to be had: each line written at once rather than none.
        Err(_) => {
            install(filter, format, std::io::stderr);
            LogGuard { _writer: None }
        }
    }
}

/// Libraries whose debug lines quote the documents they parse: html5ever (under ammonia and
/// html2text) logs the text of every e-mail it cleans, links with their tokens and unlock codes
/// included. Held at `warn` whatever `RUST_LOG` says.
const QUOTING_LIBRARIES: [&str; 2] = ["html5ever", "markup5ever"];

/// `RUST_LOG` (else `default_filter`), with the quoting libraries held at `warn`.
fn env_filter(default_filter: &str) -> EnvFilter {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    for library in QUOTING_LIBRARIES {
        if let Ok(directive) = format!("{library}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Colours only on a terminal: docker logs and log files get plain text.
fn colours(format: LogFormat) -> bool {
    format == LogFormat::Human && std::io::stderr().is_terminal()
}

/// Installs the global subscriber; false when one already was.
fn install<W>(filter: EnvFilter, format: LogFormat, writer: W) -> bool
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_timer(access_line::Rfc3339Micros)
        .with_target(false);
    let installed = match format {
        LogFormat::Human => builder
            .with_ansi(colours(format))
            .finish()
            .with(MalformedRequests)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .finish()
            .with(MalformedRequests)
            .try_init(),
    };
    installed.is_ok()
}

/// For tests (`TEST_LOG=1`): lines written at once through the test harness's capture.
pub fn init_for_tests(default_filter: &str) {
    let filter = env_filter(default_filter);
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// The fingerprint of the token a request carried, for its access line.
#[derive(Clone, Debug)]
struct TokenFingerprint(String);

/// Puts a token's fingerprint on the request's access line; computed only when that line is
/// written at all.
pub fn note_token(req: &HttpRequest, fingerprint: impl FnOnce() -> String) {
    if tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
        req.extensions_mut().insert(TokenFingerprint(fingerprint()));
    }
}

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// One span per request (id, method) and, when it is answered, one access line: route pattern
/// (never the raw path or query: tokens travel in query strings elsewhere), status, latency and
/// the fingerprint of the token it carried.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!(
        "request",
        id,
        method = %req.method(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    // Filled only when someone listens: the route pattern is built anew (a String) on each call.
    if span.is_disabled() {
        return result;
    }
    if let Ok(res) = &result {
        if tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
            let request = res.request();
            let extensions = request.extensions();
            let token = extensions.get::<TokenFingerprint>().map(|t| t.0.as_str());
            let pattern = request.match_pattern();
            let line = access_line::AccessLine {
                request_id: id,
                method: request.method().as_str(),
                route: pattern.as_deref().unwrap_or("(none)"),
                status: res.status().as_u16(),
                latency_us: started.elapsed().as_micros() as u64,
                token,
            };
            match (DIRECT_ACCESS_LINES.get(), QUEUE.get()) {
                (Some(format), Some(queue)) => {
                    let mut text = String::with_capacity(192);
                    line.write(*format, access_line::now(), &mut text);
                    queue.push(text.into_bytes());
                }
                _ => tracing::info!(
                    target: ACCESS_TARGET,
                    parent: &span,
                    route = %line.route,
                    status = line.status,
                    latency_us = line.latency_us,
                    token = line.token.map(tracing::field::display),
                    "request"
                ),
            }
        }
    }
    result
}
