//! Every setting of the landing page, read once at start from the environment and from files of
//! the same name in the secrets folder, by the same reader as auth-service's.
use std::time::Duration;

use secrecy::SecretString;
use service_settings::{http_url, invalid, SettingsError, Source};
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
        })
    }
}

#[cfg(test)]
mod tests {
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
        assert!(settings(&[
            ("LANDING_LOGO_URL", "/logo.png"),
            ("LANDING_DEFAULT_LANGUAGE", "fr")
        ])
        .is_ok());
    }
}
