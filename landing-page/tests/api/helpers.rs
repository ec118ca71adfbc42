//! Shared test support: the real auth-service and the real landing page on free loopback ports.
use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

pub const USER: &str = "landing";
pub const PASSWORD: &str = "landing-password";
/// PROTOCOL.md's second token is signed with this key.
pub const SECRET: &str = "change-me-I-am-a-secret-key";
pub const ORTHANC_ROOT: &str = "http://viewer.test/orthanc/";

/// PROTOCOL.md's tokens: the first (Stone, signed with `my-secret-key`, expires 2026-12-31) and
/// the second (MedDream publication, signed with [`SECRET`], never expires).
pub const PROTOCOL_STONE: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6InRvdG8iLCJyZXNvdXJjZXMiOlt7ImRpY29tX3VpZCI6IjEuMiIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6InN0b25lLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6IjIwMjYtMTItMzFUMTE6MDA6MDArMDA6MDAifQ.RlB9x56eQSaJNt3t4hDxAHdM7BhBbah5CWWBBZQf7x0";
pub const PROTOCOL_MEDDREAM: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImRlbW8tMSIsInJlc291cmNlcyI6W3siZGljb21fdWlkIjoiMS4yLjI3Ni4wLjM3LjEuMzIyLjIwMTUwMi4xMTAzMzkyNyIsIm9ydGhhbmNfaWQiOm51bGwsInVybCI6bnVsbCwibGV2ZWwiOiJzdHVkeSJ9XSwidHlwZSI6Im1lZGRyZWFtLXZpZXdlci1wdWJsaWNhdGlvbiIsImV4cGlyYXRpb25fZGF0ZSI6bnVsbCwidmFsaWRpdHlfZHVyYXRpb24iOm51bGx9.a2189RYDjlPueJ8QkquJylVJCOXDRyCltGcalnkyJQM";

fn source(pairs: Vec<(String, String)>) -> service_settings::Source {
    service_settings::Source::new(
        pairs.into_iter().collect(),
        Path::new("/nonexistent-secrets"),
    )
}

fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        landing_page::telemetry::init_for_tests("debug");
    }
}

/// The real auth-service: `SECRET_KEY` [`SECRET`], our user, Stone at [`ORTHANC_ROOT`];
/// `env` adds or overrides.
pub struct Auth {
    pub url: String,
    /// The auth-service data folder (its SQLite share registry), removed with it.
    pub _data_dir: tempfile::TempDir,
}

pub async fn spawn_auth(env: &[(&str, &str)]) -> Auth {
    init_logs();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SECRET_KEY".into(), SECRET.into()),
        ("USERS".into(), json!({ USER: PASSWORD }).to_string()),
        ("BIND_ADDRESS".into(), "127.0.0.1:0".into()),
        ("PUBLIC_ORTHANC_ROOT".into(), ORTHANC_ROOT.into()),
    ]);
    let data_dir = tempfile::tempdir().expect("auth-service data dir");
    vars.insert("DATA_DIR".into(), data_dir.path().display().to_string());
    for (k, v) in env {
        vars.insert((*k).into(), (*v).into());
    }
    let settings =
        auth_service::settings::Settings::from_source(&source(vars.into_iter().collect()))
            .expect("auth-service test settings are valid");
    let app = auth_service::startup::Application::build(settings)
        .await
        .expect("auth-service builds");
    let url = format!("http://127.0.0.1:{}/", app.port());
    tokio::spawn(app.run_until_stopped());
    Auth {
        url,
        _data_dir: data_dir,
    }
}

impl Auth {
    /// Creates a share through auth-service's API and returns its token.
    pub async fn token(&self, token_type: &str, body: Value) -> String {
        let res = reqwest::Client::new()
            .put(format!("{}tokens/{token_type}", self.url))
            .basic_auth(USER, Some(PASSWORD))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let answer: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().unwrap().to_owned()
    }

    /// A Stone publication of `uids`, valid an hour (or until `expiration`).
    pub async fn stone(&self, uids: &[&str], expiration: Option<&str>) -> String {
        let resources: Vec<Value> = uids
            .iter()
            .map(|u| json!({"dicom-uid": u, "level": "study"}))
            .collect();
        let body = match expiration {
            Some(date) => json!({"resources": resources, "expiration-date": date}),
            None => json!({"resources": resources, "validity-duration": 3600}),
        };
        self.token("stone-viewer-publication", body).await
    }
}

pub struct Landing {
    pub address: String,
    pub client: reqwest::Client,
}

/// The real landing page in front of `auth_url` with our credentials; `env` adds or overrides.
pub async fn spawn_landing(auth_url: &str, env: &[(&str, &str)]) -> Landing {
    init_logs();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("AUTH_SERVICE_URL".into(), auth_url.into()),
        ("AUTH_SERVICE_USER".into(), USER.into()),
        ("AUTH_SERVICE_PASSWORD".into(), PASSWORD.into()),
        ("BIND_ADDRESS".into(), "127.0.0.1:0".into()),
        ("AUTH_SERVICE_TIMEOUT_SECONDS".into(), "2".into()),
        // As a deployment tells it: the viewers' roots it may redirect to (MedDream's shares
        // the origin).
        ("PUBLIC_ORTHANC_ROOT".into(), ORTHANC_ROOT.into()),
    ]);
    for (k, v) in env {
        vars.insert((*k).into(), (*v).into());
    }
    let settings =
        landing_page::settings::Settings::from_source(&source(vars.into_iter().collect()))
            .expect("landing-page test settings are valid");
    let app = landing_page::startup::Application::build(settings).expect("landing-page builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Landing {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// What a page answer holds.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The body with askama's entity escapes undone, to compare with the language files.
    pub fn text(&self) -> String {
        self.body
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Landing {
    pub fn link(&self, token: &str) -> String {
        format!("{}/?token={token}", self.address)
    }

    pub async fn get(&self, path_and_query: &str, language: Option<&str>) -> Page {
        let mut req = self.client.get(format!("{}{path_and_query}", self.address));
        if let Some(l) = language {
            req = req.header("Accept-Language", l);
        }
        page(req.send().await.unwrap()).await
    }

    pub async fn open(&self, token: &str) -> Page {
        self.get(&format!("/?token={token}"), None).await
    }

    pub async fn press_open(&self, token: &str) -> Page {
        let res = self
            .client
            .post(self.link(token))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        page(res).await
    }
}

async fn page(res: reqwest::Response) -> Page {
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// Where a Debian tool is, or None after saying loudly that the test is skipped (a failure
/// under CI, which installs it: `.ci/run`).
pub fn tool(path: &str, package: &str) -> Option<std::path::PathBuf> {
    let found = std::path::Path::new(path).exists();
    if found {
        return Some(std::path::PathBuf::from(path));
    }
    let message = format!("{path} not found: apt-get install -y {package}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n!!! SKIPPED: {message}\n");
    None
}

/// A loopback port free right now (nginx is given one: it cannot pick its own and say which).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A loopback port nothing listens on.
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}/", free_port())
}

/// A refusal page: its status, its heading, and no token anywhere in it.
pub fn assert_refusal(page: &Page, status: u16, heading: &str, token: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.text()
            .contains(&format!("<h1 id=\"heading\">{heading}</h1>")),
        "expected heading {heading:?} in {}",
        page.body
    );
    if !token.is_empty() {
        assert!(!page.body.contains(token), "the page shows the token");
    }
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.header("content-type").starts_with("text/html"));
}
