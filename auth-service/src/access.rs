//! The one access decision for a share token and a resource. The plugin's `POST /tokens/validate`
//! and the nginx gate both ask it, so a rule (expiry, server id, revocation, resource match) is
//! written once and every caller denies for the same reasons.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::domain::{ShareId, ShareToken};
use crate::share_token::{fingerprint, DecodeError, ShareTokenCodec};
use crate::shares::{KnownShares, Standing};

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
    /// A share revoked in the registry.
    Revoked,
    /// A share opened past its use limit.
    UsedUp,
}

impl Denial {
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Missing => "missing",
            Denial::Invalid => "invalid",
            Denial::Expired => "expired",
            Denial::Forbidden => "forbidden",
            Denial::Revoked => "revoked",
            Denial::UsedUp => "used-up",
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
    /// The registry's in-memory view: revoked and used-up shares, and which shares exist.
    known: Arc<KnownShares>,
    /// REQUIRE_REGISTERED_TOKENS: a token the registry does not hold is refused as invalid.
    require_registered: bool,
}

impl AccessPolicy {
    pub fn new(
        codec: ShareTokenCodec,
        server_id: Option<String>,
        known: Arc<KnownShares>,
        require_registered: bool,
    ) -> Self {
        Self::with_cache_bytes(
            codec,
            server_id,
            known,
            require_registered,
            VERIFIED_CACHE_BYTES,
        )
    }

    /// `cache_bytes` 0 turns the verified-share cache off (the property tests compare both paths).
    pub fn with_cache_bytes(
        codec: ShareTokenCodec,
        server_id: Option<String>,
        known: Arc<KnownShares>,
        require_registered: bool,
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
            known,
            require_registered,
        }
    }

    /// What the registry says of a token (signature already checked): its id, or why it is
    /// refused whatever it asks for. Asked on every request, cached share or not, so a
    /// revocation applies at once.
    pub fn registered(&self, token: &str) -> Result<ShareId, Denial> {
        let id = ShareId::of_token(token);
        match self.known.standing(&id) {
            Standing::Revoked => Err(Denial::Revoked),
            Standing::UsedUp => Err(Denial::UsedUp),
            Standing::Unknown if self.require_registered => Err(Denial::Invalid),
            Standing::Unknown | Standing::Active => Ok(id),
        }
    }

    /// A landing-page open of a share: counts one use, refused once past the share's limit.
    pub fn open(&self, id: &ShareId, now: DateTime<Utc>) -> Result<(), Denial> {
        match self.known.open(id, now.timestamp_millis()) {
            Standing::Revoked => Err(Denial::Revoked),
            Standing::UsedUp => Err(Denial::UsedUp),
            Standing::Unknown | Standing::Active => Ok(()),
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
        let id = self.registered(token)?;
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
        self.known.note_use(&id, now.timestamp_millis());
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
        policy_with(server_id, Arc::new(KnownShares::new()), false)
    }

    fn policy_with(
        server_id: Option<&str>,
        known: Arc<KnownShares>,
        require_registered: bool,
    ) -> AccessPolicy {
        AccessPolicy::new(
            ShareTokenCodec::new(&SecretString::from("access-secret")),
            server_id.map(str::to_owned),
            known,
            require_registered,
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

    #[test]
    fn revoked_used_up_and_unregistered_shares_are_refused() {
        let now = Utc::now();
        let known = Arc::new(KnownShares::new());
        let p = policy_with(None, known.clone(), false);
        let study = Target {
            dicom_uid: Some("1.2"),
            ..Target::default()
        };
        let good = token(&p, None);
        let id = ShareId::of_token(&good);
        assert!(
            p.decide(Some(&good), &study, now).is_ok(),
            "unknown shares still validate"
        );
        known.insert(crate::shares::KnownShare {
            id,
            max_uses: Some(1),
            uses: 0,
            revoked: false,
        });
        assert_eq!(p.open(&id, now), Ok(()));
        assert!(p.decide(Some(&good), &study, now).is_ok());
        assert_eq!(p.open(&id, now), Err(Denial::UsedUp));
        assert_eq!(p.decide(Some(&good), &study, now), Err(Denial::UsedUp));
        known.revoke(&id);
        assert_eq!(p.decide(Some(&good), &study, now), Err(Denial::Revoked));
        assert_eq!(Denial::UsedUp.reason(), "used-up");
        let strict = policy_with(None, Arc::new(KnownShares::new()), true);
        assert_eq!(
            strict.decide(Some(&good), &study, now),
            Err(Denial::Invalid)
        );
    }
}
