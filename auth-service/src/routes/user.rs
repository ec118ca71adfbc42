//! `POST /user/get-profile`, called by the plugin for every new token it sees.
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_object;
use crate::basic_auth::Caller;
use crate::error::{Error, Result};
use crate::user_profiles::{ProfileRequest, UserProfiles};

#[utoipa::path(post, path = "/user/get-profile", tag = "users",
    request_body(content = serde_json::Value, example = json!({"token-key": "Authorization", "token-value": "Bearer eyJ...", "server-id": null})),
    responses((status = 200, description = "The user's permissions and labels", body = serde_json::Value, example = json!({"name": "Doctor Who", "user-id": "u-1", "permissions": ["view"], "authorized-labels": ["*"], "validity": 60})),
        (status = 401, description = "No or wrong Basic credentials"),
        (status = 503, description = "Keycloak unavailable")))]
pub async fn get_profile(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    profiles: web::Data<UserProfiles>,
) -> Result<HttpResponse> {
    let request: ProfileRequest = json_object(&req, &body)?;
    let profile = profiles
        .profile(&request)
        .await
        .map_err(|e| Error::Unavailable {
            error: "keycloak unavailable",
            detail: Some(e.to_string()),
        })?;
    Ok(HttpResponse::Ok().json(profile))
}
