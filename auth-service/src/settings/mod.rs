//! Every setting of auth-service, read once at start from the environment and from files of the
//! same name in the secrets directory (Docker secrets; the file wins, trimmed).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

mod operations;

pub use operations::{LogFormat, OperationsSettings, ThrottleSettings};
// The reader of env + /run/secrets and its checks are shared with the landing page.
pub use service_settings::{http_url, invalid, SettingsError, Source, DEFAULT_SECRETS_DIR};

pub const DEFAULT_BIND_ADDRESS: &str = "0.0.0.0:8000";
pub const DEFAULT_PERMISSIONS_FILE: &str = "/orthanc_auth_service/permissions.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OhifDataSource {
    DicomWeb,
    DicomJson,
}

/// A public root as configured: kept as written (landing and MedDream links are built by plain
/// concatenation, as the Python service does) and parsed (viewer links use URL-join).
#[derive(Clone, Debug)]
pub struct PublicRoot {
    pub text: String,
    pub url: Url,
}

/// Basic-auth accounts from `USERS`; passwords never printed.
#[derive(Clone)]
pub struct Users(pub Vec<(String, SecretString)>);

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(u, _)| u))
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct MeddreamSettings {
    pub token_service_url: Url,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// `MEDDREAM_LINK_REUSE_SECONDS`: how long a MedDream link minted to open a publication is
    /// handed to the next opens of the same share (zero: a new one each time).
    pub link_reuse: Duration,
}

/// Default of `MEDDREAM_LINK_REUSE_SECONDS`. MedDream's token service forgets a token left idle
/// for 180 s (orthanc-team's image); a link handed out 30 s after its minting still has 150 s
/// before the viewer first uses it, and a flood of opens of one link costs MedDream one token
/// every 30 s.
pub const DEFAULT_MEDDREAM_LINK_REUSE: Duration = Duration::from_secs(30);
/// Longest `MEDDREAM_LINK_REUSE_SECONDS`: a link reused longer might reach a visitor after
/// MedDream has forgotten its token.
pub const MAX_MEDDREAM_LINK_REUSE_SECONDS: f64 = 150.0;

#[derive(Clone, Debug)]
pub struct KeycloakSettings {
    pub uri: Url,
    pub admin_uri: Url,
    pub client_secret: Option<SecretString>,
    pub enable_api_keys: bool,
    /// Ours: how long an api-key look-up (found or not) is remembered.
    pub api_key_cache: Duration,
    /// Ours: the least time between two fetches of the realm keys (an unknown `kid` triggers one).
    pub keys_refresh_interval: Duration,
    /// Ours: the whole-request timeout for calls to Keycloak.
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub templates_root: PathBuf,
    pub sender_address: String,
    pub reply_to: Option<String>,
    pub smtp_hostname: String,
    pub smtp_port: u16,
    pub smtp_user_name: Option<String>,
    pub smtp_password: Option<SecretString>,
    pub smtp_uses_tls: bool,
    pub smtp_timeout: Duration,
    /// Ours: a PEM certificate trusted besides the public roots (a private SMTP CA, tests).
    pub smtp_ca_file: Option<PathBuf>,
}

/// Where the gate looks resources up (`ORTHANC_URL`, `ORTHANC_USER`, `ORTHANC_PASSWORD`).
#[derive(Clone, Debug)]
pub struct OrthancSettings {
    /// Always ends with `/`, so paths join below it.
    pub url: Url,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// Ours: the whole-request time limit of one look-up.
    pub timeout: Duration,
}

/// Protected links (ours).
#[derive(Clone, Debug)]
pub struct LinkProtectionSettings {
    /// `REQUIRE_LINK_PROTECTION`: a publication without `protection` is refused (400), unless
    /// `PROTECT_EMAILED_LINKS=code` protects it when it is e-mailed.
    pub require: bool,
    /// `PROTECT_EMAILED_LINKS=code`: a link to one of our shares in `/emails/send` binds the
    /// share to the destination addresses before the message goes out.
    pub protect_emailed: bool,
    /// `PROTECTED_SESSION_HOURS` (8): how long the token a visitor gets by unlocking a link opens
    /// the viewer (never past the share's own expiry).
    pub session: Duration,
    /// `PROTECTED_LINK_NOTICE`: the sentence e-mails of bound links carry (`{link-protection}`).
    pub notice: String,
}

/// What an e-mail of a bound link says when `PROTECTED_LINK_NOTICE` is unset.
pub const DEFAULT_PROTECTED_LINK_NOTICE: &str = "To open this link, you will be asked for a one-time code, sent to this e-mail address when you ask for it on the page. / Pour ouvrir ce lien, un code à usage unique vous sera demandé ; il est envoyé à cette adresse quand vous le demandez sur la page.";

/// Longest `PROTECTED_SESSION_HOURS`: a month.
pub const MAX_PROTECTED_SESSION_HOURS: f64 = 720.0;

/// The nginx gate's own settings (ours).
#[derive(Clone, Debug)]
pub struct GateSettings {
    /// The public path nginx serves Orthanc under (`/orthanc/`): stripped from `X-Original-URI`,
    /// and the path of the token cookie.
    pub path_prefix: String,
    /// Whether the token cookie carries `Secure` (default true: browsers then send it over HTTPS
    /// only; set false for plain-HTTP set-ups).
    pub cookie_secure: bool,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub secret_key: SecretString,
    pub users: Users,
    pub bind_address: String,
    pub public_orthanc_root: Option<PublicRoot>,
    pub public_landing_root: Option<PublicRoot>,
    pub public_ohif_root: Option<PublicRoot>,
    pub ohif_data_source: OhifDataSource,
    pub server_id: Option<String>,
    pub meddream: Option<MeddreamSettings>,
    pub public_meddream_root: Option<PublicRoot>,
    pub permissions_file_path: PathBuf,
    pub anonymous_profile_file_path: Option<PathBuf>,
    pub keycloak: Option<KeycloakSettings>,
    pub emails: Option<EmailSettings>,
    /// May hold a database password (`postgres://user:password@host/db`).
    pub database_url: Option<SecretString>,
    /// Where local state lives (the default SQLite registry); `DATA_DIR`, default `data`.
    pub data_dir: PathBuf,
    /// `REQUIRE_REGISTERED_TOKENS`: refuse share tokens the registry does not hold.
    pub require_registered_tokens: bool,
    /// `SHARES_RETENTION_DAYS`: expired shares are purged from the registry after this.
    pub shares_retention_days: u32,
    /// `DATABASE_TIMEOUT_SECONDS` (default 5): the bound of every call to the registry's
    /// database, past which it is given up (503 for a request).
    pub database_timeout: Duration,
    /// Present when `ORTHANC_URL` is set: enables `GET /gate`.
    pub orthanc: Option<OrthancSettings>,
    pub gate: GateSettings,
    pub link_protection: LinkProtectionSettings,
    /// Health, shutdown, throttling, metrics and log settings (settings/operations.rs).
    pub operations: OperationsSettings,
}

impl Settings {
    /// `DATABASE_URL`, or a SQLite file in the data folder.
    pub fn registry_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}",
                self.data_dir.join("auth-service.sqlite").display()
            )),
        }
    }
}

impl Settings {
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::from_source(&Source::from_process())
    }

    pub fn from_source(src: &Source) -> Result<Settings, SettingsError> {
        let secret_key = SecretString::from(src.get("SECRET_KEY").ok_or_else(|| {
            invalid(
                "SECRET_KEY",
                "is required (the key that signs share tokens)",
            )
        })?);
        let users = parse_users(src.get("USERS").ok_or_else(|| {
            invalid("USERS", "is required, e.g. {\"share-user\": \"change-me\"}")
        })?)?;
        let public_meddream_root = root(src, "PUBLIC_MEDDREAM_ROOT")?;
        if let Some(r) = &public_meddream_root {
            if !r.text.ends_with('/') {
                return Err(invalid("PUBLIC_MEDDREAM_ROOT", "must end with '/'"));
            }
        }
        let meddream = match src.get("MEDDREAM_TOKEN_SERVICE_URL") {
            None => None,
            Some(text) => Some(MeddreamSettings {
                token_service_url: http_url("MEDDREAM_TOKEN_SERVICE_URL", text)?,
                connect_timeout: seconds(src, "MEDDREAM_CONNECT_TIMEOUT_SECONDS", 2.0)?,
                timeout: seconds(src, "MEDDREAM_TIMEOUT_SECONDS", 5.0)?,
                link_reuse: meddream_link_reuse(src)?,
            }),
        };
        let ohif_data_source = match src.get("OHIF_DATA_SOURCE") {
            None | Some("dicom-web") => OhifDataSource::DicomWeb,
            Some("dicom-json") => OhifDataSource::DicomJson,
            Some(_) => {
                return Err(invalid(
                    "OHIF_DATA_SOURCE",
                    "must be dicom-web or dicom-json",
                ))
            }
        };
        let keycloak = if flag(src, "ENABLE_KEYCLOAK")? {
            Some(KeycloakSettings {
                uri: http_url(
                    "KEYCLOAK_URI",
                    src.get("KEYCLOAK_URI")
                        .unwrap_or("http://keycloak:8080/realms/orthanc/"),
                )?,
                admin_uri: http_url(
                    "KEYCLOAK_ADMIN_URI",
                    src.get("KEYCLOAK_ADMIN_URI")
                        .unwrap_or("http://keycloak:8080/admin/realms/orthanc/"),
                )?,
                client_secret: src.get("KEYCLOAK_CLIENT_SECRET").map(SecretString::from),
                enable_api_keys: flag(src, "ENABLE_KEYCLOAK_API_KEYS")?,
                api_key_cache: seconds(src, "KEYCLOAK_API_KEY_CACHE_SECONDS", 60.0)?,
                keys_refresh_interval: seconds(src, "KEYCLOAK_KEYS_REFRESH_SECONDS", 10.0)?,
                timeout: seconds(src, "KEYCLOAK_TIMEOUT_SECONDS", 5.0)?,
            })
        } else {
            None
        };
        let emails = if flag(src, "ENABLE_EMAILS")? {
            Some(email_settings(src)?)
        } else {
            None
        };
        let public_landing_root = root(src, "PUBLIC_LANDING_ROOT")?;
        let link_protection =
            link_protection_settings(src, emails.is_some(), public_landing_root.is_some())?;
        Ok(Settings {
            secret_key,
            users,
            bind_address: src
                .get("BIND_ADDRESS")
                .unwrap_or(DEFAULT_BIND_ADDRESS)
                .to_owned(),
            public_orthanc_root: root(src, "PUBLIC_ORTHANC_ROOT")?,
            public_landing_root,
            public_ohif_root: root(src, "PUBLIC_OHIF_ROOT")?,
            ohif_data_source,
            server_id: src.get("SERVER_ID").map(str::to_owned),
            meddream,
            public_meddream_root,
            permissions_file_path: PathBuf::from(
                src.get("PERMISSIONS_FILE_PATH")
                    .unwrap_or(DEFAULT_PERMISSIONS_FILE),
            ),
            anonymous_profile_file_path: src.get("ANONYMOUS_PROFILE_FILE_PATH").map(PathBuf::from),
            keycloak,
            emails,
            database_url: src.get("DATABASE_URL").map(SecretString::from),
            data_dir: PathBuf::from(src.get("DATA_DIR").unwrap_or("data")),
            require_registered_tokens: flag(src, "REQUIRE_REGISTERED_TOKENS")?,
            shares_retention_days: match src.get("SHARES_RETENTION_DAYS") {
                None => 90,
                Some(text) => text
                    .parse()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or_else(|| {
                        invalid(
                            "SHARES_RETENTION_DAYS",
                            "must be a number of days, 1 to 36500",
                        )
                    })?,
            },
            database_timeout: seconds(src, "DATABASE_TIMEOUT_SECONDS", 5.0)?,
            orthanc: orthanc_settings(src)?,
            gate: gate_settings(src)?,
            link_protection,
            operations: OperationsSettings::from_source(src)?,
        })
    }
}

impl EmailSettings {
    /// A login configured over plain SMTP: the password crosses the network in clear.
    pub fn login_without_tls(&self) -> bool {
        self.smtp_user_name.is_some() && !self.smtp_uses_tls
    }
}

fn parse_users(text: &str) -> Result<Users, SettingsError> {
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
        // serde's message names a position, never the content: safe to print.
        invalid(
            "USERS",
            format!(
                "must be a JSON object of user names to passwords ({})",
                e.classify_str()
            ),
        )
    })?;
    if map.is_empty() {
        return Err(invalid("USERS", "must hold at least one user"));
    }
    if map.keys().any(|u| u.is_empty() || u.contains(':')) {
        return Err(invalid(
            "USERS",
            "user names must be non-empty and contain no ':'",
        ));
    }
    Ok(Users(
        map.into_iter()
            .map(|(u, p)| (u, SecretString::from(p)))
            .collect(),
    ))
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}
impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            serde_json::error::Category::Data => "a value is not a string",
            serde_json::error::Category::Io => "unreadable",
        }
    }
}

fn root(src: &Source, name: &'static str) -> Result<Option<PublicRoot>, SettingsError> {
    match src.get(name) {
        None => Ok(None),
        Some(text) => Ok(Some(PublicRoot {
            text: text.to_owned(),
            url: http_url(name, text)?,
        })),
    }
}

fn flag(src: &Source, name: &'static str) -> Result<bool, SettingsError> {
    src.flag(name)
}

fn seconds(src: &Source, name: &'static str, default: f64) -> Result<Duration, SettingsError> {
    src.seconds(name, default)
}

fn meddream_link_reuse(src: &Source) -> Result<Duration, SettingsError> {
    const NAME: &str = "MEDDREAM_LINK_REUSE_SECONDS";
    src.seconds_between(
        NAME,
        DEFAULT_MEDDREAM_LINK_REUSE.as_secs_f64(),
        0.0,
        MAX_MEDDREAM_LINK_REUSE_SECONDS,
    )
    .map_err(|_| {
        invalid(
            NAME,
            "must be 0 (a new MedDream link at each open) to 150 seconds, shorter than MedDream's token life",
        )
    })
}

fn orthanc_settings(src: &Source) -> Result<Option<OrthancSettings>, SettingsError> {
    let Some(text) = src.get("ORTHANC_URL") else {
        return Ok(None);
    };
    let mut url = http_url("ORTHANC_URL", text)?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    let user = src.get("ORTHANC_USER").map(str::to_owned);
    let password = src.get("ORTHANC_PASSWORD").map(SecretString::from);
    if user.is_some() != password.is_some() {
        return Err(invalid(
            "ORTHANC_USER",
            "ORTHANC_USER and ORTHANC_PASSWORD go together (one of Orthanc's RegisteredUsers)",
        ));
    }
    Ok(Some(OrthancSettings {
        url,
        user,
        password,
        timeout: seconds(src, "ORTHANC_TIMEOUT_SECONDS", 5.0)?,
    }))
}

fn gate_settings(src: &Source) -> Result<GateSettings, SettingsError> {
    let path_prefix = src.get("GATE_PATH_PREFIX").unwrap_or("/").to_owned();
    let plain = path_prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
    if !path_prefix.starts_with('/')
        || !path_prefix.ends_with('/')
        || path_prefix.contains("//")
        || path_prefix.split('/').any(|s| s == "." || s == "..")
        || !plain
    {
        return Err(invalid(
            "GATE_PATH_PREFIX",
            "must be a plain path starting and ending with '/', e.g. /orthanc/",
        ));
    }
    let cookie_secure = src.flag_or("GATE_COOKIE_SECURE", true)?;
    Ok(GateSettings {
        path_prefix,
        cookie_secure,
    })
}

fn link_protection_settings(
    src: &Source,
    emails: bool,
    landing: bool,
) -> Result<LinkProtectionSettings, SettingsError> {
    const EMAILED: &str = "PROTECT_EMAILED_LINKS";
    let protect_emailed = match src.get(EMAILED).map(str::to_ascii_lowercase).as_deref() {
        None | Some("off") | Some("false") | Some("none") => false,
        Some("code") => true,
        Some(_) => return Err(invalid(EMAILED, "must be code or off")),
    };
    if protect_emailed && !emails {
        return Err(invalid(
            EMAILED,
            "code needs ENABLE_EMAILS=true (codes are sent by e-mail)",
        ));
    }
    if protect_emailed && !landing {
        return Err(invalid(
            EMAILED,
            "code needs PUBLIC_LANDING_ROOT (the landing page asks for the code)",
        ));
    }
    const HOURS: &str = "PROTECTED_SESSION_HOURS";
    let session = match src.get(HOURS) {
        None => Duration::from_secs(8 * 3600),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite() && *h > 0.0 && *h <= MAX_PROTECTED_SESSION_HOURS)
            .map(|h| Duration::from_secs_f64(h * 3600.0))
            .ok_or_else(|| invalid(HOURS, "must be a number of hours, more than 0, at most 720"))?,
    };
    Ok(LinkProtectionSettings {
        require: flag(src, "REQUIRE_LINK_PROTECTION")?,
        protect_emailed,
        session,
        notice: src
            .get("PROTECTED_LINK_NOTICE")
            .unwrap_or(DEFAULT_PROTECTED_LINK_NOTICE)
            .to_owned(),
    })
}

fn email_settings(src: &Source) -> Result<EmailSettings, SettingsError> {
    let required = |name: &'static str| {
        src.get(name)
            .map(str::to_owned)
            .ok_or_else(|| invalid(name, "is required when ENABLE_EMAILS is true"))
    };
    let port = match src.get("EMAILS_SMTP_SERVER_PORT") {
        None => 587,
        Some(p) => p
            .parse()
            .map_err(|_| invalid("EMAILS_SMTP_SERVER_PORT", "must be a port number"))?,
    };
    Ok(EmailSettings {
        templates_root: PathBuf::from(required("EMAILS_TEMPLATES_ROOT")?),
        sender_address: required("EMAILS_SENDER_ADDRESS")?,
        reply_to: src.get("EMAILS_REPLY_TO").map(str::to_owned),
        smtp_hostname: required("EMAILS_SMTP_SERVER_HOSTNAME")?,
        smtp_port: port,
        smtp_user_name: src.get("EMAILS_SMTP_SERVER_USER_NAME").map(str::to_owned),
        smtp_password: src.get("EMAILS_SMTP_SERVER_PWD").map(SecretString::from),
        smtp_uses_tls: flag(src, "EMAILS_SMTP_SERVER_USES_TLS")?,
        smtp_timeout: seconds(src, "EMAILS_SMTP_SERVER_TIMEOUT", 10.0)?,
        smtp_ca_file: src.get("EMAILS_SMTP_SERVER_CA_FILE").map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> Source {
        let dir = std::env::temp_dir().join("auth-service-no-secrets-here");
        Source::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            &dir,
        )
    }
    const BASE: [(&str, &str); 2] = [("SECRET_KEY", "k"), ("USERS", r#"{"u":"p"}"#)];

    fn err(extra: &[(&str, &str)]) -> SettingsError {
        let mut pairs = BASE.to_vec();
        pairs.extend_from_slice(extra);
        match Settings::from_source(&src(&pairs)) {
            Err(e) => e,
            Ok(_) => SettingsError {
                name: "none",
                reason: String::new(),
            },
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(err(&[("USERS", "not json")]).name, "USERS");
        assert_eq!(
            err(&[("PUBLIC_MEDDREAM_ROOT", "http://x/meddream")]).name,
            "PUBLIC_MEDDREAM_ROOT"
        );
        assert_eq!(
            err(&[("OHIF_DATA_SOURCE", "dicom-zip")]).name,
            "OHIF_DATA_SOURCE"
        );
        assert_eq!(
            err(&[("PUBLIC_ORTHANC_ROOT", "not a url")]).name,
            "PUBLIC_ORTHANC_ROOT"
        );
        assert_eq!(err(&[("ENABLE_EMAILS", "maybe")]).name, "ENABLE_EMAILS");
        assert_eq!(err(&[("ORTHANC_URL", "ftp://x/")]).name, "ORTHANC_URL");
        assert_eq!(
            err(&[("ORTHANC_URL", "http://o/"), ("ORTHANC_USER", "u")]).name,
            "ORTHANC_USER"
        );
        assert_eq!(
            err(&[("GATE_PATH_PREFIX", "orthanc")]).name,
            "GATE_PATH_PREFIX"
        );
        assert_eq!(
            err(&[("GATE_PATH_PREFIX", "/a/../b/")]).name,
            "GATE_PATH_PREFIX"
        );
        assert_eq!(
            err(&[("GATE_COOKIE_SECURE", "maybe")]).name,
            "GATE_COOKIE_SECURE"
        );
        assert_eq!(
            err(&[("PROTECT_EMAILED_LINKS", "yes")]).name,
            "PROTECT_EMAILED_LINKS"
        );
        assert_eq!(
            err(&[("PROTECT_EMAILED_LINKS", "code")]).name,
            "PROTECT_EMAILED_LINKS",
            "needs e-mails and the landing page"
        );
        for hours in ["0", "-1", "721", "NaN", "eight"] {
            assert_eq!(
                err(&[("PROTECTED_SESSION_HOURS", hours)]).name,
                "PROTECTED_SESSION_HOURS"
            );
        }
        assert_eq!(
            err(&[("REQUIRE_LINK_PROTECTION", "maybe")]).name,
            "REQUIRE_LINK_PROTECTION"
        );
        assert!(Settings::from_source(&src(&[("USERS", r#"{"u":"p"}"#)])).is_err());
        assert!(Settings::from_source(&src(&[("SECRET_KEY", "k")])).is_err());
    }

    #[test]
    fn users_error_never_shows_the_value() {
        let e = err(&[("USERS", r#"{"admin": "hunter2""#)]);
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::from_source(&src(&[
            ("SECRET_KEY", "top-secret-key"),
            ("USERS", r#"{"u":"pw-123"}"#),
            ("DATABASE_URL", "postgres://share:db-pw-456@db.test/shares"),
            ("ENABLE_KEYCLOAK", "true"),
            ("KEYCLOAK_CLIENT_SECRET", "kc-secret-789"),
            ("ENABLE_EMAILS", "true"),
            ("EMAILS_TEMPLATES_ROOT", "/t"),
            ("EMAILS_SENDER_ADDRESS", "pacs@x.test"),
            ("EMAILS_SMTP_SERVER_HOSTNAME", "smtp.x.test"),
            ("EMAILS_SMTP_SERVER_USER_NAME", "mailer"),
            ("EMAILS_SMTP_SERVER_PWD", "smtp-pw-012"),
        ]))
        .expect("valid settings");
        let text = format!("{s:?}");
        assert!(text.contains("smtp.x.test"), "{text}");
        for secret in [
            "top-secret-key",
            "pw-123",
            "db-pw-456",
            "kc-secret-789",
            "smtp-pw-012",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn an_smtp_login_without_tls_is_noticed() {
        let emails = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = BASE.to_vec();
            pairs.extend_from_slice(&[
                ("ENABLE_EMAILS", "true"),
                ("EMAILS_TEMPLATES_ROOT", "/t"),
                ("EMAILS_SENDER_ADDRESS", "pacs@x.test"),
                ("EMAILS_SMTP_SERVER_HOSTNAME", "smtp.x.test"),
            ]);
            pairs.extend_from_slice(extra);
            Settings::from_source(&src(&pairs))
                .expect("valid settings")
                .emails
                .expect("e-mails on")
        };
        let login = [
            ("EMAILS_SMTP_SERVER_USER_NAME", "mailer"),
            ("EMAILS_SMTP_SERVER_PWD", "pw"),
        ];
        assert!(emails(&login).login_without_tls());
        let mut with_tls = login.to_vec();
        with_tls.push(("EMAILS_SMTP_SERVER_USES_TLS", "true"));
        assert!(!emails(&with_tls).login_without_tls());
        assert!(!emails(&[]).login_without_tls());
    }
}
