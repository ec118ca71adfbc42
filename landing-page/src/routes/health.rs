//! `GET /health`: the landing page itself answers (for container health checks). It does not
//! call auth-service: a restart loop of the landing page would not bring that one back.
use actix_web::HttpResponse;

pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}
