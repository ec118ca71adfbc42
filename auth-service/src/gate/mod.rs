//! The token gate behind nginx `auth_request`: from the visitor's original request (URI, method,
//! token) to allow or deny, through the same access decision as the plugin's validate.
pub mod orthanc;
pub mod placement;
pub mod uri;

use chrono::{DateTime, Utc};

use crate::access::{AccessPolicy, Denial, Target, Usage};
use crate::domain::ShareToken;
use crate::settings::{GateSettings, OrthancSettings};
use crate::share_token::strip_bearer;
use orthanc::{LookupError, OrthancIndex};
use placement::{Anchor, OriginalUri};

/// The cookie that carries a visitor's token to a viewer's later requests.
pub const COOKIE_NAME: &str = "orthanc-share-token";

/// What nginx tells the gate about the visitor's request (headers of the sub-request).
#[derive(Clone, Copy, Debug, Default)]
pub struct Visit<'a> {
    /// `X-Original-Method`.
    pub method: Option<&'a str>,
    /// The visitor's `X-HTTP-Method-Override` (nginx passes the visitor's headers on): Orthanc
    /// runs the method it names instead of the one nginx reports.
    pub method_override: Option<&'a str>,
    /// `X-Original-URI`: `$request_uri`, raw.
    pub uri: Option<&'a str>,
    /// The visitor's `token` header (nginx passes the visitor's headers on).
    pub token_header: Option<&'a str>,
    /// `X-Original-Authorization`: the visitor's own `Authorization`.
    pub authorization: Option<&'a str>,
    /// The visitor's `Cookie` header.
    pub cookie: Option<&'a str>,
}

/// Where the visitor's token came from: only a token that did not come from the cookie is put
/// into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Query,
    Bearer,
    Cookie,
}

#[derive(Debug)]
pub enum Verdict {
    Allow {
        share: std::sync::Arc<ShareToken>,
        token: String,
        source: TokenSource,
    },
    Deny {
        denial: Denial,
        /// For the log: what made the decision.
        why: String,
    },
    /// Orthanc could not say where the resource belongs: never an allow.
    Unavailable(String),
}

pub struct Gate {
    index: OrthancIndex,
    settings: GateSettings,
}

impl Gate {
    pub fn new(orthanc: &OrthancSettings, settings: &GateSettings) -> anyhow::Result<Self> {
        Ok(Gate {
            index: OrthancIndex::new(orthanc)?,
            settings: settings.clone(),
        })
    }

    /// What Orthanc would run is decided first, without the token or Orthanc: a method other
    /// than GET or HEAD, a method override, an odd URI or a route, tail or query key outside the
    /// allowlist is refused (forbidden) even while Orthanc is down. Then the token alone (no
    /// Orthanc call for missing, forged or expired ones), then the resource is placed in
    /// Orthanc and the share checked against it and each of its parents, level by level.
    pub async fn decide(
        &self,
        policy: &AccessPolicy,
        visit: &Visit<'_>,
        now: DateTime<Utc>,
    ) -> Verdict {
        let deny = |denial, why: String| Verdict::Deny { denial, why };
        let (uri, placement) = match self.read_request(visit) {
            Ok(read) => read,
            Err(why) => return deny(Denial::Forbidden, why),
        };
        let (token, source) = match find_token(visit, &uri) {
            Some((t, s)) => (Some(t), Some(s)),
            None => (None, None),
        };
        policy.sight(token).await;
        let admitted = match policy.admit(token, now) {
            Ok(admitted) => admitted,
            Err(denial) => return deny(denial, "token".into()),
        };
        let allow = |admitted: crate::access::Verified| Verdict::Allow {
            share: admitted.share,
            token: token.unwrap_or_default().to_owned(),
            source: source.unwrap_or(TokenSource::Header),
        };
        if placement.anchor == Anchor::Server {
            return match policy.authorize_server_read(&admitted, now) {
                Ok(()) => allow(admitted),
                Err(denial) => deny(denial, "the server's description".into()),
            };
        }
        let lineage = match self.index.lineage(&placement.anchor).await {
            Ok(lineage) => lineage,
            Err(LookupError::Unavailable(why)) => return Verdict::Unavailable(why),
            Err(e) => return deny(Denial::Forbidden, e.to_string()),
        };
        let mut refusal = Denial::Forbidden;
        for ancestor in &lineage {
            let target = Target {
                dicom_uid: Some(&ancestor.dicom_uid),
                orthanc_id: Some(&ancestor.orthanc_id),
                server_id: policy.server_id(),
                usage: Some(Usage {
                    route: placement.route,
                    level: ancestor.level,
                }),
            };
            match policy.authorize(&admitted, &target, now) {
                Ok(()) => return allow(admitted),
                Err(denial) => refusal = denial,
            }
        }
        deny(
            refusal,
            format!("{:?} {:?} not shared", placement.route, placement.anchor),
        )
    }

    /// The request as Orthanc will run it, if a share may ever make it; else why not (for
    /// the log: no token or value in it).
    fn read_request(
        &self,
        visit: &Visit<'_>,
    ) -> Result<(OriginalUri, placement::Placement), String> {
        let method = visit
            .method
            .ok_or("no X-Original-Method (see the nginx snippet)")?;
        if !(method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")) {
            return Err("a method other than GET or HEAD: a share only reads".into());
        }
        if visit.method_override.is_some() {
            return Err(
                "an X-HTTP-Method-Override header: Orthanc would run another method".into(),
            );
        }
        let raw_uri = visit
            .uri
            .ok_or("no X-Original-URI (see the nginx snippet)")?;
        let uri = OriginalUri::parse(raw_uri, &self.settings.path_prefix)
            .map_err(|odd| format!("odd URI: {odd}"))?;
        let placement = uri.place().map_err(|e| e.to_string())?;
        Ok((uri, placement))
    }

    /// The `Set-Cookie` value that lets a viewer's later requests carry the token: HttpOnly,
    /// SameSite=Strict (a viewer's requests are same-site; no other site's link or form may
    /// carry it), scoped to the gated path, Secure unless `GATE_COOKIE_SECURE=false`. None for
    /// a token that is not plain cookie text (ours always are: base64url and dots).
    pub fn cookie(&self, token: &str) -> Option<String> {
        let plain = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        plain.then(|| {
            format!(
                "{COOKIE_NAME}={token}; Path={}; HttpOnly; SameSite=Strict{}",
                self.settings.path_prefix,
                if self.settings.cookie_secure {
                    "; Secure"
                } else {
                    ""
                }
            )
        })
    }
}

/// The visitor's token: the `token` header, the `token` query argument, a `Bearer` in the
/// visitor's `Authorization`, then the cookie.
fn find_token<'a>(visit: &Visit<'a>, uri: &'a OriginalUri) -> Option<(&'a str, TokenSource)> {
    let nonempty = |t: &'a str| Some(t.trim()).filter(|t| !t.is_empty());
    if let Some(t) = visit.token_header.map(strip_bearer).and_then(nonempty) {
        return Some((t, TokenSource::Header));
    }
    if let Some(t) = uri.param("token").and_then(nonempty) {
        return Some((t, TokenSource::Query));
    }
    let bearer = visit.authorization.and_then(|a| {
        let (scheme, rest) = a.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest)
    });
    if let Some(t) = bearer.and_then(nonempty) {
        return Some((t, TokenSource::Bearer));
    }
    let cookie = visit.cookie.and_then(cookie_token);
    cookie.and_then(nonempty).map(|t| (t, TokenSource::Cookie))
}

/// The token in a `Cookie` header, if it holds ours.
pub fn cookie_token(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'a>(visit: Visit<'a>, uri: &'a OriginalUri) -> Option<(&'a str, TokenSource)> {
        find_token(&visit, uri)
    }

    #[test]
    fn the_token_is_taken_from_header_query_bearer_then_cookie() {
        let with_query = OriginalUri::parse("/x?token=Q", "/").expect("parses");
        let without = OriginalUri::parse("/x", "/").expect("parses");
        let all = Visit {
            token_header: Some("H"),
            authorization: Some("Bearer B"),
            cookie: Some("a=1; orthanc-share-token=C"),
            ..Visit::default()
        };
        assert_eq!(found(all, &with_query), Some(("H", TokenSource::Header)));
        let no_header = Visit {
            token_header: None,
            ..all
        };
        assert_eq!(
            found(no_header, &with_query),
            Some(("Q", TokenSource::Query))
        );
        assert_eq!(found(no_header, &without), Some(("B", TokenSource::Bearer)));
        let cookie_only = Visit {
            authorization: Some("Basic dTpw"),
            ..no_header
        };
        assert_eq!(
            found(cookie_only, &without),
            Some(("C", TokenSource::Cookie))
        );
        assert_eq!(found(Visit::default(), &without), None);
        let bearer_header = Visit {
            token_header: Some("Bearer H2"),
            ..Visit::default()
        };
        assert_eq!(
            found(bearer_header, &without),
            Some(("H2", TokenSource::Header))
        );
    }

    #[test]
    fn the_cookie_is_scoped_and_secure_by_setting() {
        let gate = |secure| {
            let orthanc = OrthancSettings {
                url: url::Url::parse("http://127.0.0.1:1/").expect("url"),
                user: None,
                password: None,
                timeout: std::time::Duration::from_secs(1),
            };
            let settings = GateSettings {
                path_prefix: "/orthanc/".into(),
                cookie_secure: secure,
            };
            Gate::new(&orthanc, &settings).expect("gate builds")
        };
        assert_eq!(
            gate(true).cookie("a.b-c_d").as_deref(),
            Some("orthanc-share-token=a.b-c_d; Path=/orthanc/; HttpOnly; SameSite=Strict; Secure")
        );
        assert_eq!(
            gate(false).cookie("a.b").as_deref(),
            Some("orthanc-share-token=a.b; Path=/orthanc/; HttpOnly; SameSite=Strict")
        );
        // Nothing that could end the cookie or add an attribute.
        assert_eq!(gate(false).cookie("a; Domain=evil"), None);
        assert_eq!(gate(false).cookie(""), None);
    }
}
