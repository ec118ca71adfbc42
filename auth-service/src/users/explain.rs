//! One user's profile explained: what each of its roles brings, the profile `POST
//! /user/get-profile` answers for its access token (built by the same code, from the token
//! Keycloak would issue), and whether a study with a given label is visible, by the rules of
//! Orthanc's authorization plugin.
use serde::Serialize;

use super::audit::{self, Problem};
use super::UserSummary;
use crate::domain::Permission;
use crate::keycloak::{is_keycloak_default_role, KeycloakAdmin, KeycloakUnavailable, RealmUser};
use crate::roles::RolesConfig;
use crate::user_profiles::{ProfileRequest, TokenIdentity, UserProfile, UserProfiles};

/// Where what a role gives comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RoleSource {
    /// The roles file maps it.
    RolesFile,
    /// A role of the realm the roles file does not mention: it gives nothing.
    NotInRolesFile,
    /// One of Keycloak's own roles (`default-roles-*`, `offline_access`, `uma_authorization`).
    KeycloakDefault,
}

/// What one of the user's roles gives through the roles file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleContribution {
    pub role: String,
    pub source: RoleSource,
    pub permissions: Vec<Permission>,
    #[serde(rename = "authorized-labels")]
    pub authorized_labels: Vec<String>,
}

/// Each role of `roles`, in order, with what the roles file gives it.
pub fn contributions(roles: &[String], config: &RolesConfig) -> Vec<RoleContribution> {
    roles
        .iter()
        .map(|role| match config.roles.get(role) {
            Some(grants) => RoleContribution {
                role: role.clone(),
                source: RoleSource::RolesFile,
                permissions: grants.permissions.clone(),
                authorized_labels: grants.authorized_labels.clone(),
            },
            None => RoleContribution {
                role: role.clone(),
                source: if is_keycloak_default_role(role) {
                    RoleSource::KeycloakDefault
                } else {
                    RoleSource::NotInRolesFile
                },
                permissions: vec![],
                authorized_labels: vec![],
            },
        })
        .collect()
}

/// Whether a study carrying one label is visible to the user, and the rule that decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LabelVerdict {
    pub label: String,
    pub visible: bool,
    /// The deciding rule, in words.
    pub rule: String,
    /// The roles that decide it; empty when nothing grants it.
    #[serde(rename = "decided-by")]
    pub decided_by: Vec<String>,
}

fn granting(roles: &[RoleContribution], grants: impl Fn(&RoleContribution) -> bool) -> Vec<String> {
    roles
        .iter()
        .filter(|r| grants(r))
        .map(|r| r.role.clone())
        .collect()
}

fn grant_or_grants(roles: &[String]) -> String {
    match roles {
        [one] => format!("{one} grants"),
        _ => format!("{} grant", audit::list(roles)),
    }
}

/// The plugin's rule for a study with this one label (Orthanc's authorization plugin 0.11): the
/// route needs `view` or `all` (its default Permissions for `GET /studies/...`), then an
/// authorized label `*` opens every study, else the study must carry one of the user's
/// authorized labels.
pub fn label_verdict(roles: &[RoleContribution], label: &str) -> LabelVerdict {
    let viewers = granting(roles, |r| {
        r.permissions
            .iter()
            .any(|p| matches!(p, Permission::View | Permission::All))
    });
    let verdict = |visible, rule: String, decided_by| LabelVerdict {
        label: label.to_owned(),
        visible,
        rule,
        decided_by,
    };
    if viewers.is_empty() {
        return verdict(
            false,
            "no role grants view or all, which the authorization plugin asks for before it opens a study".into(),
            vec![],
        );
    }
    let viewing = format!("view from {}", audit::list(&viewers));
    let everything = granting(roles, |r| r.authorized_labels.iter().any(|l| l == "*"));
    if !everything.is_empty() {
        return verdict(
            true,
            format!(
                "{} authorized label * (every study, whatever its labels); {viewing}",
                grant_or_grants(&everything)
            ),
            everything,
        );
    }
    let this = granting(roles, |r| r.authorized_labels.iter().any(|l| l == label));
    if !this.is_empty() {
        return verdict(
            true,
            format!(
                "{} authorized label {label}; {viewing}",
                grant_or_grants(&this)
            ),
            this,
        );
    }
    let mut labels: Vec<&str> = Vec::new();
    for l in roles.iter().flat_map(|r| r.authorized_labels.iter()) {
        if !labels.contains(&l.as_str()) {
            labels.push(l);
        }
    }
    let rule = if labels.is_empty() {
        "the user has no authorized label: the plugin refuses every study it has to check by label, and tools/find".to_owned()
    } else {
        let other_case = labels
            .iter()
            .find(|l| l.to_lowercase() == label.to_lowercase())
            .map(|l| format!(" (\"{l}\" is: labels are case-sensitive)"))
            .unwrap_or_default();
        format!(
            "no role grants label {label} nor *{other_case}; the user's authorized labels are {}",
            labels.join(", ")
        )
    };
    verdict(false, rule, vec![])
}

/// The claims Keycloak puts in the user's access token, as far as a profile goes: `sub` the id,
/// `preferred_username` the username, `name` the non-empty first and last names joined by a
/// space (absent with neither, as Keycloak's full-name mapper does), `realm_access.roles` the
/// effective realm roles, `groups` the group paths (the shipped realm's group mapper).
pub fn token_identity(user: &RealmUser, groups: Vec<String>) -> TokenIdentity {
    let parts: Vec<&str> = [&user.first_name, &user.last_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    TokenIdentity {
        sub: Some(user.id.clone()),
        name: (!parts.is_empty()).then(|| parts.join(" ")),
        preferred_username: Some(user.username.clone()),
        roles: user.roles.clone(),
        groups,
    }
}

/// Everything `auth-service explain` says of one user.
/// `GET /users/{username}/explain` answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Explanation {
    pub user: UserSummary,
    pub roles: Vec<RoleContribution>,
    /// What `POST /user/get-profile` answers for the user's access token.
    pub profile: UserProfile,
    /// What it answers for the user's (first) api-key, when the user has one.
    #[serde(rename = "api-key-profile")]
    #[schema(required = true)]
    pub api_key_profile: Option<UserProfile>,
    /// The verdict on the `label` asked about; null when none was.
    #[schema(required = true)]
    pub label: Option<LabelVerdict>,
    /// This user's problems (the realm-wide ones are `auth-service users`').
    pub problems: Vec<Problem>,
}

/// Explains the user with this username (else id); None when the realm has no such user.
pub async fn explain(
    profiles: &UserProfiles,
    admin: &KeycloakAdmin,
    username_or_id: &str,
    label: Option<&str>,
    api_keys_enabled: bool,
) -> Result<Option<Explanation>, KeycloakUnavailable> {
    let Some(user) = admin.find_realm_user(username_or_id).await? else {
        return Ok(None);
    };
    let (groups, realm_roles) =
        tokio::try_join!(admin.user_groups(&user.id), admin.roles_of_realm())?;
    let config = profiles.roles.current();
    let roles = contributions(&user.roles, &config);
    let profile = profiles.of_token(token_identity(&user, groups));
    let mut shared = Vec::new();
    for key in &user.api_keys {
        let holders = admin.api_key_holders(key).await?;
        if holders.len() > 1 {
            shared.push(holders);
        }
    }
    let api_key_profile = match user.api_keys.first() {
        // The very look-up the plugin's call takes (and its cache).
        Some(key) => Some(
            profiles
                .profile(&ProfileRequest {
                    token_key: Some("api-key".into()),
                    token_value: Some(key.expose().to_owned()),
                    ..ProfileRequest::default()
                })
                .await?,
        ),
        None => None,
    };
    let problems = audit::user_problems(
        &audit::Realm {
            users: std::slice::from_ref(&user),
            roles: &realm_roles,
            config: &config,
            api_keys_enabled,
            now: chrono::Utc::now().timestamp(),
        },
        &shared,
    );
    Ok(Some(Explanation {
        user: UserSummary::of(&user, &config),
        label: label.map(|l| label_verdict(&roles, l)),
        roles,
        profile,
        api_key_profile,
        problems,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::roles::RolePermissions;

    const ROLES: [&str; 5] = [
        "admin-role",
        "doctor-role",
        "external-role",
        "teacher-role",
        "offline_access",
    ];
    const LABELS: [&str; 4] = ["*", "external", "teaching", "Urgent"];

    fn role_grants() -> impl Strategy<Value = RolePermissions> {
        (
            proptest::sample::subsequence(LABELS.to_vec(), 0..=3),
            proptest::sample::subsequence(Permission::ALL.to_vec(), 0..=4),
        )
            .prop_map(|(labels, permissions)| RolePermissions {
                authorized_labels: labels.into_iter().map(str::to_owned).collect(),
                permissions,
            })
    }

    fn roles_config() -> impl Strategy<Value = RolesConfig> {
        proptest::collection::btree_map(
            proptest::sample::select(ROLES[..4].to_vec()).prop_map(str::to_owned),
            role_grants(),
            0..4,
        )
        .prop_map(|roles| RolesConfig {
            roles,
            available_labels: vec![],
        })
    }

    proptest! {
        /// What explain says each role gives adds up to the profile get-profile builds, and the
        /// label verdict is the plugin's set rule on that profile.
        #[test]
        fn contributions_add_up_to_the_profile_and_the_verdict_follows_the_plugin(
            config in roles_config(),
            held in proptest::sample::subsequence(ROLES.to_vec(), 0..=5),
            label in proptest::sample::select(vec!["external", "teaching", "urgent", "Urgent", "other"]),
        ) {
            let held: Vec<String> = held.into_iter().map(str::to_owned).collect();
            let roles = contributions(&held, &config);
            let grants = config.grants(&held);
            let mut permissions = Vec::new();
            let mut labels = Vec::new();
            for r in &roles {
                for p in &r.permissions {
                    if !permissions.contains(p) { permissions.push(*p); }
                }
                for l in &r.authorized_labels {
                    if !labels.contains(l) { labels.push(l.clone()); }
                }
            }
            prop_assert_eq!(&permissions, &grants.permissions);
            prop_assert_eq!(&labels, &grants.authorized_labels);

            let authorized: BTreeSet<&str> = grants.authorized_labels.iter().map(String::as_str).collect();
            let can_view = grants.permissions.iter().any(|p| matches!(p, Permission::View | Permission::All));
            let expected = can_view && (authorized.contains("*") || authorized.contains(label));
            let verdict = label_verdict(&roles, label);
            prop_assert_eq!(verdict.visible, expected, "{:?}", verdict);
            prop_assert_eq!(verdict.decided_by.is_empty(), !verdict.visible);
            for role in &verdict.decided_by {
                prop_assert!(held.contains(role));
            }
        }
    }

    fn user(first: Option<&str>, last: Option<&str>) -> RealmUser {
        RealmUser {
            id: "u-1".into(),
            username: "jdoe".into(),
            enabled: true,
            first_name: first.map(str::to_owned),
            last_name: last.map(str::to_owned),
            not_before: 0,
            api_keys: vec![],
            roles: vec!["doctor-role".into()],
        }
    }

    #[test]
    fn the_token_name_is_keycloaks_full_name() {
        for (first, last, name) in [
            (Some("Jane"), Some("Doe"), Some("Jane Doe")),
            (Some("Jane"), None, Some("Jane")),
            (Some(""), Some("Doe"), Some("Doe")),
            (Some(""), Some(""), None),
            (None, None, None),
        ] {
            let identity = token_identity(&user(first, last), vec!["/g".into()]);
            assert_eq!(identity.name.as_deref(), name, "{first:?} {last:?}");
            assert_eq!(identity.preferred_username.as_deref(), Some("jdoe"));
            assert_eq!(identity.sub.as_deref(), Some("u-1"));
            assert_eq!(identity.groups, ["/g"]);
        }
    }

    #[test]
    fn the_verdict_names_the_deciding_rule() {
        let config: RolesConfig = serde_json::from_str(
            r#"{"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]},
            "external-role": {"authorized-labels": ["external"], "permissions": ["view"]},
            "auditor-role": {"authorized-labels": [], "permissions": ["audit-logs"]}}}"#,
        )
        .unwrap();
        let of = |roles: &[&str], label: &str| {
            let held: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
            label_verdict(&contributions(&held, &config), label)
        };
        let v = of(&["doctor-role", "external-role"], "urgent");
        assert_eq!(
            (v.visible, v.rule.as_str(), v.decided_by.as_slice()),
            (
                true,
                "doctor-role grants authorized label * (every study, whatever its labels); view from doctor-role and external-role",
                &["doctor-role".to_owned()][..]
            )
        );
        let v = of(&["external-role"], "external");
        assert_eq!(
            v.rule,
            "external-role grants authorized label external; view from external-role"
        );
        let v = of(&["external-role"], "External");
        assert!(!v.visible);
        assert_eq!(
            v.rule,
            "no role grants label External nor * (\"external\" is: labels are case-sensitive); the user's authorized labels are external"
        );
        let v = of(&["auditor-role"], "external");
        assert_eq!(
            v.rule,
            "no role grants view or all, which the authorization plugin asks for before it opens a study"
        );
        let v = of(&["teacher-role", "offline_access"], "external");
        assert!(!v.visible);
        let roles = contributions(&["teacher-role".into(), "offline_access".into()], &config);
        assert_eq!(
            roles.iter().map(|r| r.source).collect::<Vec<_>>(),
            [RoleSource::NotInRolesFile, RoleSource::KeycloakDefault]
        );
    }
}
