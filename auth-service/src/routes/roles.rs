//! `GET /settings/roles`, `PUT /settings/roles`: the roles file as OE2's settings page edits it,
//! merged with the realm roles Keycloak knows.
use actix_web::{web, HttpRequest, HttpResponse};
use std::collections::BTreeMap;

use super::{json_object, keycloak_admin as admin, keycloak_unavailable as unavailable};
use crate::basic_auth::Caller;
use crate::domain::Permission;
use crate::error::{Error, ErrorBody, PythonError, Result};
use crate::roles::{RolePermissions, RolesConfig};
use crate::user_profiles::UserProfiles;
use auth_wire::RolesUpdate;

#[utoipa::path(get, path = "/settings/roles", tag = "users",
    responses((status = 200, description = "Every realm role with its permissions and labels", body = RolesConfig),
        (status = 404, description = "No Keycloak admin client (KEYCLOAK_CLIENT_SECRET): the Python service's body", body = PythonError),
        (status = 503, description = "Keycloak unavailable", body = ErrorBody)))]
pub async fn get_roles(_caller: Caller, profiles: web::Data<UserProfiles>) -> Result<HttpResponse> {
    let admin = admin(&profiles)?;
    let keycloak_roles = admin.realm_roles().await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(profiles.roles.current().merged_with(&keycloak_roles)))
}

/// OE2's settings page saves here; the roles file (or, with PostgreSQL, the database) is
/// replaced.
#[utoipa::path(put, path = "/settings/roles", tag = "users",
    request_body(content = RolesUpdate),
    responses((status = 200, description = "The roles as stored, merged with the realm's", body = RolesConfig),
        (status = 400, description = "Words that are no permission (`unknown permissions`, listed)", body = ErrorBody),
        (status = 404, description = "No Keycloak admin client (KEYCLOAK_CLIENT_SECRET): the Python service's body", body = PythonError),
        (status = 500, description = "The roles file cannot be written (see the log)", body = ErrorBody),
        (status = 503, description = "Keycloak, or the database holding the roles, unavailable", body = ErrorBody)))]
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
    let stored = profiles.roles.replace(wanted).await.map_err(|e| {
        if profiles.roles.in_database() {
            tracing::warn!(error = format!("{e:#}"), "roles not stored");
            Error::Unavailable {
                error: "database unavailable",
                detail: Some("the roles could not be stored; try again later".into()),
            }
        } else {
            Error::Unexpected(e)
        }
    })?;
    tracing::info!(user = %caller.user, roles = stored.roles.len(), "roles stored");
    Ok(HttpResponse::Ok().json(stored.as_ref()))
}
