//! `GET /health` and `GET /ready`: open to anyone, saying nothing an attacker could use.
use std::net::TcpListener;

use crate::helpers::spawn_app;

async fn get(app: &crate::helpers::TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn ready_follows_a_dependency_going_away_and_coming_back() {
    let meddream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = meddream.local_addr().unwrap();
    let url = format!("http://{addr}/v3/generate");
    let app = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        ("READY_CACHE_SECONDS", "0"),
    ])
    .await;
    assert_eq!(
        get(&app, "/ready").await,
        (200, r#"{"status":"ready"}"#.into())
    );
    drop(meddream);
    let (status, body) = get(&app, "/ready").await;
    assert_eq!((status, body.as_str()), (503, r#"{"status":"not ready"}"#));
    assert_eq!(get(&app, "/health").await.0, 200, "alive while not ready");
    let _back = TcpListener::bind(addr).unwrap();
    assert_eq!(get(&app, "/ready").await.0, 200);
}

#[tokio::test]
async fn ready_reuses_its_answer_for_the_cache_time() {
    let meddream = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v3/generate", meddream.local_addr().unwrap());
    let app = spawn_app(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &url),
        ("READY_CACHE_SECONDS", "600"),
    ])
    .await;
    assert_eq!(get(&app, "/ready").await.0, 200);
    drop(meddream);
    assert_eq!(get(&app, "/ready").await.0, 200, "the cached answer");
}

#[tokio::test]
async fn ready_checks_keycloak_and_smtp_when_they_are_configured() {
    // Port 1: nothing listens there, and no test binds it (they all take free ports).
    let closed: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let keycloak = format!("http://{closed}/realms/orthanc/");
    let app = spawn_app(&[("ENABLE_KEYCLOAK", "true"), ("KEYCLOAK_URI", &keycloak)]).await;
    assert_eq!(get(&app, "/ready").await.0, 503);
    let dir = tempfile::tempdir().unwrap();
    let port = closed.port().to_string();
    let templates = dir.path().to_str().unwrap();
    let app = spawn_app(&[
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &port),
    ])
    .await;
    assert_eq!(get(&app, "/ready").await.0, 503);
    let plain = spawn_app(&[]).await;
    assert_eq!(
        get(&plain, "/ready").await,
        (200, r#"{"status":"ready"}"#.into())
    );
}

#[tokio::test]
async fn health_and_ready_need_no_credentials_and_refuse_other_methods() {
    let app = spawn_app(&[]).await;
    assert_eq!(
        get(&app, "/health").await,
        (200, r#"{"status":"ok"}"#.into())
    );
    let res = app.client.post(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.headers()["allow"], "GET");
}
