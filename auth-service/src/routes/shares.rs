//! `GET /shares`, `GET /shares/{id}`, `DELETE /shares/{id}`, `POST /shares/revoke`: the share
//! registry, for the people who must say which links exist for a study and close them.
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::json_object;
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ShareId, TokenType};
use crate::error::{Error, Result};
use crate::shares::{Cursor, ShareFilter, SharePage, ShareState, Unavailable};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// `GET /shares` query, as sent.
#[derive(Deserialize)]
pub struct ListQuery {
    resource: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    state: Option<String>,
    #[serde(rename = "created-by")]
    created_by: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

impl ListQuery {
    fn parse(self) -> Result<ShareFilter> {
        let token_type = match self.token_type.as_deref() {
            None => None,
            Some(t) => Some(TokenType::parse(t).ok_or_else(|| {
                Error::bad_request("unknown token type", "type: not a known token type")
            })?),
        };
        let state = match self.state.as_deref() {
            None => None,
            Some(s) => Some(ShareState::parse(s).ok_or_else(|| {
                Error::bad_request(
                    "unknown share state",
                    "state: must be active, expired, revoked or used-up",
                )
            })?),
        };
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(c) => Some(Cursor::parse(c).ok_or_else(|| {
                Error::bad_request("invalid cursor", "cursor: use the next-cursor of a page")
            })?),
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_PAGE,
            Some(l) => l
                .parse()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    Error::bad_request("invalid limit", format!("limit: 1 to {MAX_PAGE}"))
                })?,
        };
        Ok(ShareFilter {
            resource: self.resource.filter(|r| !r.is_empty()),
            token_type,
            state,
            created_by: self.created_by.filter(|u| !u.is_empty()),
            cursor,
            limit,
        })
    }
}

#[utoipa::path(get, path = "/shares", tag = "shares",
    params(("resource" = Option<String>, Query, description = "A DICOM UID or Orthanc id the share covers"),
        ("type" = Option<String>, Query, description = "A token type, e.g. `stone-viewer-publication`"),
        ("state" = Option<String>, Query, description = "`active`, `expired`, `revoked` or `used-up`"),
        ("created-by" = Option<String>, Query, description = "The user who created it"),
        ("cursor" = Option<String>, Query, description = "The `next-cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 500 (default 50)")),
    responses((status = 200, description = "Shares, newest first", body = serde_json::Value, example = json!({"shares": [json!({"id": "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5", "type": "stone-viewer-publication", "state": "active", "resources": [{"dicom-uid": "1.2.3", "level": "study"}], "created-by": "share-user", "use-count": 0})], "next-cursor": null})),
        (status = 400, description = "A filter, cursor or limit that does not parse"),
        (status = 401, description = "No or wrong Basic credentials"),
        (status = 503, description = "Share registry unavailable")))]
pub async fn list(
    _caller: Caller,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let filter = query.into_inner().parse()?;
    let now = Utc::now().timestamp_millis();
    let records = state.shares.list(&filter, now).await.map_err(unavailable)?;
    let next_cursor = (records.len() == filter.limit as usize)
        .then(|| records.last().map(|r| Cursor::after(r).to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(SharePage {
        shares: records.iter().map(|r| r.view(now)).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/shares/{id}", tag = "shares",
    params(("id" = String, Path, description = "The share id (32 hex digits; a fingerprint of the token, never the token)")),
    responses((status = 200, description = "The share", body = serde_json::Value, example = json!({"id": "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5", "type": "stone-viewer-publication", "state": "active", "resources": [{"dicom-uid": "1.2.3", "level": "study"}], "created-by": "share-user", "use-count": 0})),
        (status = 400, description = "Not a share id"),
        (status = 401, description = "No or wrong Basic credentials"),
        (status = 404, description = "No such share"),
        (status = 503, description = "Share registry unavailable")))]
pub async fn get(
    _caller: Caller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let id = share_id(&path)?;
    let record = state.shares.get(&id).await.map_err(unavailable)?;
    let record = record.ok_or_else(|| no_such_share(&id))?;
    Ok(HttpResponse::Ok().json(record.view(Utc::now().timestamp_millis())))
}

/// Revokes a share; revoking it again answers the same (the first revocation is kept). An id no
/// share has yet (a token the registry never recorded) is revoked too: its record, if it comes,
/// stays revoked.
#[utoipa::path(delete, path = "/shares/{id}", tag = "shares",
    params(("id" = String, Path, description = "The share id (the first 32 hex digits of the token's SHA-256)")),
    responses((status = 200, description = "The share, revoked (an id no share has yet: `type`, `created-at` and `created-by` null)", body = serde_json::Value),
        (status = 401, description = "No or wrong Basic credentials"),
        (status = 404, description = "Not a share id (32 lower-case hex digits)"),
        (status = 503, description = "Share registry unavailable")))]
pub async fn revoke(
    caller: Caller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let id = share_id(&path)?;
    let record = state
        .shares
        .revoke(&id, &caller.user)
        .await
        .map_err(unavailable)?;
    let record = record.ok_or_else(|| no_such_share(&id))?;
    tracing::info!(user = %caller.user, share = %id, "share revoked");
    Ok(HttpResponse::Ok().json(record.view(Utc::now().timestamp_millis())))
}

#[derive(Deserialize)]
struct RevokeResourceBody {
    resource: String,
}

/// Revokes every share of a resource (by DICOM UID or Orthanc id).
#[utoipa::path(post, path = "/shares/revoke", tag = "shares",
    request_body(content = serde_json::Value, example = json!({"resource": "1.2.3"})),
    responses((status = 200, description = "The ids of the shares this call revoked", body = serde_json::Value, example = json!({"revoked": ["3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5"]})),
        (status = 400, description = "An empty resource"),
        (status = 401, description = "No or wrong Basic credentials"),
        (status = 422, description = "The body is not JSON or lacks `resource`"),
        (status = 503, description = "Share registry unavailable")))]
pub async fn revoke_resource(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let body: RevokeResourceBody = json_object(&req, &body)?;
    if body.resource.is_empty() {
        return Err(Error::bad_request(
            "missing resource",
            "resource: must not be empty",
        ));
    }
    let ids = state
        .shares
        .revoke_resource(&body.resource, &caller.user)
        .await
        .map_err(unavailable)?;
    tracing::info!(user = %caller.user, shares = ids.len(), "shares of a resource revoked");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "revoked": ids.iter().map(ShareId::to_string).collect::<Vec<_>>(),
    })))
}

fn share_id(text: &str) -> Result<ShareId> {
    ShareId::parse(text).ok_or_else(|| Error::NotFound {
        error: "unknown share",
        detail: "share ids are 32 lower-case hex digits".into(),
    })
}

fn no_such_share(id: &ShareId) -> Error {
    Error::NotFound {
        error: "unknown share",
        detail: format!("no share {id} in the registry"),
    }
}

fn unavailable(e: Unavailable) -> Error {
    tracing::warn!(error = %e.0, "share registry database unavailable");
    Error::Unavailable {
        error: "share registry unavailable",
        detail: Some("the share database cannot be reached; try again later".into()),
    }
}
