//! `landing-page doctor`: the real binary against the real auth-service, with good and bad
//! credentials and with auth-service down.
use crate::helpers::{closed_port_url, spawn_auth, PASSWORD, USER};

/// Runs the doctor with `env` only; returns its exit code and output lines.
async fn doctor(env: &[(&str, &str)]) -> (i32, Vec<String>) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_landing-page"));
    command
        .arg("doctor")
        .env_clear()
        .env("SECRETS_DIR", "/nonexistent-secrets-dir");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.expect("the doctor runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    (
        out.status.code().expect("an exit code"),
        text.lines().map(str::to_owned).collect(),
    )
}

#[tokio::test]
async fn the_doctor_checks_that_auth_service_answers_and_takes_the_credentials() {
    let auth = spawn_auth(&[]).await;
    let url = auth.url.as_str();
    let (code, lines) = doctor(&[
        ("AUTH_SERVICE_URL", url),
        ("AUTH_SERVICE_USER", USER),
        ("AUTH_SERVICE_PASSWORD", PASSWORD),
    ])
    .await;
    assert_eq!(
        lines,
        [
            "✓ settings parse".to_owned(),
            format!("✓ auth-service {url} answers and accepts AUTH_SERVICE_USER {USER}"),
            "doctor: everything configured works".into(),
        ]
    );
    assert_eq!(code, 0);

    let (code, lines) = doctor(&[
        ("AUTH_SERVICE_URL", url),
        ("AUTH_SERVICE_USER", USER),
        ("AUTH_SERVICE_PASSWORD", "a-wrong-password-never-printed"),
    ])
    .await;
    assert_eq!(
        lines[1..],
        [
            format!("✗ auth-service {url} refuses AUTH_SERVICE_USER {USER} (401)"),
            "    fix: set AUTH_SERVICE_USER and AUTH_SERVICE_PASSWORD to one of auth-service's USERS".into(),
            "doctor: 1 check(s) failed".into(),
        ]
    );
    assert_eq!(code, 1);
    assert!(!lines.concat().contains("a-wrong-password-never-printed"));

    let down = closed_port_url();
    let (code, lines) = doctor(&[
        ("AUTH_SERVICE_URL", &down),
        ("AUTH_SERVICE_USER", USER),
        ("AUTH_SERVICE_PASSWORD", PASSWORD),
    ])
    .await;
    assert_eq!(lines[1], format!("✗ auth-service {down} unreachable"));
    assert_eq!(code, 1);

    let (code, lines) = doctor(&[("AUTH_SERVICE_USER", USER)]).await;
    assert!(
        lines[0].starts_with("✗ settings: AUTH_SERVICE_URL"),
        "{lines:#?}"
    );
    assert_eq!(code, 1);
}
