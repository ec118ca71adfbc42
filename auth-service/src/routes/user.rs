//! `POST /user/get-profile`, called by the plugin for every new token it sees.
use actix_web::{web, HttpRequest, HttpResponse};

use super::json_body;
use crate::api::json_error;
use crate::basic_auth::Caller;
use crate::error::{Error, Result};
use crate::user_profiles::{ProfileRequest, UserProfiles};

pub async fn get_profile(
    _caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    profiles: web::Data<UserProfiles>,
) -> Result<HttpResponse> {
    let value: serde_json::Value =
        serde_json::from_slice(json_body(&req, &body)?).map_err(|e| json_error(&e))?;
    if !value.is_object() {
        return Err(Error::invalid_body("the body must be a JSON object"));
    }
    let request: ProfileRequest = serde_json::from_value(value).map_err(|e| json_error(&e))?;
    let profile = profiles
        .profile(&request)
        .await
        .map_err(|e| Error::Unavailable {
            error: "keycloak unavailable",
            detail: Some(e.to_string()),
        })?;
    Ok(HttpResponse::Ok().json(profile))
}
