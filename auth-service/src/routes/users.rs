//! `GET /users`, `GET /users/{username}/explain`: who may do what, for an administrators' page.
//! Read-only; the same report and explanation as `auth-service users` and `explain`.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{keycloak_admin, keycloak_unavailable};
use crate::basic_auth::Caller;
use crate::error::{Error, ErrorBody, PythonError, Result};
use crate::routes::openapi::AnyError;
use crate::user_profiles::UserProfiles;
use crate::users::{self, Explanation, UsersReport};

/// Longer labels are no Orthanc label (and no username is longer than Keycloak's 255), in
/// characters as Keycloak counts them.
const MAX_NAME_CHARS: usize = 255;

#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, description = "Every realm user with the roles, permissions and authorized labels they get (api-key: whether one is set, never its value), then the problems found, each with the fix to try", body = UsersReport,
            example = json!({"users": [{"username": "doctor", "id": "5b8b8f4e-1f63-4c1e-9c8a-000000000002", "enabled": true, "roles": ["doctor-role", "default-roles-orthanc", "offline_access", "uma_authorization"], "permissions": ["view", "download", "share", "send"], "authorized-labels": ["*"], "api-key": false}],
                "problems": [{"problem": "no-authorized-labels", "what": "auditor (auditor-role) has permissions but no authorized labels: the plugin refuses them tools/find, so OE2's study list stays empty", "fix": "add authorized labels to auditor-role in the roles file (\"*\" for every study, or the labels of the studies they should see), or give them a role that has some", "users": ["auditor"], "roles": ["auditor-role"], "labels": []}]})),
        (status = 404, description = "No Keycloak admin client (KEYCLOAK_CLIENT_SECRET): the Python service's body", body = PythonError),
        (status = 503, description = "Keycloak unavailable", body = ErrorBody)))]
pub async fn list(_caller: Caller, profiles: web::Data<UserProfiles>) -> Result<HttpResponse> {
    let admin = keycloak_admin(&profiles)?;
    let report = users::report(
        admin,
        &profiles.roles.current(),
        users::api_keys_enabled(&profiles),
    )
    .await
    .map_err(keycloak_unavailable)?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /users/{username}/explain` query; another argument is refused (a mistyped `label`
/// would explain nothing).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    label: Option<String>,
}

#[utoipa::path(get, path = "/users/{username}/explain", tag = "users",
    params(("username" = String, Path, min_length = 1, max_length = 255, description = "A username (or a Keycloak user id)", example = "doctor"),
        ("label" = Option<String>, Query, min_length = 1, max_length = 255, description = "Say whether a study carrying this label is visible to the user, and which rule decides", example = "external")),
    responses((status = 200, description = "What each role of the user gives, the profile /user/get-profile answers for the user's access token (and api-key), the label's verdict, the user's problems", body = Explanation,
            example = json!({"user": {"username": "external", "id": "5b8b8f4e-1f63-4c1e-9c8a-000000000003", "enabled": true, "roles": ["external-role", "default-roles-orthanc"], "permissions": ["view", "download"], "authorized-labels": ["external"], "api-key": false},
                "roles": [{"role": "external-role", "source": "roles-file", "permissions": ["view", "download"], "authorized-labels": ["external"]}, {"role": "default-roles-orthanc", "source": "keycloak-default", "permissions": [], "authorized-labels": []}],
                "profile": {"authorized-labels": ["external"], "permissions": ["view", "download"], "name": "External Orthanc", "user-id": "5b8b8f4e-1f63-4c1e-9c8a-000000000003", "validity": 60, "groups": ["/externals"]},
                "api-key-profile": null,
                "label": {"label": "external", "visible": true, "rule": "external-role grants authorized label external; view from external-role", "decided-by": ["external-role"]},
                "problems": []})),
        (status = 400, description = "An empty label, a label or username past 255 characters (`invalid name`), or an argument other than label, or given twice (`invalid query`)", body = ErrorBody),
        (status = 404, description = "No such user in the realm (`unknown user`), or no Keycloak admin client (KEYCLOAK_CLIENT_SECRET, the Python service's body)", body = AnyError),
        (status = 503, description = "Keycloak unavailable", body = ErrorBody)))]
pub async fn explain(
    _caller: Caller,
    path: web::Path<String>,
    query: web::Query<ExplainQuery>,
    profiles: web::Data<UserProfiles>,
) -> Result<HttpResponse> {
    let admin = keycloak_admin(&profiles)?;
    let user = path.into_inner();
    let label = query.into_inner().label;
    for (name, value) in [("username", Some(&user)), ("label", label.as_ref())] {
        if value.is_some_and(|v| v.is_empty() || v.chars().count() > MAX_NAME_CHARS) {
            return Err(Error::bad_request(
                "invalid name",
                format!("{name}: 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
    }
    let api_keys = users::api_keys_enabled(&profiles);
    let explanation = users::explain(&profiles, admin, &user, label.as_deref(), api_keys)
        .await
        .map_err(keycloak_unavailable)?
        .ok_or(Error::NotFound {
            error: "unknown user",
            detail: "no such username or user id in the realm".into(),
        })?;
    Ok(HttpResponse::Ok().json(explanation))
}
