//! Expiration dates: parsing what clients send (pydantic's lax datetime rules, minus naive
//! datetimes) and printing exactly what the Python service prints.
use auth_wire::claims::{parse_claim_date, ClaimDateError};
use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

/// A validity-duration past this (100 years) is not a real request: the Orthanc plugin sends an
/// uninitialised number (~1.4e14) when its caller gave none.
pub const MAX_VALIDITY_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// How the creation answer echoes a date. pydantic writes a parsed UTC date with `Z` but a date
/// computed from validity-duration with `+00:00`; clients compare these strings, so we keep both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// Parsed from the request: a zero offset is written `Z`.
    Parsed,
    /// Computed from the server clock: written like Python's isoformat (`+00:00`).
    Computed,
}

/// An aware instant with the offset the client gave (kept: it is part of the token bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirationDate {
    at: DateTime<FixedOffset>,
    style: DateStyle,
}

/// Why a date is refused: auth-wire's claim-date errors (one reader for requests and claims).
pub type ExpirationParseError = ClaimDateError;

/// The years a date may fall in: Python's `datetime` range, so that every date we sign is one
/// the Python service (and our own claim reader) can read back.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

impl ExpirationDate {
    pub fn new(at: DateTime<FixedOffset>, style: DateStyle) -> Self {
        let at = at
            .with_nanosecond(at.nanosecond() / 1000 * 1000)
            .unwrap_or(at);
        ExpirationDate { at, style }
    }

    /// `now + seconds`, or None when that leaves chrono's range.
    pub fn after(now: DateTime<Utc>, seconds: i64) -> Option<Self> {
        let at = now.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)?;
        Some(ExpirationDate::new(at.fixed_offset(), DateStyle::Computed))
    }

    pub fn instant(&self) -> DateTime<FixedOffset> {
        self.at
    }

    pub fn is_past(&self, now: DateTime<Utc>) -> bool {
        self.at <= now
    }

    /// A client's value: an ISO 8601 date-time with offset (`T` or space), or a Unix timestamp
    /// (number or digit string, milliseconds when large, as pydantic reads them).
    pub fn parse_request_str(text: &str) -> Result<Self, ExpirationParseError> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let n: f64 = text.parse().map_err(|_| ExpirationParseError::Invalid)?;
            return Self::from_unix(n);
        }
        Self::parse_claim(text)
    }

    pub fn from_unix(seconds: f64) -> Result<Self, ExpirationParseError> {
        if !seconds.is_finite() {
            return Err(ExpirationParseError::Invalid);
        }
        // pydantic: values beyond 2e10 are milliseconds.
        let seconds = if seconds.abs() > 2e10 {
            seconds / 1000.0
        } else {
            seconds
        };
        let whole = seconds.floor();
        let micros = ((seconds - whole) * 1e6).round() as u32;
        let at = DateTime::from_timestamp(whole as i64, micros * 1000)
            .ok_or(ExpirationParseError::Invalid)?;
        Ok(ExpirationDate::new(at.fixed_offset(), DateStyle::Parsed))
    }

    /// A date from a token's claims: what Python's `datetime.fromisoformat` reads, aware only
    /// (auth-wire's reader, which the landing page uses too).
    pub fn parse_claim(text: &str) -> Result<Self, ExpirationParseError> {
        Ok(ExpirationDate::new(
            parse_claim_date(text)?,
            DateStyle::Parsed,
        ))
    }

    /// Whether the date is one Python can hold (years 1 to 9999, in its own offset). A creation
    /// request's date past these would be signed but unreadable afterwards.
    pub fn is_in_python_range(&self) -> bool {
        YEARS.contains(&self.at.year())
    }

    /// Python's `datetime.isoformat()`: `2026-12-31T11:00:00+00:00`, microseconds only when non-zero.
    pub fn to_python_isoformat(&self) -> String {
        self.format(false)
    }

    /// What the creation answer shows (see [`DateStyle`]).
    pub fn to_echo(&self) -> String {
        self.format(self.style == DateStyle::Parsed)
    }

    fn format(&self, zulu: bool) -> String {
        let at = &self.at;
        let mut out = String::with_capacity(32);
        // Written digit by digit: a strftime pattern is parsed anew on every call, `write!` costs
        // a formatter per number, and this runs twice on every share creation. chrono's `%Y`
        // gives years past 9999 a sign: keep its form there.
        if (0..=9999).contains(&at.year()) {
            push_padded(&mut out, at.year().unsigned_abs(), 4);
            out.push('-');
            push_padded(&mut out, at.month(), 2);
            out.push('-');
            push_padded(&mut out, at.day(), 2);
            out.push('T');
            push_padded(&mut out, at.hour(), 2);
            out.push(':');
            push_padded(&mut out, at.minute(), 2);
            out.push(':');
            // a leap second: chrono keeps it in the nanoseconds, `%S` writes 60
            push_padded(
                &mut out,
                at.second() + u32::from(at.nanosecond() >= 1_000_000_000),
                2,
            );
        } else {
            use std::fmt::Write;
            let _ = write!(out, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
        }
        let micros = at.nanosecond() / 1000;
        if micros != 0 {
            out.push('.');
            push_padded(&mut out, micros, 6);
        }
        let offset = at.offset().local_minus_utc();
        if offset == 0 && zulu {
            out.push('Z');
        } else {
            out.push(if offset < 0 { '-' } else { '+' });
            let abs = offset.unsigned_abs();
            push_padded(&mut out, abs / 3600, 2);
            out.push(':');
            push_padded(&mut out, (abs % 3600) / 60, 2);
            if !abs.is_multiple_of(60) {
                out.push(':');
                push_padded(&mut out, abs % 60, 2);
            }
        }
        out
    }
}

/// `value` in decimal, zero-padded to `width` digits (longer when it needs more), as `{:0width$}`.
fn push_padded(out: &mut String, mut value: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for _ in digits.len() - start..width {
        out.push('0');
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(s: &str) -> String {
        ExpirationDate::parse_request_str(s)
            .map(|d| d.to_echo())
            .unwrap_or_else(|e| format!("{e:?}"))
    }
    fn iso(s: &str) -> String {
        ExpirationDate::parse_request_str(s)
            .map(|d| d.to_python_isoformat())
            .unwrap_or_else(|e| format!("{e:?}"))
    }

    #[test]
    fn request_dates_echo_like_pydantic_and_sign_like_isoformat() {
        assert_eq!(echo("2099-12-31T23:59:59Z"), "2099-12-31T23:59:59Z");
        assert_eq!(iso("2099-12-31T23:59:59Z"), "2099-12-31T23:59:59+00:00");
        assert_eq!(
            echo("2099-06-30T12:00:00+02:00"),
            "2099-06-30T12:00:00+02:00"
        );
        assert_eq!(
            echo("2099-06-30T12:00:00-05:00"),
            "2099-06-30T12:00:00-05:00"
        );
        assert_eq!(
            echo("2099-06-30T12:00:00.5Z"),
            "2099-06-30T12:00:00.500000Z"
        );
        assert_eq!(
            iso("2099-06-30T12:00:00.123456Z"),
            "2099-06-30T12:00:00.123456+00:00"
        );
        assert_eq!(echo("2099-06-30 12:00:00Z"), "2099-06-30T12:00:00Z");
        assert_eq!(echo("4102444799"), "2099-12-31T23:59:59Z");
        assert_eq!(echo("2099-12-31T23:59:59+00:00"), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn dates_without_offset_and_garbage_are_refused() {
        assert_eq!(echo("2099-06-30T12:00:00"), "NoOffset");
        assert_eq!(echo("2099-06-30"), "NoOffset");
        assert_eq!(echo("next tuesday"), "Invalid");
        assert_eq!(echo(""), "Invalid");
        assert_eq!(echo("2099-13-01T00:00:00Z"), "Invalid");
        assert_eq!(echo("2099-01-01T00:00:00+25:00"), "Invalid");
        assert_eq!(echo("2099-01-01T00:00:00é"), "Invalid");
    }

    #[test]
    fn computed_dates_use_plus_zero_offset() {
        let now = DateTime::from_timestamp(1_700_000_000, 66_701_000).unwrap_or_default();
        let d = ExpirationDate::after(now, 3600).expect("in range");
        assert_eq!(d.to_echo(), "2023-11-14T23:13:20.066701+00:00");
        assert_eq!(ExpirationDate::after(now, i64::MAX), None);
    }

    #[test]
    fn dates_are_written_as_chrono_strftime_writes_them() {
        // The field-by-field writer against chrono's own `%Y-%m-%dT%H:%M:%S`, at the edges.
        let offsets = [
            0,
            3600,
            -18_000,
            5 * 3600 + 45 * 60,
            -(3 * 3600 + 30 * 60 + 15),
        ];
        let seconds = [
            0_i64,
            -62_135_596_800, // 0001-01-01
            253_402_300_799, // 9999-12-31T23:59:59
            253_402_300_800, // 10000-01-01: chrono writes +10000
            1_700_000_000,
        ];
        for s in seconds {
            for o in offsets {
                let offset = FixedOffset::east_opt(o).expect("offset");
                let at = DateTime::from_timestamp(s, 123_000)
                    .expect("in range")
                    .with_timezone(&offset);
                let date = ExpirationDate::new(at, DateStyle::Computed);
                let text = date.to_python_isoformat();
                let expected = at.format("%Y-%m-%dT%H:%M:%S").to_string();
                assert!(
                    text.starts_with(&format!("{expected}.000123")),
                    "{text} vs {expected}"
                );
            }
        }
    }

    proptest::proptest! {
        /// The digit-by-digit form writes what `{:0N}` formatting wrote, leap seconds, years
        /// past 9999 and odd offsets included.
        #[test]
        fn dates_are_written_as_with_format_strings(
            seconds in -70_000_000_000i64..300_000_000_000,
            nanos in proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..2_000_000_000],
            offset in proptest::prop_oneof![proptest::strategy::Just(0i32), -86_399i32..86_400],
            zulu: bool,
        ) {
            let Some(at) = DateTime::from_timestamp(seconds, nanos) else { return Ok(()) };
            let Some(offset) = FixedOffset::east_opt(offset) else { return Ok(()) };
            let date = ExpirationDate::new(at.with_timezone(&offset), DateStyle::Parsed);
            proptest::prop_assert_eq!(date.format(zulu), with_format_strings(&date.at, zulu));
        }
    }

    /// How `format` wrote dates before it wrote them digit by digit.
    fn with_format_strings(at: &DateTime<FixedOffset>, zulu: bool) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if (0..=9999).contains(&at.year()) {
            let second = at.second() + u32::from(at.nanosecond() >= 1_000_000_000);
            let _ = write!(
                out,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{second:02}",
                at.year(),
                at.month(),
                at.day(),
                at.hour(),
                at.minute()
            );
        } else {
            let _ = write!(out, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
        }
        let micros = at.nanosecond() / 1000;
        if micros != 0 {
            let _ = write!(out, ".{micros:06}");
        }
        let offset = at.offset().local_minus_utc();
        if offset == 0 && zulu {
            out.push('Z');
        } else {
            let sign = if offset < 0 { '-' } else { '+' };
            let abs = offset.abs();
            let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60);
            if abs % 60 != 0 {
                let _ = write!(out, ":{:02}", abs % 60);
            }
        }
        out
    }
}
