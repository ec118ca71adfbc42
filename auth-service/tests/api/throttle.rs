//! Failed basic-auth throttling per client address.
use serde_json::json;

use crate::helpers::{basic, spawn_app, TestApp, PASSWORD, USER};

const BODY: &str = r#"{"dicom-uid":"1.2","level":"study","method":"get"}"#;

async fn validate(app: &TestApp, password: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    validate_from(app, USER, password, forwarded_for).await
}

async fn validate_as(app: &TestApp, user: &str, password: &str) -> u16 {
    validate_from(app, user, password, None)
        .await
        .status()
        .as_u16()
}

async fn validate_from(
    app: &TestApp,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/tokens/validate"))
        .header("Authorization", basic(user, password))
        .header("Content-Type", "application/json")
        .body(BODY);
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn wrong_passwords_are_throttled_after_the_burst_and_good_ones_never_count() {
    let app = spawn_app(&[
        ("LOGIN_FAILURE_BURST", "3"),
        ("LOGIN_FAILURE_REFILL_SECONDS", "600"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(validate(&app, "guess", None).await.status(), 401);
    }
    let refused = validate(&app, "guess", None).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((599..=600).contains(&wait), "{wait}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too many failed logins");
    // A throttled address gets no answer about the password of a user that never logged in
    // from it: guessing stops here.
    assert_eq!(validate(&app, PASSWORD, None).await.status(), 429);
    // A request with no user:password pair in it is no login attempt: the plain 401.
    let anonymous = app
        .client
        .post(app.url("/tokens/validate"))
        .header("Content-Type", "application/json")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Basic");
}

#[tokio::test]
async fn a_user_that_logged_in_from_an_address_passes_its_lockout_and_no_one_else() {
    let users = format!(r#"{{"{USER}": "{PASSWORD}", "other": "other-pass"}}"#);
    let app = spawn_app(&[
        ("USERS", users.as_str()),
        ("LOGIN_FAILURE_BURST", "3"),
        ("LOGIN_FAILURE_REFILL_SECONDS", "600"),
    ])
    .await;
    // The plugin's user logs in, over and over: that takes nothing from the bucket.
    for _ in 0..50 {
        assert_eq!(validate_as(&app, USER, PASSWORD).await, 200);
    }
    // A stranger on the same address empties the bucket.
    for _ in 0..3 {
        assert_eq!(validate_as(&app, USER, "guess").await, 401);
    }
    assert_eq!(validate_as(&app, USER, "guess").await, 429);
    assert_eq!(validate_as(&app, "other", "guess").await, 429);
    // The plugin keeps working; a right password of a user never seen here gets the same 429 as
    // a wrong one, and so does a wrong password of the proven user.
    assert_eq!(validate_as(&app, USER, PASSWORD).await, 200);
    assert_eq!(validate_as(&app, "other", "other-pass").await, 429);
    assert_eq!(validate_as(&app, USER, "another-guess").await, 429);
    assert_eq!(validate_as(&app, USER, PASSWORD).await, 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = spawn_app(&[
        ("LOGIN_FAILURE_BURST", "2"),
        ("LOGIN_FAILURE_REFILL_SECONDS", "600"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let attacker = Some("203.0.113.9");
    for _ in 0..2 {
        assert_eq!(validate(&app, "guess", attacker).await.status(), 401);
    }
    assert_eq!(validate(&app, "guess", attacker).await.status(), 429);
    assert_eq!(
        validate(&app, PASSWORD, Some("198.51.100.1"))
            .await
            .status(),
        200,
        "another client behind the same proxy"
    );
    assert_eq!(
        validate(&app, PASSWORD, None).await.status(),
        200,
        "the proxy itself"
    );
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_throttle_with_forwarded_for() {
    let app = spawn_app(&[
        ("LOGIN_FAILURE_BURST", "2"),
        ("LOGIN_FAILURE_REFILL_SECONDS", "600"),
    ])
    .await;
    for i in 0..2 {
        let fake = format!("203.0.113.{i}");
        assert_eq!(validate(&app, "guess", Some(&fake)).await.status(), 401);
    }
    assert_eq!(
        validate(&app, "guess", Some("203.0.113.77")).await.status(),
        429
    );
}

#[tokio::test]
async fn a_missing_authorization_header_is_not_a_guess() {
    let app = spawn_app(&[
        ("LOGIN_FAILURE_BURST", "1"),
        ("LOGIN_FAILURE_REFILL_SECONDS", "600"),
    ])
    .await;
    for _ in 0..5 {
        let res = app
            .client
            .post(app.url("/tokens/validate"))
            .json(&json!({"level": "study", "method": "get"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    assert_eq!(validate(&app, PASSWORD, None).await.status(), 200);
}
