//! The access line, the one log line every request writes, formatted straight into the log
//! writer's queue in the subscriber's own human or JSON format. tracing's generic path (event
//! dispatch, field visitors, `fmt::Write` per piece) cost about 14,000 instructions a line, a
//! third of a validation's (bench/README.md: the profile); this writes the same bytes with a few
//! thousand. The tests hold it byte for byte to what tracing-subscriber writes for the same event.
//! Used only when lines go to the queue without colours (not on a terminal).
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::LogFormat;

/// What one access line says.
#[derive(Clone, Copy, Debug)]
pub struct AccessLine<'a> {
    /// The request span's fields.
    pub request_id: u64,
    pub method: &'a str,
    /// The event's fields.
    pub route: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub token: Option<&'a str>,
}

impl AccessLine<'_> {
    /// The line as the subscriber would write it, timestamp `at`, ending with a newline.
    pub fn write(&self, format: LogFormat, at: Duration, out: &mut String) {
        match format {
            LogFormat::Human => self.write_human(at, out),
            LogFormat::Json => self.write_json(at, out),
        }
    }

    fn write_human(&self, at: Duration, out: &mut String) {
        write_timestamp(out, at);
        // The level right-aligned in five columns, then the span and its fields.
        let _ = write!(
            out,
            "  INFO request{{id={} method={}}}: request route={} status={} latency_us={}",
            self.request_id, self.method, self.route, self.status, self.latency_us
        );
        if let Some(token) = self.token {
            let _ = write!(out, " token={token}");
        }
        out.push('\n');
    }

    fn write_json(&self, at: Duration, out: &mut String) {
        out.push_str("{\"timestamp\":\"");
        write_timestamp(out, at);
        out.push_str("\",\"level\":\"INFO\",\"message\":\"request\",\"route\":");
        json_string(out, self.route);
        let _ = write!(
            out,
            ",\"status\":{},\"latency_us\":{}",
            self.status, self.latency_us
        );
        if let Some(token) = self.token {
            out.push_str(",\"token\":");
            json_string(out, token);
        }
        let _ = write!(out, ",\"span\":{{\"id\":{},\"method\":", self.request_id);
        json_string(out, self.method);
        out.push_str(",\"name\":\"request\"}}\n");
    }
}

fn json_string(out: &mut String, text: &str) {
    // serde_json's escaping, as tracing-subscriber's JSON writer uses it.
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// The time since the epoch, now.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `2026-12-01T15:58:31.170648Z`: RFC 3339, UTC, microseconds, as tracing-subscriber's
/// `SystemTime` timer writes it (years 0 to 9999).
pub fn write_timestamp(out: &mut impl std::fmt::Write, at: Duration) {
    let secs = at.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let time = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        time / 3600,
        time / 60 % 60,
        time % 60,
        at.subsec_micros()
    );
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The subscriber's timer: the same timestamps as the access line's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write_timestamp(w, now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// tracing-subscriber's SystemTime timer writes these; ours must too.
    #[test]
    fn timestamps_match_tracing_subscribers_own() {
        let cases = [
            0u64,
            951_782_400,
            1_764_604_711,
            4_102_444_799,
            253_402_300_799,
        ];
        for secs in cases {
            for micros in [0u32, 1, 170_648, 999_999] {
                let at = Duration::new(secs, micros * 1000);
                let mut ours = String::new();
                write_timestamp(&mut ours, at);
                let reference = chrono::DateTime::from_timestamp(secs as i64, micros * 1000)
                    .expect("in range")
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string();
                assert_eq!(ours, reference);
            }
        }
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_it(secs in 0u64..253_402_300_800, nanos in 0u32..1_000_000_000) {
            let mut ours = String::new();
            write_timestamp(&mut ours, Duration::new(secs, nanos));
            let reference = chrono::DateTime::from_timestamp(secs as i64, nanos)
                .expect("in range")
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            prop_assert_eq!(ours, reference);
        }
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// A timer writing one fixed instant, for both sides.
    struct Fixed(Duration);

    impl FormatTime for Fixed {
        fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
            write_timestamp(w, self.0);
            Ok(())
        }
    }

    /// What the subscriber the services install (crate::install, colours off) writes for the
    /// access event, emitted as `request_span` emitted it through tracing.
    fn through_tracing(format: LogFormat, at: Duration, line: &AccessLine<'_>) -> String {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_timer(Fixed(at))
            .with_ansi(false)
            .with_target(false);
        let emit = || {
            let span = tracing::info_span!("request", id = line.request_id, method = %line.method);
            tracing::info!(
                target: crate::ACCESS_TARGET,
                parent: &span,
                route = %line.route,
                status = line.status,
                latency_us = line.latency_us,
                token = line.token.map(tracing::field::display),
                "request"
            );
        };
        match format {
            LogFormat::Human => tracing::subscriber::with_default(builder.finish(), emit),
            LogFormat::Json => tracing::subscriber::with_default(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .finish(),
                emit,
            ),
        }
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("text")
    }

    fn direct(format: LogFormat, at: Duration, line: &AccessLine<'_>) -> String {
        let mut out = String::new();
        line.write(format, at, &mut out);
        out
    }

    #[test]
    fn the_lines_are_tracing_subscribers_own_byte_for_byte() {
        let at = Duration::new(1_764_604_711, 170_648_000);
        for token in [Some("bd7aa1f1"), None] {
            let line = AccessLine {
                request_id: 1,
                method: "POST",
                route: "/tokens/validate",
                status: 200,
                latency_us: 969,
                token,
            };
            for format in [LogFormat::Human, LogFormat::Json] {
                assert_eq!(
                    direct(format, at, &line),
                    through_tracing(format, at, &line),
                    "{format:?} {token:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_access_line_is_written_as_tracing_writes_it(
            request_id in any::<u64>(),
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]),
            route in prop::sample::select(vec!["/tokens/validate", "/shares/{id}", "(none)", "/tokens/{token_type}", "/emails/templates/{name}"]),
            status in 100u16..600,
            latency_us in any::<u64>(),
            token in proptest::option::of("[0-9a-f]{8}"),
            secs in 0u64..253_402_300_800,
            micros in 0u32..1_000_000,
        ) {
            let line = AccessLine { request_id, method, route, status, latency_us, token: token.as_deref() };
            let at = Duration::new(secs, micros * 1000);
            for format in [LogFormat::Human, LogFormat::Json] {
                prop_assert_eq!(direct(format, at, &line), through_tracing(format, at, &line));
            }
        }
    }
}
