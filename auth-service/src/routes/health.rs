use actix_web::{web, HttpResponse};

use crate::readiness::Readiness;

/// Liveness for load balancers and compose health checks: open to anyone.
#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "Alive", body = serde_json::Value, example = json!({"status": "ok"}))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: open to anyone, so it says ready or not and nothing about which dependency failed
/// (that goes to the log).
#[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses(
        (status = 200, description = "Every dependency of a configured feature is reachable", body = serde_json::Value, example = json!({"status": "ready"})),
        (status = 503, description = "A dependency is unreachable (details in the log)", body = serde_json::Value, example = json!({"status": "not ready"}))))]
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready().await {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"status":"not ready"}"#)
    }
}
