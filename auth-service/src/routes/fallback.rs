//! Answers for paths and methods no route takes, shaped like the Python service's.
use actix_web::http::header::LOCATION;
use actix_web::{web, HttpRequest, HttpResponse, Route};

use crate::error::Error;

/// 404, or a 307 to the same path without its trailing slash (FastAPI's redirect).
///
/// Only to a path of this host: a target starting with `//` or `/\` would be read by browsers as
/// another host (`//evil.example`), so such paths are a plain 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    let path = req.path();
    if path.len() > 1 && path.ends_with('/') {
        let mut target = path.trim_end_matches('/').to_owned();
        if target.is_empty() || leaves_the_host(&target) {
            return Err(Error::RouteNotFound);
        }
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

/// A Location that browsers would resolve to another host: scheme-relative (`//host`), or with a
/// backslash that they read as a slash (`/\host`).
fn leaves_the_host(target: &str) -> bool {
    let mut chars = target.chars();
    chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::leaves_the_host;

    #[test]
    fn only_paths_of_this_host_are_redirect_targets() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "///evil.example",
            "evil.example",
        ] {
            assert!(leaves_the_host(bad), "{bad}");
        }
        for good in ["/tokens", "/a//b", "/%2F%2Fevil.example"] {
            assert!(!leaves_the_host(good), "{good}");
        }
    }
}
