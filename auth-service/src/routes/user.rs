//! `POST /user/get-profile`, called by the plugin for every new token it sees.
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_object;
use crate::basic_auth::Caller;
use crate::error::{Error, Result};
use crate::user_profiles::{ProfileRequest, UserProfiles};

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
