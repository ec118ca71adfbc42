use actix_web::HttpResponse;

/// Liveness for load balancers and compose health checks; the only route without credentials.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}
