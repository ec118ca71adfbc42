//! The problems an administrator meets as "I gave the role and OE2 shows no studies": found from
//! the realm's users and roles and the roles file, each with the fix to try. Pure functions of
//! what Keycloak answered, so every rule is tested without a realm.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::Permission;
use crate::keycloak::{is_keycloak_default_role, RealmRoles, RealmUser};
use crate::roles::{RolePermissions, RolesConfig};

/// What kind of problem; the JSON name is stable for scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// An enabled user whose roles map to no permission at all.
    NoPermissions,
    /// An enabled user with permissions and no authorized label: no study list in OE2.
    NoAuthorizedLabels,
    /// A user holding a label-restricted role and a role granting `all` or `admin-permissions`.
    RestrictedUserGrantedEverything,
    /// One api-key value held by several users: it works for none of them.
    ApiKeyShared,
    /// An api-key on a disabled user.
    ApiKeyOfDisabledUser,
    /// An api-key on a user whose tokens Keycloak refuses until a date to come (not-before).
    ApiKeyNotValidYet,
    /// Users hold api-keys while ENABLE_KEYCLOAK_API_KEYS is off.
    ApiKeysDisabled,
    /// A realm role the roles file does not mention.
    RealmRoleNotInRolesFile,
    /// A role of the roles file the realm does not have.
    RolesFileRoleNotInRealm,
    /// A label of the roles file that no role of the realm grants.
    LabelGrantedByNoRole,
    /// A label a role grants that `available-labels` lacks (OE2 then cannot put it on a study).
    LabelNotAvailable,
}

/// One problem found, with the fix to try. `users`, `roles` and `labels` name what it is about
/// (usernames, never an api-key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub problem: ProblemKind,
    pub what: String,
    pub fix: String,
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub labels: Vec<String>,
}

impl Problem {
    fn new(problem: ProblemKind, what: String, fix: String) -> Problem {
        Problem {
            problem,
            what,
            fix,
            users: vec![],
            roles: vec![],
            labels: vec![],
        }
    }
    fn users(mut self, users: Vec<String>) -> Problem {
        self.users = users;
        self
    }
    fn roles(mut self, roles: Vec<String>) -> Problem {
        self.roles = roles;
        self
    }
    fn labels(mut self, labels: Vec<String>) -> Problem {
        self.labels = labels;
        self
    }
}

/// Names shown in one line of text at most; the JSON always lists them all.
const NAMES_SHOWN: usize = 10;

/// `a, b and c`, or the first ten and how many more.
pub(crate) fn list(names: &[String]) -> String {
    joined(names, "and")
}

/// `a, b or c` (never cut: short lists of labels).
fn either(names: &[String]) -> String {
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn joined(names: &[String], last_word: &str) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    match (names.len(), shown.split_last()) {
        (_, None) => String::new(),
        (1, Some((only, _))) => (*only).to_owned(),
        (n, Some((last, rest))) if n <= NAMES_SHOWN => {
            format!("{} {last_word} {last}", rest.join(", "))
        }
        (n, _) => format!(
            "{} and {} more (--json lists them all)",
            shown.join(", "),
            n - NAMES_SHOWN
        ),
    }
}

fn words(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(|p| p.as_str().to_owned()).collect()
}

/// The roles of the user a roles file could speak of (Keycloak's own left out).
fn own_roles(user: &RealmUser) -> Vec<String> {
    user.roles
        .iter()
        .filter(|r| !is_keycloak_default_role(r))
        .cloned()
        .collect()
}

/// A role of the roles file that limits its holders to some labels (`external-role`).
fn is_restricted(role: &RolePermissions) -> bool {
    !role.authorized_labels.is_empty() && !role.authorized_labels.iter().any(|l| l == "*")
}

/// The permissions of a role that open everything.
fn granting_everything(role: &RolePermissions) -> Vec<Permission> {
    role.permissions
        .iter()
        .copied()
        .filter(|p| matches!(p, Permission::All | Permission::AdminPermissions))
        .collect()
}

/// What the audit looks at.
pub(crate) struct Realm<'a> {
    pub users: &'a [RealmUser],
    pub roles: &'a RealmRoles,
    pub config: &'a RolesConfig,
    /// ENABLE_KEYCLOAK_API_KEYS.
    pub api_keys_enabled: bool,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Every problem of the realm: its users first, then its roles and labels.
pub(crate) fn realm_problems(realm: &Realm<'_>) -> Vec<Problem> {
    let mut problems = user_problems(realm, &shared_keys(realm.users));
    problems.extend(role_problems(realm));
    problems.extend(label_problems(realm.roles, realm.config));
    problems
}

/// Users grouped by an api-key they hold, for every key held by more than one user.
fn shared_keys(users: &[RealmUser]) -> Vec<Vec<String>> {
    let mut holders: BTreeMap<&[u8; 32], Vec<String>> = BTreeMap::new();
    for user in users {
        let mut own: Vec<&[u8; 32]> = user.api_keys.iter().map(|k| k.digest()).collect();
        own.sort();
        own.dedup();
        for digest in own {
            holders
                .entry(digest)
                .or_default()
                .push(user.username.clone());
        }
    }
    let mut shared: Vec<Vec<String>> = holders.into_values().filter(|u| u.len() > 1).collect();
    shared.sort();
    shared
}

/// The problems of the realm's users: roles that give them nothing, or too much, and their
/// api-keys. `shared` lists the holders of each api-key held by several users. Disabled users
/// are only looked at for their api-keys: they cannot log in.
pub(crate) fn user_problems(realm: &Realm<'_>, shared: &[Vec<String>]) -> Vec<Problem> {
    let (users, config, now) = (realm.users, realm.config, realm.now);
    let mut problems = Vec::new();
    let enabled: Vec<&RealmUser> = users.iter().filter(|u| u.enabled).collect();

    let without: Vec<(&RealmUser, RolePermissions)> = enabled
        .iter()
        .map(|u| (*u, config.grants(&u.roles)))
        .filter(|(_, g)| g.permissions.is_empty())
        .collect();
    if !without.is_empty() {
        let names: Vec<String> = without.iter().map(|(u, _)| u.username.clone()).collect();
        let details: Vec<String> = without
            .iter()
            .map(|(u, _)| match own_roles(u).as_slice() {
                [] => format!("{} (no role but Keycloak's defaults)", u.username),
                roles => format!("{} ({})", u.username, roles.join(", ")),
            })
            .collect();
        let mut unmapped: Vec<String> = without.iter().flat_map(|(u, _)| own_roles(u)).collect();
        unmapped.sort();
        unmapped.dedup();
        let mapped: Vec<String> = config
            .roles
            .iter()
            .filter(|(name, r)| !r.permissions.is_empty() && realm.roles.all.contains(*name))
            .map(|(name, _)| name.clone())
            .collect();
        let mut fix = format!(
            "give them a realm role the roles file maps ({}) in Keycloak (Users → USER → Role mapping)",
            if mapped.is_empty() { "none yet".to_owned() } else { mapped.join(", ") }
        );
        if !unmapped.is_empty() {
            fix.push_str(&format!(
                ", or give {} permissions in the roles file (OE2 → Settings → Roles)",
                unmapped.join(", ")
            ));
        }
        let what = match details.as_slice() {
            [only] => format!("{only} gets no permission at all"),
            _ => format!(
                "{} users get no permission at all: {}",
                details.len(),
                list(&details)
            ),
        };
        problems.push(
            Problem::new(ProblemKind::NoPermissions, what, fix)
                .users(names)
                .roles(unmapped),
        );
    }

    let unlabelled: Vec<&RealmUser> = enabled
        .iter()
        .copied()
        .filter(|u| {
            let grants = config.grants(&u.roles);
            !grants.permissions.is_empty() && grants.authorized_labels.is_empty()
        })
        .collect();
    if !unlabelled.is_empty() {
        let names: Vec<String> = unlabelled.iter().map(|u| u.username.clone()).collect();
        let details: Vec<String> = unlabelled
            .iter()
            .map(|u| format!("{} ({})", u.username, own_roles(u).join(", ")))
            .collect();
        let mut roles: Vec<String> = unlabelled
            .iter()
            .flat_map(|u| u.roles.iter().filter(|r| config.roles.contains_key(*r)))
            .cloned()
            .collect();
        roles.sort();
        roles.dedup();
        let what = match details.as_slice() {
            [only] => format!("{only} has permissions but no authorized labels: the plugin refuses them tools/find, so OE2's study list stays empty"),
            _ => format!(
                "{} users have permissions but no authorized labels: {}; the plugin refuses them tools/find, so OE2's study list stays empty",
                details.len(),
                list(&details)
            ),
        };
        problems.push(
            Problem::new(
                ProblemKind::NoAuthorizedLabels,
                what,
                format!(
                    "add authorized labels to {} in the roles file (\"*\" for every study, or the labels of the studies they should see), or give them a role that has some",
                    roles.join(", ")
                ),
            )
            .users(names)
            .roles(roles),
        );
    }

    for user in &enabled {
        let held: Vec<(&String, &RolePermissions)> = user
            .roles
            .iter()
            .filter_map(|r| config.roles.get_key_value(r))
            .collect();
        let restricted: Vec<(&String, &RolePermissions)> = held
            .iter()
            .copied()
            .filter(|(_, r)| is_restricted(r))
            .collect();
        let opening: Vec<(&String, &RolePermissions)> = held
            .iter()
            .copied()
            .filter(|(_, r)| !granting_everything(r).is_empty())
            .collect();
        if restricted.is_empty() || opening.is_empty() {
            continue;
        }
        let restricted_text: Vec<String> = restricted
            .iter()
            .map(|(name, r)| format!("{name} (labels {})", r.authorized_labels.join(", ")))
            .collect();
        let opening_text: Vec<String> = opening
            .iter()
            .map(|(name, r)| {
                let mut grants = words(&granting_everything(r));
                if r.authorized_labels.iter().any(|l| l == "*") {
                    grants.push("label *".into());
                }
                format!("{name}, which grants {}", list(&grants))
            })
            .collect();
        let opening_names: Vec<String> = opening.iter().map(|(n, _)| (*n).clone()).collect();
        let restricted_names: Vec<String> = restricted.iter().map(|(n, _)| (*n).clone()).collect();
        problems.push(
            Problem::new(
                ProblemKind::RestrictedUserGrantedEverything,
                format!(
                    "{} holds the restricted role {} and {}: the restriction no longer holds",
                    user.username,
                    restricted_text.join(", "),
                    opening_text.join(", ")
                ),
                format!(
                    "if {user} only reads studies labelled {labels}, remove {opening} from them in Keycloak (Users → {user} → Role mapping); if they administer Orthanc, remove {restricted}",
                    user = user.username,
                    labels = either(&restricted.iter().flat_map(|(_, r)| r.authorized_labels.iter()).cloned().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()),
                    opening = opening_names.join(" and "),
                    restricted = restricted_names.join(" and "),
                ),
            )
            .users(vec![user.username.clone()])
            .roles(restricted_names.into_iter().chain(opening_names).collect()),
        );
    }

    for holders in shared {
        problems.push(
            Problem::new(
                ProblemKind::ApiKeyShared,
                format!(
                    "one api-key is held by {} users, {}: none of them can use it (get-profile answers the anonymous profile)",
                    holders.len(),
                    list(holders)
                ),
                "give each of them a key of their own (Users → USER → Attributes → api-key; openssl rand -hex 32 makes one)".into(),
            )
            .users(holders.clone()),
        );
    }
    for user in users.iter().filter(|u| !u.api_keys.is_empty()) {
        if !user.enabled {
            problems.push(
                Problem::new(
                    ProblemKind::ApiKeyOfDisabledUser,
                    format!(
                        "{} is disabled but holds an api-key: the key opens nothing now, and works again the day the user is enabled",
                        user.username
                    ),
                    format!(
                        "remove the api-key attribute of {} (Users → {} → Attributes), or enable the user if the key should work",
                        user.username, user.username
                    ),
                )
                .users(vec![user.username.clone()]),
            );
        } else if user.not_before > now {
            let until = chrono::DateTime::from_timestamp(user.not_before, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| user.not_before.to_string());
            problems.push(
                Problem::new(
                    ProblemKind::ApiKeyNotValidYet,
                    format!(
                        "{} holds an api-key, but Keycloak refuses the user's tokens until {until} (not-before): the key gives the anonymous profile until then",
                        user.username
                    ),
                    format!(
                        "sign {} out in Keycloak (Users → {} → Sessions → Sign out sets not-before to now), or wait",
                        user.username, user.username
                    ),
                )
                .users(vec![user.username.clone()]),
            );
        }
    }
    let holders: Vec<String> = users
        .iter()
        .filter(|u| !u.api_keys.is_empty())
        .map(|u| u.username.clone())
        .collect();
    if !realm.api_keys_enabled && !holders.is_empty() {
        let holding = match holders.as_slice() {
            [only] => format!("{only} holds"),
            _ => format!("{} users ({}) hold", holders.len(), list(&holders)),
        };
        problems.push(
            Problem::new(
                ProblemKind::ApiKeysDisabled,
                format!(
                    "ENABLE_KEYCLOAK_API_KEYS is off, but {holding} an api-key: get-profile answers the anonymous profile for every api-key"
                ),
                "set ENABLE_KEYCLOAK_API_KEYS=true if these keys are meant to work, or remove them".into(),
            )
            .users(holders),
        );
    }
    problems
}

/// Realm roles the roles file does not mention, and roles of the file the realm lacks.
fn role_problems(realm: &Realm<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for role in &realm.roles.configurable {
        if realm.config.roles.contains_key(role) {
            continue;
        }
        let holders: Vec<String> = realm
            .users
            .iter()
            .filter(|u| u.roles.contains(role))
            .map(|u| u.username.clone())
            .collect();
        let held = match holders.len() {
            0 => "held by nobody".to_owned(),
            1 => format!("held by {}", holders[0]),
            n => format!("held by {n} users: {}", list(&holders)),
        };
        problems.push(
            Problem::new(
                ProblemKind::RealmRoleNotInRolesFile,
                format!("realm role {role} is not in the roles file: it grants nothing ({held})"),
                format!(
                    "add {role} to the roles file with the permissions and labels it should give (OE2 → Settings → Roles), or leave it if it is not meant for Orthanc"
                ),
            )
            .users(holders)
            .roles(vec![role.clone()]),
        );
    }
    for role in realm.config.roles.keys() {
        if realm.roles.all.contains(role) {
            continue;
        }
        problems.push(
            Problem::new(
                ProblemKind::RolesFileRoleNotInRealm,
                format!(
                    "role {role} of the roles file does not exist in the realm: nobody can hold it, and OE2's roles page drops it at its next save"
                ),
                format!(
                    "create the realm role {role} in Keycloak (Realm roles → Create role) and give it to the users it is for, or remove it from the roles file"
                ),
            )
            .roles(vec![role.clone()]),
        );
    }
    problems
}

/// Labels no role of the realm grants, and labels roles grant that OE2 cannot put on studies.
fn label_problems(roles: &RealmRoles, config: &RolesConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let in_realm = |name: &String| roles.all.contains(name);
    // label → the roles of the realm that grant it
    let mut granted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, role) in config.roles.iter().filter(|(n, _)| in_realm(n)) {
        for label in role.authorized_labels.iter().filter(|l| *l != "*") {
            granted.entry(label).or_default().push(name.clone());
        }
    }
    let mut mentioned: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for label in &config.available_labels {
        mentioned
            .entry(label)
            .or_default()
            .push("available-labels".into());
    }
    for (name, role) in &config.roles {
        for label in &role.authorized_labels {
            mentioned.entry(label).or_default().push(name.clone());
        }
    }
    for (label, places) in mentioned {
        if label == "*" || granted.contains_key(label) {
            continue;
        }
        let mut places = places;
        places.dedup();
        problems.push(
            Problem::new(
                ProblemKind::LabelGrantedByNoRole,
                format!(
                    "label {label} (in {}) is granted by no role of the realm: studies carrying only this label are seen only by users with authorized label *",
                    places.join(", ")
                ),
                format!(
                    "add {label} to the authorized labels of the role(s) that should see these studies (OE2 → Settings → Roles), or remove it from the roles file"
                ),
            )
            .labels(vec![label.to_owned()])
            .roles(places.into_iter().filter(|p| p != "available-labels").collect()),
        );
    }
    // An empty available-labels lets OE2 users create any label.
    if !config.available_labels.is_empty() {
        for (label, granting) in &granted {
            if config.available_labels.iter().any(|l| l == label) {
                continue;
            }
            let other_case = config
                .available_labels
                .iter()
                .find(|l| l.to_lowercase() == label.to_lowercase())
                .map(|l| format!(" (available-labels has \"{l}\": labels are case-sensitive)"))
                .unwrap_or_default();
            problems.push(
                Problem::new(
                    ProblemKind::LabelNotAvailable,
                    format!(
                        "label {label}, granted by {}, is not in available-labels{other_case}: OE2 lets users put only the available labels on studies, so none gets it from OE2",
                        granting.join(", ")
                    ),
                    format!(
                        "add {label} to available-labels (OE2 → Settings → Labels), or correct its spelling in {}",
                        granting.join(", ")
                    ),
                )
                .labels(vec![(*label).to_owned()])
                .roles(granting.clone()),
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(name: &str, roles: &[&str]) -> RealmUser {
        RealmUser {
            id: format!("u-{name}"),
            username: name.into(),
            enabled: true,
            first_name: None,
            last_name: None,
            not_before: 0,
            api_keys: vec![],
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    fn config(text: &str) -> RolesConfig {
        serde_json::from_str(text).unwrap()
    }

    fn realm_roles(names: &[&str]) -> RealmRoles {
        RealmRoles {
            all: names.iter().map(|r| (*r).to_owned()).collect(),
            configurable: names
                .iter()
                .filter(|r| !is_keycloak_default_role(r))
                .map(|r| (*r).to_owned())
                .collect(),
        }
    }

    const FILE: &str = r#"{"roles": {
        "admin-role": {"authorized-labels": ["*"], "permissions": ["all", "admin-permissions"]},
        "doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]},
        "external-role": {"authorized-labels": ["external"], "permissions": ["view"]},
        "auditor-role": {"authorized-labels": [], "permissions": ["audit-logs"]}},
        "available-labels": []}"#;

    /// The user problems of `users` in a realm holding the file's roles and teacher-role.
    fn problems_of(users: &[RealmUser], config: &RolesConfig) -> Vec<Problem> {
        let roles = realm_roles(&[
            "admin-role",
            "auditor-role",
            "doctor-role",
            "external-role",
            "teacher-role",
            "default-roles-orthanc",
            "offline_access",
        ]);
        let realm = Realm {
            users,
            roles: &roles,
            config,
            api_keys_enabled: true,
            now: 0,
        };
        user_problems(&realm, &[])
    }

    fn kinds(problems: &[Problem]) -> Vec<ProblemKind> {
        problems.iter().map(|p| p.problem).collect()
    }

    #[test]
    fn a_clean_realm_has_no_problem() {
        let users = [
            user(
                "admin",
                &["admin-role", "default-roles-orthanc", "offline_access"],
            ),
            user("doctor", &["doctor-role", "default-roles-orthanc"]),
            user("external", &["external-role"]),
        ];
        let config = config(
            r#"{"roles": {"admin-role": {"authorized-labels": ["*"], "permissions": ["all"]},
            "doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]},
            "external-role": {"authorized-labels": ["external"], "permissions": ["view"]}},
            "available-labels": ["external"]}"#,
        );
        let roles = realm_roles(&[
            "admin-role",
            "doctor-role",
            "external-role",
            "offline_access",
            "default-roles-orthanc",
        ]);
        let problems = realm_problems(&Realm {
            users: &users,
            roles: &roles,
            config: &config,
            api_keys_enabled: true,
            now: 0,
        });
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn users_without_permissions_are_grouped_with_their_roles() {
        let users = [
            user("teacher", &["teacher-role", "offline_access"]),
            user("newcomer", &["default-roles-orthanc"]),
            user("doctor", &["doctor-role"]),
            RealmUser {
                enabled: false,
                ..user("gone", &[])
            },
        ];
        let problems = problems_of(&users, &config(FILE));
        assert_eq!(kinds(&problems), [ProblemKind::NoPermissions]);
        let p = &problems[0];
        assert_eq!(
            p.what,
            "2 users get no permission at all: teacher (teacher-role) and newcomer (no role but Keycloak's defaults)"
        );
        assert_eq!(p.users, ["teacher", "newcomer"]);
        assert_eq!(p.roles, ["teacher-role"]);
        assert!(
            p.fix
                .contains("admin-role, auditor-role, doctor-role, external-role"),
            "{}",
            p.fix
        );
        assert!(p.fix.contains("give teacher-role permissions"), "{}", p.fix);
    }

    #[test]
    fn permissions_without_labels_say_why_the_study_list_is_empty() {
        let problems = problems_of(&[user("auditor", &["auditor-role"])], &config(FILE));
        assert_eq!(kinds(&problems), [ProblemKind::NoAuthorizedLabels]);
        assert_eq!(
            problems[0].what,
            "auditor (auditor-role) has permissions but no authorized labels: the plugin refuses them tools/find, so OE2's study list stays empty"
        );
        // A second role with labels cures it.
        let cured = problems_of(
            &[user("auditor", &["auditor-role", "doctor-role"])],
            &config(FILE),
        );
        assert_eq!(cured, vec![]);
    }

    #[test]
    fn a_restricted_user_granted_everything_is_named_with_both_roles() {
        let problems = problems_of(
            &[user("intern", &["external-role", "admin-role"])],
            &config(FILE),
        );
        assert_eq!(
            kinds(&problems),
            [ProblemKind::RestrictedUserGrantedEverything]
        );
        assert_eq!(
            problems[0].what,
            "intern holds the restricted role external-role (labels external) and admin-role, which grants all, admin-permissions and label *: the restriction no longer holds"
        );
        assert_eq!(problems[0].roles, ["external-role", "admin-role"]);
        // `*` from a role without all/admin-permissions is no such problem (doctor + external).
        let doctor = problems_of(
            &[user("doctor", &["doctor-role", "external-role"])],
            &config(FILE),
        );
        assert_eq!(doctor, vec![]);
    }

    #[test]
    fn api_keys_shared_disabled_or_not_valid_yet() {
        let key = |v: &str| crate::keycloak::ApiKey::new(v);
        let users = [
            RealmUser {
                api_keys: vec![key("k1")],
                ..user("one", &["doctor-role"])
            },
            RealmUser {
                api_keys: vec![key("k1")],
                ..user("two", &["doctor-role"])
            },
            RealmUser {
                api_keys: vec![key("k2")],
                enabled: false,
                ..user("off", &["doctor-role"])
            },
            RealmUser {
                api_keys: vec![key("k3")],
                not_before: 4_102_444_800,
                ..user("later", &["doctor-role"])
            },
            RealmUser {
                api_keys: vec![key("k4")],
                ..user("fine", &["doctor-role"])
            },
        ];
        let config = config(FILE);
        let roles = realm_roles(&["admin-role", "doctor-role", "external-role", "auditor-role"]);
        let realm = Realm {
            users: &users,
            roles: &roles,
            config: &config,
            api_keys_enabled: true,
            now: 1_700_000_000,
        };
        let problems = realm_problems(&realm);
        assert_eq!(
            kinds(&problems),
            [
                ProblemKind::ApiKeyShared,
                ProblemKind::ApiKeyOfDisabledUser,
                ProblemKind::ApiKeyNotValidYet
            ]
        );
        assert_eq!(problems[0].users, ["one", "two"]);
        assert!(
            problems[2].what.contains("until 2100-01-01 00:00:00 UTC"),
            "{}",
            problems[2].what
        );
        for p in &problems {
            assert!(!p.what.contains("k1") && !p.fix.contains("k1"), "{p:?}");
        }
        let off = realm_problems(&Realm {
            api_keys_enabled: false,
            ..realm
        });
        let last = off
            .iter()
            .find(|p| p.problem == ProblemKind::ApiKeysDisabled)
            .unwrap();
        assert_eq!(last.users, ["one", "two", "off", "later", "fine"]);
    }

    #[test]
    fn roles_missing_on_either_side() {
        let users = [user("teacher", &["teacher-role"])];
        let config = config(
            r#"{"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]},
            "legacy-role": {"authorized-labels": ["*"], "permissions": ["view"]}}}"#,
        );
        let roles = realm_roles(&["doctor-role", "teacher-role", "offline_access"]);
        let problems = role_problems(&Realm {
            users: &users,
            roles: &roles,
            config: &config,
            api_keys_enabled: true,
            now: 0,
        });
        assert_eq!(
            kinds(&problems),
            [
                ProblemKind::RealmRoleNotInRolesFile,
                ProblemKind::RolesFileRoleNotInRealm
            ]
        );
        assert_eq!(
            problems[0].what,
            "realm role teacher-role is not in the roles file: it grants nothing (held by teacher)"
        );
        assert_eq!(problems[1].roles, ["legacy-role"]);
    }

    #[test]
    fn labels_granted_by_no_role_or_missing_from_available_labels() {
        let config = config(
            r#"{"roles": {"external-role": {"authorized-labels": ["external", "Teaching"], "permissions": ["view"]},
            "legacy-role": {"authorized-labels": ["old"], "permissions": ["view"]}},
            "available-labels": ["external", "teaching", "urgent"]}"#,
        );
        let roles = realm_roles(&["external-role"]);
        let problems = label_problems(&roles, &config);
        assert_eq!(
            kinds(&problems),
            [
                ProblemKind::LabelGrantedByNoRole,
                ProblemKind::LabelGrantedByNoRole,
                ProblemKind::LabelGrantedByNoRole,
                ProblemKind::LabelNotAvailable
            ]
        );
        let labels: Vec<&str> = problems.iter().map(|p| p.labels[0].as_str()).collect();
        assert_eq!(labels, ["old", "teaching", "urgent", "Teaching"]);
        assert!(
            problems[0].what.contains("(in legacy-role)"),
            "{}",
            problems[0].what
        );
        assert!(
            problems[3]
                .what
                .contains("(available-labels has \"teaching\": labels are case-sensitive)"),
            "{}",
            problems[3].what
        );
        // An empty available-labels lets OE2 create any label: nothing is missing from it.
        let open = RolesConfig {
            available_labels: vec![],
            ..config
        };
        assert!(label_problems(&roles, &open)
            .iter()
            .all(|p| p.problem != ProblemKind::LabelNotAvailable));
    }

    #[test]
    fn long_lists_of_names_are_cut_in_text() {
        let names: Vec<String> = (1..=12).map(|i| format!("u{i}")).collect();
        assert_eq!(
            list(&names),
            "u1, u2, u3, u4, u5, u6, u7, u8, u9, u10 and 2 more (--json lists them all)"
        );
        assert_eq!(list(&names[..3]), "u1, u2 and u3");
        assert_eq!(list(&names[..1]), "u1");
    }
}
