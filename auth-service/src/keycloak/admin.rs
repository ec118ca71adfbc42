//! Keycloak's admin REST API as client `admin-cli` (client-credentials grant): api-key, user and
//! realm-role look-ups, and the realm's user list. The access token is kept until shortly before
//! it expires and fetched again once when Keycloak answers 401.
//!
//! Api-keys come from end users (through the plugin): their look-ups are remembered in a bounded
//! cache, and concurrent look-ups of one key share a single Keycloak search.
//!
//! Every call here needs no more than the realm-management roles the shipped realm gives
//! admin-cli's service account: `query-users` (user searches and pages), `view-users` (a user,
//! its role mappings and groups) and `view-realm` (the realm roles).
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
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
/// Users asked for per page of `GET users` (`max`): Keycloak's own default page size. A page of
/// full representations (attributes included) stays far below the answer cap.
pub const USERS_PAGE_SIZE: usize = 100;
/// Role look-ups in flight at once while listing users (one per user): thousands of users take
/// seconds, and Keycloak never sees more than this many of our requests at a time.
const ROLE_LOOKUPS_IN_FLIGHT: usize = 8;

/// A Keycloak user as a profile needs it.
#[derive(Clone, Debug)]
pub struct KeycloakUser {
    pub id: String,
    pub username: String,
    /// Composite realm roles (only filled by the api-key look-up).
    pub roles: Vec<String>,
}

/// One value of a user's `api-key` attribute. It is never shown: `Debug` prints nothing of it,
/// and keys are compared through their SHA-256.
#[derive(Clone)]
pub struct ApiKey {
    value: SecretString,
    digest: [u8; 32],
}

impl ApiKey {
    pub(crate) fn new(value: &str) -> ApiKey {
        ApiKey {
            digest: Sha256::digest(value.as_bytes()).into(),
            value: SecretString::from(value),
        }
    }

    /// Equal for equal keys: finds a key held by several users without keeping the values side
    /// by side.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The key itself, for a look-up through the same code the plugin's calls take.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// A realm user with what decides its profile: the users report and `explain` read these.
#[derive(Clone, Debug)]
pub struct RealmUser {
    pub id: String,
    pub username: String,
    pub enabled: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Keycloak refuses the user's tokens issued before this (seconds since the epoch; 0: none).
    pub not_before: i64,
    pub api_keys: Vec<ApiKey>,
    /// Effective realm roles (composites expanded), as Keycloak lists them.
    pub roles: Vec<String>,
}

/// The realm's roles: every name, and those a roles file may configure.
#[derive(Clone, Debug, Default)]
pub struct RealmRoles {
    /// Every realm role, Keycloak's own and composites included.
    pub all: Vec<String>,
    /// What `GET /settings/roles` lists: composites, `offline_access` and `uma_authorization`
    /// left out, as the Python service does.
    pub configurable: Vec<String>,
}

/// Roles Keycloak gives every user of a realm, which no roles file needs to mention.
pub fn is_keycloak_default_role(role: &str) -> bool {
    role == "offline_access" || role == "uma_authorization" || role.starts_with("default-roles-")
}

#[derive(Deserialize)]
struct UserRepresentation {
    id: String,
    username: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(rename = "firstName", default)]
    first_name: Option<String>,
    #[serde(rename = "lastName", default)]
    last_name: Option<String>,
    #[serde(rename = "notBefore", default)]
    not_before: i64,
    #[serde(default)]
    attributes: HashMap<String, Vec<String>>,
    /// Set on a client's service-account user, which is no person.
    #[serde(rename = "serviceAccountClientId", default)]
    service_account_client_id: Option<String>,
}

impl UserRepresentation {
    fn holds_api_key(&self, api_key: &str) -> bool {
        self.attributes
            .get("api-key")
            .is_some_and(|keys| keys.iter().any(|k| k == api_key))
    }

    fn into_realm_user(self, roles: Vec<String>) -> RealmUser {
        let api_keys = self
            .attributes
            .get("api-key")
            .map(|keys| {
                keys.iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| ApiKey::new(k))
                    .collect()
            })
            .unwrap_or_default();
        RealmUser {
            id: self.id,
            username: self.username,
            enabled: self.enabled,
            first_name: self.first_name,
            last_name: self.last_name,
            not_before: self.not_before,
            api_keys,
            roles,
        }
    }
}

#[derive(Deserialize)]
struct GroupRepresentation {
    name: String,
    #[serde(default)]
    path: Option<String>,
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
    /// The user listing under way: concurrent callers share it (one entry, dropped once done).
    listing: moka::future::Cache<(), Arc<Vec<RealmUser>>>,
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
            listing: moka::future::Cache::new(1),
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
        let mut matching = self.search_api_key(api_key).await?.into_iter();
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
        let Some(roles) = self.composite_roles(&user.id).await? else {
            tracing::warn!(user = %user.username, "api-key of a user gone since the search, or whose id is not a path segment: anonymous profile");
            return Ok(None);
        };
        Ok(Some(KeycloakUser {
            id: user.id,
            username: user.username,
            roles,
        }))
    }

    /// The users whose attribute `api-key` is exactly `api_key`.
    async fn search_api_key(
        &self,
        api_key: &str,
    ) -> Result<Vec<UserRepresentation>, KeycloakUnavailable> {
        let mut url = self.url("users")?;
        url.query_pairs_mut()
            .append_pair("q", &format!("api-key:{api_key}"))
            .append_pair("exact", "true");
        let users: Vec<UserRepresentation> = self.get(url).await?;
        // Keycloak's search is looser than equality on some versions: check it ourselves.
        Ok(users
            .into_iter()
            .filter(|u| u.holds_api_key(api_key))
            .collect())
    }

    /// The usernames of the users holding exactly this api-key (it works for one user only).
    pub async fn api_key_holders(
        &self,
        api_key: &ApiKey,
    ) -> Result<Vec<String>, KeycloakUnavailable> {
        let users = self.search_api_key(api_key.expose()).await?;
        Ok(users.into_iter().map(|u| u.username).collect())
    }

    /// The user's composite realm roles; None when the user is gone (or its id is no segment).
    async fn composite_roles(&self, id: &str) -> Result<Option<Vec<String>>, KeycloakUnavailable> {
        let Some(segment) = user_segment(id) else {
            return Ok(None);
        };
        let url = self.url(&format!("users/{segment}/role-mappings/realm/composite"))?;
        let roles: Option<Vec<RoleRepresentation>> = self.get_optional(url).await?;
        Ok(roles.map(|roles| roles.into_iter().map(|r| r.name).collect()))
    }

    /// Every user of the realm (service accounts left out), in Keycloak's order (by username),
    /// with its effective realm roles: `GET users` page by page (`first`/`max`), then one role
    /// look-up per user, a few at a time. Concurrent calls share one listing; the next call
    /// reads the realm afresh.
    pub async fn realm_users(&self) -> Result<Arc<Vec<RealmUser>>, KeycloakUnavailable> {
        let listing = self
            .listing
            .try_get_with((), self.list_realm_users())
            .await
            .map_err(|e| KeycloakUnavailable(e.0.clone()));
        self.listing.invalidate(&()).await;
        listing
    }

    async fn list_realm_users(&self) -> Result<Arc<Vec<RealmUser>>, KeycloakUnavailable> {
        let mut listed: Vec<UserRepresentation> = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let mut url = self.url("users")?;
            url.query_pairs_mut()
                .append_pair("first", &listed.len().to_string())
                .append_pair("max", &USERS_PAGE_SIZE.to_string())
                // Full representations: the brief ones leave the attributes (api-key) out.
                .append_pair("briefRepresentation", "false");
            let page: Vec<UserRepresentation> = self.get(url).await?;
            let last = page.len() < USERS_PAGE_SIZE;
            let before = listed.len();
            for user in page {
                if seen.insert(user.id.clone()) {
                    listed.push(user);
                }
            }
            if last {
                break;
            }
            if listed.len() == before {
                // A full page of users already listed: something between us and Keycloak
                // ignores `first`, and asking on would never end.
                return Err(KeycloakUnavailable(
                    "Keycloak answered the same users for every page of GET users (first/max ignored)".into(),
                ));
            }
        }
        let users: Vec<Option<RealmUser>> = futures_util::stream::iter(
            listed
                .into_iter()
                .filter(|u| u.service_account_client_id.is_none()),
        )
        .map(|user| async move {
            let roles = self.composite_roles(&user.id).await?;
            // A user deleted since its page was read is left out.
            Ok::<_, KeycloakUnavailable>(roles.map(|roles| user.into_realm_user(roles)))
        })
        .buffered(ROLE_LOOKUPS_IN_FLIGHT)
        .try_collect()
        .await?;
        Ok(Arc::new(users.into_iter().flatten().collect()))
    }

    /// One user by username (as Keycloak compares them, case aside) or else by id, with its
    /// effective realm roles; None when the realm has no such user.
    pub async fn find_realm_user(
        &self,
        username_or_id: &str,
    ) -> Result<Option<RealmUser>, KeycloakUnavailable> {
        let mut url = self.url("users")?;
        url.query_pairs_mut()
            .append_pair("username", username_or_id)
            .append_pair("exact", "true")
            .append_pair("briefRepresentation", "false");
        let found: Vec<UserRepresentation> = self.get(url).await?;
        let wanted = username_or_id.to_lowercase();
        let mut user = found
            .into_iter()
            .find(|u| u.username.to_lowercase() == wanted);
        if user.is_none() {
            if let Some(url) = self.user_url(username_or_id)? {
                user = self.get_optional(url).await?;
            }
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let roles = self.composite_roles(&user.id).await?;
        Ok(roles.map(|roles| user.into_realm_user(roles)))
    }

    /// The paths of the user's groups (`/doctors`, `/staff/radiology`), as the realm's group
    /// mapper puts them in the user's tokens.
    pub async fn user_groups(&self, id: &str) -> Result<Vec<String>, KeycloakUnavailable> {
        let Some(segment) = user_segment(id) else {
            return Ok(vec![]);
        };
        let url = self.url(&format!("users/{segment}/groups"))?;
        let groups: Option<Vec<GroupRepresentation>> = self.get_optional(url).await?;
        Ok(groups
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.path.unwrap_or_else(|| format!("/{}", g.name)))
            .collect())
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
        Ok(self.roles_of_realm().await?.configurable)
    }

    /// Every realm role, and those a roles file may configure.
    pub async fn roles_of_realm(&self) -> Result<RealmRoles, KeycloakUnavailable> {
        let roles: Vec<RoleRepresentation> = self.get(self.url("roles")?).await?;
        Ok(RealmRoles {
            all: roles.iter().map(|r| r.name.clone()).collect(),
            configurable: roles
                .into_iter()
                .filter(|r| {
                    !r.composite && r.name != "uma_authorization" && r.name != "offline_access"
                })
                .map(|r| r.name)
                .collect(),
        })
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
            calls: crate::metrics::DependencyCalls::new("keycloak").expect("metric"),
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
