//! Logs as an operator reads them: one access line per request, human or JSON lines.
use serde_json::{json, Value};

use crate::helpers::{basic, PASSWORD, USER};
use crate::stand_ins::BinaryApp;
use crate::tokens::PROTOCOL_TOKEN_1;

/// PROTOCOL.md's first token's fingerprint (first 4 bytes of its SHA-256, hex).
fn fingerprint(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(token.as_bytes())[..4])
}

async fn validate(app: &BinaryApp) {
    let res = reqwest::Client::new()
        .post(app.url("/tokens/validate"))
        .header("Authorization", basic(USER, PASSWORD))
        .header("token", PROTOCOL_TOKEN_1)
        .json(&json!({"dicom-uid": "1.2", "level": "study", "method": "get"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn json_lines_hold_route_status_latency_and_the_token_fingerprint() {
    let app = BinaryApp::start(&[("LOG_FORMAT", "json")]);
    validate(&app).await;
    let line = app.wait_for_line(&["/tokens/validate"]).await;
    let entry: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(entry["route"], "/tokens/validate");
    assert_eq!(entry["status"], 200);
    assert!(entry["latency_us"].is_u64(), "{entry}");
    assert_eq!(entry["token"], fingerprint(PROTOCOL_TOKEN_1));
    assert_eq!(entry["level"], "INFO");
    for line in app.log().lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    assert!(!app.log().contains(PROTOCOL_TOKEN_1), "a token in the log");
}

#[tokio::test]
async fn human_lines_by_default_one_per_request() {
    let app = BinaryApp::start(&[]);
    validate(&app).await;
    let health = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let line = app
        .wait_for_line(&["route=/tokens/validate", "status=200", "latency_us="])
        .await;
    assert!(
        line.contains(&format!("token={}", fingerprint(PROTOCOL_TOKEN_1))),
        "{line}"
    );
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    app.wait_for_line(&["route=/health", "status=200"]).await;
    let log = app.log();
    assert_eq!(log.matches("route=/tokens/validate").count(), 1, "{log}");
    assert!(!log.contains(PROTOCOL_TOKEN_1), "a token in the log");
}

/// Lines are queued to one writer thread (a request never waits on stderr): at SIGTERM every
/// queued line is still written before the process exits, and the drops counter says none was
/// lost.
#[tokio::test]
async fn a_stop_writes_every_line_still_queued() {
    const REQUESTS: usize = 2000;
    let mut app = BinaryApp::start(&[]);
    let client = reqwest::Client::new();
    let metrics = app.authorized_text("/metrics").await;
    assert_eq!(
        crate::helpers::series_value(&metrics, "auth_log_lines_dropped_total"),
        0.0,
        "{metrics}"
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), app.url("/tokens/validate"));
            tokio::spawn(async move {
                for _ in 0..REQUESTS / 8 {
                    let res = client
                        .post(&url)
                        .header("Authorization", basic(USER, PASSWORD))
                        .header("token", PROTOCOL_TOKEN_1)
                        .json(&json!({"dicom-uid": "1.2", "level": "study", "method": "get"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // At once after the last answer: lines may still be queued.
    let pid = nix::unistd::Pid::from_raw(app.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The process is gone; its last lines reach the reader thread right after.
    app.wait_for_line(&["running shutdown hooks"]).await;
    while app.log().matches("route=/tokens/validate").count() < REQUESTS
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.log().matches("route=/tokens/validate").count(),
        REQUESTS,
        "access lines lost at shutdown"
    );
}

/// Bytes no HTTP parser takes: actix-http answers 400 itself and closes the connection.
const MALFORMED: [&[u8]; 2] = [
    b"GET / HTTP/1.1\r\nHost: x\r\nno colon in this header\r\n\r\n",
    b"\x16\x03\x01\x02\x00 this is TLS, not HTTP\r\n\r\n",
];

/// Sends `bytes` on a new connection and reads the answer until the server closes it.
pub async fn send_raw(port: u16, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_clients_malformed_request_is_an_info_line_and_a_metric_never_an_error() {
    let app = BinaryApp::start(&[]);
    for bytes in MALFORMED {
        let answer = send_raw(app.port, bytes).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let line = app.wait_for_line(&["malformed request refused"]).await;
    assert!(line.contains("INFO"), "{line}");
    // The second line too (each is written as its connection closes).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.log().matches("malformed request refused").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", app.log());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let metrics = app.authorized_text("/metrics").await;
    let log = app.log();
    assert_eq!(log.matches("malformed request refused").count(), 2, "{log}");
    assert!(
        metrics.contains("auth_http_malformed_requests_total 2"),
        "{metrics}"
    );
    assert!(!log.contains("ERROR"), "an error line: {log}");
    assert!(
        !log.contains("no colon"),
        "the request's bytes in the log: {log}"
    );
}
