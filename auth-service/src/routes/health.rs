use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::readiness::Readiness;

/// `/health`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    status: AliveWord,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum AliveWord {
    Ok,
}

/// `/ready`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadyStatus {
    status: ReadyWord,
}

#[derive(Serialize, utoipa::ToSchema)]
enum ReadyWord {
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "not ready")]
    NotReady,
}

/// Liveness for load balancers and compose health checks: open to anyone.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "HealthStatus", body = HealthStatus, example = json!({"status": "ok"}))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: AliveWord::Ok,
    })
}

/// Readiness: open to anyone, so it says ready or not and nothing about which dependency failed
/// (that goes to the log).
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses(
        (status = 200, description = "Every dependency of a configured feature is reachable", body = ReadyStatus, example = json!({"status": "ready"})),
        (status = 503, description = "A dependency is unreachable (details in the log)", body = ReadyStatus, example = json!({"status": "not ready"}))))]
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready().await {
        HttpResponse::Ok().json(ReadyStatus {
            status: ReadyWord::Ready,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(ReadyStatus {
            status: ReadyWord::NotReady,
        })
    }
}
