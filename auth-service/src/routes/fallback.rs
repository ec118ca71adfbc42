//! Answers for paths and methods no route takes, shaped like the Python service's.
use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse, Route};

use crate::error::Error;

/// 404, or a 307 to the same path without its trailing slash (FastAPI's redirect).
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    let path = req.path();
    if path.len() > 1 && path.ends_with('/') {
        let mut target = path.trim_end_matches('/').to_owned();
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        return Ok(HttpResponse::TemporaryRedirect()
            .insert_header((LOCATION, target))
            .finish());
    }
    Err(Error::RouteNotFound)
}

pub fn allow(methods: &'static str) -> Route {
    web::to(move || async move {
        Err::<HttpResponse, Error>(Error::MethodNotAllowed { allow: methods })
    })
}
