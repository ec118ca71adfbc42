//! Graceful shutdown: SIGTERM stops new connections, lets in-flight requests finish (bounded),
//! then runs the shutdown hooks.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_service::settings::Settings;
use auth_service::startup::Application;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

use crate::helpers::{basic, json_answer, test_settings, PASSWORD, USER};
use crate::stand_ins::{BinaryApp, HeldMeddream, HELD_TOKEN};

/// Below the MedDream client's own concurrency cap, so every call reaches the stand-in.
const IN_FLIGHT: usize = 6;

/// Sends `IN_FLIGHT` instant-link requests that the stand-in holds.
fn start_held_requests(
    port: u16,
) -> Vec<tokio::task::JoinHandle<Result<(u16, String), reqwest::Error>>> {
    (0..IN_FLIGHT)
        .map(|i| {
            tokio::spawn(async move {
                let res = reqwest::Client::new()
                    .put(format!("http://127.0.0.1:{port}/tokens/meddream-instant-link"))
                    .header("Authorization", basic(USER, PASSWORD))
                    .json(&json!({"resources": [{"dicom-uid": format!("1.2.{i}"), "level": "study"}]}))
                    .send()
                    .await?;
                let status = res.status().as_u16();
                Ok((status, res.text().await?))
            })
        })
        .collect()
}

async fn wait_until_refused(port: u16) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the port still accepts connections after SIGTERM");
}

#[tokio::test]
async fn sigterm_answers_every_in_flight_request_and_refuses_new_connections() {
    let meddream = HeldMeddream::start().await;
    let mut app = BinaryApp::start(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &meddream.url),
        (
            "PUBLIC_MEDDREAM_ROOT",
            "https://pacs.example.test/meddream/",
        ),
        ("MEDDREAM_TIMEOUT_SECONDS", "30"),
    ]);
    let port = app.port;

    let held = start_held_requests(port);
    meddream.wait_for_calls(IN_FLIGHT).await;
    kill(Pid::from_raw(app.child.id() as i32), Signal::SIGTERM).expect("SIGTERM sent");
    wait_until_refused(port).await;
    meddream.release();
    for request in held {
        let (status, body) = request
            .await
            .unwrap()
            .expect("an answer, not a dropped connection");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(HELD_TOKEN), "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "auth-service did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(code.success(), "exit status {code:?}");
}

/// `test_settings` with MedDream's public root and a timeout longer than any held request.
fn settings(extra: &[(&str, &str)]) -> (Settings, tempfile::TempDir) {
    let mut env = vec![
        (
            "PUBLIC_MEDDREAM_ROOT",
            "https://pacs.example.test/meddream/",
        ),
        ("MEDDREAM_TIMEOUT_SECONDS", "30"),
    ];
    env.extend_from_slice(extra);
    test_settings(&env)
}

#[tokio::test]
async fn shutdown_hooks_run_after_the_last_in_flight_request() {
    let meddream = HeldMeddream::start().await;
    let (settings, _data) = settings(&[("MEDDREAM_TOKEN_SERVICE_URL", &meddream.url)]);
    let mut app = Application::build(settings).await.unwrap();
    let port = app.port();
    let events = Arc::new(Mutex::new(Vec::<&str>::new()));
    let hook_events = events.clone();
    app.shutdown_hooks().add("test flush", move || async move {
        hook_events.lock().unwrap().push("flushed");
    });
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let held = start_held_requests(port);
    meddream.wait_for_calls(IN_FLIGHT).await;
    let stopping = tokio::spawn(handle.stop(true));
    wait_until_refused(port).await;
    assert!(
        events.lock().unwrap().is_empty(),
        "a hook ran before requests finished"
    );
    meddream.release();
    for request in held {
        let (status, _) = request.await.unwrap().expect("answered");
        assert_eq!(status, 200);
    }
    stopping.await.unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(*events.lock().unwrap(), ["flushed"]);
}

#[tokio::test]
async fn a_request_that_never_ends_does_not_hold_shutdown_past_its_bound() {
    let meddream = HeldMeddream::start().await;
    let (settings, _data) = settings(&[
        ("MEDDREAM_TOKEN_SERVICE_URL", &meddream.url),
        ("SHUTDOWN_TIMEOUT_SECONDS", "1"),
    ]);
    let app = Application::build(settings).await.unwrap();
    let port = app.port();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let held = start_held_requests(port);
    meddream.wait_for_calls(IN_FLIGHT).await;
    let started = Instant::now();
    handle.stop(true).await;
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within its bound")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it did wait for in-flight work"
    );
    for request in held {
        assert!(request.await.unwrap().is_err(), "cut after the bound");
    }
}

#[tokio::test]
async fn a_stop_right_after_the_last_open_still_writes_every_use() {
    use auth_service::domain::ShareId;
    use auth_service::shares::ShareStore;
    let (settings, data) =
        settings(&[("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/")]);
    let app = Application::build(settings).await.unwrap();
    let port = app.port();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let created = json_answer(
        client
            .put(format!(
                "http://127.0.0.1:{port}/tokens/stone-viewer-publication"
            ))
            .header("Authorization", basic(USER, PASSWORD))
            .json(&json!({"resources": [{"dicom-uid": "1.2.3", "level": "study"}]})),
    )
    .await;
    let token = created["token"].as_str().expect("a token").to_owned();
    for _ in 0..3 {
        let decoded = json_answer(
            client
                .post(format!("http://127.0.0.1:{port}/tokens/decode"))
                .header("Authorization", basic(USER, PASSWORD))
                .json(&json!({"token-key": "token", "token-value": token})),
        )
        .await;
        assert!(decoded["redirect-url"].is_string(), "{decoded}");
    }
    // Stopped well inside the registry's flush interval: only the shutdown hook writes the opens.
    handle.stop(true).await;
    server.await.unwrap().unwrap();
    let url = format!(
        "sqlite://{}",
        data.path().join("auth-service.sqlite").display()
    );
    let store = ShareStore::connect(&url).await.unwrap();
    let record = store
        .get(&ShareId::of_token(&token))
        .await
        .unwrap()
        .expect("the share is recorded");
    assert_eq!(record.use_count, 3, "every open written before exit");
    assert!(record.last_used_at.is_some());
    store.close().await;
}
