//! Throughput ceiling for `bench/run.sh`: the same actix-web server settings as auth-service
//! (worker count from `WORKERS`, default 2) with handlers that do no work at all, so the ratio
//! auth-service / ceiling shows what our own code costs.

use std::num::NonZeroUsize;

use actix_web::{http::header::ContentType, web, App, HttpResponse, HttpServer};

/// The answer auth-service gives to a granted validation, as fixed bytes.
const GRANTED: &str = r#"{"granted":true,"validity":60}"#;

/// Takes the body as bytes without looking at it: actix-web answers `connection: close` when a
/// handler leaves the request body unread, and reconnecting on every request would make the
/// ceiling far lower than what a real handler (which reads the body) gets.
async fn fixed_answer(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(GRANTED)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind_address = env_or("BIND_ADDRESS", "127.0.0.1:8000");
    let workers: NonZeroUsize = env_or("WORKERS", "2").parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("WORKERS must be a positive integer: {e}"),
        )
    })?;
    HttpServer::new(|| {
        App::new()
            .route("/tokens/validate", web::post().to(fixed_answer))
            .route("/health", web::get().to(fixed_answer))
    })
    .workers(workers.get())
    .bind(&bind_address)?
    .run()
    .await
}
