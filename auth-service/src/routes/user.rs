//! `POST /user/get-profile`, called by the plugin for every new token it sees.
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_object;
use crate::basic_auth::Caller;
use crate::error::{Error, ErrorBody, Result};
use crate::user_profiles::{ProfileRequest, UserProfile, UserProfiles};

/// With Keycloak: a Bearer access token is verified and its realm roles mapped through the roles
/// file; an api-key (`token-key: api-key`) is looked up; an undecodable token, or none, gives
/// the anonymous profile.
#[utoipa::path(post, path = "/user/get-profile", tag = "users",
    request_body(content = ProfileRequest),
    responses((status = 200, description = "The user's permissions and labels", body = UserProfile),
        (status = 503, description = "Keycloak unavailable (`keycloak unavailable`)", body = ErrorBody)))]
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
