//! `GET /settings/roles`, `PUT /settings/roles`, and the roles file they read and write.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Permission;

/// What one role grants. Field order is the Python service's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolePermissions {
    /// The labels of the studies the role shows (`*`: all).
    #[serde(rename = "authorized-labels", alias = "authorized_labels", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub authorized_labels: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub permissions: Vec<Permission>,
}

/// The roles file and the `/settings/roles` answer: every realm role, with what the roles file
/// gives it (nothing for a role the file does not list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view", "download", "share", "send"]}, "external-role": {"authorized-labels": ["external"], "permissions": ["view", "download"]}}, "available-labels": ["external"]})))]
pub struct RolesConfig {
    pub roles: BTreeMap<String, RolePermissions>,
    /// The labels OE2 offers to put on studies.
    #[serde(rename = "available-labels", alias = "available_labels", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub available_labels: Vec<String>,
}

/// `PUT /settings/roles` body as sent: permissions still words, so the service can list the
/// unknown ones in its 400.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(example = json!({"roles": {"doctor-role": {"authorized-labels": ["*"], "permissions": ["view", "download", "share", "send"]}, "external-role": {"authorized-labels": ["external"], "permissions": ["view", "download"]}}, "available-labels": ["external"]})))]
pub struct RolesUpdate {
    /// Roles Keycloak does not know are dropped; realm roles missing here are kept with no
    /// rights.
    pub roles: BTreeMap<String, RoleUpdate>,
    /// Dashed only, as the Python service reads it: a snake_case `available_labels` is ignored
    /// there too (inside a role, `authorized_labels` is accepted by both). Absent or null: the
    /// stored ones are kept.
    #[serde(rename = "available-labels", default)]
    pub available_labels: Option<Vec<String>>,
}

/// What a role is to grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleUpdate {
    #[serde(rename = "authorized-labels", alias = "authorized_labels", default)]
    pub authorized_labels: Vec<String>,
    /// Words of the vocabulary; any other: 400 listing them.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Permission>))]
    pub permissions: Vec<String>,
}

impl RolesConfig {
    /// What the roles the Python image ships grant (used when the default path holds no file).
    pub fn built_in() -> RolesConfig {
        let role = |labels: &[&str], permissions: &[Permission]| RolePermissions {
            authorized_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            permissions: permissions.to_vec(),
        };
        use Permission::*;
        RolesConfig {
            roles: BTreeMap::from([
                (
                    "admin-role".to_owned(),
                    role(&["*"], &[All, AdminPermissions]),
                ),
                (
                    "doctor-role".to_owned(),
                    role(&["*"], &[View, Download, Share, Send]),
                ),
                (
                    "external-role".to_owned(),
                    role(&["external"], &[View, Download]),
                ),
            ]),
            available_labels: vec![],
        }
    }

    /// The union, in role order, of what `user_roles` grant; roles not in the file grant nothing.
    pub fn grants(&self, user_roles: &[String]) -> RolePermissions {
        let mut out = RolePermissions::default();
        for role in user_roles.iter().filter_map(|r| self.roles.get(r)) {
            for p in &role.permissions {
                if !out.permissions.contains(p) {
                    out.permissions.push(*p);
                }
            }
            for l in &role.authorized_labels {
                if !out.authorized_labels.contains(l) {
                    out.authorized_labels.push(l.clone());
                }
            }
        }
        out
    }

    /// PROTOCOL.md's merge: roles Keycloak does not know are dropped, Keycloak roles the file does
    /// not list are added with no rights.
    pub fn merged_with(&self, keycloak_roles: &[String]) -> RolesConfig {
        RolesConfig {
            roles: keycloak_roles
                .iter()
                .map(|name| {
                    (
                        name.clone(),
                        self.roles.get(name).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
            available_labels: self.available_labels.clone(),
        }
    }
}
