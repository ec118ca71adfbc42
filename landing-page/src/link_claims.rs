//! What a share token says about itself, read WITHOUT checking its signature (the landing page
//! never holds SECRET_KEY). Used only for display: the expiry date on the "expired" page (after
//! auth-service has verified the token and called it expired) and the figures of the confirm
//! page (checked by auth-service when the button is pressed). Never for an access decision.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Longer than any share token of a few hundred studies; past this it is not one of ours, and
/// it is refused before it reaches auth-service.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What logs show instead of a token: auth-service's fingerprint, so one token can be followed
/// from this log to auth-service's.
pub use auth_wire::token_fingerprint as fingerprint;

/// The display-only claims of a token.
#[derive(Debug, PartialEq)]
pub struct LinkClaims {
    pub expiration_date: Option<DateTime<Utc>>,
    pub resources: usize,
    /// Every shared resource is a whole study (the usual publication).
    pub all_studies: bool,
    pub token_type: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    expiration_date: Option<String>,
    #[serde(default)]
    resources: Vec<PayloadResource>,
    #[serde(rename = "type", default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct PayloadResource {
    #[serde(default)]
    level: Option<String>,
}

impl LinkClaims {
    /// None when the text is not a JWT with a readable JSON payload.
    pub fn read(token: &str) -> Option<LinkClaims> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let payload: Payload = serde_json::from_slice(&bytes).ok()?;
        let expiration_date = match payload.expiration_date {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(&text)
                    .ok()?
                    .with_timezone(&Utc),
            ),
        };
        Some(LinkClaims {
            expiration_date,
            resources: payload.resources.len(),
            all_studies: payload
                .resources
                .iter()
                .all(|r| r.level.as_deref() == Some("study")),
            token_type: payload.token_type,
        })
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration_date.is_some_and(|d| d <= now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// PROTOCOL.md's first token.
    const STONE: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMiIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6InN0b25lLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjYtMTItMzFUMTE6MDA6MDArMDA6MDAifQ.RlB9x56eQSaJNt3t4hDxAHdM7BhBbah5CWWBBZQf7x0";

    #[test]
    fn reads_the_protocol_token() {
        let claims = LinkClaims::read(STONE).unwrap();
        assert_eq!(
            claims.expiration_date.map(|d| d.to_rfc3339()),
            Some("2026-12-31T11:00:00+00:00".to_owned())
        );
        assert_eq!(claims.resources, 1);
        assert!(claims.all_studies);
        assert_eq!(
            claims.token_type.as_deref(),
            Some("stone-viewer-publication")
        );
    }

    #[test]
    fn anything_else_is_unreadable() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            "x.e30.y.z",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(LinkClaims::read(bad), None, "{bad}");
        }
        // `{}`: a JSON object without claims reads as an empty, never-expiring share.
        assert_eq!(LinkClaims::read("x.e30.y").map(|c| c.resources), Some(0));
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        assert_eq!(fingerprint("abc"), "ba7816bf");
    }
}
