//! Verification of realm access tokens: RS256 only, with the realm's keys (JWKS from discovery),
//! issuer of this realm, audience `account`, `exp`/`nbf` with a small leeway, and no `iat` in
//! the future beyond it (as PyJWT, which the Python service used). `exp` is required: a token
//! without one would grant for ever (PyJWT accepted it). Keys are cached; an
//! unknown `kid` triggers one refetch, at most once per refresh interval, so garbage tokens cannot
//! make us hammer Keycloak, and tokens keep verifying while Keycloak is down.
//!
//! A token that verified is remembered (by its SHA-256) until its own `exp`, and only while the
//! realm still publishes its key: OE2 sends the same access token on every request for its whole
//! life, and an RS256 check costs ~140 µs of CPU here.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{get_json, Realm};
use crate::share_token::fingerprint;

/// Clock difference tolerated between Keycloak and us.
const LEEWAY_SECONDS: u64 = 30;

/// At most this many verified tokens are remembered; past it, the expired ones are dropped, and if
/// that is not enough, all of them (they verify again on their next use).
const MAX_VERIFIED_TOKENS: usize = 10_000;

/// Keys tried for a token whose header names none. Keycloak publishes one or two signing keys
/// per algorithm; the bound keeps a forged token's cost to a few RSA checks.
const MAX_KEYS_TRIED: usize = 4;

/// Keys to try (with their kid), and the realm's issuer path.
type Candidates = (Vec<(String, Arc<DecodingKey>)>, String);

/// What a profile is built from.
#[derive(Clone, Debug, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// Seconds since the epoch; required by the validation.
    pub exp: u64,
    /// Seconds since the epoch; a value that is not a number makes the token unreadable
    /// (refused, as PyJWT refused it).
    #[serde(default)]
    pub iat: Option<f64>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub realm_access: Option<RealmAccess>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RealmAccess {
    /// `"roles": null` is no role, as in Python (the user keeps their name, with no rights).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub roles: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

struct KeyCache {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// `/realms/NAME`: the realm part of the issuer. Keycloak names the issuer after the host the
    /// browser used, which differs from KEYCLOAK_URI behind nginx, so only the path is compared.
    issuer_path: Option<String>,
    last_fetch: Option<Instant>,
}

pub(super) struct RealmKeys {
    realm: Arc<Realm>,
    refresh_interval: Duration,
    cache: RwLock<KeyCache>,
    fetching: tokio::sync::Mutex<()>,
    /// SHA-256 of a verified token → the key id it was signed with, and its claims.
    verified: RwLock<HashMap<[u8; 32], (String, AccessClaims)>>,
}

impl RealmKeys {
    pub(super) fn new(realm: Arc<Realm>, refresh_interval: Duration) -> Self {
        RealmKeys {
            realm,
            refresh_interval,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                issuer_path: None,
                last_fetch: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            verified: RwLock::new(HashMap::new()),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// A token verified before, not expired since (same leeway as the validation), whose key the
    /// realm still publishes.
    fn remembered(&self, digest: &[u8; 32]) -> Option<AccessClaims> {
        let verified = self.verified.read().ok()?;
        let (kid, claims) = verified.get(digest)?;
        let key_published = self.cache.read().ok()?.keys.contains_key(kid);
        (key_published && Self::now() < claims.exp + LEEWAY_SECONDS).then(|| claims.clone())
    }

    fn remember(&self, digest: [u8; 32], kid: String, claims: &AccessClaims) {
        let Ok(mut verified) = self.verified.write() else {
            return;
        };
        if verified.len() >= MAX_VERIFIED_TOKENS {
            let now = Self::now();
            verified.retain(|_, (_, c)| now < c.exp + LEEWAY_SECONDS);
            if verified.len() >= MAX_VERIFIED_TOKENS {
                verified.clear();
            }
        }
        verified.insert(digest, (kid, claims.clone()));
    }

    pub(super) async fn verify(&self, token: &str) -> Option<AccessClaims> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.remembered(&digest) {
            return Some(claims);
        }
        let (kid, claims) = self.verify_signature_and_claims(token).await?;
        self.remember(digest, kid, &claims);
        Some(claims)
    }

    async fn verify_signature_and_claims(&self, token: &str) -> Option<(String, AccessClaims)> {
        let refused = |reason: &str| {
            tracing::info!(token = %fingerprint(token), reason, "access token refused: anonymous profile");
            None
        };
        let header = match decode_header(token) {
            Ok(h) => h,
            Err(_) => return refused("not a JWT"),
        };
        if header.alg != Algorithm::RS256 {
            return refused("not signed with RS256");
        }
        // Keycloak names its key in `kid`; a token without one (other issuers, older set-ups:
        // the Python service checked every token against the realm's one public key) is tried
        // against each published signing key, a handful at most.
        let Some((keys, issuer_path)) = self.keys(header.kid.as_deref()).await else {
            return refused("signed with a key the realm does not publish");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_audience(&["account"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        for (kid, key) in keys {
            let claims = match decode::<AccessClaims>(token, &key, &validation) {
                Ok(data) => data.claims,
                // The signature is checked before the claims: another key may be the one.
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => continue,
                Err(e) => return refused(&e.to_string()),
            };
            let iss_path = url::Url::parse(&claims.iss)
                .map(|u| u.path().trim_end_matches('/').to_owned())
                .unwrap_or_default();
            if !iss_path.ends_with(&issuer_path) {
                return refused("issued by another realm");
            }
            if claims
                .iat
                .is_some_and(|iat| iat > (Self::now() + LEEWAY_SECONDS) as f64)
            {
                return refused("issued in the future");
            }
            return Some((kid, claims));
        }
        refused("the signature matches no realm key")
    }

    /// The key named `kid`, or without a kid the first [`MAX_KEYS_TRIED`] keys; with the
    /// realm's issuer path.
    fn lookup(&self, kid: Option<&str>) -> Option<Candidates> {
        let cache = self.cache.read().ok()?;
        let keys: Vec<(String, Arc<DecodingKey>)> = match kid {
            Some(kid) => vec![(kid.to_owned(), cache.keys.get(kid)?.clone())],
            None => cache
                .keys
                .iter()
                .take(MAX_KEYS_TRIED)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        if keys.is_empty() {
            return None;
        }
        Some((keys, cache.issuer_path.clone()?))
    }

    async fn keys(&self, kid: Option<&str>) -> Option<(Vec<(String, Arc<DecodingKey>)>, String)> {
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        // One fetch at a time; whoever waited finds the fresh keys.
        let _one = self.fetching.lock().await;
        if let Some(found) = self.lookup(kid) {
            return Some(found);
        }
        let recent = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.last_fetch)
            .is_some_and(|t| t.elapsed() < self.refresh_interval);
        if recent {
            return None;
        }
        if let Ok(mut cache) = self.cache.write() {
            cache.last_fetch = Some(Instant::now());
        }
        match self.fetch().await {
            Ok((keys, issuer_path)) => {
                tracing::info!(keys = keys.len(), "realm keys fetched");
                if let Ok(mut cache) = self.cache.write() {
                    cache.keys = keys;
                    cache.issuer_path = Some(issuer_path);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the realm keys: keeping the cached ones")
            }
        }
        self.lookup(kid)
    }

    async fn fetch(
        &self,
    ) -> Result<(HashMap<String, Arc<DecodingKey>>, String), super::KeycloakUnavailable> {
        let discovery = self.realm.discovery().await?;
        let set: JwkSet = self
            .realm
            .calls
            .time(get_json(
                &self.realm.http,
                super::Discovery::url(&discovery.jwks_uri)?,
                None,
            ))
            .await?;
        let keys = set
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "sig"))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .filter_map(|k| {
                let key =
                    DecodingKey::from_rsa_components(k.n.as_deref()?, k.e.as_deref()?).ok()?;
                Some((k.kid?, Arc::new(key)))
            })
            .collect();
        let issuer_path = url::Url::parse(&discovery.issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .map_err(|e| {
                super::KeycloakUnavailable(format!("the discovered issuer is not a URL ({e})"))
            })?;
        let issuer_path = match issuer_path.rfind("/realms/") {
            Some(i) => issuer_path[i..].to_owned(),
            None => issuer_path,
        };
        Ok((keys, issuer_path))
    }
}
