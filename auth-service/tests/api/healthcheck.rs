//! `auth-service healthcheck`, the container HEALTHCHECK: the real binary against the real app.
use std::net::TcpListener;
use std::process::Command;

use service_health::{probe, probe_address, HealthcheckError};

use crate::helpers::spawn_app;

fn run_binary(bind_address: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("healthcheck")
        .env("BIND_ADDRESS", bind_address)
        .env("SECRETS_DIR", "/nonexistent-secrets-dir")
        .output()
        .expect("the auth-service binary runs")
}

#[tokio::test]
async fn healthcheck_subcommand_exits_0_against_a_running_service_on_a_wildcard_bind_address() {
    let app = spawn_app(&[]).await;
    // The container binds 0.0.0.0:PORT; the probe must turn that into loopback.
    let out = tokio::task::spawn_blocking(move || run_binary(&format!("0.0.0.0:{}", app.port)))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn healthcheck_subcommand_exits_1_with_one_line_when_nothing_listens() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = tokio::task::spawn_blocking(move || run_binary(&format!("127.0.0.1:{port}")))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("auth-service healthcheck: cannot connect to 127.0.0.1:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn healthcheck_probe_refuses_an_answer_other_than_200() {
    let app = spawn_app(&[]).await;
    let addr = probe_address(&format!("127.0.0.1:{}", app.port)).unwrap();
    // A route that needs credentials answers 401: the probe must not take that for healthy.
    let err = tokio::task::spawn_blocking(move || probe(addr, "/tokens/decode"))
        .await
        .unwrap()
        .unwrap_err();
    match err {
        HealthcheckError::NotOk { status_line, .. } => {
            assert!(status_line.contains(" 40"), "{status_line}")
        }
        other => panic!("expected NotOk, got {other}"),
    }
}
