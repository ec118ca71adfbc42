//! Who a caller of Orthanc is: the anonymous profile, or a Keycloak user's profile built from
//! the roles file. Built once at start: a roles or anonymous-profile file that does not parse
//! stops the service there, not at the first request.
use std::path::Path;
use std::sync::Arc;

use crate::jsonc;
use crate::keycloak::{AccessClaims, Keycloak, KeycloakUnavailable, KeycloakUser};
use crate::roles::{RolePermissions, RolesStore};
use crate::settings::Settings;
use crate::share_token::strip_bearer;
use anyhow::Context;

/// Seconds the plugin may keep a Keycloak user's profile.
const PROFILE_VALIDITY: u32 = 60;

// The bodies are the wire crate's, shared with clients.
pub use auth_wire::{ProfileRequest, UserProfile};

fn user_profile(
    name: String,
    user_id: Option<String>,
    grants: RolePermissions,
    groups: Vec<String>,
) -> UserProfile {
    UserProfile {
        authorized_labels: grants.authorized_labels,
        permissions: grants.permissions,
        name,
        user_id,
        validity: PROFILE_VALIDITY,
        groups,
    }
}

/// What a realm access token says of its user, as far as a profile goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenIdentity {
    pub sub: Option<String>,
    /// Keycloak's full name (first and last name), absent when the user has neither.
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    /// `realm_access.roles`: the effective realm roles.
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

impl From<AccessClaims> for TokenIdentity {
    fn from(claims: AccessClaims) -> Self {
        TokenIdentity {
            sub: claims.sub,
            name: claims.name,
            preferred_username: claims.preferred_username,
            roles: claims.realm_access.map(|r| r.roles).unwrap_or_default(),
            groups: claims.groups.unwrap_or_default(),
        }
    }
}

pub struct UserProfiles {
    anonymous: UserProfile,
    pub roles: RolesStore,
    pub keycloak: Option<Arc<Keycloak>>,
}

impl UserProfiles {
    pub fn load(settings: &Settings) -> anyhow::Result<UserProfiles> {
        let roles = RolesStore::load(&settings.permissions_file_path)?;
        let anonymous = match &settings.anonymous_profile_file_path {
            Some(path) => load_anonymous(path)?,
            None => UserProfile::built_in_anonymous(),
        };
        let keycloak = match &settings.keycloak {
            Some(k) => {
                let keycloak = Arc::new(Keycloak::new(k)?);
                keycloak.warm_up();
                Some(keycloak)
            }
            None => None,
        };
        Ok(UserProfiles {
            anonymous,
            roles,
            keycloak,
        })
    }

    /// The profile for one plugin call. Anything that cannot be verified is anonymous; only an
    /// api-key or user-id look-up that Keycloak cannot answer is an error.
    pub async fn profile(
        &self,
        request: &ProfileRequest,
    ) -> Result<UserProfile, KeycloakUnavailable> {
        let Some(keycloak) = &self.keycloak else {
            return Ok(self.anonymous.clone());
        };
        // As the Python service: a token-value counts only with a token-key naming it, and an
        // api-key is looked up as sent (a `Bearer ` prefix is part of it). An empty value is no
        // token at all (Python tried to decode it and answered 400), so a user-id then decides.
        let token_key = request.token_key.as_deref();
        let token_value = request
            .token_value
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty() && token_key.is_some());
        if let Some(value) = token_value {
            if token_key == Some("api-key") {
                if let Some(admin) = keycloak.api_keys() {
                    return Ok(match admin.user_by_api_key(value).await? {
                        Some(user) => self.of_keycloak_user(user),
                        None => self.anonymous.clone(),
                    });
                }
            }
            let token = strip_bearer(value);
            return Ok(match keycloak.verify_access_token(token).await {
                Some(claims) => self.of_token(TokenIdentity::from(claims)),
                None => self.anonymous.clone(),
            });
        }
        if let (Some(user_id), Some(admin)) = (
            request.user_id.as_deref().filter(|u| !u.is_empty()),
            keycloak.admin(),
        ) {
            return Ok(match admin.user(user_id).await? {
                Some(user) => user_profile(
                    user.username,
                    Some(user.id),
                    RolePermissions::default(),
                    vec![],
                ),
                None => self.anonymous.clone(),
            });
        }
        Ok(self.anonymous.clone())
    }

    /// The profile of a verified access token's user: what `POST /user/get-profile` answers
    /// for that token. `auth-service explain` calls it too, with the token Keycloak would issue.
    pub fn of_token(&self, identity: TokenIdentity) -> UserProfile {
        let name = identity
            .name
            .filter(|n| !n.is_empty())
            .or(identity.preferred_username)
            .unwrap_or_default();
        user_profile(
            name,
            identity.sub,
            self.roles.current().grants(&identity.roles),
            identity.groups,
        )
    }

    fn of_keycloak_user(&self, user: KeycloakUser) -> UserProfile {
        let grants = self.roles.current().grants(&user.roles);
        user_profile(user.username, Some(user.id), grants, vec![])
    }
}

/// The anonymous-profile file: absent → the built-in profile (as the Python service); present
/// but unreadable or invalid → an error naming the path (the Python service then silently
/// used its built-in profile: a typo would have changed what visitors may do).
fn load_anonymous(path: &Path) -> anyhow::Result<UserProfile> {
    match std::fs::read_to_string(path) {
        Ok(text) => jsonc::from_str(&text)
            .with_context(|| format!("The anonymous profile file {} is not valid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "no anonymous profile file: anonymous users get no permissions");
            Ok(UserProfile::built_in_anonymous())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "Failed to read the anonymous profile file {}",
            path.display()
        ))),
    }
}
