//! The style sheet, compiled into the binary (no external assets).
use actix_web::http::header;
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

pub const CSS_PATH: &str = "/landing.css";
const CSS: &str = include_str!("../../static/landing.css");

/// `landing.css?v=HASH`: relative to the page, and a new URL whenever the sheet changes, so
/// it can be cached for long.
pub fn css_href() -> String {
    let version = hex::encode(&Sha256::digest(CSS.as_bytes())[..4]);
    format!("{}?v={version}", CSS_PATH.trim_start_matches('/'))
}

pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=604800"))
        .body(CSS)
}
