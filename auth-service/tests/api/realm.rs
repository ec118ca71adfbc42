//! A loopback Keycloak realm for the tests: `tests/support/oidc/realm.mjs` run with Node — a
//! real OpenID provider (npm `oidc-provider`) shaped like realm `orthanc`, plus a double of
//! Keycloak's admin REST API. The scripts are copied to `target/test-tools/oidc/` and `npm ci`
//! runs there, once per package-lock.json. Without Node or npm: see `tools::unavailable`.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::tools::{runs, tools_dir, unavailable, with_install_lock, Need};

pub const ADMIN_CLI_SECRET: &str = "admin-cli-secret";

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

pub fn fixture(name: &str) -> PathBuf {
    support_dir().join("fixtures").join(name)
}

/// The folder the realm scripts run from, once installed; `Err(reason)` without Node or npm.
pub fn installed() -> Result<PathBuf, String> {
    static DONE: OnceLock<Mutex<Option<Result<PathBuf, String>>>> = OnceLock::new();
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

fn install() -> Result<PathBuf, String> {
    for tool in ["node", "npm"] {
        if !runs(tool) {
            return Err(format!("`{tool}` not found (apt-get install nodejs npm)"));
        }
    }
    let source = support_dir().join("oidc");
    let dir = tools_dir("oidc");
    with_install_lock(&dir, || {
        // The scripts beside their node_modules (ES modules resolve packages from their own
        // folder); replaced atomically, as other test processes may be running them.
        for name in [
            "package.json",
            "package-lock.json",
            "realm.mjs",
            "check-admin-client.mjs",
        ] {
            let text = std::fs::read(source.join(name)).expect("support script read");
            if std::fs::read(dir.join(name)).is_ok_and(|old| old == text) {
                continue;
            }
            let temporary = dir.join(format!(".{name}.new"));
            std::fs::write(&temporary, &text).expect("support script copied");
            std::fs::rename(&temporary, dir.join(name)).expect("support script in place");
        }
        // A marker (a copy of the lock file) says the install of this lock file finished.
        let lock_file = std::fs::read(dir.join("package-lock.json")).expect("lock file read");
        let marker = dir.join("node_modules/.auth-service-installed");
        if std::fs::read(&marker).is_ok_and(|m| m == lock_file) {
            return Ok(dir.clone());
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("npm did not run ({e})"))?;
        assert!(
            out.status.success(),
            "npm ci in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&marker, &lock_file).expect("marker written");
        Ok(dir.clone())
    })
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
        Realm::start_with_rights(test, None).await
    }

    /// The realm with admin-cli's service account holding only `rights` (realm-management
    /// roles, comma-separated; None: the shipped realm's view-users, query-users, view-realm).
    pub async fn start_with_rights(test: &str, rights: Option<&str>) -> Option<Realm> {
        if let Err(reason) = installed() {
            unavailable(
                test,
                &format!("{reason}: the Keycloak realm double needs Node"),
                Need::Required,
            );
            return None;
        }
        Some(Realm::spawn(0, "realm-key-1", rights).await)
    }

    async fn spawn(port: u16, kid: &str, admin_cli_rights: Option<&str>) -> Realm {
        let mut command = Command::new("node");
        command
            .arg("realm.mjs")
            .current_dir(installed().expect("installed before any spawn"))
            .env("PORT", port.to_string())
            .env("KEY_ID", kid)
            .env("ADMIN_CLI_SECRET", ADMIN_CLI_SECRET);
        if let Some(rights) = admin_cli_rights {
            command.env("ADMIN_CLI_RIGHTS", rights);
        }
        let mut child = command
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

    /// Signs `claims` with the usual ones (iss, aud, iat, exp) but those named in `omit`.
    pub async fn sign_without(&self, claims: Value, omit: &[&str]) -> String {
        let answer: Value = self
            .control("sign", json!({"claims": claims, "omit": omit}))
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

    /// User searches answer `bytes` more (0: as usual), streamed without Content-Length.
    pub async fn bloat(&self, bytes: u64) {
        self.control("bloat", json!({ "bytes": bytes })).await;
    }

    /// Adds users `user-00001`... up to `count` generated users; answers how many users the
    /// realm then has.
    pub async fn populate(&self, count: u64) -> u64 {
        let answer = self.control("populate", json!({ "count": count })).await;
        answer["users"].as_u64().expect("user count")
    }

    /// The access token Keycloak would issue this user (its roles, names and groups).
    pub async fn user_token(&self, username: &str) -> String {
        let answer = self
            .control("user-token", json!({ "username": username }))
            .await;
        answer["token"].as_str().expect("token").to_owned()
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
        *self = Realm::spawn(self.port, kid, None).await;
    }
}
