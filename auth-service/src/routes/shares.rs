//! `GET /shares`, `GET /shares/{id}`, `POST /shares/{id}/revoke`, `POST /shares/revoke`: the share
//! registry, for the people who must say which links exist for a study and close them.
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use super::json_object;
use crate::app_state::AppState;
use crate::basic_auth::Caller;
use crate::domain::{ShareId, TokenType};
use crate::error::{Error, ErrorBody, Result};
use crate::shares::{Cursor, ShareFilter, SharePage, ShareState, ShareView, Unavailable};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// `GET /shares` query, as sent. An argument it does not take is refused: a mistyped filter
/// (`?stat=revoked`) must not list every share as if it were the ones asked for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// An empty filter (`state=`, as a form with nothing chosen sends it) filters nothing,
    /// like an absent one; `limit` and `cursor` must be real values.
    fn parse(self) -> Result<ShareFilter> {
        let token_type = match self.token_type.as_deref() {
            None | Some("") => None,
            Some(t) => Some(TokenType::parse(t).ok_or_else(|| {
                Error::bad_request("unknown token type", "type: not a known token type")
            })?),
        };
        let state = match self.state.as_deref() {
            None | Some("") => None,
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

/// `type` of `GET /shares`: a token type, or empty for any.
pub struct TypeFilter;

impl utoipa::PartialSchema for TypeFilter {
    fn schema() -> RefOr<Schema> {
        filter_schema(TokenType::ALL.iter().map(|t| t.as_str()))
    }
}

impl utoipa::ToSchema for TypeFilter {}

/// `state` of `GET /shares`: a state, or empty for any.
pub struct StateFilter;

impl utoipa::PartialSchema for StateFilter {
    fn schema() -> RefOr<Schema> {
        filter_schema(["active", "expired", "revoked", "used-up"])
    }
}

impl utoipa::ToSchema for StateFilter {}

fn filter_schema<'a>(words: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.into_iter().chain([""])))
        .into()
}

#[utoipa::path(get, path = "/shares", tag = "shares",
    params(("resource" = Option<String>, Query, description = "A DICOM UID or Orthanc id the share covers; empty: any", example = "1.2.840.113619.2.55.3.604688119"),
        ("type" = Option<TypeFilter>, Query, description = "A token type; empty: any"),
        ("state" = Option<StateFilter>, Query, description = "Where the share stands; empty: any"),
        ("created-by" = Option<String>, Query, description = "The Basic-auth user who created it; empty: any"),
        ("cursor" = Option<String>, Query, pattern = "^[+-]?0*[0-9]{1,18}_[0-9a-f]{32}$", description = "The `next-cursor` of the previous page"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)")),
    responses((status = 200, description = "Shares, newest first", body = SharePage),
        (status = 400, description = "A type, state, cursor or limit that is none of those listed (`unknown token type`, `unknown share state`, `invalid cursor`, `invalid limit`), or an argument other than these, or given twice (`invalid query`)", body = ErrorBody),
        (status = 503, description = "Share registry unavailable", body = ErrorBody)))]
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
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "The share id: the first 32 hex digits of the token's SHA-256 (names the share, never opens it)", example = "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5")),
    responses((status = 200, description = "The share; a revoked one stays listed, with its state, for the record", body = ShareView),
        (status = 404, description = "No such share, or not a share id (`unknown share`)", body = ErrorBody),
        (status = 503, description = "Share registry unavailable", body = ErrorBody)))]
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
/// stays revoked. A change of state, not a removal (hence no DELETE): the share stays in the
/// registry, revoked, for the record, and `GET /shares/{id}` still shows it.
#[utoipa::path(post, path = "/shares/{id}/revoke", tag = "shares",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "The share id: the first 32 hex digits of the token's SHA-256", example = "3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5")),
    responses((status = 200, description = "The share, revoked (an id no share has yet: `type`, `created-at` and `created-by` null)", body = ShareView),
        (status = 404, description = "Not a share id (`unknown share`)", body = ErrorBody),
        (status = 503, description = "Share registry unavailable", body = ErrorBody)))]
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

/// `POST /shares/revoke` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"resource": "1.2.840.113619.2.55.3.604688119"}))]
pub struct RevokeResourceBody {
    /// A DICOM UID or Orthanc id: every share covering it is revoked.
    #[schema(min_length = 1)]
    resource: String,
}

/// `POST /shares/revoke` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// The ids of the shares this call revoked (none already revoked).
    #[schema(example = json!(["3f0c9d8e5b7a41c2a6d4e8f1b2c3d4e5"]))]
    revoked: Vec<String>,
}

/// Revokes every share of a resource (by DICOM UID or Orthanc id).
#[utoipa::path(post, path = "/shares/revoke", tag = "shares",
    request_body(content = RevokeResourceBody),
    responses((status = 200, description = "The ids of the shares this call revoked", body = Revoked),
        (status = 400, description = "An empty resource (`missing resource`)", body = ErrorBody),
        (status = 503, description = "Share registry unavailable", body = ErrorBody)))]
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
    Ok(HttpResponse::Ok().json(Revoked {
        revoked: ids.iter().map(ShareId::to_string).collect(),
    }))
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
