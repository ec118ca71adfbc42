//! Keycloak, the user directory: realm keys found by OpenID discovery verify access tokens, and
//! the admin REST API (client `admin-cli`) answers api-key, user and role look-ups.
mod admin;
mod realm_keys;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use url::Url;

pub use admin::{
    is_keycloak_default_role, ApiKey, KeycloakAdmin, KeycloakUser, RealmRoles, RealmUser,
    USERS_PAGE_SIZE,
};
pub use realm_keys::AccessClaims;
use realm_keys::RealmKeys;

use crate::metrics::DependencyCalls;
use crate::settings::KeycloakSettings;

/// The most we read of one Keycloak answer. Real ones (a realm's keys, a user, its roles, the
/// realm roles) are a few KiB; past this the answer is refused, as MedDream's are.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Keycloak could not answer (down, slow, refusing our credentials, or answering nonsense).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeycloakUnavailable(pub String);

/// The parts of the realm's OpenID configuration we use.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
}

impl Discovery {
    pub(crate) fn url(text: &str) -> Result<Url, KeycloakUnavailable> {
        Url::parse(text).map_err(|e| {
            KeycloakUnavailable(format!(
                "the realm's OpenID configuration holds a bad URL ({e})"
            ))
        })
    }
}

pub struct Keycloak {
    realm: Arc<Realm>,
    keys: RealmKeys,
    admin: Option<KeycloakAdmin>,
    api_keys: bool,
}

/// The realm's base URL and its discovered configuration, shared by the key cache and the admin
/// client.
pub(crate) struct Realm {
    http: reqwest::Client,
    uri: Url,
    discovery: RwLock<Option<Arc<Discovery>>>,
    /// Every call to Keycloak is timed here (metrics.rs).
    pub(crate) calls: DependencyCalls,
}

impl Realm {
    /// The discovery document, fetched once and then remembered.
    pub(crate) async fn discovery(&self) -> Result<Arc<Discovery>, KeycloakUnavailable> {
        if let Some(d) = self.cached_discovery() {
            return Ok(d);
        }
        let url = self
            .uri
            .join(".well-known/openid-configuration")
            .map_err(|e| KeycloakUnavailable(format!("bad KEYCLOAK_URI: {e}")))?;
        let discovery: Discovery = self
            .calls
            .time(get_json(&self.http, url.clone(), None))
            .await?;
        let discovery = Arc::new(discovery);
        if let Ok(mut slot) = self.discovery.write() {
            *slot = Some(discovery.clone());
        }
        Ok(discovery)
    }

    fn cached_discovery(&self) -> Option<Arc<Discovery>> {
        self.discovery.read().ok().and_then(|d| d.clone())
    }
}

impl Keycloak {
    pub fn new(settings: &KeycloakSettings) -> anyhow::Result<Keycloak> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("auth-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("Failed to build the Keycloak HTTP client")?;
        let realm = Arc::new(Realm {
            http,
            uri: with_trailing_slash(&settings.uri),
            discovery: RwLock::new(None),
            calls: DependencyCalls::new("keycloak")?,
        });
        let admin = settings.client_secret.clone().map(|secret| {
            KeycloakAdmin::new(
                realm.clone(),
                with_trailing_slash(&settings.admin_uri),
                secret,
                settings.api_key_cache,
            )
        });
        Ok(Keycloak {
            keys: RealmKeys::new(realm.clone(), settings.keys_refresh_interval),
            realm,
            admin,
            api_keys: settings.enable_api_keys,
        })
    }

    /// The claims of a realm access token whose signature, issuer, audience and dates hold;
    /// `None` for anything else (the caller is then anonymous).
    pub async fn verify_access_token(&self, token: &str) -> Option<AccessClaims> {
        self.keys.verify(token).await
    }

    /// Latency and errors of the calls to Keycloak.
    pub fn calls(&self) -> &DependencyCalls {
        &self.realm.calls
    }

    /// The admin client, when KEYCLOAK_CLIENT_SECRET is set.
    pub fn admin(&self) -> Option<&KeycloakAdmin> {
        self.admin.as_ref()
    }

    /// The admin client when api-keys are enabled.
    pub fn api_keys(&self) -> Option<&KeycloakAdmin> {
        self.admin.as_ref().filter(|_| self.api_keys)
    }

    /// Fetches the realm configuration and keys in the background so the first user does not wait.
    pub fn warm_up(self: &Arc<Self>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let keycloak = self.clone();
            runtime.spawn(async move {
                if let Err(e) = keycloak.realm.discovery().await {
                    tracing::warn!(error = %e, "Keycloak not reachable yet: tokens will be checked once it is");
                }
            });
        }
    }
}

fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// GET and parse a JSON answer; every failure is "unavailable" with a message naming the URL
/// (never a token).
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    bearer: Option<&str>,
) -> Result<T, KeycloakUnavailable> {
    let mut request = http.get(url.clone());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(KeycloakUnavailable(format!(
            "Keycloak answered {status} to GET {}",
            without_query(&url)
        )));
    }
    read_json(response, &url).await
}

/// A JSON answer read chunk by chunk, refused past [`MAX_ANSWER_BYTES`] (declared or not).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    mut response: reqwest::Response,
    url: &Url,
) -> Result<T, KeycloakUnavailable> {
    let too_large = || {
        KeycloakUnavailable(format!(
            "Keycloak's answer to {} is larger than {MAX_ANSWER_BYTES} bytes",
            without_query(url)
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        KeycloakUnavailable(format!(
            "Keycloak's answer to {} is not what was expected ({e})",
            without_query(url)
        ))
    })
}

pub(crate) fn unreachable(url: &Url, e: &reqwest::Error) -> KeycloakUnavailable {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    KeycloakUnavailable(format!("Keycloak at {} {why}", without_query(url)))
}

/// Query strings may carry an api-key: never put them in a message.
pub(crate) fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}
