//! Keycloak's admin REST API as client `admin-cli` (client-credentials grant): api-key, user and
//! realm-role look-ups. The access token is kept until shortly before it expires and fetched
//! again once when Keycloak answers 401.
//!
//! Api-keys come from end users (through the plugin): their look-ups are remembered in a bounded
//! cache, and concurrent look-ups of one key share a single Keycloak search.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{read_json, unreachable, without_query, KeycloakUnavailable, Realm};

/// Api-key look-ups remembered at most; past that the least useful ones are evicted.
const API_KEY_CACHE_MAX: u64 = 10_000;
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

/// SHA-256 of an api-key → the user found (or none), for `KEYCLOAK_API_KEY_CACHE_SECONDS`.
type ApiKeyCache = moka::future::Cache<[u8; 32], Option<KeycloakUser>>;

struct AdminToken {
    value: String,
    renew_at: Instant,
}

pub struct KeycloakAdmin {
    realm: Arc<Realm>,
    admin_uri: Url,
    client_secret: SecretString,
    token: tokio::sync::Mutex<Option<AdminToken>>,
    api_key_cache: ApiKeyCache,
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
            api_key_cache: moka::future::Cache::builder()
                .max_capacity(API_KEY_CACHE_MAX)
                .time_to_live(api_key_cache_for)
                .build(),
        }
    }

    /// The enabled, already-valid user whose attribute `api-key` is exactly `api_key`, with its
    /// composite realm roles. None when no user or several users hold it.
    pub async fn user_by_api_key(
        &self,
        api_key: &str,
    ) -> Result<Option<KeycloakUser>, KeycloakUnavailable> {
        let digest: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        // One search per key at a time: concurrent callers of the same key wait for it. Failures
        // are not remembered.
        self.api_key_cache
            .try_get_with(digest, self.look_up_api_key(api_key))
            .await
            .map_err(|e| KeycloakUnavailable(e.0.clone()))
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
        let Some(segment) = user_segment(&user.id) else {
            tracing::warn!(user = %user.username, "api-key of a user whose id is not a path segment: anonymous profile");
            return Ok(None);
        };
        let roles_url = self.url(&format!("users/{segment}/role-mappings/realm/composite"))?;
        let roles: Vec<RoleRepresentation> = self.get(roles_url).await?;
        Ok(Some(KeycloakUser {
            id: user.id,
            username: user.username,
            roles: roles.into_iter().map(|r| r.name).collect(),
        }))
    }

    /// The user with this id, or None when Keycloak does not know it.
    pub async fn user(&self, id: &str) -> Result<Option<KeycloakUser>, KeycloakUnavailable> {
        let Some(url) = self.user_url(id)? else {
            return Ok(None);
        };
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

    /// `users/{id}` under the admin URI; None for an id that cannot be one path segment.
    fn user_url(&self, id: &str) -> Result<Option<Url>, KeycloakUnavailable> {
        match user_segment(id) {
            Some(segment) => self.url(&format!("users/{segment}")).map(Some),
            None => Ok(None),
        }
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
            let response = self
                .realm
                .http
                .get(url.clone())
                .bearer_auth(token)
                .send()
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
            return read_json(response, &url).await.map(Some);
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
        let response = self
            .realm
            .http
            .post(endpoint.clone())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "admin-cli"),
                ("client_secret", self.client_secret.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| unreachable(&endpoint, &e))?;
        let status = response.status();
        if !status.is_success() {
            *slot = None;
            return Err(KeycloakUnavailable(format!(
                "Keycloak refused the admin-cli client credentials ({status}): check KEYCLOAK_CLIENT_SECRET"
            )));
        }
        let answer: TokenAnswer = read_json(response, &endpoint).await?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60));
        *slot = Some(AdminToken {
            value: answer.access_token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
        });
        Ok(answer.access_token)
    }
}

/// A user id as one path segment, or None for `.`, `..` and the empty id: URL resolution (and
/// Keycloak) would read those, even percent-encoded, as "this folder" or "the parent folder",
/// and `users/..` is the realm itself.
fn user_segment(id: &str) -> Option<String> {
    let dots_only = id.chars().all(|c| c == '.');
    if id.is_empty() || (dots_only && id.len() <= 2) {
        return None;
    }
    Some(crate::url_text::encode(id).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> KeycloakAdmin {
        let realm = Arc::new(Realm {
            http: reqwest::Client::new(),
            uri: Url::parse("http://kc.test/realms/orthanc/").expect("URL"),
            discovery: std::sync::RwLock::new(None),
        });
        KeycloakAdmin::new(
            realm,
            Url::parse("http://kc.test/admin/realms/orthanc/").expect("URL"),
            SecretString::from("s"),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn user_ids_stay_one_segment_under_users() {
        let admin = admin();
        for (id, path) in [
            ("u-doctor", "/admin/realms/orthanc/users/u-doctor"),
            ("../roles", "/admin/realms/orthanc/users/..%2Froles"),
            ("a b?c#d", "/admin/realms/orthanc/users/a%20b%3Fc%23d"),
            ("...", "/admin/realms/orthanc/users/..."),
            ("%2e%2e", "/admin/realms/orthanc/users/%252e%252e"),
        ] {
            let url = admin.user_url(id).expect("URL").expect("a segment");
            assert_eq!(url.path(), path, "{id}");
            assert_eq!(url.query(), None, "{id}");
        }
        for id in ["..", ".", ""] {
            assert!(admin.user_url(id).expect("URL").is_none(), "{id:?}");
        }
    }
}
