//! E-mails: templates from a folder, messages through a real SMTP server (Python's aiosmtpd on
//! a free loopback port, installed with pip when missing), and every failure answered cleanly.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{basic, spawn_app, status_json, TestApp, PASSWORD, USER};
use crate::tools::{free_port, python_packages, unavailable, Need};

pub(crate) const SMTP_USER: &str = "smtp-user";
pub(crate) const SMTP_PASSWORD: &str = "Smtp-Pw-4f9c2";
const LAYOUT: &str = "<html><head><style>h1 { color: #235; }</style></head><body><h1>PACS</h1><div>{email-content}</div><p>-- sent by the PACS</p></body></html>\n";
const SHARE_LINK: &str = "<p>A study was shared with you: <a href=\"{url}\">open it</a>.</p>\n";

// ---------------------------------------------------------------- the SMTP server

/// A PYTHONPATH under which python3 imports aiosmtpd (`target/test-tools/python`). `Err(reason)`
/// without python3 or pip.
fn aiosmtpd_path() -> Result<PathBuf, String> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| python_packages("python", &["aiosmtpd"], "aiosmtpd"))
        .clone()
}

#[derive(Default)]
pub(crate) struct SmtpOptions {
    pub(crate) auth: bool,
    /// STARTTLS with a certificate of a private CA (made with openssl).
    pub(crate) tls: bool,
    pub(crate) reject: Vec<&'static str>,
}

impl SmtpOptions {
    /// The server asks for a login (`SMTP_USER` / `SMTP_PASSWORD`).
    pub(crate) fn with_login() -> SmtpOptions {
        SmtpOptions {
            auth: true,
            ..SmtpOptions::default()
        }
    }
}

pub(crate) struct SmtpServer {
    pub(crate) port: u16,
    log: PathBuf,
    _child: Child,
    _dir: TempDir,
    tls: Option<Certificates>,
}

impl SmtpServer {
    /// The server, or None when a tool it needs is missing (said by `tools::unavailable`).
    pub(crate) async fn start(test: &str, options: SmtpOptions) -> Option<SmtpServer> {
        let python_path = match aiosmtpd_path() {
            Ok(path) => path,
            Err(reason) => {
                unavailable(test, &reason, Need::Required);
                return None;
            }
        };
        let tls = if options.tls {
            if !runs_openssl() {
                unavailable(
                    test,
                    "`openssl` not found (apt-get install openssl)",
                    Need::Required,
                );
                return None;
            }
            Some(certificates())
        } else {
            None
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("received.jsonl");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut command = Command::new("python3");
        command
            .env("PYTHONPATH", python_path)
            .arg(script)
            .arg(port.to_string())
            .arg(&log);
        if options.auth {
            command
                .arg("--auth")
                .arg(format!("{SMTP_USER}:{SMTP_PASSWORD}"));
        }
        if let Some(tls) = &tls {
            command.arg("--tls").arg(&tls.cert).arg(&tls.key);
        }
        for address in &options.reject {
            command.arg("--reject").arg(address);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (apt-get install python3)");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "ready" {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "the SMTP test server did not start");
        Some(SmtpServer {
            port,
            log,
            _child: child,
            _dir: dir,
            tls,
        })
    }

    /// What the server received, one JSON object per message.
    pub(crate) fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

/// A private CA and a server certificate it signed for 127.0.0.1, made with the openssl CLI.
pub(crate) struct Certificates {
    _dir: TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn runs_openssl() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn certificates() -> Certificates {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| dir.path().join(name);
    std::fs::write(
        p("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "openssl {args:?} failed (apt-get install openssl)");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=auth-service test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    Certificates {
        ca: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server.key"),
        _dir: dir,
    }
}

// ---------------------------------------------------------------- the app

/// A templates folder inside a parent that also holds a file no caller may read.
pub(crate) struct TemplatesDir {
    parent: TempDir,
}

impl TemplatesDir {
    pub(crate) fn new() -> TemplatesDir {
        let parent = tempfile::tempdir().expect("temp dir");
        let root = parent.path().join("templates");
        std::fs::create_dir(&root).expect("templates dir");
        std::fs::write(root.join("layout.html"), LAYOUT).expect("layout");
        std::fs::write(root.join("share-link.html"), SHARE_LINK).expect("share-link");
        std::fs::write(root.join("notes.txt"), "not a template").expect("notes");
        std::fs::create_dir(root.join("folder.html")).expect("a folder named like a template");
        std::fs::write(parent.path().join("permissions.html"), "SECRET-OUTSIDE").expect("outside");
        std::os::unix::fs::symlink(
            parent.path().join("permissions.html"),
            root.join("escape.html"),
        )
        .expect("symlink out");
        std::os::unix::fs::symlink(root.join("share-link.html"), root.join("alias.html"))
            .expect("symlink in");
        TemplatesDir { parent }
    }

    pub(crate) fn root(&self) -> String {
        self.parent.path().join("templates").display().to_string()
    }
}

pub(crate) struct EmailApp {
    pub(crate) app: TestApp,
    pub(crate) templates: TemplatesDir,
}

pub(crate) async fn spawn_email_app(smtp_port: u16, extra: &[(&str, &str)]) -> EmailApp {
    let templates = TemplatesDir::new();
    let root = templates.root();
    let port = smtp_port.to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", &root),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_REPLY_TO", "support@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &port),
        ("EMAILS_SMTP_SERVER_USES_TLS", "false"),
        ("EMAILS_SMTP_SERVER_TIMEOUT", "3"),
    ];
    env.extend_from_slice(extra);
    EmailApp {
        app: spawn_app(&env).await,
        templates,
    }
}

const WITH_LOGIN: [(&str, &str); 2] = [
    ("EMAILS_SMTP_SERVER_USER_NAME", SMTP_USER),
    ("EMAILS_SMTP_SERVER_PWD", SMTP_PASSWORD),
];

/// A `/emails/send` body without a layout.
fn mail(to: &str, title: &str, content: &str) -> Value {
    json!({"destination-email": to, "email-title": title, "email-content": content})
}

/// What `/emails/send` answers when the SMTP server took the message.
fn sent() -> Value {
    json!({"success": true, "details": null})
}

/// What `/emails/send` answers when it sent nothing, and why.
fn failed(details: &str) -> Value {
    json!({"success": false, "details": details})
}

async fn send(app: &TestApp, body: &Value) -> (u16, Value) {
    app.send(reqwest::Method::POST, "/emails/send", body).await
}

async fn get(app: &TestApp, path: &str) -> (u16, String, String) {
    let res = app.get_authorized(path).await;
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ctype, res.text().await.expect("body"))
}

async fn raw_get_status(app: &TestApp, path: &str) -> (u16, String) {
    crate::helpers::raw_get(app, path, Some(&basic(USER, PASSWORD))).await
}

pub(crate) fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    message["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == content_type)
        .and_then(|p| p["content"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"))
}

// ---------------------------------------------------------------- sending

#[tokio::test]
async fn send_delivers_one_message_to_every_recipient_with_layout_headers_and_both_bodies() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::with_login()).await);
    let app = spawn_email_app(smtp.port, &WITH_LOGIN).await;

    let (status, body) = send(
        &app.app,
        &json!({
            "destination-email": "a@example.test; b@example.test,c@example.test  d@example.test",
            "email-title": "Étude partagée",
            "email-content": "<p onclick=\"steal()\">Open <a href=\"https://pacs.test/s?t=1&amp;u=2\" onmouseover=\"x()\">the study</a><script>alert('pwned')</script> <b>today</b></p>",
            "layout-template": "layout",
        }),
    )
    .await;
    assert_eq!((status, &body), (200, &sent()));

    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        1,
        "one message for all recipients: {messages:?}"
    );
    let m = &messages[0];
    assert_eq!(m["from"], "pacs@example.test");
    assert_eq!(
        m["rcpts"],
        json!([
            "a@example.test",
            "b@example.test",
            "c@example.test",
            "d@example.test"
        ])
    );
    assert_eq!(m["auth"], SMTP_USER);
    assert_eq!(m["headers"]["From"], "pacs@example.test");
    assert_eq!(
        m["headers"]["To"],
        "a@example.test, b@example.test, c@example.test, d@example.test"
    );
    assert_eq!(m["headers"]["Reply-To"], "support@example.test");
    assert_eq!(m["headers"]["Subject"], "Étude partagée");
    assert_eq!(m["content_type"], "multipart/alternative");

    let html = part(m, "text/html");
    assert!(
        html.starts_with("<html><head><style>"),
        "layout applied: {html}"
    );
    assert!(
        html.contains("<div><p>Open <a href=\"https://pacs.test/s?t=1&amp;u=2\">the study</a> <b>today</b></p></div><p>-- sent by the PACS</p>"),
        "content cleaned into the layout: {html}"
    );
    for active in ["<script", "alert", "onclick", "onmouseover", "steal"] {
        assert!(!html.contains(active), "{active} left in {html}");
    }
    let text = part(m, "text/plain").replace("\r\n", "\n");
    assert_eq!(
        text.trim_end(),
        "# PACS\n\nOpen [the study][1] today\n\n-- sent by the PACS\n\n[1]: https://pacs.test/s?t=1&u=2"
    );
}

#[tokio::test]
async fn a_content_past_64_ki_characters_answers_400_and_sends_nothing() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let app = spawn_email_app(smtp.port, &[]).await;
    // `&` is what made the old cleaner quadratic: 1 MB of it held a worker for seconds.
    let body = |content: String| json!({"destination-email": "bob@example.test", "email-title": "Big", "email-content": content, "layout-template": "layout"});
    let (status, answer) = send(&app.app, &body("&".repeat(64 * 1024 + 1))).await;
    assert_eq!(
        (status, answer),
        (
            400,
            failed("email-content: at most 65536 characters (this one has 65537)")
        ),
    );
    // Characters, as the document's maxLength counts them: 64 Ki "é" (128 KiB) are taken.
    let (status, answer) = send(&app.app, &body("é".repeat(64 * 1024))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(smtp.messages().len(), 1);
    let (status, _) = send(&app.app, &body("é".repeat(64 * 1024 + 1))).await;
    assert_eq!(status, 400);
    assert_eq!(smtp.messages().len(), 1, "nothing more sent");
    std::fs::write(&smtp.log, "").expect("the received log emptied");
    // At the cap: cleaned, converted and sent whole (words, not `&`: cleaning that many `&`
    // is slow in a debug build, and bounded by the cap in release).
    let words = "share ".repeat(64 * 1024 / 6);
    let (status, answer) = send(&app.app, &body(words.clone())).await;
    assert_eq!(status, 200, "{answer}");
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let text = part(&messages[0], "text/plain");
    assert_eq!(
        text.matches("share").count(),
        64 * 1024 / 6,
        "the text part holds it all"
    );
}

#[tokio::test]
async fn send_without_layout_sends_the_content_alone() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let app = spawn_email_app(smtp.port, &[]).await;
    let (status, body) = send(&app.app, &mail("bob@example.test", "Plain", "<b>hi</b>")).await;
    assert_eq!((status, &body), (200, &sent()));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(part(&messages[0], "text/html").trim_end(), "<b>hi</b>");
    assert_eq!(part(&messages[0], "text/plain").trim_end(), "hi");
    assert_eq!(messages[0]["auth"], Value::Null, "no login without a user");
}

#[tokio::test]
async fn send_over_starttls_trusts_the_configured_ca_file() {
    let smtp = or_skip!(
        SmtpServer::start(
            test_name!(),
            SmtpOptions {
                auth: true,
                tls: true,
                ..Default::default()
            }
        )
        .await
    );
    let ca = smtp.tls.as_ref().expect("tls").ca.display().to_string();
    let mut env = WITH_LOGIN.to_vec();
    env.extend([
        ("EMAILS_SMTP_SERVER_USES_TLS", "true"),
        ("EMAILS_SMTP_SERVER_CA_FILE", ca.as_str()),
    ]);
    let app = spawn_email_app(smtp.port, &env).await;
    let (status, body) = send(&app.app, &mail("tls@example.test", "Secure", "<p>x</p>")).await;
    assert_eq!((status, &body), (200, &sent()));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["tls"], true);
    assert_eq!(messages[0]["auth"], SMTP_USER);

    // Without the CA file the self-signed chain is refused: 502, nothing sent.
    let untrusted = spawn_email_app(
        smtp.port,
        &[
            WITH_LOGIN[0],
            WITH_LOGIN[1],
            ("EMAILS_SMTP_SERVER_USES_TLS", "true"),
        ],
    )
    .await;
    let (status, body) = send(&untrusted.app, &mail("tls@example.test", "Secure", "x")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["success"], false);
    assert!(
        body["details"].as_str().unwrap_or("").contains("TLS"),
        "{body}"
    );
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn refused_login_answers_502_without_the_password() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::with_login()).await);
    let wrong = "Wrong-Pw-77a1";
    let app = spawn_email_app(
        smtp.port,
        &[
            ("EMAILS_SMTP_SERVER_USER_NAME", SMTP_USER),
            ("EMAILS_SMTP_SERVER_PWD", wrong),
        ],
    )
    .await;
    let (status, body) = send(&app.app, &mail("a@example.test", "t", "c")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["success"], false);
    let details = body["details"].as_str().expect("details");
    assert!(
        details.contains("refused the login of user smtp-user"),
        "{details}"
    );
    assert!(details.contains("535"), "{details}");
    assert!(!body.to_string().contains(wrong), "password in {body}");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn smtp_server_down_answers_502_quickly() {
    let app = spawn_email_app(free_port(), &WITH_LOGIN).await;
    let started = Instant::now();
    let (status, body) = send(&app.app, &mail("a@example.test", "t", "c")).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["success"], false);
    let details = body["details"].as_str().expect("details");
    assert!(
        details.starts_with("could not connect to the SMTP server 127.0.0.1:"),
        "{details}"
    );
    assert!(!details.contains(SMTP_PASSWORD));
}

#[tokio::test]
async fn a_refused_recipient_answers_502_naming_it_unless_others_were_accepted() {
    let smtp = or_skip!(
        SmtpServer::start(
            test_name!(),
            SmtpOptions {
                reject: vec!["reject@example.test"],
                ..Default::default()
            }
        )
        .await
    );
    let app = spawn_email_app(smtp.port, &[]).await;
    let (status, body) = send(&app.app, &mail("reject@example.test", "No", "x")).await;
    assert_eq!(
        (status, &body),
        (
            502,
            &failed("the SMTP server refused every recipient: reject@example.test (550 5.1.1 mailbox unavailable)")
        )
    );
    assert!(smtp.messages().is_empty());

    // As upstream (smtplib.sendmail): the accepted recipients still get the message.
    let (status, body) = send(
        &app.app,
        &mail("a@example.test, reject@example.test", "Partial", "x"),
    )
    .await;
    assert_eq!((status, &body), (200, &sent()));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["rcpts"], json!(["a@example.test"]));
}

#[tokio::test]
async fn a_bad_address_answers_400_naming_it() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let app = spawn_email_app(smtp.port, &[]).await;
    let (status, body) = send(&app.app, &mail("a@example.test, not-an-address", "t", "c")).await;
    assert_eq!(
        (status, &body),
        (
            400,
            &failed("destination-email: not an e-mail address: not-an-address")
        )
    );
    let (status, body) = send(&app.app, &mail(" ;, ", "t", "c")).await;
    assert_eq!(
        (status, &body),
        (400, &failed("destination-email: no address given"))
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn missing_fields_and_unknown_layouts_answer_400_and_bad_json_422() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let app = spawn_email_app(smtp.port, &[]).await;
    for body in [
        json!({"email-title": "t", "email-content": "c"}),
        json!({"destination-email": "a@example.test", "email-title": "t"}),
    ] {
        let (status, answer) = send(&app.app, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["success"], false);
    }
    for layout in ["no-such-layout", "../permissions", "escape"] {
        let (status, answer) = send(
            &app.app,
            &json!({"destination-email": "a@example.test", "email-title": "t", "email-content": "c", "layout-template": layout}),
        )
        .await;
        assert_eq!(status, 400, "{layout}: {answer}");
        assert!(!answer.to_string().contains("SECRET-OUTSIDE"));
    }
    let res = app
        .app
        .client
        .post(app.app.url("/emails/send"))
        .header("Authorization", basic(USER, PASSWORD))
        .header("Content-Type", "application/json")
        .body("{\"destination-email\": \"secret-input")
        .send()
        .await
        .expect("sent");
    let (status, answer) = status_json(res).await;
    assert_eq!(status, 422, "{answer}");
    assert!(!answer.to_string().contains("secret-input"), "{answer}");
    let res = app
        .app
        .client
        .post(app.app.url("/emails/send"))
        .json(&mail("a@example.test", "t", "c"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status().as_u16(), 401);
    assert!(smtp.messages().is_empty());
}

// ---------------------------------------------------------------- templates

#[tokio::test]
async fn templates_are_listed_sorted_without_extension() {
    let app = spawn_email_app(free_port(), &[]).await;
    let (status, ctype, body) = get(&app.app, "/emails/templates").await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let names: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(names, json!(["alias", "layout", "share-link"]));
}

#[tokio::test]
async fn a_template_is_served_as_html() {
    let app = spawn_email_app(free_port(), &[]).await;
    let (status, ctype, body) = get(&app.app, "/emails/templates/share-link").await;
    assert_eq!(
        (status, ctype.as_str(), body.as_str()),
        (200, "text/html; charset=utf-8", SHARE_LINK)
    );
    let (status, _, body) = get(&app.app, "/emails/templates/layout").await;
    assert_eq!((status, body.as_str()), (200, LAYOUT));
}

#[tokio::test]
async fn template_names_leaving_the_folder_or_unknown_are_not_found() {
    let app = spawn_email_app(free_port(), &[]).await;
    for path in [
        "/emails/templates/..%2Fpermissions",
        "/emails/templates/..",
        "/emails/templates/.",
        "/emails/templates/%2E%2E",
        "/emails/templates/%2Fetc%2Fpasswd",
        "/emails/templates/..%5Cpermissions",
        "/emails/templates/escape",
        "/emails/templates/folder",
        "/emails/templates/notes",
        "/emails/templates/nope",
    ] {
        let (status, answer) = raw_get_status(&app.app, path).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(!answer.contains("SECRET-OUTSIDE"), "{path}: {answer}");
        assert!(!answer.contains("root:"), "{path}: {answer}");
    }
    let (_, answer) = raw_get_status(&app.app, "/emails/templates/..%2Fpermissions").await;
    assert!(
        answer.ends_with("{\"detail\":\"Not Found\"}"),
        "as upstream: {answer}"
    );
    let (_, _, body) = get(&app.app, "/emails/templates/nope").await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["error"],
        "unknown template"
    );
}

#[tokio::test]
async fn emails_disabled_answers_404_on_every_route() {
    let app = spawn_app(&[]).await;
    for path in ["/emails/templates", "/emails/templates/layout"] {
        let (status, _, body) = get(&app, path).await;
        assert_eq!(status, 404, "{path}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(body["error"], "e-mails disabled", "{body}");
    }
    let (status, body) = send(&app, &mail("a@example.test", "t", "c")).await;
    assert_eq!(status, 404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("ENABLE_EMAILS"),
        "{body}"
    );
}
