//! The calls the real authorization plugin (0.11.4, Orthanc 1.12.7) made, replayed byte for byte
//! as it sends them: chunked bodies without Content-Length, alphabetical keys, no User-Agent.
//! Recordings: tests/fixtures/plugin-requests/ (see its README).
use std::path::PathBuf;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{basic, spawn_app, PASSWORD, USER};

/// One recorded call to auth-service.
struct Call {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn recordings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugin-requests")
}

fn parse(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("    ").filter(|r| !r.starts_with(' ')) else {
            continue;
        };
        let mut parts = rest.splitn(3, ' ');
        let (Some(method), Some(path), Some(headers)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let headers: Value = serde_json::from_str(headers).unwrap_or(json!({}));
        let body = match lines.peek() {
            Some(next) if next.starts_with("        ") => {
                lines.next().unwrap_or("").trim().to_owned()
            }
            _ => String::new(),
        };
        let headers = headers
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        calls.push(Call {
            method: method.into(),
            path: path.into(),
            headers,
            body,
        });
    }
    calls
}

/// Sends a call over a raw connection, body chunked exactly as the plugin does.
async fn send_raw(port: u16, call: &Call, token_override: Option<&str>) -> (u16, Value) {
    let mut req = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n",
        call.method, call.path
    );
    let mut has_auth = false;
    for (k, v) in &call.headers {
        let v = match (k.as_str(), token_override) {
            ("token", Some(t)) => t,
            _ => v.as_str(),
        };
        has_auth |= k.eq_ignore_ascii_case("authorization");
        if k.eq_ignore_ascii_case("authorization") {
            // The recording's credentials are the harness's; ours are the test app's.
            req.push_str(&format!("Authorization: {}\r\n", basic(USER, PASSWORD)));
        } else {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !has_auth {
        // phase-all ran the plugin without WebServiceUsername; auth-service always requires it.
        req.push_str(&format!("Authorization: {}\r\n", basic(USER, PASSWORD)));
    }
    req.push_str("\r\n");
    let mut body = call.body.clone();
    if let Some(t) = token_override {
        if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&body) {
            if m.contains_key("token-value") {
                m.insert("token-value".into(), json!(t));
            }
            body = serde_json::to_string(&m).unwrap();
        }
    }
    if call
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        // Two chunks, to be sure the body is reassembled.
        let (a, b) = body.split_at(body.len() / 2);
        for chunk in [a, b] {
            if !chunk.is_empty() {
                req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
            }
        }
        req.push_str("0\r\n\r\n");
    } else {
        req.push_str(&body);
    }
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n")
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .join("")
    } else {
        body.to_owned()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test]
async fn recorded_plugin_calls_are_answered_as_the_plugin_expects() {
    let dir = recordings_dir();
    let app = spawn_app(&[("PUBLIC_ORTHANC_ROOT", "http://127.0.0.1:8042/")]).await;
    // A real share of the study the recordings access, used in place of their placeholder tokens.
    let share = app
        .token(
            "stone-viewer-publication",
            &json!({"resources": [{"dicom-uid": "1.2.826.0.1.3680043.8.498.1", "orthanc-id": "f588d8d2-0ed4bd0e-1287df13-275d32dc-8cd74e49", "level": "study"}],
                    "expiration-date": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let mut validated = 0;
    let mut created = 0;
    for file in ["phase-studies.txt", "phase-all.txt"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for call in parse(&text) {
            let is_token_route = call.path.starts_with("/tokens/");
            if !is_token_route {
                continue; // profiles and roles: covered by their own issue's tests.
            }
            if call.path == "/tokens/validate" {
                let body: Value = serde_json::from_str(&call.body).unwrap();
                let (status, answer) = send_raw(app.port, &call, Some(&share)).await;
                assert_eq!(status, 200, "{file} {} {}: {answer}", call.path, call.body);
                assert_eq!(answer["validity"], 60);
                let level = body["level"].as_str().unwrap_or("");
                let carries_token = call.headers.iter().any(|(k, _)| k == "token")
                    || body.get("token-value").is_some();
                let want = carries_token
                    && (body["dicom-uid"] == json!("1.2.826.0.1.3680043.8.498.1")
                        || body["orthanc-id"]
                            == json!("f588d8d2-0ed4bd0e-1287df13-275d32dc-8cd74e49"));
                assert_eq!(
                    answer["granted"], want,
                    "{file} level {level}: {}",
                    call.body
                );
                // And the recorded placeholder token itself is denied, never a 4xx/5xx.
                let (status, answer) = send_raw(app.port, &call, None).await;
                assert_eq!(
                    (status, &answer["granted"]),
                    (200, &json!(false)),
                    "{}",
                    call.body
                );
                validated += 1;
            } else if call.method == "PUT" {
                let (status, answer) = send_raw(app.port, &call, None).await;
                assert_eq!(status, 200, "{file} {} {}: {answer}", call.path, call.body);
                assert!(answer["token"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("eyJ")));
                created += 1;
            }
        }
    }
    assert!(
        validated >= 20 && created >= 2,
        "the recordings hold {validated} validations and {created} creations"
    );
}
