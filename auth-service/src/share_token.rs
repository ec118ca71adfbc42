//! The one place that signs and reads share tokens (HS256 JWTs).
//!
//! Signing is written out rather than done by `jsonwebtoken::encode`: the token string must be
//! byte-identical to the Python service's (PyJWT header `{"alg":"HS256","typ":"JWT"}`, compact JSON
//! with non-ASCII escaped as `\uXXXX`), and jsonwebtoken orders its header `typ` first.
//! Reading goes through `jsonwebtoken` with an explicit validation: HS256 only, `exp`/`nbf`
//! honoured when present, no leeway, no audience.
use std::io;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

use auth_wire::claims::ShareClaims;

use crate::domain::{DateStyle, ExpirationDate, Guard, Resource, ShareId, ShareToken, TokenType};

/// base64url of `{"alg":"HS256","typ":"JWT"}`, PyJWT's header.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Why a token was not accepted. `Invalid`: not ours or tampered with (signature, algorithm,
/// format, `exp`, `nbf`, `aud`). `Unreadable`: signed by us but not a share token we understand.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("invalid token")]
    Invalid,
    #[error("unreadable share token: {reason}")]
    Unreadable {
        token_type: Option<TokenType>,
        reason: &'static str,
    },
}

/// Holds the key, prepared once at start.
pub struct ShareTokenCodec {
    signer: Hmac<Sha256>,
    decoding_key: DecodingKey,
    validation: Validation,
}

impl ShareTokenCodec {
    pub fn new(secret: &SecretString) -> Self {
        let key = secret.expose_secret().as_bytes();
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length
        let signer = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        ShareTokenCodec {
            signer,
            decoding_key: DecodingKey::from_secret(key),
            validation,
        }
    }

    /// Signs a share exactly as the Python service does.
    pub fn encode(&self, share: &ShareToken, token_type: TokenType) -> String {
        let claims = ClaimsOut {
            id: share.id.as_deref(),
            resources: &share.resources,
            token_type: token_type.as_str(),
            expiration_date: share.expiration_date.map(|d| d.to_python_isoformat()),
            validity_duration: share.validity_duration,
            protected: match &share.guard {
                Guard::Protected(nonce) => Some(nonce),
                _ => None,
            },
            unlocked: match &share.guard {
                Guard::Unlocked(id) => Some(id.to_string()),
                _ => None,
            },
        };
        let payload = python_json(&claims);
        let mut token = String::with_capacity(HEADER_B64.len() + payload.len() * 4 / 3 + 48);
        token.push_str(HEADER_B64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let mut mac = self.signer.clone();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        token
    }

    /// Checks the signature and claims and reads the share. Does not check the expiration date
    /// (callers report "expired" differently from "invalid").
    pub fn decode(&self, token: &str) -> Result<ShareToken, DecodeError> {
        // Straight into the typed claims: this runs on every validation (the hot path).
        match jsonwebtoken::decode::<ClaimsIn>(token, &self.decoding_key, &self.validation) {
            Ok(data) if data.claims.aud => Err(DecodeError::Invalid),
            Ok(data) => share_from_claims(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Json(_)) => {
                // Bad JSON in the header or claims not shaped like a share token: tell the two
                // apart (invalid vs unreadable) on this rare path only.
                match jsonwebtoken::decode::<serde_json::Value>(
                    token,
                    &self.decoding_key,
                    &self.validation,
                ) {
                    Ok(data) if data.claims.get("aud").is_none() && data.claims.is_object() => {
                        Err(DecodeError::Unreadable {
                            token_type: None,
                            reason: "claims do not parse",
                        })
                    }
                    _ => Err(DecodeError::Invalid),
                }
            }
            Err(_) => Err(DecodeError::Invalid),
        }
    }
}

#[derive(Serialize)]
struct ClaimsOut<'a> {
    id: Option<&'a str>,
    resources: &'a [Resource],
    #[serde(rename = "type")]
    token_type: &'a str,
    expiration_date: Option<String>,
    validity_duration: Option<i64>,
    /// Ours, left out of plain tokens: their bytes stay the Python service's.
    #[serde(skip_serializing_if = "Option::is_none")]
    protected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unlocked: Option<String>,
}

/// The claims as the Python service wrote them over the years (auth-wire's reader, the landing
/// page's too).
type ClaimsIn = ShareClaims<Resource>;

fn share_from_claims(c: ClaimsIn) -> Result<ShareToken, DecodeError> {
    let unreadable = |reason| DecodeError::Unreadable {
        token_type: None,
        reason,
    };
    let token_type = match c.token_type.as_deref() {
        None => None,
        Some(name) => Some(TokenType::parse(name).ok_or(unreadable("unknown token type"))?),
    };
    let expiration_date = c
        .expiration()
        .map_err(|_| DecodeError::Unreadable {
            token_type,
            reason: "expiration date without offset or unreadable",
        })?
        .map(|at| ExpirationDate::new(at, DateStyle::Parsed));
    let guard = match (c.protected, c.unlocked) {
        (None, None) => Guard::Open,
        (Some(nonce), None) => Guard::Protected(nonce),
        (None, Some(id)) => {
            Guard::Unlocked(ShareId::parse(&id).ok_or(DecodeError::Unreadable {
                token_type,
                reason: "unlocked share id unreadable",
            })?)
        }
        (Some(_), Some(_)) => {
            return Err(DecodeError::Unreadable {
                token_type,
                reason: "both protected and unlocked",
            })
        }
    };
    Ok(ShareToken {
        id: c.id,
        resources: c.resources,
        token_type,
        expiration_date,
        validity_duration: c.validity_duration,
        guard,
    })
}

/// Python's `json.dumps(obj, separators=(",", ":"))` with its default `ensure_ascii=True`.
pub fn python_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    // Serialising our own plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// First 8 hex digits of the SHA-256 of a secret (defined in auth-wire, the landing page's too):
/// enough to tell two tokens apart in logs, useless to an attacker. For a token, the start of
/// its registry id (`ShareId::fingerprint` gives it from the id without hashing again).
pub use auth_wire::token_fingerprint as fingerprint;

/// The plugin and some clients send `Bearer <token>`; the Python service strips every `Bearer `.
pub fn strip_bearer(mut token: &str) -> &str {
    while let Some(rest) = token.strip_prefix("Bearer ") {
        token = rest;
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_escapes_non_ascii_like_ensure_ascii() {
        let v = serde_json::json!({"id": "été-日本-😀", "q": "a\"b\\c\n\u{1f}"});
        let out = String::from_utf8(python_json(&v)).unwrap_or_default();
        assert_eq!(
            out,
            r#"{"id":"\u00e9t\u00e9-\u65e5\u672c-\ud83d\ude00","q":"a\"b\\c\n\u001f"}"#
        );
    }

    #[test]
    fn fingerprint_is_eight_hex_digits() {
        assert_eq!(fingerprint("abc"), "ba7816bf");
    }

    #[test]
    fn bearer_prefixes_are_stripped_repeatedly() {
        assert_eq!(strip_bearer("Bearer Bearer x"), "x");
        assert_eq!(strip_bearer("bearer x"), "bearer x");
    }
}
