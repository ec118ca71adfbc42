//! `GET /metrics`: counters that move with known requests, behind basic auth or on its own address.
use auth_service::startup::Application;
use meddream_bridge::double::{Behaviour, MeddreamDouble};
use serde_json::json;

use crate::helpers::{basic, series_value, spawn_app, test_settings, TestApp, PASSWORD, USER};

async fn scrape(app: &TestApp) -> String {
    let res = app.get_authorized("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    res.text().await.unwrap()
}

fn ask(uid: &str) -> serde_json::Value {
    json!({"dicom-uid": uid, "level": "study", "method": "get"})
}

#[tokio::test]
async fn validate_decisions_and_requests_are_counted_by_outcome_route_and_status() {
    let app = spawn_app(&[]).await;
    let token = app
        .token(
            "viewer-instant-link",
            &json!({"resources": [{"dicom-uid": "1.2", "level": "study"}]}),
        )
        .await;
    for _ in 0..3 {
        assert!(app.granted(&token, &ask("1.2")).await);
    }
    assert!(!app.granted(&token, &ask("9.9")).await);
    assert!(!app.granted(&format!("{token}x"), &ask("1.2")).await);
    assert_eq!(app.validate(None, &ask("1.2")).await.0, 200);
    let missing = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let text = scrape(&app).await;
    let decision = |o: &str| {
        series_value(
            &text,
            &format!("auth_validate_decisions_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(decision("granted"), 3.0);
    assert_eq!(decision("forbidden"), 1.0);
    assert_eq!(decision("invalid"), 1.0);
    assert_eq!(decision("missing"), 1.0);
    assert_eq!(decision("expired"), 0.0);
    assert_eq!(
        series_value(
            &text,
            r#"auth_http_requests_total{route="/tokens/validate",status="200"}"#
        ),
        6.0
    );
    assert_eq!(
        series_value(
            &text,
            r#"auth_http_request_duration_seconds_count{route="/tokens/validate"}"#
        ),
        6.0
    );
    assert_eq!(
        series_value(
            &text,
            r#"auth_http_requests_total{route="/tokens/viewer-instant-link",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        series_value(
            &text,
            r#"auth_http_requests_total{route="(none)",status="404"}"#
        ),
        1.0
    );
    assert!(!text.contains(&token), "a token in the metrics");
    assert!(
        !text.contains("/no/such/route"),
        "a raw path in the metrics"
    );
}

#[tokio::test]
async fn revocations_database_calls_and_the_revocation_set_are_counted() {
    use auth_service::domain::ShareId;
    let app = spawn_app(&[]).await;
    let share = json!({"resources": [{"dicom-uid": "1.2", "level": "study"}]});
    let kept = app.token("viewer-instant-link", &share).await;
    let mut other = share.clone();
    other["id"] = json!("second");
    let revoked = app.token("viewer-instant-link", &other).await;
    let id = ShareId::of_token(&revoked).to_string();
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &format!("/shares/{id}/revoke"),
            &json!(null),
        )
        .await;
    assert_eq!(status, 200);
    assert!(app.granted(&kept, &ask("1.2")).await);
    assert!(!app.granted(&revoked, &ask("1.2")).await);

    let text = scrape(&app).await;
    let decision = |o: &str| {
        series_value(
            &text,
            &format!("auth_validate_decisions_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!((decision("granted"), decision("revoked")), (1.0, 1.0));
    assert_eq!(decision("used-up"), 0.0);
    let known =
        |state: &str| series_value(&text, &format!("auth_shares_known{{state=\"{state}\"}}"));
    assert_eq!(
        (known("active"), known("revoked"), known("used-up")),
        (1.0, 1.0, 0.0)
    );
    // Two shares recorded and one revoked: at least three database calls, none failed.
    let calls = |outcome: &str| {
        series_value(
            &text,
            &format!(
                "auth_dependency_call_seconds_count{{dependency=\"database\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert!(calls("ok") >= 3.0, "{text}");
    assert_eq!(calls("error"), 0.0);
}

#[tokio::test]
async fn metrics_need_credentials_on_the_main_address() {
    let app = spawn_app(&[]).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/metrics"))
        .header("Authorization", basic(USER, "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn meddream_calls_are_timed_with_their_outcome() {
    let meddream = MeddreamDouble::start().await;
    let url = meddream.url().to_string();
    let app = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        (
            "PUBLIC_MEDDREAM_ROOT",
            "https://pacs.example.test/meddream/",
        ),
    ])
    .await;
    let study = json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}]});
    assert_eq!(app.create("meddream-instant-link", &study).await.0, 200);
    meddream.set_behaviour(Behaviour::Status(500));
    assert_eq!(app.create("meddream-instant-link", &study).await.0, 502);
    let text = scrape(&app).await;
    let calls = |o: &str| {
        series_value(
            &text,
            &format!(
                "auth_dependency_call_seconds_count{{dependency=\"meddream\",outcome=\"{o}\"}}"
            ),
        )
    };
    assert_eq!((calls("ok"), calls("error")), (1.0, 1.0));
}

#[tokio::test]
async fn a_metrics_address_serves_them_without_credentials_and_the_main_one_stops() {
    let (settings, _data) = test_settings(&[("METRICS_BIND_ADDRESS", "127.0.0.1:0")]);
    let app = Application::build(settings).await.unwrap();
    let (port, metrics_port) = (app.port(), app.metrics_port().expect("a metrics port"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let res = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("auth_validate_decisions_total"));
    let res = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .header("Authorization", basic(USER, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = client
        .get(format!("http://127.0.0.1:{metrics_port}/tokens/validate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "only /metrics on the metrics address");
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let app = spawn_app(&[("ENABLE_METRICS", "false")]).await;
    let res = app.get_authorized("/metrics").await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn keycloak_and_smtp_failures_are_counted() {
    // Port 1: nothing listens there, and no test binds it (they all take free ports).
    let closed: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let keycloak = format!("http://{closed}/realms/orthanc/");
    let templates = tempfile::tempdir().unwrap();
    let port = closed.port().to_string();
    let app = spawn_app(&[
        ("ENABLE_KEYCLOAK", "true"),
        ("KEYCLOAK_URI", &keycloak),
        ("KEYCLOAK_CLIENT_SECRET", "s"),
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates.path().to_str().unwrap()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &port),
    ])
    .await;
    let (status, _) = app
        .send(reqwest::Method::GET, "/settings/roles", &json!({}))
        .await;
    assert_eq!(status, 503);
    let mail =
        json!({"destination-email": "a@example.test", "email-title": "t", "email-content": "c"});
    let (status, _) = app.send(reqwest::Method::POST, "/emails/send", &mail).await;
    assert_eq!(status, 502);
    let text = scrape(&app).await;
    let errors = |d: &str| {
        series_value(
            &text,
            &format!("auth_dependency_call_seconds_count{{dependency=\"{d}\",outcome=\"error\"}}"),
        )
    };
    assert!(errors("keycloak") >= 1.0, "{text}");
    assert_eq!(errors("smtp"), 1.0);
    assert_eq!(
        series_value(
            &text,
            r#"auth_dependency_call_seconds_count{dependency="smtp",outcome="ok"}"#
        ),
        0.0
    );
}
