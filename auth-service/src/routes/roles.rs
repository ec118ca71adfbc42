//! `GET /settings/roles`, `PUT /settings/roles`: the roles file as OE2's settings page edits it,
//! merged with the realm roles Keycloak knows.
use actix_web::{web, HttpRequest, HttpResponse};
use std::collections::BTreeMap;

use super::json_object;
use crate::basic_auth::Caller;
use crate::domain::Permission;
use crate::error::{Error, Result};
use crate::keycloak::{KeycloakAdmin, KeycloakUnavailable};
use crate::roles::{RolePermissions, RolesConfig};
use crate::user_profiles::UserProfiles;
use auth_wire::RolesUpdate;

pub async fn get_roles(_caller: Caller, profiles: web::Data<UserProfiles>) -> Result<HttpResponse> {
    let admin = admin(&profiles)?;
    let keycloak_roles = admin.realm_roles().await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(profiles.roles.current().merged_with(&keycloak_roles)))
}

pub async fn put_roles(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    profiles: web::Data<UserProfiles>,
) -> Result<HttpResponse> {
    let body: RolesUpdate = json_object(&req, &body)?;
    let admin = admin(&profiles)?;
    let mut unknown = Vec::new();
    let mut roles = BTreeMap::new();
    for (name, role) in body.roles {
        match Permission::parse_all(&role.permissions) {
            Ok(permissions) => {
                roles.insert(
                    name,
                    RolePermissions {
                        authorized_labels: role.authorized_labels,
                        permissions,
                    },
                );
            }
            Err(mut bad) => unknown.append(&mut bad),
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(Error::bad_request(
            "unknown permissions",
            format!(
                "not permissions: {}; known: {}",
                unknown.join(", "),
                Permission::known_names()
            ),
        ));
    }
    // OE2 always sends available-labels; a body without them keeps the file's.
    let available_labels = body
        .available_labels
        .unwrap_or_else(|| profiles.roles.current().available_labels.clone());
    let keycloak_roles = admin.realm_roles().await.map_err(unavailable)?;
    let wanted = RolesConfig {
        roles,
        available_labels,
    }
    .merged_with(&keycloak_roles);
    let stored = profiles.roles.replace(wanted).await?;
    tracing::info!(user = %caller.user, roles = stored.roles.len(), "roles file rewritten");
    Ok(HttpResponse::Ok().json(stored.as_ref()))
}

fn admin(profiles: &UserProfiles) -> Result<&KeycloakAdmin> {
    profiles
        .keycloak
        .as_ref()
        .and_then(|k| k.admin())
        .ok_or(Error::KeycloakAdminMissing)
}

fn unavailable(e: KeycloakUnavailable) -> Error {
    Error::Unavailable {
        error: "keycloak unavailable",
        detail: Some(e.to_string()),
    }
}
