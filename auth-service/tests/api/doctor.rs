//! `auth-service doctor` against working and broken set-ups: the real binary, the tests' doubles
//! (Keycloak realm, MedDream token service, aiosmtpd).
use meddream_bridge::double::MeddreamDouble;

use crate::emails::{SmtpOptions, SmtpServer, SMTP_PASSWORD, SMTP_USER};
use crate::helpers::{PASSWORD, USER};
use crate::realm::{fixture, Realm, ADMIN_CLI_SECRET};

const GOOD_KEY: &str = "0123456789abcdef0123456789abcdef0123";

/// Runs the doctor with `env` only (plus USERS); returns its exit code and output lines.
async fn doctor(env: &[(&str, &str)]) -> (i32, Vec<String>) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth-service"));
    command
        .arg("doctor")
        .env_clear()
        .env("USERS", format!(r#"{{"{USER}": "{PASSWORD}"}}"#))
        .env("SECRETS_DIR", "/nonexistent-secrets-dir");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.expect("the doctor runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    (
        out.status.code().expect("an exit code"),
        without_volume_check(&text),
    )
}

/// The output lines without the registry-volume check, which appears only inside a container
/// (where these tests may or may not run; its logic is unit-tested in `doctor::checks`).
fn without_volume_check(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut skip_fix = false;
    for line in text.lines() {
        let check = line.split_once(' ').map_or("", |(_, what)| what);
        if check.starts_with("share registry folder") {
            skip_fix = true;
            continue;
        }
        if skip_fix && line.starts_with("    fix:") {
            continue;
        }
        skip_fix = false;
        lines.push(line.to_owned());
    }
    lines
}

fn has(lines: &[String], expected: &str) -> bool {
    lines.iter().any(|l| l == expected)
}

fn starts(lines: &[String], prefix: &str) -> bool {
    lines.iter().any(|l| l.starts_with(prefix))
}

/// A roles file with the realm's three roles.
fn roles_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("permissions.json");
    std::fs::write(
        &path,
        r#"{"roles": {"admin-role": {"authorized-labels": ["*"], "permissions": ["all"]},
            "doctor-role": {"authorized-labels": ["*"], "permissions": ["view"]},
            "external-role": {"authorized-labels": ["external"], "permissions": ["view"]}},
            "available-labels": []}"#,
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_plain_working_set_up_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    let data = dir.path().display().to_string();
    let (code, lines) = doctor(&[
        ("SECRET_KEY", GOOD_KEY),
        ("PERMISSIONS_FILE_PATH", &roles),
        ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
        ("PUBLIC_LANDING_ROOT", "https://pacs.example.test/landing"),
        ("DATA_DIR", &data),
    ])
    .await;
    assert_eq!(
        lines,
        [
            "✓ settings parse".to_owned(),
            "✓ SECRET_KEY is 36 bytes".into(),
            "✓ PUBLIC_ORTHANC_ROOT https://pacs.example.test/orthanc/ ends with /".into(),
            "✓ PUBLIC_LANDING_ROOT https://pacs.example.test/landing is an absolute URL".into(),
            format!("✓ roles file {roles} reads (3 roles)"),
            format!(
                "✓ share registry database (SQLite {data}/auth-service.sqlite) opens and migrates"
            ),
            "doctor: everything configured works".into(),
        ]
    );
    assert_eq!(code, 0);
}

#[tokio::test]
async fn bad_roots_a_short_key_and_unparsable_settings_are_named_with_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    let (code, lines) = doctor(&[
        ("SECRET_KEY", "short-secret"),
        ("PERMISSIONS_FILE_PATH", &roles),
        ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc"),
    ])
    .await;
    assert!(
        has(&lines, "! SECRET_KEY is 12 bytes, less than 32"),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "✗ PUBLIC_ORTHANC_ROOT https://pacs.example.test/orthanc does not end with /"
        ),
        "{lines:#?}"
    );
    assert!(has(&lines, "    fix: write PUBLIC_ORTHANC_ROOT=https://pacs.example.test/orthanc/ (without it, links lose the last path segment)"), "{lines:#?}");
    assert!(has(&lines, "doctor: 1 check(s) failed"), "{lines:#?}");
    assert_eq!(code, 1);
    assert!(
        !lines.concat().contains("short-secret"),
        "the key is printed"
    );

    let (code, lines) =
        doctor(&[("SECRET_KEY", GOOD_KEY), ("PUBLIC_OHIF_ROOT", "not a url")]).await;
    assert!(
        starts(&lines, "✗ settings: PUBLIC_OHIF_ROOT: not a URL"),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "    fix: correct PUBLIC_OHIF_ROOT (environment or /run/secrets/PUBLIC_OHIF_ROOT)"
        ),
        "{lines:#?}"
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn meddream_up_passes_and_down_fails() {
    let meddream = MeddreamDouble::start().await;
    let url = meddream.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    let env = |url: &str| {
        vec![
            ("SECRET_KEY", GOOD_KEY.to_owned()),
            ("PERMISSIONS_FILE_PATH", roles.clone()),
            ("MEDDREAM_TOKEN_SERVICE_URL", url.to_owned()),
            ("MEDDREAM_TIMEOUT_SECONDS", "2".to_owned()),
        ]
    };
    let up = env(&url);
    let up: Vec<(&str, &str)> = up.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, lines) = doctor(&up).await;
    assert!(
        has(
            &lines,
            &format!("✓ MedDream token service {url} answers with a token")
        ),
        "{lines:#?}"
    );
    assert_eq!(code, 0);
    assert_eq!(meddream.calls().len(), 1, "one real token request");

    // Port 1: nothing listens there, and no test binds it (they all take free ports).
    let closed = "127.0.0.1:1";
    let down_url = format!("http://{closed}/v3/generate");
    let down = env(&down_url);
    let down: Vec<(&str, &str)> = down.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, lines) = doctor(&down).await;
    assert!(
        starts(&lines, &format!("✗ MedDream token service {down_url}: ")),
        "{lines:#?}"
    );
    assert!(has(&lines, "    fix: check MEDDREAM_TOKEN_SERVICE_URL and that the MedDream token service is up and reachable from auth-service"), "{lines:#?}");
    assert_eq!(code, 1);
}

#[tokio::test]
async fn keycloak_with_the_right_secret_passes_and_a_wrong_secret_or_missing_role_fails() {
    let Some(realm) = Realm::start(
        "keycloak_with_the_right_secret_passes_and_a_wrong_secret_or_missing_role_fails",
    )
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    let uri = format!("{}/realms/orthanc/", realm.base());
    let admin = format!("{}/admin/realms/orthanc/", realm.base());
    let run = |secret: &'static str, roles: String| {
        let (uri, admin) = (uri.clone(), admin.clone());
        async move {
            doctor(&[
                ("SECRET_KEY", GOOD_KEY),
                ("PERMISSIONS_FILE_PATH", &roles),
                ("ENABLE_KEYCLOAK", "true"),
                ("KEYCLOAK_URI", &uri),
                ("KEYCLOAK_ADMIN_URI", &admin),
                ("KEYCLOAK_CLIENT_SECRET", secret),
            ])
            .await
        }
    };
    let (code, lines) = run(ADMIN_CLI_SECRET, roles.clone()).await;
    assert!(
        has(
            &lines,
            &format!("✓ Keycloak discovery {uri}.well-known/openid-configuration answers")
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "✓ Keycloak accepts the admin-cli client secret and lists the realm roles"
        ),
        "{lines:#?}"
    );
    assert!(
        has(&lines, "✓ every role of the roles file exists in Keycloak"),
        "{lines:#?}"
    );
    assert!(starts(&lines, "✓ Keycloak issuer "), "{lines:#?}");
    assert_eq!(code, 0, "{lines:#?}");

    let (code, lines) = run("not-the-secret", roles.clone()).await;
    assert!(
        starts(
            &lines,
            "✗ Keycloak admin API: Keycloak refused the admin-cli client credentials"
        ),
        "{lines:#?}"
    );
    assert!(
        !lines.concat().contains("not-the-secret"),
        "the secret is printed"
    );
    assert_eq!(code, 1);

    let fixture_roles = fixture("permissions.jsonc").display().to_string();
    let (code, lines) = run(ADMIN_CLI_SECRET, fixture_roles).await;
    assert!(
        has(
            &lines,
            "✗ roles of the roles file missing in Keycloak: legacy-role"
        ),
        "{lines:#?}"
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn smtp_accepting_the_login_passes_and_refusing_it_fails() {
    let Some(smtp) = SmtpServer::start(
        "smtp_accepting_the_login_passes_and_refusing_it_fails",
        SmtpOptions::with_login(),
    )
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    let port = smtp.port.to_string();
    let templates = dir.path().display().to_string();
    let run = |password: &'static str| {
        let (roles, port, templates) = (roles.clone(), port.clone(), templates.clone());
        async move {
            doctor(&[
                ("SECRET_KEY", GOOD_KEY),
                ("PERMISSIONS_FILE_PATH", &roles),
                ("ENABLE_EMAILS", "true"),
                ("EMAILS_TEMPLATES_ROOT", &templates),
                ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
                ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
                ("EMAILS_SMTP_SERVER_PORT", &port),
                ("EMAILS_SMTP_SERVER_USER_NAME", SMTP_USER),
                ("EMAILS_SMTP_SERVER_PWD", password),
                ("EMAILS_SMTP_SERVER_TIMEOUT", "3"),
            ])
            .await
        }
    };
    let (code, lines) = run(SMTP_PASSWORD).await;
    let server = format!("127.0.0.1:{port}");
    assert!(
        has(
            &lines,
            &format!("✓ SMTP {server} connects and accepts the login")
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            &format!("✓ EMAILS_TEMPLATES_ROOT {templates} is a folder")
        ),
        "{lines:#?}"
    );
    assert_eq!(code, 0, "{lines:#?}");

    let (code, lines) = run("wrong-password").await;
    assert!(
        starts(&lines, &format!("✗ SMTP {server}: refused")),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "    fix: check EMAILS_SMTP_SERVER_USER_NAME and EMAILS_SMTP_SERVER_PWD"
        ),
        "{lines:#?}"
    );
    assert!(
        !lines.concat().contains("wrong-password"),
        "the password is printed"
    );
    assert_eq!(code, 1);
}

#[tokio::test]
async fn an_unusable_database_and_an_unreachable_orthanc_fail_with_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    let roles = roles_file(&dir);
    // A data folder that is a file: SQLite cannot be created there.
    let blocked = dir.path().join("not-a-folder");
    std::fs::write(&blocked, "x").unwrap();
    let blocked = blocked.display().to_string();
    let (code, lines) = doctor(&[
        ("SECRET_KEY", GOOD_KEY),
        ("PERMISSIONS_FILE_PATH", &roles),
        ("DATA_DIR", &blocked),
        ("ORTHANC_URL", "http://127.0.0.1:1/"),
        ("ORTHANC_USER", "gate"),
        ("ORTHANC_PASSWORD", "gate-password-not-printed"),
    ])
    .await;
    assert!(
        starts(
            &lines,
            &format!("✗ share registry database (SQLite {blocked}/auth-service.sqlite): ")
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "    fix: check DATABASE_URL (or that DATA_DIR is writable by the service's user)"
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            "✗ Orthanc http://127.0.0.1:1/ unreachable: connection refused or no route"
        ),
        "{lines:#?}"
    );
    assert!(has(&lines, "doctor: 2 check(s) failed"), "{lines:#?}");
    assert_eq!(code, 1);
    assert!(!lines.concat().contains("gate-password-not-printed"));
}
