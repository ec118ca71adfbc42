//! What the landing page reads of a share token itself: its fingerprint for logs, and the
//! expiration date of a token auth-service has verified (the "expired on" page). The date is
//! read through auth-wire's claim reader, auth-service's own, so both read the same date. The
//! signature is not checked here (the page never holds SECRET_KEY): nothing read here decides
//! anything or is shown before auth-service has vouched for the token.
use auth_wire::claims::ShareClaims;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

/// The longest link auth-service makes; past this it is not one of ours, and it is refused
/// before it reaches auth-service.
pub const MAX_TOKEN_BYTES: usize = auth_wire::MAX_LINK_BYTES;

/// What logs show instead of a token: auth-service's fingerprint, so one token can be followed
/// from this log to auth-service's.
pub use auth_wire::token_fingerprint as fingerprint;

/// The expiration date a token says it has: `None` for a share that never expires, or a text
/// that is not a share token's.
pub fn expiration_date(token: &str) -> Option<DateTime<Utc>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: ShareClaims<serde::de::IgnoredAny> = serde_json::from_slice(&bytes).ok()?;
    claims.expiration().ok()?.map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// PROTOCOL.md's first token.
    const STONE: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMiIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6InN0b25lLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjYtMTItMzFUMTE6MDA6MDArMDA6MDAifQ.RlB9x56eQSaJNt3t4hDxAHdM7BhBbah5CWWBBZQf7x0";

    fn token(payload: &str) -> String {
        format!("h.{}.s", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_the_protocol_tokens_date() {
        assert_eq!(
            expiration_date(STONE).map(|d| d.to_rfc3339()),
            Some("2026-12-31T11:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn reads_dates_as_auth_service_does() {
        // The Python-era dashed key, a `+0000` offset, no seconds: auth-service reads all three.
        let date = expiration_date(&token(
            r#"{"resources":[],"expiration-date":"2030-06-01 12:30+0200"}"#,
        ));
        assert_eq!(
            date.map(|d| d.to_rfc3339()),
            Some("2030-06-01T10:30:00+00:00".to_owned())
        );
        // What auth-service refuses to read, this does not read either.
        assert_eq!(
            expiration_date(&token(
                r#"{"resources":[],"expiration_date":"2030-06-01T12:30:00"}"#
            )),
            None
        );
    }

    #[test]
    fn anything_else_has_no_date() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            "x.e30.y.z",
            "x.e30.y",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(expiration_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        assert_eq!(fingerprint("abc"), "ba7816bf");
    }
}
