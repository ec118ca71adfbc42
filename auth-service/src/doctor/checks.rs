//! The checks themselves. Each says what it looked at; none prints a secret.
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use meddream_bridge::MeddreamClient;
use secrecy::ExposeSecret;
use url::Url;

use super::Check;
use crate::emails::SmtpSecurity;
use crate::keycloak::Keycloak;
use crate::roles::RolesStore;
use crate::settings::{
    EmailSettings, KeycloakSettings, MeddreamSettings, OrthancSettings, Settings,
    DEFAULT_PERMISSIONS_FILE,
};
use crate::shares::ShareStore;

/// Below this, an HS256 key can be brute-forced offline from one share token.
const MIN_SECRET_KEY_BYTES: usize = 32;
/// The study the MedDream check asks a token for: the token service signs, it does not look up.
const PROBE_STUDY: &str = "1.2.826.0.1.3680043.10.1.doctor";

pub fn secret_key(settings: &Settings) -> Check {
    let len = settings.secret_key.expose_secret().len();
    if len >= MIN_SECRET_KEY_BYTES {
        Check::pass(format!("SECRET_KEY is {len} bytes"))
    } else {
        Check::warn(
            format!("SECRET_KEY is {len} bytes, less than {MIN_SECRET_KEY_BYTES}"),
            "use a random key of at least 32 bytes (openssl rand -hex 32); tokens signed with the old key stop working",
        )
    }
}

/// Viewer links are joined to PUBLIC_ORTHANC_ROOT and PUBLIC_OHIF_ROOT with URL-join rules,
/// which drop a last path segment that has no trailing `/`.
pub fn public_roots(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    for (name, root) in [
        ("PUBLIC_ORTHANC_ROOT", &settings.public_orthanc_root),
        ("PUBLIC_OHIF_ROOT", &settings.public_ohif_root),
        ("PUBLIC_MEDDREAM_ROOT", &settings.public_meddream_root),
    ] {
        let Some(root) = root else { continue };
        if root.text.ends_with('/') {
            checks.push(Check::pass(format!("{name} {} ends with /", root.text)));
        } else {
            checks.push(Check::fail(
                format!("{name} {} does not end with /", root.text),
                format!(
                    "write {name}={}/ (without it, links lose the last path segment)",
                    root.text
                ),
            ));
        }
    }
    if let Some(root) = &settings.public_landing_root {
        checks.push(Check::pass(format!(
            "PUBLIC_LANDING_ROOT {} is an absolute URL",
            root.text
        )));
    }
    checks
}

pub fn roles_file(settings: &Settings) -> Check {
    let path = settings.permissions_file_path.display();
    if !settings.permissions_file_path.exists()
        && settings.permissions_file_path == std::path::Path::new(DEFAULT_PERMISSIONS_FILE)
    {
        return Check::warn(
            format!("no roles file at {path}: the built-in roles apply"),
            "mount your roles file there, or set PERMISSIONS_FILE_PATH",
        );
    }
    match RolesStore::load(&settings.permissions_file_path) {
        Ok(store) => Check::pass(format!(
            "roles file {path} reads ({} roles)",
            store.current().roles.len()
        )),
        Err(e) => Check::fail(
            format!("roles file {path}: {e:#}"),
            "fix the file or PERMISSIONS_FILE_PATH (JSON with comments, {\"roles\": {...}, \"available-labels\": [...]})",
        ),
    }
}

pub async fn keycloak(k: &KeycloakSettings, settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut base = k.uri.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let discovery_url = match base.join(".well-known/openid-configuration") {
        Ok(u) => u,
        Err(e) => {
            checks.push(Check::fail(
                format!("KEYCLOAK_URI {base}: {e}"),
                "set KEYCLOAK_URI to http://HOST:PORT/realms/REALM/",
            ));
            return checks;
        }
    };
    let issuer = match discovery_issuer(&discovery_url, k.timeout).await {
        Ok(issuer) => {
            checks.push(Check::pass(format!(
                "Keycloak discovery {discovery_url} answers"
            )));
            issuer
        }
        Err(reason) => {
            checks.push(Check::fail(
                format!("Keycloak discovery {discovery_url}: {reason}"),
                "check KEYCLOAK_URI (http://HOST:PORT/realms/REALM/) and that Keycloak is up and reachable from auth-service",
            ));
            return checks;
        }
    };
    // Tokens are checked against the realm part of the issuer (the host may be a public name).
    let realm_path = |u: &str| {
        Url::parse(u)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    };
    if realm_path(&issuer) == realm_path(base.as_str()) {
        checks.push(Check::pass(format!(
            "Keycloak issuer {issuer} is the realm of KEYCLOAK_URI"
        )));
    } else {
        checks.push(Check::fail(
            format!("Keycloak issuer {issuer} is not the realm of KEYCLOAK_URI {base}"),
            "point KEYCLOAK_URI at the realm whose tokens OE2 sends (…/realms/orthanc/)",
        ));
    }
    if k.client_secret.is_none() {
        checks.push(Check::warn(
            "KEYCLOAK_CLIENT_SECRET is not set",
            "set it to the secret of client admin-cli (Keycloak admin console → Clients → admin-cli → Credentials) for roles, users and api-keys",
        ));
        return checks;
    }
    let keycloak = match Keycloak::new(k) {
        Ok(kc) => kc,
        Err(e) => {
            checks.push(Check::fail(
                format!("Keycloak client: {e:#}"),
                "see the message",
            ));
            return checks;
        }
    };
    let Some(admin) = keycloak.admin() else {
        return checks;
    };
    match admin.realm_roles().await {
        Ok(keycloak_roles) => {
            checks.push(Check::pass(
                "Keycloak accepts the admin-cli client secret and lists the realm roles",
            ));
            if let Ok(store) = RolesStore::load(&settings.permissions_file_path) {
                let missing: Vec<String> = store
                    .current()
                    .roles
                    .keys()
                    .filter(|r| !keycloak_roles.contains(r))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    checks.push(Check::pass("every role of the roles file exists in Keycloak"));
                } else {
                    checks.push(Check::fail(
                        format!("roles of the roles file missing in Keycloak: {}", missing.join(", ")),
                        "create these realm roles in Keycloak, or remove them from the roles file",
                    ));
                }
            }
        }
        Err(e) => checks.push(Check::fail(
            format!("Keycloak admin API: {e}"),
            "check KEYCLOAK_CLIENT_SECRET (client admin-cli's secret), that its service account may view users and realm roles, and KEYCLOAK_ADMIN_URI",
        )),
    }
    checks
}

async fn discovery_issuer(url: &Url, timeout: Duration) -> Result<String, String> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("unreachable ({})", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let doc: serde_json::Value = response
        .json()
        .await
        .map_err(|_| "the answer is not an OpenID configuration".to_owned())?;
    doc["issuer"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the answer has no issuer".to_owned())
}

pub async fn meddream(m: &MeddreamSettings) -> Check {
    let url = &m.token_service_url;
    let client = match MeddreamClient::new(url.clone(), m.connect_timeout, m.timeout) {
        Ok(c) => c,
        Err(e) => return Check::fail(format!("MedDream client: {e}"), "see the message"),
    };
    match client.instant_token(&[PROBE_STUDY.to_owned()]).await {
        Ok(_) => Check::pass(format!("MedDream token service {url} answers with a token")),
        Err(e) => Check::fail(
            format!("MedDream token service {url}: {e}"),
            "check MEDDREAM_TOKEN_SERVICE_URL and that the MedDream token service is up and reachable from auth-service",
        ),
    }
}

pub async fn smtp(e: &EmailSettings) -> Vec<Check> {
    let server = format!("{}:{}", e.smtp_hostname, e.smtp_port);
    let mut checks = Vec::new();
    if e.templates_root.is_dir() {
        checks.push(Check::pass(format!(
            "EMAILS_TEMPLATES_ROOT {} is a folder",
            e.templates_root.display()
        )));
    } else {
        checks.push(Check::fail(
            format!(
                "EMAILS_TEMPLATES_ROOT {} is not a folder",
                e.templates_root.display()
            ),
            "mount the e-mail templates there or correct EMAILS_TEMPLATES_ROOT",
        ));
    }
    let transport = match smtp_transport(e) {
        Ok(t) => t,
        Err(reason) => {
            checks.push(Check::fail(
                format!("SMTP {server}: {reason}"),
                "check EMAILS_SMTP_SERVER_CA_FILE",
            ));
            return checks;
        }
    };
    let login = e.smtp_user_name.is_some();
    checks.push(match transport.test_connection().await {
        Ok(true) if login => Check::pass(format!("SMTP {server} connects and accepts the login")),
        Ok(true) => Check::pass(format!("SMTP {server} connects")),
        Ok(false) => Check::fail(format!("SMTP {server} does not answer NOOP"), "check the SMTP server"),
        Err(err) => {
            let refused_login = err.is_permanent() && login;
            Check::fail(
                format!("SMTP {server}: {}", smtp_reason(&err)),
                if refused_login {
                    "check EMAILS_SMTP_SERVER_USER_NAME and EMAILS_SMTP_SERVER_PWD"
                } else {
                    "check EMAILS_SMTP_SERVER_HOSTNAME, _PORT and _USES_TLS, and that the server is reachable from auth-service"
                },
            )
        }
    });
    checks
}

fn smtp_transport(e: &EmailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let security = SmtpSecurity::from_settings(e.smtp_uses_tls, e.smtp_port);
    let tls = match security {
        SmtpSecurity::Plain => Tls::None,
        SmtpSecurity::StartTls | SmtpSecurity::ImplicitTls => {
            let mut builder = TlsParameters::builder(e.smtp_hostname.clone());
            if let Some(path) = &e.smtp_ca_file {
                let pem = std::fs::read(path)
                    .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                let ca =
                    Certificate::from_pem(&pem).map_err(|_| "the CA file is not PEM".to_owned())?;
                builder = builder.add_root_certificate(ca);
            }
            let params = builder.build_rustls().map_err(|err| err.to_string())?;
            if security == SmtpSecurity::ImplicitTls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.smtp_hostname)
        .port(e.smtp_port)
        .tls(tls)
        .timeout(Some(e.smtp_timeout));
    if let Some(user) = &e.smtp_user_name {
        let password = e
            .smtp_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default();
        builder = builder
            .credentials(Credentials::new(user.clone(), password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

/// lettre's message, which holds the server's reply and never the password.
fn smtp_reason(err: &lettre::transport::smtp::Error) -> String {
    if err.is_permanent() {
        format!("refused ({err})")
    } else if err.is_timeout() {
        "no answer in time".to_owned()
    } else {
        format!("cannot talk to it ({err})")
    }
}

/// The share registry's database: connects and applies the migrations, as the service does at
/// start. Named without its credentials.
pub async fn database(settings: &Settings) -> Check {
    let url = settings.registry_url();
    let url = url.expose_secret();
    let shown = match Url::parse(url) {
        Ok(u) if u.scheme().starts_with("postgres") => {
            format!("PostgreSQL {}{}", u.host_str().unwrap_or("?"), u.path())
        }
        _ => format!("SQLite {}", url.trim_start_matches("sqlite://")),
    };
    match ShareStore::connect(url).await {
        Ok(store) => {
            store.close().await;
            Check::pass(format!(
                "share registry database ({shown}) opens and migrates"
            ))
        }
        Err(e) => Check::fail(
            format!("share registry database ({shown}): {}", e.root_cause()),
            "check DATABASE_URL (or that DATA_DIR is writable by the service's user)",
        ),
    }
}

/// Files whose presence says the process runs in a container (Docker, Podman).
const CONTAINER_MARKERS: [&str; 2] = ["/.dockerenv", "/run/.containerenv"];

/// The SQLite share registry inside a container: its folder must be on a mounted volume, or a
/// recreated container (`docker compose up -d` after a change) starts with an empty registry and
/// every revocation and use count is forgotten. None outside a container or with PostgreSQL.
pub fn registry_volume(settings: &Settings) -> Option<Check> {
    if settings.database_url.is_some()
        || !CONTAINER_MARKERS
            .iter()
            .any(|m| std::path::Path::new(m).exists())
    {
        return None;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let folder = std::path::absolute(&settings.data_dir).unwrap_or(settings.data_dir.clone());
    // The folder may not exist before the first start: its nearest existing ancestor decides.
    let existing = folder
        .ancestors()
        .find_map(|a| a.canonicalize().ok())
        .unwrap_or_else(|| folder.clone());
    Some(volume_check(&folder, mount_point(&mountinfo, &existing)))
}

fn volume_check(folder: &std::path::Path, mount: Option<std::path::PathBuf>) -> Check {
    let shown = folder.display();
    match mount {
        Some(m) if m != std::path::Path::new("/") => Check::pass(format!(
            "share registry folder {shown} is on a mounted volume ({})",
            m.display()
        )),
        _ => Check::warn(
            format!("share registry folder {shown} is in the container's own filesystem"),
            "mount a named volume on DATA_DIR (e.g. volumes: - auth-service-state:/orthanc_auth_service): a recreated container forgets every revocation and use count",
        ),
    }
}

/// The deepest mount point of `/proc/self/mountinfo` (`ID PARENT MAJ:MIN ROOT MOUNT-POINT ...`,
/// spaces written `\040`) that holds `path`.
fn mount_point(mountinfo: &str, path: &std::path::Path) -> Option<std::path::PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| std::path::PathBuf::from(unescape_octal(field)))
        .filter(|point| path.starts_with(point))
        .max_by_key(|point| point.components().count())
}

/// `\040` (space), `\011` (tab), `\012` (newline), `\134` (backslash) back to their bytes.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token gate's Orthanc: `GET /system` with the gate's credentials.
pub async fn orthanc(o: &OrthancSettings) -> Check {
    let url = &o.url;
    let client = match reqwest::Client::builder().timeout(o.timeout).build() {
        Ok(c) => c,
        Err(e) => return Check::fail(format!("Orthanc client: {e}"), "see the message"),
    };
    let mut request = client.get(url.join("system").expect("a relative path joins"));
    if let Some(user) = &o.user {
        request = request.basic_auth(user, o.password.as_ref().map(|p| p.expose_secret()));
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => {
            let version = r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["Version"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "?".into());
            Check::pass(format!("Orthanc {url} answers (version {version})"))
        }
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => Check::fail(
            format!("Orthanc {url} refuses the gate's credentials (401)"),
            "set ORTHANC_USER and ORTHANC_PASSWORD to one of Orthanc's RegisteredUsers",
        ),
        Ok(r) => Check::fail(
            format!("Orthanc {url} answers {}", r.status()),
            "check that ORTHANC_URL is Orthanc's own REST root (not nginx's public path)",
        ),
        Err(e) => Check::fail(
            format!("Orthanc {url} unreachable: {}", reqwest_reason(&e)),
            "check ORTHANC_URL and that Orthanc is up and reachable from auth-service (the gate denies everything meanwhile)",
        ),
    }
}

fn reqwest_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or no route"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// What a container with a named volume on /orthanc_auth_service and a secret shows.
    const MOUNTINFO: &str = "\
1201 1100 0:87 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/x
1202 1201 0:89 / /proc rw,nosuid - proc proc rw
1210 1201 254:0 /var/lib/docker/volumes/basic_auth-service-state/_data /orthanc_auth_service rw,relatime - ext4 /dev/vda rw
1211 1201 254:0 /secrets/SECRET_KEY /run/secrets/SECRET_KEY ro,relatime - ext4 /dev/vda rw
1212 1201 254:0 /x /with\\040space rw - ext4 /dev/vda rw
";

    #[test]
    fn the_deepest_mount_point_holding_the_folder_is_found() {
        let at = |p: &str| mount_point(MOUNTINFO, Path::new(p));
        assert_eq!(
            at("/orthanc_auth_service/data"),
            Some(PathBuf::from("/orthanc_auth_service"))
        );
        assert_eq!(
            at("/orthanc_auth_service"),
            Some(PathBuf::from("/orthanc_auth_service"))
        );
        // A name that merely starts the same is another folder.
        assert_eq!(at("/orthanc_auth_service2/data"), Some(PathBuf::from("/")));
        assert_eq!(at("/home/nonroot/data"), Some(PathBuf::from("/")));
        assert_eq!(at("/with space/data"), Some(PathBuf::from("/with space")));
        assert_eq!(mount_point("", Path::new("/data")), None);
    }

    #[test]
    fn a_registry_in_the_containers_own_filesystem_is_a_warning() {
        let folder = Path::new("/home/nonroot/data");
        let check = volume_check(folder, mount_point(MOUNTINFO, folder));
        assert_eq!(check.outcome, super::super::Outcome::Warn, "{check:?}");
        assert!(
            check.what.contains("container's own filesystem"),
            "{check:?}"
        );
        let folder = Path::new("/orthanc_auth_service/data");
        let check = volume_check(folder, mount_point(MOUNTINFO, folder));
        assert_eq!(
            check.what,
            "share registry folder /orthanc_auth_service/data is on a mounted volume (/orthanc_auth_service)"
        );
        assert_eq!(check.outcome, super::super::Outcome::Pass);
    }

    #[test]
    fn octal_escapes_are_undone_and_anything_else_is_kept() {
        assert_eq!(unescape_octal("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape_octal("/a\\0"), "/a\\0");
        assert_eq!(unescape_octal("/a\\999"), "/a\\999");
    }
}
