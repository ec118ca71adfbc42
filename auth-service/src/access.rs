//! The one access decision for a share token and a resource. The plugin's `POST /tokens/validate`
//! and the nginx gate both ask it, so a rule (expiry, server id, revocation, resource match) is
//! written once and every caller denies for the same reasons.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::domain::ShareToken;
use crate::share_token::{fingerprint, DecodeError, ShareTokenCodec};

/// Memory the verified-share cache may hold, in approximate bytes (token text plus the decoded
/// share). A plugin asks about the same token for every instance of a study, so a few thousand
/// recent tokens cover real traffic; a flood of distinct tokens only evicts, never grows memory.
pub const VERIFIED_CACHE_BYTES: u64 = 1024 * 1024;

/// Why access was refused. The word of [`Denial::reason`] is what the gate sends nginx in
/// `X-Auth-Reason` and what the landing page renders from `?reason=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No token in the request.
    Missing,
    /// Not a share token of ours: bad signature, tampered, unreadable.
    Invalid,
    /// A good token past its expiration date.
    Expired,
    /// A good token for other resources, or another server id.
    Forbidden,
}

impl Denial {
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Missing => "missing",
            Denial::Invalid => "invalid",
            Denial::Expired => "expired",
            Denial::Forbidden => "forbidden",
        }
    }
}

/// The resource a request touches, as ids (either may be absent), and the server id it names.
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub dicom_uid: Option<&'a str>,
    pub orthanc_id: Option<&'a str>,
    pub server_id: Option<&'a str>,
}

/// What the decision needs, built once at start.
pub struct AccessPolicy {
    codec: ShareTokenCodec,
    server_id: Option<String>,
    /// Shares whose signature and claims were already checked, by token text: a repeat skips the
    /// HMAC and the JSON. Only the signature work is remembered; expiry, server id, revocation and
    /// the resource match are decided anew on every request.
    verified: Option<Cache<Arc<str>, Arc<ShareToken>>>,
}

impl AccessPolicy {
    pub fn new(codec: ShareTokenCodec, server_id: Option<String>) -> Self {
        Self::with_cache_bytes(codec, server_id, VERIFIED_CACHE_BYTES)
    }

    /// `cache_bytes` 0 turns the verified-share cache off (the property tests compare both paths).
    pub fn with_cache_bytes(
        codec: ShareTokenCodec,
        server_id: Option<String>,
        cache_bytes: u64,
    ) -> Self {
        let verified = (cache_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|token: &Arc<str>, share: &Arc<ShareToken>| {
                    u32::try_from(token.len() + share.approximate_size()).unwrap_or(u32::MAX)
                })
                .build()
        });
        AccessPolicy {
            codec,
            server_id,
            verified,
        }
    }

    pub fn codec(&self) -> &ShareTokenCodec {
        &self.codec
    }

    /// The share a token grants for `target` at `now`, or why not. Every doubt is a denial.
    pub fn decide(
        &self,
        token: Option<&str>,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<ShareToken>, Denial> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Denial::Missing)?;
        let outcome = self.decide_token(token, target, now);
        if tracing::enabled!(tracing::Level::DEBUG) {
            match &outcome {
                Ok(_) => tracing::debug!(token = %fingerprint(token), "access granted"),
                Err(d) => {
                    tracing::debug!(token = %fingerprint(token), reason = d.reason(), "access denied")
                }
            }
        }
        outcome
    }

    fn decide_token(
        &self,
        token: &str,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<ShareToken>, Denial> {
        let share = self.share(token).map_err(|_| Denial::Invalid)?;
        if share.is_expired(now) {
            return Err(Denial::Expired);
        }
        if let Some(expected) = &self.server_id {
            if target.server_id != Some(expected.as_str()) {
                return Err(Denial::Forbidden);
            }
        }
        if !share.grants(target.dicom_uid, target.orthanc_id) {
            return Err(Denial::Forbidden);
        }
        Ok(share)
    }

    /// The share a token carries once its signature and claims are checked (expiry not
    /// included), from the cache when this very token text was checked before. Refused tokens
    /// are never cached, so their error is always the codec's own.
    pub fn share(&self, token: &str) -> Result<Arc<ShareToken>, DecodeError> {
        let Some(cache) = &self.verified else {
            return self.codec.decode(token).map(Arc::new);
        };
        if let Some(share) = cache.get(token) {
            return Ok(share);
        }
        let share = Arc::new(self.codec.decode(token)?);
        cache.insert(Arc::from(token), share.clone());
        Ok(share)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use secrecy::SecretString;

    use super::*;
    use crate::domain::{ExpirationDate, Level, Resource, TokenType};

    fn policy(server_id: Option<&str>) -> AccessPolicy {
        AccessPolicy::new(
            ShareTokenCodec::new(&SecretString::from("access-secret")),
            server_id.map(str::to_owned),
        )
    }

    fn token(policy: &AccessPolicy, expires: Option<DateTime<Utc>>) -> String {
        let share = ShareToken {
            id: None,
            resources: vec![Resource {
                dicom_uid: Some("1.2".into()),
                orthanc_id: Some("o1".into()),
                url: None,
                level: Level::Study,
            }],
            token_type: Some(TokenType::StoneViewerPublication),
            expiration_date: expires.and_then(|at| ExpirationDate::after(at, 0)),
            validity_duration: None,
        };
        policy
            .codec()
            .encode(&share, TokenType::StoneViewerPublication)
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let now = Utc
            .with_ymd_and_hms(2030, 1, 1, 12, 0, 0)
            .single()
            .expect("date");
        let p = policy(None);
        let study = Target {
            dicom_uid: Some("1.2"),
            ..Target::default()
        };
        let other = Target {
            dicom_uid: Some("9.9"),
            ..Target::default()
        };
        let good = token(&p, None);
        assert!(p.decide(Some(&good), &study, now).is_ok());
        assert_eq!(p.decide(None, &study, now), Err(Denial::Missing));
        assert_eq!(p.decide(Some(""), &study, now), Err(Denial::Missing));
        assert_eq!(
            p.decide(Some(&format!("{good}x")), &study, now),
            Err(Denial::Invalid)
        );
        assert_eq!(p.decide(Some(&good), &other, now), Err(Denial::Forbidden));
        let past = token(&p, Some(now - chrono::Duration::seconds(1)));
        assert_eq!(p.decide(Some(&past), &study, now), Err(Denial::Expired));
        let future = token(&p, Some(now + chrono::Duration::seconds(1)));
        assert!(p.decide(Some(&future), &study, now).is_ok());
    }

    #[test]
    fn a_configured_server_id_must_match() {
        let now = Utc::now();
        let p = policy(Some("srv"));
        let good = token(&p, None);
        let mut target = Target {
            dicom_uid: Some("1.2"),
            ..Target::default()
        };
        assert_eq!(p.decide(Some(&good), &target, now), Err(Denial::Forbidden));
        target.server_id = Some("srv");
        assert!(p.decide(Some(&good), &target, now).is_ok());
    }
}
