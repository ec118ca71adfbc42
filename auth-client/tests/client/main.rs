//! The client against the auth-service double: answers, failures, limits. (The landing page's
//! tests run it against the real auth-service.)
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use auth_client::double::{AuthServiceDouble, Behaviour, PASSWORD, USER};
use auth_client::{AuthClient, AuthError, Timeouts};
use auth_wire::{DecodeErrorCode, DecodeResponse};
use secrecy::SecretString;

fn client(double: &AuthServiceDouble, password: &str, total: Duration) -> AuthClient {
    AuthClient::new(
        &double.url(),
        USER,
        &SecretString::from(password),
        Timeouts {
            connect: Duration::from_secs(1),
            total,
        },
    )
    .expect("client builds")
}

#[tokio::test]
async fn decode_sends_the_token_and_reads_the_answer() {
    let double = AuthServiceDouble::start().await;
    let answer = DecodeResponse {
        token_type: Some("ohif-viewer-publication".into()),
        error_code: Some(DecodeErrorCode::UsedUp),
        redirect_url: None,
        resources: vec![],
        protection: None,
    };
    double.set_behaviour(Behaviour::Answer(answer.clone()));
    let got = client(&double, PASSWORD, Duration::from_secs(5))
        .decode("a.b.c")
        .await
        .expect("decoded");
    assert_eq!(got, answer);
    assert_eq!(double.decoded(), vec!["a.b.c".to_owned()]);
}

#[tokio::test]
async fn wrong_credentials_and_errors_are_statuses() {
    let double = AuthServiceDouble::start().await;
    let wrong = client(&double, "not-the-password", Duration::from_secs(5));
    assert!(matches!(
        wrong.decode("t").await,
        Err(AuthError::Status(401))
    ));
    assert!(matches!(wrong.health().await, Err(AuthError::Status(401))));
    let right = client(&double, PASSWORD, Duration::from_secs(5));
    right.health().await.expect("healthy");
    double.set_behaviour(Behaviour::Status(502));
    assert!(matches!(
        right.decode("t").await,
        Err(AuthError::Status(502))
    ));
}

#[tokio::test]
async fn garbage_and_oversized_answers_are_refused_without_echoing_them() {
    let double = AuthServiceDouble::start().await;
    let c = client(&double, PASSWORD, Duration::from_secs(5));
    double.set_behaviour(Behaviour::Garbage);
    let e = c
        .decode("t")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unexpected") && !e.contains("not json"), "{e}");
    double.set_behaviour(Behaviour::Oversized);
    assert!(matches!(
        c.decode("t").await,
        Err(AuthError::OversizedAnswer)
    ));
}

#[tokio::test]
async fn a_hanging_service_is_given_up_on_at_the_total_timeout() {
    let double = AuthServiceDouble::start().await;
    double.set_behaviour(Behaviour::Hang);
    let c = client(&double, PASSWORD, Duration::from_millis(300));
    let started = Instant::now();
    assert!(matches!(
        c.decode("t").await,
        Err(AuthError::Unreachable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = AuthClient::new(
        &url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        USER,
        &SecretString::from(PASSWORD),
        Timeouts::default(),
    )
    .unwrap();
    assert!(matches!(
        c.decode("t").await,
        Err(AuthError::Unreachable(_))
    ));
}

#[test]
fn bad_settings_do_not_build_a_client() {
    let url = url::Url::parse("ftp://x/").unwrap();
    assert!(AuthClient::new(&url, "u", &SecretString::from("p"), Timeouts::default()).is_err());
    let url = url::Url::parse("http://x/").unwrap();
    let zero = Timeouts {
        connect: Duration::ZERO,
        total: Duration::from_secs(1),
    };
    assert!(AuthClient::new(&url, "u", &SecretString::from("p"), zero).is_err());
}

#[tokio::test]
async fn a_preview_says_so_and_is_recorded_apart_from_opens() {
    let double = AuthServiceDouble::start().await;
    let c = client(&double, PASSWORD, Duration::from_secs(5));
    let preview = c.preview("a.b.c").await.expect("previewed");
    assert_eq!(preview.redirect_url, None);
    assert_eq!(preview.error_code, None);
    let opened = c.decode("a.b.c").await.expect("decoded");
    assert_eq!(
        opened.redirect_url.as_deref(),
        Some("http://viewer.invalid/")
    );
    assert_eq!(double.previewed(), vec!["a.b.c".to_owned()]);
    assert_eq!(double.decoded(), vec!["a.b.c".to_owned()]);
}
