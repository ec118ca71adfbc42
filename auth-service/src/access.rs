//! The one access decision for a share token and a resource. The plugin's `POST /tokens/validate`
//! and the nginx gate both ask it, so a rule (expiry, server id, revocation, resource match) is
//! written once and every caller denies for the same reasons.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::domain::{Guard, Level, ShareId, ShareToken, TokenType};
use crate::share_token::{fingerprint, DecodeError, ShareTokenCodec};
use crate::shares::{KnownShares, ShareRegistry, Standing};

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
    /// The token of a protected link (or of a share bound to e-mail addresses): it opens the
    /// landing page's form only. The visitor's unlocked session token is what opens data.
    Protected,
}

impl Denial {
    pub const ALL: [Denial; 7] = [
        Denial::Missing,
        Denial::Invalid,
        Denial::Expired,
        Denial::Forbidden,
        Denial::Revoked,
        Denial::UsedUp,
        Denial::Protected,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Denial::Missing => "missing",
            Denial::Invalid => "invalid",
            Denial::Expired => "expired",
            Denial::Forbidden => "forbidden",
            Denial::Revoked => "revoked",
            Denial::UsedUp => "used-up",
            Denial::Protected => "protected",
        }
    }
}

/// The resource a request touches, as ids (either may be absent), and the server id it names.
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub dicom_uid: Option<&'a str>,
    pub orthanc_id: Option<&'a str>,
    pub server_id: Option<&'a str>,
    /// How the resource is used, when the caller knows it (the gate). The plugin checks methods
    /// itself and asks about DICOMweb reads with `"method":"post"`, so validate leaves it out,
    /// and keeps the Python service's level-blind match.
    pub usage: Option<Usage>,
}

/// A token whose signature and claims were checked: its share and its registry id. What the
/// verified-share cache holds, and what [`AccessPolicy::admit`] hands on once the registry and
/// the expiry agree too. For a visitor's session on an unlocked protected share, the id is the
/// share's: revoking it, or using it up, refuses every session at once.
#[derive(Clone, Debug)]
pub struct Verified {
    pub share: Arc<ShareToken>,
    pub id: ShareId,
}

impl Verified {
    /// A session token of an unlocked protected share.
    pub fn is_unlocked(&self) -> bool {
        matches!(self.share.guard, Guard::Unlocked(_))
    }
}

/// A visitor's read of a resource, as the gate sees it from the original request (the gate
/// refuses every other method before asking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub route: RouteKind,
    /// Where the resource sits in Orthanc: a share holds it only through a resource of this
    /// very level (a study's UID never opens a patient whose PatientID happens to equal it).
    pub level: Level,
}

/// The kind of Orthanc route a request reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Everything a viewer reads: JSON, tags, previews, frames, DICOMweb.
    View,
    /// Whole files: `.../archive`, `.../media`, `/instances/{id}/file`.
    Download,
}

/// What the decision needs, built once at start.
pub struct AccessPolicy {
    codec: ShareTokenCodec,
    server_id: Option<String>,
    /// Shares whose signature and claims were already checked, by token text: a repeat skips the
    /// HMAC and the JSON. Only the signature work is remembered; expiry, server id, revocation and
    /// the resource match are decided anew on every request.
    /// The registry id (a SHA-256 of the token) is kept with the share, so a repeat hashes nothing.
    verified: Option<Cache<Arc<str>, Verified, foldhash::fast::RandomState>>,
    /// The registry's in-memory view: revoked and used-up shares, and which shares exist.
    known: Arc<KnownShares>,
    /// REQUIRE_REGISTERED_TOKENS: a token the registry does not hold is refused as invalid.
    require_registered: bool,
    /// Where a share not held here is looked up before it is refused (see `sight`).
    registry: Option<Arc<ShareRegistry>>,
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
                .weigher(|token: &Arc<str>, verified: &Verified| {
                    let id = std::mem::size_of::<ShareId>();
                    u32::try_from(token.len() + id + verified.share.approximate_size())
                        .unwrap_or(u32::MAX)
                })
                .build_with_hasher(foldhash::fast::RandomState::default())
        });
        AccessPolicy {
            codec,
            server_id,
            verified,
            known,
            require_registered,
            registry: None,
        }
    }

    /// Looks shares this replica has not seen up in `registry` (see `sight`).
    pub fn sighting(mut self, registry: Arc<ShareRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// With REQUIRE_REGISTERED_TOKENS, a share this replica has not seen may have been created
    /// on another replica a moment ago: it is looked up in the database once before the token
    /// is judged (an unknown one is then refused, and not looked up again for a second). Only a
    /// token whose signature holds reaches the database. Call before [`AccessPolicy::decide`] or
    /// [`AccessPolicy::admit`].
    pub async fn sight(&self, token: Option<&str>) {
        let (Some(registry), true) = (&self.registry, self.require_registered) else {
            return;
        };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return;
        };
        if let Ok(verified) = self.share(token) {
            registry.sight(&verified.id).await;
        }
    }

    /// What the registry says of a share (signature already checked): nothing, or why it is
    /// refused whatever it asks for. Asked on every request, cached share or not, so a
    /// revocation applies at once.
    pub fn registered(&self, id: &ShareId) -> Result<(), Denial> {
        match self.known.standing(id) {
            Standing::Revoked => Err(Denial::Revoked),
            Standing::UsedUp => Err(Denial::UsedUp),
            Standing::Unknown if self.require_registered => Err(Denial::Invalid),
            Standing::Unknown | Standing::Active => Ok(()),
        }
    }

    /// A landing-page open of a share: counts one use, refused once past the share's limit.
    pub fn count_use(&self, id: &ShareId, now: DateTime<Utc>) -> Result<(), Denial> {
        match self.known.count_use(id, now.timestamp_millis()) {
            Standing::Revoked => Err(Denial::Revoked),
            Standing::UsedUp => Err(Denial::UsedUp),
            Standing::Unknown | Standing::Active => Ok(()),
        }
    }

    pub fn codec(&self) -> &ShareTokenCodec {
        &self.codec
    }

    /// `SERVER_ID`, which the gate names as its own (it guards this very Orthanc).
    pub fn server_id(&self) -> Option<&str> {
        self.server_id.as_deref()
    }

    /// The share a token grants for `target` at `now`, or why not. Every doubt is a denial.
    pub fn decide(
        &self,
        token: Option<&str>,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Result<Arc<ShareToken>, Denial> {
        let outcome = self.admit(token, now).and_then(|admitted| {
            self.authorize(&admitted, target, now)
                .map(|()| admitted.share)
        });
        if tracing::enabled!(tracing::Level::DEBUG) {
            let token = fingerprint(token.unwrap_or_default());
            match &outcome {
                Ok(_) => tracing::debug!(%token, "access granted"),
                Err(d) => tracing::debug!(%token, reason = d.reason(), "access denied"),
            }
        }
        outcome
    }

    /// The first half of [`AccessPolicy::decide`]: what the token alone says (present, ours,
    /// not expired). The gate asks it before looking the resource up in Orthanc, so tokenless
    /// or forged requests never cost an Orthanc call.
    pub fn admit(&self, token: Option<&str>, now: DateTime<Utc>) -> Result<Verified, Denial> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Denial::Missing)?;
        let verified = self.share(token).map_err(|_| Denial::Invalid)?;
        self.registered(&verified.id)?;
        if verified.share.is_expired(now) {
            return Err(Denial::Expired);
        }
        self.unprotected(&verified)?;
        Ok(verified)
    }

    /// Refuses the token of a protected link, and the plain token of a share since bound to
    /// e-mail addresses: only a session token unlocked through the landing page opens data.
    pub fn unprotected(&self, verified: &Verified) -> Result<(), Denial> {
        let protected = match verified.share.guard {
            Guard::Unlocked(_) => false,
            Guard::Protected(_) => true,
            Guard::Open => self.known.is_protected(&verified.id),
        };
        if protected {
            return Err(Denial::Protected);
        }
        Ok(())
    }

    /// The second half: whether an admitted share covers `target`. A grant is noted as a use
    /// of the share (last used at; batched, never a write here).
    pub fn authorize(
        &self,
        admitted: &Verified,
        target: &Target<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Denial> {
        if let Some(expected) = &self.server_id {
            if target.server_id != Some(expected.as_str()) {
                return Err(Denial::Forbidden);
            }
        }
        let share = &admitted.share;
        let covered = match target.usage {
            Some(usage) => share.holds(
                usage.level,
                target.dicom_uid.unwrap_or_default(),
                target.orthanc_id.unwrap_or_default(),
            ),
            None => share.grants(target.dicom_uid, target.orthanc_id),
        };
        if !covered {
            return Err(Denial::Forbidden);
        }
        if let Some(usage) = target.usage {
            allows_route(share, usage.route)?;
        }
        self.known.note_use(&admitted.id, now.timestamp_millis());
        Ok(())
    }

    /// A read of the server's own description (the gate's `GET /system`, which Stone asks at
    /// start): no patient data, so any admitted share that opens a viewer may read it.
    pub fn authorize_server_read(
        &self,
        admitted: &Verified,
        now: DateTime<Utc>,
    ) -> Result<(), Denial> {
        allows_route(&admitted.share, RouteKind::View)?;
        self.known.note_use(&admitted.id, now.timestamp_millis());
        Ok(())
    }

    /// The token's fingerprint for a log line: from its registry id when the token was verified
    /// before (no second SHA-256 of the token on the hot path), else hashed.
    pub fn fingerprint(&self, token: &str) -> String {
        match self.verified.as_ref().and_then(|cache| cache.get(token)) {
            Some(verified) => verified.id.fingerprint(),
            None => crate::share_token::fingerprint(token),
        }
    }

    /// The share a token carries once its signature and claims are checked (expiry not
    /// included), from the cache when this very token text was checked before. Refused tokens
    /// are never cached, so their error is always the codec's own.
    pub fn share(&self, token: &str) -> Result<Verified, DecodeError> {
        let verify = || {
            self.codec.decode(token).map(|share| {
                let id = match share.guard {
                    Guard::Unlocked(share_id) => share_id,
                    _ => ShareId::of_token(token),
                };
                Verified {
                    share: Arc::new(share),
                    id,
                }
            })
        };
        let Some(cache) = &self.verified else {
            return verify();
        };
        if let Some(verified) = cache.get(token) {
            return Ok(verified);
        }
        let verified = verify()?;
        cache.insert(Arc::from(token), verified.clone());
        Ok(verified)
    }
}

/// Download links open whole files only (archives, media, DICOM files), never a viewer's reads.
fn allows_route(share: &ShareToken, route: RouteKind) -> Result<(), Denial> {
    let download_only = share.token_type == Some(TokenType::DownloadInstantLink);
    if download_only && route != RouteKind::Download {
        return Err(Denial::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use secrecy::SecretString;

    use super::*;
    use crate::domain::{ExpirationDate, Level, Resource};

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
        typed_token(policy, expires, TokenType::StoneViewerPublication)
    }

    fn typed_token(
        policy: &AccessPolicy,
        expires: Option<DateTime<Utc>>,
        token_type: TokenType,
    ) -> String {
        let share = ShareToken {
            id: None,
            resources: vec![Resource {
                dicom_uid: Some("1.2".into()),
                orthanc_id: Some("o1".into()),
                url: None,
                level: Level::Study,
            }],
            token_type: Some(token_type),
            expiration_date: expires.and_then(|at| ExpirationDate::after(at, 0)),
            validity_duration: None,
            guard: Guard::Open,
        };
        policy.codec().encode(&share, token_type)
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
        known.insert(crate::shares::KnownShare::new(id, Some(1), false));
        assert_eq!(p.count_use(&id, now), Ok(()));
        assert!(p.decide(Some(&good), &study, now).is_ok());
        assert_eq!(p.count_use(&id, now), Err(Denial::UsedUp));
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

    #[test]
    fn a_known_usage_takes_the_level_and_download_links_open_files_only() {
        let now = Utc::now();
        let p = policy(None);
        let target = |level, route| Target {
            dicom_uid: Some("1.2"),
            orthanc_id: Some("o1"),
            usage: Some(Usage { route, level }),
            ..Target::default()
        };
        let viewer = typed_token(&p, None, TokenType::ViewerInstantLink);
        let download = typed_token(&p, None, TokenType::DownloadInstantLink);
        let decide = |t: &str, level, route| p.decide(Some(t), &target(level, route), now);
        assert!(decide(&viewer, Level::Study, RouteKind::View).is_ok());
        assert!(decide(&viewer, Level::Study, RouteKind::Download).is_ok());
        // The same ids at another level: not what was shared.
        for level in [Level::Patient, Level::Series, Level::Instance] {
            assert_eq!(
                decide(&viewer, level, RouteKind::View),
                Err(Denial::Forbidden),
                "{level:?}"
            );
        }
        assert!(decide(&download, Level::Study, RouteKind::Download).is_ok());
        assert_eq!(
            decide(&download, Level::Study, RouteKind::View),
            Err(Denial::Forbidden)
        );
        let admitted = p.admit(Some(&download), now).expect("admitted");
        assert_eq!(
            p.authorize_server_read(&admitted, now),
            Err(Denial::Forbidden)
        );
        let admitted = p.admit(Some(&viewer), now).expect("admitted");
        assert_eq!(p.authorize_server_read(&admitted, now), Ok(()));
        // The plugin's questions carry no usage: a download link keeps validating as before,
        // level-blind as the Python service.
        let plugin = Target {
            dicom_uid: Some("1.2"),
            ..Target::default()
        };
        assert!(p.decide(Some(&download), &plugin, now).is_ok());
    }
}
