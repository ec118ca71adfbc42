//! Who may do what, and why: every realm user with the permissions and labels the roles file
//! gives them (`auth-service users`, `GET /users`), one user's profile explained role by role
//! (`auth-service explain`, `GET /users/{username}/explain`), and the problems found, each with
//! the fix to try. Read-only: Keycloak is only asked, through the service's own admin client.
mod audit;
pub mod command;
mod explain;
mod render;

use serde::Serialize;

pub use audit::{Problem, ProblemKind};
pub use explain::{
    contributions, explain, label_verdict, token_identity, Explanation, LabelVerdict,
    RoleContribution, RoleSource,
};
pub use render::{explanation_text, report_text};

use crate::domain::Permission;
use crate::keycloak::{KeycloakAdmin, KeycloakUnavailable, RealmUser};
use crate::roles::RolesConfig;
use crate::user_profiles::UserProfiles;

/// ENABLE_KEYCLOAK_API_KEYS, as the profiles apply it.
pub fn api_keys_enabled(profiles: &UserProfiles) -> bool {
    profiles
        .keycloak
        .as_ref()
        .is_some_and(|k| k.api_keys().is_some())
}

/// One user as the report lists it. Whether an api-key is set, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub username: String,
    pub id: String,
    pub enabled: bool,
    /// Effective realm roles, composites expanded (Keycloak's own included).
    pub roles: Vec<String>,
    pub permissions: Vec<Permission>,
    #[serde(rename = "authorized-labels")]
    pub authorized_labels: Vec<String>,
    /// Whether the user has an api-key attribute (never its value).
    #[serde(rename = "api-key")]
    pub api_key: bool,
}

impl UserSummary {
    pub fn of(user: &RealmUser, config: &RolesConfig) -> UserSummary {
        let grants = config.grants(&user.roles);
        UserSummary {
            username: user.username.clone(),
            id: user.id.clone(),
            enabled: user.enabled,
            roles: user.roles.clone(),
            permissions: grants.permissions,
            authorized_labels: grants.authorized_labels,
            api_key: !user.api_keys.is_empty(),
        }
    }
}

/// `auth-service users` and `GET /users`.
/// `GET /users` answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsersReport {
    pub users: Vec<UserSummary>,
    pub problems: Vec<Problem>,
}

/// Reads every user and role of the realm and checks them against `config`.
pub async fn report(
    admin: &KeycloakAdmin,
    config: &RolesConfig,
    api_keys_enabled: bool,
) -> Result<UsersReport, KeycloakUnavailable> {
    let (users, roles) = tokio::try_join!(admin.realm_users(), admin.roles_of_realm())?;
    let problems = audit::realm_problems(&audit::Realm {
        users: &users,
        roles: &roles,
        config,
        api_keys_enabled,
        now: chrono::Utc::now().timestamp(),
    });
    Ok(UsersReport {
        users: users.iter().map(|u| UserSummary::of(u, config)).collect(),
        problems,
    })
}
