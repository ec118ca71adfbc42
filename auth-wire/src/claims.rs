//! The claims of a share token, as the Python service wrote them over the years, and the one
//! reader of their expiration date. auth-service reads every token it verifies through these;
//! the landing page reads the date of a token auth-service has verified (to show it) through the
//! same, so the two can never disagree on a date.
//!
//! A claim date is what Python's `datetime.fromisoformat` reads, aware only: `YYYY-MM-DD`, `T`
//! or a space, `HH:MM` with optional `:SS` and fraction, then `Z`, `±HH:MM` or `±HHMM`.
use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::Deserialize;

/// The payload of a share token. `R` is how the reader takes a resource (auth-service: its
/// domain type; a reader that only needs the date: `serde::de::IgnoredAny`).
#[derive(Debug, Deserialize)]
pub struct ShareClaims<R> {
    #[serde(default)]
    pub id: Option<String>,
    pub resources: Vec<R>,
    #[serde(rename = "type", default)]
    pub token_type: Option<String>,
    /// Read with [`ShareClaims::expiration`]; the dashed key is the Python service's oldest form.
    #[serde(default, alias = "expiration-date")]
    pub expiration_date: Option<String>,
    #[serde(default, alias = "validity-duration")]
    pub validity_duration: Option<i64>,
    /// Ours: set on the token of a protected link (a random nonce, so that two protected shares of
    /// the same request never share a token). Such a token opens nothing but the landing page.
    #[serde(default)]
    pub protected: Option<String>,
    /// Ours: the registry id of the protected share a visitor unlocked; the token is the
    /// visitor's session, refused with its share.
    #[serde(default)]
    pub unlocked: Option<String>,
    /// Whether an `aud` claim is there at all (any value, even null): share tokens have none.
    #[serde(default, deserialize_with = "present")]
    pub aud: bool,
}

impl<R> ShareClaims<R> {
    /// The expiration date: `Ok(None)` for a share that never expires.
    pub fn expiration(&self) -> Result<Option<DateTime<FixedOffset>>, ClaimDateError> {
        self.expiration_date
            .as_deref()
            .map(parse_claim_date)
            .transpose()
    }
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Why a claim date (or a request's date text, read by the same rules) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimDateError {
    /// Local time without an offset: whose clock? Refused rather than guessed.
    #[error("a date and time with a UTC offset is required (e.g. 2030-12-31T23:59:59Z)")]
    NoOffset,
    #[error("not a valid date and time")]
    Invalid,
}

/// A claim date, with the offset it was written with (part of the token bytes).
pub fn parse_claim_date(text: &str) -> Result<DateTime<FixedOffset>, ClaimDateError> {
    let (at, offset) = parse_iso(text)?;
    let offset = offset.ok_or(ClaimDateError::NoOffset)?;
    offset
        .from_local_datetime(&at)
        .single()
        .ok_or(ClaimDateError::Invalid)
}

/// `YYYY-MM-DD`, optionally followed by `T`/space, `HH:MM[:SS[.f]]` and `Z` / `±HH:MM` / `±HHMM`.
fn parse_iso(text: &str) -> Result<(NaiveDateTime, Option<FixedOffset>), ClaimDateError> {
    use ClaimDateError::Invalid;
    if !text.is_ascii() || text.len() < 10 {
        return Err(Invalid);
    }
    let (date_part, rest) = text.split_at(10);
    let date = parsed_with(date_part, &DATE).and_then(|p| p.to_naive_date().ok());
    let date = date.ok_or(Invalid)?;
    if rest.is_empty() {
        return Ok((date.and_hms_opt(0, 0, 0).ok_or(Invalid)?, None));
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or(Invalid)?;
    let (time_part, offset) = split_offset(rest)?;
    let time = [&*TIME_WITH_SECONDS, &*TIME_TO_MINUTES]
        .into_iter()
        .find_map(|items| parsed_with(time_part, items)?.to_naive_time().ok())
        .ok_or(Invalid)?;
    Ok((date.and_time(time), offset))
}

/// chrono's `parse_from_str` formats, read once: it reads its format string again on every
/// call, which showed in the create profile. Parsing with the same items gives the same results.
static DATE: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%d"));
static TIME_WITH_SECONDS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%H:%M:%S%.f"));
static TIME_TO_MINUTES: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%H:%M"));

fn items(format: &'static str) -> Vec<Item<'static>> {
    StrftimeItems::new(format).collect()
}

fn parsed_with(text: &str, items: &[Item<'static>]) -> Option<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
    Some(parsed)
}

fn split_offset(text: &str) -> Result<(&str, Option<FixedOffset>), ClaimDateError> {
    use ClaimDateError::Invalid;
    if let Some(t) = text.strip_suffix(['Z', 'z']) {
        return Ok((t, FixedOffset::east_opt(0)));
    }
    let Some(pos) = text.rfind(['+', '-']) else {
        return Ok((text, None));
    };
    let (time, off) = text.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid);
    }
    let hours: i32 = digits[..2].parse().map_err(|_| Invalid)?;
    let minutes: i32 = digits[2..].parse().map_err(|_| Invalid)?;
    if hours > 23 || minutes > 59 {
        return Err(Invalid);
    }
    let offset = FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or(Invalid)?;
    Ok((time, Some(offset)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn utc(text: &str) -> Result<String, ClaimDateError> {
        parse_claim_date(text).map(|d| d.to_utc().to_rfc3339())
    }

    #[test]
    fn claim_dates_read_as_pythons_fromisoformat() {
        let noon = Ok("2026-12-31T11:00:00+00:00".to_owned());
        assert_eq!(utc("2026-12-31T11:00:00+00:00"), noon);
        assert_eq!(utc("2026-12-31T11:00:00Z"), noon);
        assert_eq!(utc("2026-12-31 12:00:00+0100"), noon, "+HHMM offsets");
        assert_eq!(utc("2026-12-31T12:00+01:00"), noon, "no seconds");
        assert_eq!(
            utc("2026-12-31T11:00:00.250000+00:00"),
            Ok("2026-12-31T11:00:00.250+00:00".to_owned())
        );
        assert_eq!(utc("2026-12-31T11:00:00"), Err(ClaimDateError::NoOffset));
        assert_eq!(utc("2026-12-31"), Err(ClaimDateError::NoOffset));
        for bad in [
            "",
            "tomorrow",
            "2026-13-01T00:00:00Z",
            "2026-12-31T11:00:00+2400",
            "2026-12-31T11:00:00é",
        ] {
            assert_eq!(utc(bad), Err(ClaimDateError::Invalid), "{bad}");
        }
    }

    #[test]
    fn the_dashed_python_era_key_is_read_too() {
        let claims: ShareClaims<serde::de::IgnoredAny> = serde_json::from_str(
            r#"{"resources":[{}],"expiration-date":"2030-01-01T00:00:00+0000"}"#,
        )
        .unwrap();
        assert_eq!(
            claims.expiration().unwrap().map(|d| d.to_rfc3339()),
            Some("2030-01-01T00:00:00+00:00".to_owned())
        );
        assert!(!claims.aud);
        let never: ShareClaims<serde::de::IgnoredAny> =
            serde_json::from_str(r#"{"resources":[],"expiration_date":null,"aud":null}"#).unwrap();
        assert_eq!(never.expiration(), Ok(None));
        assert!(never.aud, "an aud claim, even null, is seen");
    }

    /// Mostly near-valid dates and times (out-of-range fields, one digit, odd separators), some
    /// noise.
    fn date_or_time_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let sep = proptest::sample::select(vec!["-", ":", ".", "", " ", "+"]);
        prop_oneof![
            (0u32..10_100, 0u32..14, 0u32..34, sep.clone(), sep.clone())
                .prop_map(|(y, m, d, a, b)| format!("{y:04}{a}{m:02}{b}{d:02}")),
            (
                0u32..26,
                0u32..62,
                0u32..62,
                0u32..1_000_000,
                sep.clone(),
                sep
            )
                .prop_map(|(h, m, s, f, a, b)| format!("{h:02}:{m:02}{a}{s:02}{b}{f}")),
            (0u32..25, 0u32..61).prop_map(|(h, m)| format!("{h}:{m}")),
            "[0-9:.+ T-]{0,14}",
        ]
    }

    proptest::proptest! {
        /// The formats read once parse exactly as chrono's `parse_from_str` does.
        #[test]
        fn formats_read_once_parse_as_parse_from_str(text in date_or_time_like()) {
            use chrono::{NaiveDate, NaiveTime};
            let date = parsed_with(&text, &DATE).and_then(|p| p.to_naive_date().ok());
            proptest::prop_assert_eq!(date, NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok());
            for (items, format) in [(&*TIME_WITH_SECONDS, "%H:%M:%S%.f"), (&*TIME_TO_MINUTES, "%H:%M")] {
                let time = parsed_with(&text, items).and_then(|p| p.to_naive_time().ok());
                proptest::prop_assert_eq!(time, NaiveTime::parse_from_str(&text, format).ok());
            }
        }
    }
}
