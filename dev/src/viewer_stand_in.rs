//! What a newcomer's first link lands on when no Orthanc is set: `cargo run -p dev` without
//! `PUBLIC_ORTHANC_ROOT` answers at the default viewer root itself, with a page that says which
//! viewer, studies and share the link opened, and how to point the run at a real Orthanc.
//! Without it the landing page's redirect ended on a connection error.
use std::net::TcpListener;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use askama::Template;
use auth_service::domain::ShareId;

/// Where a real Orthanc listens by default: the viewer root the dev run's links name.
pub const DEFAULT_BIND: &str = "127.0.0.1:8042";

#[derive(Template)]
#[template(path = "viewer.html")]
struct ViewerPage {
    viewer: &'static str,
    studies: Vec<String>,
    /// The share's registry id (never the token itself).
    share: Option<String>,
    auth_service: String,
}

/// The viewers whose links auth-service makes under PUBLIC_ORTHANC_ROOT, by their first path
/// segment.
fn viewer_name(path: &str) -> &'static str {
    match path.trim_start_matches('/').split('/').next() {
        Some("stone-webviewer") => "Stone Web Viewer",
        Some("osimis-viewer") => "Osimis Web Viewer",
        Some("volview") => "VolView",
        _ => "an Orthanc viewer",
    }
}

async fn page(req: HttpRequest, auth_service: web::Data<String>) -> HttpResponse {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes());
    let mut studies = Vec::new();
    let mut share = None;
    for (key, value) in query {
        match &*key {
            "study" | "pickableStudyIds" | "urls" => {
                studies.extend(
                    value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
            "token" => share = Some(ShareId::of_token(&value).to_string()),
            _ => {}
        }
    }
    studies.dedup();
    let page = ViewerPage {
        viewer: viewer_name(req.path()),
        studies,
        share,
        auth_service: auth_service.get_ref().clone(),
    };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "Failed to render the dev viewer page");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Serves the page on `listener` until the process ends.
pub fn serve(
    listener: TcpListener,
    auth_service: String,
) -> std::io::Result<actix_web::dev::Server> {
    let auth_service = web::Data::new(auth_service);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(auth_service.clone())
            .default_service(web::get().to(page))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_is_named_by_its_path() {
        assert_eq!(
            viewer_name("/stone-webviewer/index.html"),
            "Stone Web Viewer"
        );
        assert_eq!(viewer_name("/volview/index.html"), "VolView");
        assert_eq!(
            viewer_name("/osimis-viewer/app/index.html"),
            "Osimis Web Viewer"
        );
        assert_eq!(viewer_name("/"), "an Orthanc viewer");
    }
}
