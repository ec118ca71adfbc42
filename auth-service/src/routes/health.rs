use actix_web::{web, HttpResponse};

use crate::readiness::Readiness;

/// Liveness for load balancers and compose health checks: open to anyone.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: open to anyone, so it says ready or not and nothing about which dependency failed
/// (that goes to the log).
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
