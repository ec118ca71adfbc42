//! Route table. One file per group of routes.
mod assets;
mod health;
mod link;

use actix_web::{web, HttpResponse};

pub use assets::{css_href, CSS_PATH};
pub use link::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .get(link::open)
            .post(link::confirmed)
            .default_service(web::to(|| async { method_not_allowed("GET, POST") })),
    )
    .service(
        web::resource(CSS_PATH)
            .get(assets::css)
            .default_service(web::to(|| async { method_not_allowed("GET") })),
    )
    .service(
        web::resource("/health")
            .get(health::health)
            .default_service(web::to(|| async { method_not_allowed("GET") })),
    )
    .default_service(web::to(link::not_found));
}

fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allow))
        .finish()
}
