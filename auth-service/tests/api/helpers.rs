//! Shared test support: start the real application on a free loopback port.
use std::collections::HashMap;
use std::path::Path;

use auth_service::settings::{Settings, Source};
use auth_service::startup::Application;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

pub const USER: &str = "share-user";
pub const PASSWORD: &str = "change-me";
/// PROTOCOL.md's first token is signed with this key.
pub const SECRET: &str = "my-secret-key";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// The data folder (the SQLite share registry), removed with the app.
    pub _data_dir: Option<tempfile::TempDir>,
}

/// Starts the app with `SECRET_KEY`, `USERS` and a loopback port preset; `env` adds or overrides.
pub async fn spawn_app(env: &[(&str, &str)]) -> TestApp {
    spawn_app_with_secrets(env, Path::new("/nonexistent-secrets-dir")).await
}

pub async fn spawn_app_with_secrets(env: &[(&str, &str)], secrets_dir: &Path) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        auth_service::telemetry::init_for_tests("debug");
    }
    let mut vars = test_vars(env);
    let data_dir = if vars.contains_key("DATA_DIR") {
        None
    } else {
        let dir = tempfile::tempdir().expect("data dir");
        vars.insert("DATA_DIR".into(), dir.path().display().to_string());
        Some(dir)
    };
    let settings =
        Settings::from_source(&Source::new(vars, secrets_dir)).expect("test settings are valid");
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _data_dir: data_dir,
    }
}

/// `SECRET_KEY`, `USERS` and a loopback port; `env` adds or overrides.
fn test_vars(env: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SECRET_KEY".into(), SECRET.into()),
        ("USERS".into(), format!(r#"{{"{USER}": "{PASSWORD}"}}"#)),
        ("BIND_ADDRESS".into(), "127.0.0.1:0".into()),
    ]);
    for (k, v) in env {
        vars.insert((*k).into(), (*v).into());
    }
    vars
}

/// The settings `spawn_app` starts from, with a data folder of their own (the SQLite share
/// registry), for a test that builds the `Application` by hand to reach its handle, hooks or
/// metrics port. `env` adds or overrides, `DATA_DIR` included.
pub fn test_settings(env: &[(&str, &str)]) -> (Settings, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("data dir");
    let data_path = data.path().display().to_string();
    let mut vars = vec![("DATA_DIR", data_path.as_str())];
    vars.extend_from_slice(env);
    let settings = Settings::from_source(&Source::new(
        test_vars(&vars),
        Path::new("/nonexistent-secrets-dir"),
    ))
    .expect("test settings are valid");
    (settings, data)
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A GET with the default credentials.
    pub async fn get_authorized(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("Authorization", basic(USER, PASSWORD))
            .send()
            .await
            .expect("request sent")
    }

    /// A request with the default credentials and a JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .request(method, self.url(path))
            .header("Authorization", basic(USER, PASSWORD))
            .json(body)
            .send()
            .await
            .expect("request sent");
        status_json(res).await
    }

    pub async fn create(&self, token_type: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, &format!("/tokens/{token_type}"), body)
            .await
    }

    /// Creates a share that must succeed and returns its token.
    pub async fn token(&self, token_type: &str, body: &Value) -> String {
        let (status, answer) = self.create(token_type, body).await;
        assert_eq!(status, 200, "{answer}");
        answer["token"]
            .as_str()
            .expect("token in answer")
            .to_owned()
    }

    pub async fn validate(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/tokens/validate"))
            .header("Authorization", basic(USER, PASSWORD))
            .json(body);
        if let Some(t) = token {
            req = req.header("token", t);
        }
        status_json(req.send().await.expect("request sent")).await
    }

    pub async fn granted(&self, token: &str, body: &Value) -> bool {
        let (status, answer) = self.validate(Some(token), body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["validity"], 60);
        answer["granted"].as_bool().expect("granted is a bool")
    }

    pub async fn decode(&self, token: &str) -> Value {
        let (status, answer) = self
            .send(
                reqwest::Method::POST,
                "/tokens/decode",
                &serde_json::json!({"token-key": "token", "token-value": token}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

pub async fn status_json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The JSON answer to a request the test built itself (another client, or an app built by hand).
pub async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("a JSON answer")
}

/// The value of one Prometheus series in a `/metrics` text, written exactly as the exposition
/// does (labels sorted by name).
pub fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

/// An error answer (4xx/5xx, so an unexpected success cannot pass) that echoes no token: no
/// JWT-looking text.
pub fn assert_no_token_in(status: u16, body: &Value) {
    assert!(status >= 400, "expected an error, got {status}: {body}");
    let text = body.to_string();
    assert!(
        !text.contains("eyJ"),
        "an error body echoes a token: {text}"
    );
}

/// A GET whose path goes out exactly as written (reqwest would resolve `..` and `//`), with
/// `authorization` when given: the status and the whole answer, headers included.
pub async fn raw_get(app: &TestApp, path: &str, authorization: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, answer)
}
