//! Where this page may send a visitor: the viewers' origins the deployment configured
//! (`PUBLIC_ORTHANC_ROOT`, `PUBLIC_OHIF_ROOT`, `PUBLIC_MEDDREAM_ROOT`, the same values as
//! auth-service's), or, when none is given, the host the visitor reached this page on (every
//! compose stack serves the viewers beside it). The redirect comes from auth-service; checking it
//! here means a compromised or misconfigured auth-service cannot turn the page into an open
//! redirect.
use actix_web::http::header::HeaderValue;
use url::{Origin, Url};

pub struct ViewerOrigins {
    /// Each configured origin, and its serialisation followed by `/`: a link starting with that
    /// is on that origin whatever follows (the authority ends at that slash).
    configured: Vec<(Origin, String)>,
}

/// Why a redirect was refused: what the log says (an origin, never the link, which holds a
/// token).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not an absolute http(s) URL.
    NotWeb,
    /// A web address on an origin this page was not told of.
    Elsewhere(String),
}

impl ViewerOrigins {
    pub fn new(roots: &[Url]) -> ViewerOrigins {
        let mut configured: Vec<(Origin, String)> = Vec::new();
        for root in roots {
            let origin = root.origin();
            if !configured.iter().any(|(o, _)| *o == origin) {
                let prefix = format!("{}/", origin.ascii_serialization());
                configured.push((origin, prefix));
            }
        }
        ViewerOrigins { configured }
    }

    /// The `Location` for a viewer link auth-service answered. `page_host` is the `Host` the
    /// visitor sent (the origin when none is configured).
    pub fn location(&self, text: &str, page_host: Option<&str>) -> Result<HeaderValue, Refused> {
        // auth-service's links are plain ASCII under a configured root: taken as they are
        // (parsing every one showed in the landing bench's profile).
        let plain = text.bytes().all(|b| b.is_ascii_graphic());
        if plain
            && self
                .configured
                .iter()
                .any(|(_, prefix)| starts_with_ignoring_case(text, prefix))
        {
            return HeaderValue::from_str(text).map_err(|_| Refused::NotWeb);
        }
        // Anything else through the URL parser, as a browser reads it (`http:\\host` is
        // `http://host/`), then its origin is checked and its serialisation sent.
        let url = Url::parse(text).map_err(|_| Refused::NotWeb)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Refused::NotWeb);
        }
        let origin = url.origin();
        let allowed = if self.configured.is_empty() {
            page_host.is_some_and(|host| same_host(&url, host))
        } else {
            self.configured.iter().any(|(o, _)| *o == origin)
        };
        if !allowed {
            return Err(Refused::Elsewhere(origin.ascii_serialization()));
        }
        HeaderValue::from_str(url.as_str()).map_err(|_| Refused::NotWeb)
    }

    /// What the start-up log says the page redirects to.
    pub fn describe(&self) -> String {
        if self.configured.is_empty() {
            return "the host each visitor reached this page on".to_owned();
        }
        let origins: Vec<String> = self
            .configured
            .iter()
            .map(|(o, _)| o.ascii_serialization())
            .collect();
        origins.join(", ")
    }
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The link's host is the page's (`Host` may carry a port; hosts are compared without ports: a
/// viewer on another port of the same host is the same site's).
fn same_host(url: &Url, page_host: &str) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let page = match page_host.rsplit_once(':') {
        // `[::1]:8080` and `host:8080`, not the colons of a bare IPv6 address.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => page_host,
    };
    host.eq_ignore_ascii_case(page)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn configured(roots: &[&str]) -> ViewerOrigins {
        let roots: Vec<Url> = roots.iter().map(|r| Url::parse(r).unwrap()).collect();
        ViewerOrigins::new(&roots)
    }

    fn sent(v: Result<HeaderValue, Refused>) -> Result<String, Refused> {
        v.map(|h| h.to_str().unwrap().to_owned())
    }

    #[test]
    fn only_configured_origins_are_redirected_to() {
        let o = configured(&[
            "https://pacs.example.org/orthanc/",
            "https://pacs.example.org/ohif/",
            "https://md.example.org:8443/meddream/",
        ]);
        let ok =
            "https://pacs.example.org/orthanc/stone-webviewer/index.html?study=1.2&token=a.b.c";
        assert_eq!(sent(o.location(ok, None)), Ok(ok.to_owned()));
        assert_eq!(
            sent(o.location("HTTPS://PACS.example.org/x", None)),
            Ok("HTTPS://PACS.example.org/x".to_owned())
        );
        assert_eq!(
            sent(o.location(
                "https://md.example.org:8443/meddream/?study=1&token=mdt-1",
                None
            )),
            Ok("https://md.example.org:8443/meddream/?study=1&token=mdt-1".to_owned())
        );
        for (evil, origin) in [
            ("https://evil.example/", "https://evil.example"),
            ("http:\\\\evil.example/", "http://evil.example"),
            (
                "https://pacs.example.org@evil.example/",
                "https://evil.example",
            ),
            (
                "https://pacs.example.org.evil.example/",
                "https://pacs.example.org.evil.example",
            ),
            (
                "http://pacs.example.org/orthanc/",
                "http://pacs.example.org",
            ),
            ("https://md.example.org/meddream/", "https://md.example.org"),
            (
                "https://evil.example/https://pacs.example.org/",
                "https://evil.example",
            ),
        ] {
            assert_eq!(
                o.location(evil, None),
                Err(Refused::Elsewhere(origin.to_owned())),
                "{evil}"
            );
        }
        for not_web in [
            "javascript:alert(1)",
            "/relative?token=t",
            "",
            "https://",
            "data:text/html,x",
        ] {
            assert_eq!(o.location(not_web, None), Err(Refused::NotWeb), "{not_web}");
        }
        // A configured origin with a path that is not plain: parsed, checked, encoded.
        assert_eq!(
            sent(o.location("https://pacs.example.org/a b?token=t", None)),
            Ok("https://pacs.example.org/a%20b?token=t".to_owned())
        );
    }

    #[test]
    fn without_configured_roots_the_pages_own_host_is_the_only_one() {
        let o = configured(&[]);
        let link = "https://pacs.example.org/orthanc/x?token=t";
        assert_eq!(
            sent(o.location(link, Some("pacs.example.org"))),
            Ok(link.to_owned())
        );
        assert_eq!(
            sent(o.location(link, Some("PACS.example.org:443"))),
            Ok(link.to_owned())
        );
        assert!(o
            .location("http://[::1]:8042/x", Some("[::1]:8080"))
            .is_ok());
        assert_eq!(
            o.location("https://evil.example/", Some("pacs.example.org")),
            Err(Refused::Elsewhere("https://evil.example".to_owned()))
        );
        assert_eq!(
            o.location("http:\\\\evil.example/", Some("pacs.example.org")),
            Err(Refused::Elsewhere("http://evil.example".to_owned()))
        );
        assert!(o.location(link, None).is_err(), "no Host: nowhere");
        assert_eq!(o.describe(), "the host each visitor reached this page on");
    }
}
