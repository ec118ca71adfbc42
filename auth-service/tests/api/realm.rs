//! A loopback Keycloak realm for the tests: `tests/support/oidc/realm.mjs` run with Node — a
//! real OpenID provider (npm `oidc-provider`) shaped like realm `orthanc`, plus a double of
//! Keycloak's admin REST API. `npm ci` runs once per test binary. Without Node or npm the tests
//! that need it print that they were skipped, loudly, and pass.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_CLI_SECRET: &str = "admin-cli-secret";

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

pub fn fixture(name: &str) -> PathBuf {
    support_dir().join("fixtures").join(name)
}

/// `Ok` once the packages are installed; `Err(reason)` when Node or npm is missing.
fn installed() -> Result<(), String> {
    static DONE: OnceLock<Mutex<Option<Result<(), String>>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(|| Mutex::new(None))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(result) = done.as_ref() {
        return result.clone();
    }
    let result = install();
    *done = Some(result.clone());
    result
}

fn install() -> Result<(), String> {
    let dir = support_dir().join("oidc");
    for tool in ["node", "npm"] {
        let ok = std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`{tool}` not found (apt-get install nodejs npm)"));
        }
    }
    // cargo nextest runs every test in its own process: one `npm ci` at a time, across processes,
    // through a lock folder; a marker (a copy of the lock file) says the install of this lock
    // file finished, so a changed package-lock.json installs again.
    let lock_file = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json read");
    let marker = dir.join("node_modules/.auth-service-installed");
    let lock = dir.join(".npm-ci.lock");
    let started = std::time::Instant::now();
    loop {
        if std::fs::read(&marker).is_ok_and(|m| m == lock_file) {
            return Ok(());
        }
        if std::fs::create_dir(&lock).is_ok() {
            break;
        }
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(300));
        if stale {
            let _ = std::fs::remove_dir(&lock);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "waited 10 minutes for another test's npm ci"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if ok {
        std::fs::write(&marker, &lock_file).expect("marker written");
    }
    let _ = std::fs::remove_dir(&lock);
    let out = out.expect("npm runs");
    assert!(
        ok,
        "npm ci in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub struct Realm {
    child: Child,
    pub port: u16,
    pub kid: String,
    http: reqwest::Client,
}

impl Realm {
    /// Starts the realm on a free port, or says loudly why the calling test is skipped.
    pub async fn start(test: &str) -> Option<Realm> {
        if let Err(reason) = installed() {
            eprintln!(
                "\n!!!!! SKIPPED {test}: {reason} — the Keycloak realm double needs Node !!!!!\n"
            );
            return None;
        }
        Some(Realm::spawn(0, "realm-key-1").await)
    }

    async fn spawn(port: u16, kid: &str) -> Realm {
        let mut child = Command::new("node")
            .arg("realm.mjs")
            .current_dir(support_dir().join("oidc"))
            .env("PORT", port.to_string())
            .env("KEY_ID", kid)
            .env("ADMIN_CLI_SECRET", ADMIN_CLI_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("realm prints its port");
        let ready: Value = serde_json::from_str(&line).expect("realm ready line is JSON");
        Realm {
            child,
            port: ready["port"].as_u64().expect("port") as u16,
            kid: ready["kid"].as_str().expect("kid").to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings that point auth-service at this realm, api-keys on.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ENABLE_KEYCLOAK".into(), "true".into()),
            ("ENABLE_KEYCLOAK_API_KEYS".into(), "true".into()),
            (
                "KEYCLOAK_URI".into(),
                format!("{}/realms/orthanc/", self.base()),
            ),
            (
                "KEYCLOAK_ADMIN_URI".into(),
                format!("{}/admin/realms/orthanc/", self.base()),
            ),
            ("KEYCLOAK_CLIENT_SECRET".into(), ADMIN_CLI_SECRET.into()),
            ("KEYCLOAK_TIMEOUT_SECONDS".into(), "1".into()),
        ]
    }

    /// A real access token issued by the provider to one test persona (client-credentials).
    pub async fn token(&self, client: &str) -> String {
        let answer: Value = self
            .http
            .post(format!(
                "{}/realms/orthanc/protocol/openid-connect/token",
                self.base()
            ))
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        answer["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Claims (over the realm's defaults: iss, aud account, iat, exp in 5 min) signed with the
    /// realm's current key; `header` overrides alg/kid/typ.
    pub async fn sign(&self, claims: Value, header: Value) -> String {
        let answer: Value = self
            .control("sign", json!({"claims": claims, "header": header}))
            .await;
        answer["token"].as_str().expect("token").to_owned()
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__test/stats", self.base()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    pub async fn delay(&self, ms: u64) {
        self.control("delay", json!({ "ms": ms })).await;
    }

    pub async fn revoke_admin_tokens(&self) {
        self.control("revoke-admin-tokens", json!({})).await;
    }

    async fn control(&self, name: &str, body: Value) -> Value {
        self.http
            .post(format!("{}/__test/{name}", self.base()))
            .json(&body)
            .send()
            .await
            .expect("control request")
            .json()
            .await
            .expect("control answer")
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops the realm and starts it again on the same port with a new signing key.
    pub async fn restart_with_key(&mut self, kid: &str) {
        self.stop().await;
        *self = Realm::spawn(self.port, kid).await;
    }
}
