//! Every setting of the landing page, read once at start from the environment and from files of
//! the same name in the secrets folder, by the same reader as auth-service's.
use std::time::Duration;

use secrecy::SecretString;
use service_settings::{http_url, invalid, SettingsError, Source, TrustedProxies};
use url::Url;

use crate::i18n::Language;

pub const DEFAULT_BIND_ADDRESS: &str = "0.0.0.0:8080";

/// What the pages show besides the message: the hospital's name, logo and a contact line.
#[derive(Clone, Debug, Default)]
pub struct Branding {
    /// Shown in the header and the title; the language file's default when unset.
    pub site_name: Option<String>,
    /// An `http(s)://` URL or a path on this site (`/logo.png`); the CSP allows its origin.
    pub logo_url: Option<String>,
    /// A line such as "Questions: radiology desk, +33 1 23 45 67 89".
    pub contact: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind_address: String,
    pub auth_service_url: Url,
    pub auth_service_user: String,
    pub auth_service_password: SecretString,
    /// The whole call to auth-service (opening a MedDream publication waits for MedDream).
    pub auth_service_timeout: Duration,
    pub branding: Branding,
    /// When Accept-Language names none of ours.
    pub default_language: Language,
    /// Show a page with an "Open the viewer" button instead of redirecting at once, so that
    /// e-mail link scanners opening the link neither mint MedDream tokens nor count as visits.
    pub confirm: bool,
    /// `LOG_FORMAT`: `human` (default) or `json` lines, as auth-service.
    pub log_format: service_telemetry::LogFormat,
    /// The viewers' public roots (`PUBLIC_ORTHANC_ROOT`, `PUBLIC_OHIF_ROOT`,
    /// `PUBLIC_MEDDREAM_ROOT`, as given to auth-service): redirects go to their origins only.
    /// None given: to the host the visitor reached this page on.
    pub viewer_roots: Vec<Url>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the visitor. Default: loopback and the
    /// private networks, where the reverse proxy in front of this page sits.
    pub trusted_proxies: TrustedProxies,
    pub open_limits: OpenLimits,
    /// `METRICS_BIND_ADDRESS`: where `GET /metrics` is served (this page is public: never on
    /// its own address). Unset: no metrics.
    pub metrics_bind_address: Option<String>,
    /// `LANDING_COOKIE_SECURE` (true): the cookie of a protected link's forms (their CSRF
    /// defence) goes over HTTPS only; false for plain-HTTP set-ups.
    pub cookie_secure: bool,
}

/// Opens (calls that may count a use or mint a MedDream link) allowed per minute, refilled
/// evenly; `None`: no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenLimits {
    /// `LANDING_LINK_OPENS_PER_MINUTE` (10): one link, whoever opens it.
    pub per_link: Option<u32>,
    /// `LANDING_CLIENT_OPENS_PER_MINUTE` (30): one visitor's address, whatever links (the
    /// confirm page's check counts too).
    pub per_client: Option<u32>,
}

impl Settings {
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::from_source(&Source::from_process())
    }

    pub fn from_source(src: &Source) -> Result<Settings, SettingsError> {
        let required = |name: &'static str, what: &str| {
            src.get(name)
                .ok_or_else(|| invalid(name, format!("is required ({what})")))
        };
        let auth_service_url = http_url(
            "AUTH_SERVICE_URL",
            required(
                "AUTH_SERVICE_URL",
                "where auth-service is, e.g. http://auth-service:8000/",
            )?,
        )?;
        let auth_service_user = required("AUTH_SERVICE_USER", "one of auth-service's USERS")?;
        if auth_service_user.contains(':') {
            return Err(invalid("AUTH_SERVICE_USER", "must not contain ':'"));
        }
        let auth_service_password = SecretString::from(required(
            "AUTH_SERVICE_PASSWORD",
            "the password of AUTH_SERVICE_USER in auth-service's USERS",
        )?);
        let default_language = match src.get("LANDING_DEFAULT_LANGUAGE") {
            None => Language::English,
            Some(code) => Language::from_code(code).ok_or_else(|| {
                invalid(
                    "LANDING_DEFAULT_LANGUAGE",
                    format!("must be one of {}", Language::codes()),
                )
            })?,
        };
        let viewer_roots = [
            "PUBLIC_ORTHANC_ROOT",
            "PUBLIC_OHIF_ROOT",
            "PUBLIC_MEDDREAM_ROOT",
        ]
        .into_iter()
        .filter_map(|name| src.get(name).map(|text| http_url(name, text)))
        .collect::<Result<Vec<_>, _>>()?;
        let trusted_proxies = match src.get("TRUSTED_PROXIES") {
            None => TrustedProxies::private_networks(),
            text => TrustedProxies::parse("TRUSTED_PROXIES", text)?,
        };
        let open_limits = OpenLimits {
            per_link: per_minute(src, "LANDING_LINK_OPENS_PER_MINUTE", 10)?,
            per_client: per_minute(src, "LANDING_CLIENT_OPENS_PER_MINUTE", 30)?,
        };
        let logo_url = src.get("LANDING_LOGO_URL").map(str::to_owned);
        if let Some(logo) = &logo_url {
            if logo.starts_with("//") || !logo.starts_with('/') {
                http_url("LANDING_LOGO_URL", logo)?;
            }
        }
        Ok(Settings {
            bind_address: src
                .get("BIND_ADDRESS")
                .unwrap_or(DEFAULT_BIND_ADDRESS)
                .to_owned(),
            auth_service_url,
            auth_service_user: auth_service_user.to_owned(),
            auth_service_password,
            auth_service_timeout: src.seconds("AUTH_SERVICE_TIMEOUT_SECONDS", 10.0)?,
            branding: Branding {
                site_name: src.get("LANDING_SITE_NAME").map(str::to_owned),
                logo_url,
                contact: src.get("LANDING_CONTACT").map(str::to_owned),
            },
            default_language,
            confirm: src.flag("LANDING_CONFIRM")?,
            log_format: service_telemetry::LogFormat::parse(src.get("LOG_FORMAT"))?,
            viewer_roots,
            trusted_proxies,
            open_limits,
            metrics_bind_address: src.get("METRICS_BIND_ADDRESS").map(str::to_owned),
            cookie_secure: src.flag_or("LANDING_COOKIE_SECURE", true)?,
        })
    }
}

/// A count per minute, 0 for no limit.
fn per_minute(
    src: &Source,
    name: &'static str,
    default: u32,
) -> Result<Option<u32>, SettingsError> {
    let count = match src.get(name) {
        None => default,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| invalid(name, "must be a whole number from 0 (no limit) to 100000"))?,
    };
    Ok((count > 0).then_some(count))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut env: HashMap<String, String> = HashMap::from([
            ("AUTH_SERVICE_URL".into(), "http://auth:8000/".into()),
            ("AUTH_SERVICE_USER".into(), "landing".into()),
            ("AUTH_SERVICE_PASSWORD".into(), "pw-123-secret".into()),
        ]);
        for (k, v) in pairs {
            env.insert((*k).into(), (*v).into());
        }
        Settings::from_source(&Source::new(env, Path::new("/nonexistent-secrets")))
    }

    #[test]
    fn defaults_apply_and_the_password_is_never_printed() {
        let s = settings(&[]).expect("valid");
        assert_eq!(s.bind_address, DEFAULT_BIND_ADDRESS);
        assert_eq!(s.default_language, Language::English);
        assert!(!s.confirm);
        assert!(!format!("{s:?}").contains("pw-123-secret"));
        assert!(s.viewer_roots.is_empty());
        assert!(s.trusted_proxies.contains("172.18.0.2".parse().unwrap()));
        assert!(!s.trusted_proxies.contains("203.0.113.9".parse().unwrap()));
        assert_eq!(
            s.open_limits,
            OpenLimits {
                per_link: Some(10),
                per_client: Some(30)
            }
        );
        assert_eq!(s.metrics_bind_address, None);
        assert!(s.cookie_secure);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let name = |pairs: &[(&str, &str)]| settings(pairs).err().map(|e| e.name);
        assert_eq!(name(&[("AUTH_SERVICE_URL", "")]), Some("AUTH_SERVICE_URL"));
        assert_eq!(
            name(&[("AUTH_SERVICE_URL", "auth:8000")]),
            Some("AUTH_SERVICE_URL")
        );
        assert_eq!(
            name(&[("AUTH_SERVICE_PASSWORD", " ")]),
            Some("AUTH_SERVICE_PASSWORD")
        );
        assert_eq!(
            name(&[("LANDING_DEFAULT_LANGUAGE", "de")]),
            Some("LANDING_DEFAULT_LANGUAGE")
        );
        assert_eq!(
            name(&[("LANDING_CONFIRM", "sometimes")]),
            Some("LANDING_CONFIRM")
        );
        assert_eq!(
            name(&[("LANDING_LOGO_URL", "javascript:x")]),
            Some("LANDING_LOGO_URL")
        );
        assert_eq!(
            name(&[("PUBLIC_OHIF_ROOT", "ohif/")]),
            Some("PUBLIC_OHIF_ROOT")
        );
        assert_eq!(
            name(&[("TRUSTED_PROXIES", "nginx")]),
            Some("TRUSTED_PROXIES")
        );
        assert_eq!(
            name(&[("LANDING_COOKIE_SECURE", "https")]),
            Some("LANDING_COOKIE_SECURE")
        );
        assert_eq!(
            name(&[("LANDING_LINK_OPENS_PER_MINUTE", "-1")]),
            Some("LANDING_LINK_OPENS_PER_MINUTE")
        );
        let s = settings(&[
            ("LANDING_LOGO_URL", "/logo.png"),
            ("LANDING_DEFAULT_LANGUAGE", "fr"),
            ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.org/orthanc/"),
            (
                "PUBLIC_MEDDREAM_ROOT",
                "https://viewer.example.org/meddream/",
            ),
            ("TRUSTED_PROXIES", "10.0.0.5"),
            ("LANDING_CLIENT_OPENS_PER_MINUTE", "0"),
        ])
        .unwrap();
        assert_eq!(s.viewer_roots.len(), 2);
        assert!(!s.trusted_proxies.contains("172.18.0.2".parse().unwrap()));
        assert_eq!(s.open_limits.per_client, None);
    }
}
