//! Headers every answer carries: no script, no framing, no referrer, no caching of pages.
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use url::Url;

/// The policy: nothing but our style sheet and images from us (and the logo's origin). No
/// `form-action`: Chromium applies it to the redirect that follows the confirm button, which
/// leads to the viewer on another origin.
pub fn content_security_policy(logo_url: Option<&str>) -> String {
    let logo_origin = logo_url
        .and_then(|u| Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    let img = match logo_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; style-src 'self'; img-src {img}; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// Set where a handler did not set its own (the style sheet sets a cacheable Cache-Control).
pub fn middleware(csp: &str) -> anyhow::Result<DefaultHeaders> {
    let csp = HeaderValue::from_str(csp)?;
    Ok(DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, csp))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .add((
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logo_origin_is_the_only_addition() {
        let base = content_security_policy(None);
        assert!(base.contains("img-src 'self';") && base.contains("frame-ancestors 'none'"));
        assert!(!base.contains("unsafe"));
        assert!(
            content_security_policy(Some("https://cdn.example.org/logo.svg"))
                .contains("img-src 'self' https://cdn.example.org;")
        );
        assert_eq!(content_security_policy(Some("/logo.png")), base);
    }
}
