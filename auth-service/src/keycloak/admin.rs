//! Keycloak's admin REST API as client `admin-cli` (client-credentials grant): api-key, user and
//! realm-role look-ups. The access token is kept until shortly before it expires and fetched
//! again once when Keycloak answers 401.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{unreachable, without_query, KeycloakUnavailable, Realm};

/// Look-ups remembered at most; past that the cache starts afresh.
const API_KEY_CACHE_MAX: usize = 10_000;
/// Renew the admin token this long before Keycloak says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// A Keycloak user as a profile needs it.
#[derive(Clone, Debug)]
pub struct KeycloakUser {
    pub id: String,
    pub username: String,
    /// Composite realm roles (only filled by the api-key look-up).
    pub roles: Vec<String>,
}

#[derive(Deserialize)]
struct UserRepresentation {
    id: String,
    username: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(rename = "notBefore", default)]
    not_before: i64,
    #[serde(default)]
    attributes: HashMap<String, Vec<String>>,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize)]
struct RoleRepresentation {
    name: String,
    #[serde(default)]
    composite: bool,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// SHA-256 of an api-key → when it was looked up, and the user found (or none).
type ApiKeyCache = HashMap<[u8; 32], (Instant, Option<KeycloakUser>)>;

struct AdminToken {
    value: String,
    renew_at: Instant,
}

pub struct KeycloakAdmin {
    realm: Arc<Realm>,
    admin_uri: Url,
    client_secret: SecretString,
    token: tokio::sync::Mutex<Option<AdminToken>>,
    api_key_cache_for: Duration,
    api_key_cache: Mutex<ApiKeyCache>,
}

impl KeycloakAdmin {
    pub(super) fn new(
        realm: Arc<Realm>,
        admin_uri: Url,
        client_secret: SecretString,
        api_key_cache_for: Duration,
    ) -> Self {
        KeycloakAdmin {
            realm,
            admin_uri,
            client_secret,
            token: tokio::sync::Mutex::new(None),
            api_key_cache_for,
            api_key_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The enabled, already-valid user whose attribute `api-key` is exactly `api_key`, with its
    /// composite realm roles. None when no user or several users hold it.
    pub async fn user_by_api_key(
        &self,
        api_key: &str,
    ) -> Result<Option<KeycloakUser>, KeycloakUnavailable> {
        let digest: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        if let Some(hit) = self.cached(&digest) {
            return Ok(hit);
        }
        let found = self.look_up_api_key(api_key).await?;
        if let Ok(mut cache) = self.api_key_cache.lock() {
            if cache.len() >= API_KEY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(digest, (Instant::now(), found.clone()));
        }
        Ok(found)
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Option<KeycloakUser>> {
        let cache = self.api_key_cache.lock().ok()?;
        let (at, user) = cache.get(digest)?;
        (at.elapsed() < self.api_key_cache_for).then(|| user.clone())
    }

    async fn look_up_api_key(
        &self,
        api_key: &str,
    ) -> Result<Option<KeycloakUser>, KeycloakUnavailable> {
        let mut url = self.url("users")?;
        url.query_pairs_mut()
            .append_pair("q", &format!("api-key:{api_key}"))
            .append_pair("exact", "true");
        let users: Vec<UserRepresentation> = self.get(url).await?;
        // Keycloak's search is looser than equality on some versions: check it ourselves.
        let mut matching = users.into_iter().filter(|u| {
            u.attributes
                .get("api-key")
                .is_some_and(|keys| keys.iter().any(|k| k == api_key))
        });
        let (Some(user), None) = (matching.next(), matching.next()) else {
            tracing::warn!("api-key held by no user, or by several users: anonymous profile");
            return Ok(None);
        };
        if !user.enabled {
            tracing::warn!(user = %user.username, "api-key of a disabled user: anonymous profile");
            return Ok(None);
        }
        if user.not_before > Utc::now().timestamp() {
            tracing::warn!(user = %user.username, "api-key of a user not valid yet: anonymous profile");
            return Ok(None);
        }
        let roles_url = self.url(&format!(
            "users/{}/role-mappings/realm/composite",
            encode_segment(&user.id)
        ))?;
        let roles: Vec<RoleRepresentation> = self.get(roles_url).await?;
        Ok(Some(KeycloakUser {
            id: user.id,
            username: user.username,
            roles: roles.into_iter().map(|r| r.name).collect(),
        }))
    }

    /// The user with this id, or None when Keycloak does not know it.
    pub async fn user(&self, id: &str) -> Result<Option<KeycloakUser>, KeycloakUnavailable> {
        let url = self.url(&format!("users/{}", encode_segment(id)))?;
        let user: Option<UserRepresentation> = self.get_optional(url).await?;
        Ok(user.map(|u| KeycloakUser {
            id: u.id,
            username: u.username,
            roles: vec![],
        }))
    }

    /// The realm roles a roles file may configure: Keycloak's own default and composite roles
    /// left out, as the Python service does.
    pub async fn realm_roles(&self) -> Result<Vec<String>, KeycloakUnavailable> {
        let roles: Vec<RoleRepresentation> = self.get(self.url("roles")?).await?;
        Ok(roles
            .into_iter()
            .filter(|r| !r.composite && r.name != "uma_authorization" && r.name != "offline_access")
            .map(|r| r.name)
            .collect())
    }

    fn url(&self, path: &str) -> Result<Url, KeycloakUnavailable> {
        self.admin_uri
            .join(path)
            .map_err(|e| KeycloakUnavailable(format!("bad KEYCLOAK_ADMIN_URI: {e}")))
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, KeycloakUnavailable> {
        self.get_optional(url.clone()).await?.ok_or_else(|| {
            KeycloakUnavailable(format!(
                "Keycloak answered 404 to GET {}",
                without_query(&url)
            ))
        })
    }

    /// GET with the admin token; a 404 is None; a 401 fetches a new token and tries once more.
    async fn get_optional<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Option<T>, KeycloakUnavailable> {
        let mut renewed = false;
        loop {
            let token = self.admin_token(renewed).await?;
            let send = self.realm.http.get(url.clone()).bearer_auth(token).send();
            let response = self
                .realm
                .calls
                .time_http(send)
                .await
                .map_err(|e| unreachable(&url, &e))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(KeycloakUnavailable(format!(
                    "Keycloak answered {status} to GET {}",
                    without_query(&url)
                )));
            }
            return response.json::<T>().await.map(Some).map_err(|e| {
                KeycloakUnavailable(format!(
                    "Keycloak's answer to GET {} is not what was expected ({e})",
                    without_query(&url)
                ))
            });
        }
    }

    async fn admin_token(&self, renew: bool) -> Result<String, KeycloakUnavailable> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref() {
            if !renew && Instant::now() < token.renew_at {
                return Ok(token.value.clone());
            }
        }
        let endpoint = super::Discovery::url(&self.realm.discovery().await?.token_endpoint)?;
        let send = self
            .realm
            .http
            .post(endpoint.clone())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "admin-cli"),
                ("client_secret", self.client_secret.expose_secret()),
            ])
            .send();
        let response = self
            .realm
            .calls
            .time_http(send)
            .await
            .map_err(|e| unreachable(&endpoint, &e))?;
        let status = response.status();
        if !status.is_success() {
            *slot = None;
            return Err(KeycloakUnavailable(format!(
                "Keycloak refused the admin-cli client credentials ({status}): check KEYCLOAK_CLIENT_SECRET"
            )));
        }
        let answer: TokenAnswer = response.json().await.map_err(|e| {
            KeycloakUnavailable(format!(
                "Keycloak's token answer is not what was expected ({e})"
            ))
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60));
        *slot = Some(AdminToken {
            value: answer.access_token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
        });
        Ok(answer.access_token)
    }
}

/// A user id as one path segment (ids are UUIDs, but never let one add a path).
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
