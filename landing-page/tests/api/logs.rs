//! The binary as operators run it: its log lines name tokens by fingerprint only, and a
//! client's malformed request is an INFO line and a metric, never an ERROR.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_landing-page");

/// The binary in front of `auth_url`, its stderr and stdout lines collected; killed on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(auth_url: &str, env: &[(&str, &str)]) -> Running {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("RUST_LOG", "debug")
            .env("SECRETS_DIR", "/nonexistent")
            .env("BIND_ADDRESS", "127.0.0.1:0")
            .env("AUTH_SERVICE_URL", auth_url)
            .env("AUTH_SERVICE_USER", USER)
            .env("AUTH_SERVICE_PASSWORD", PASSWORD)
            .env("PUBLIC_ORTHANC_ROOT", ORTHANC_ROOT)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let (tx, lines) = mpsc::channel::<String>();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line holding every one of `parts` and returns it.
    fn wait_for(&mut self, parts: &[&str]) -> String {
        if let Some(line) = self
            .seen
            .iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return line.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no line with {parts:?} in {:#?}", self.seen));
            self.seen.push(line.clone());
            if parts.iter().all(|p| line.contains(p)) {
                return line;
            }
        }
    }

    /// The port a `... listening` line names.
    fn port(&mut self, what: &str) -> u16 {
        let line = self.wait_for(&[what, "port="]);
        line.split("port=")
            .nth(1)
            .and_then(|p| p.split_whitespace().next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line}"))
    }

    /// Every line so far (once the process is gone, all of them).
    fn log(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn no_log_line_holds_a_token_only_its_fingerprint() {
    let auth = spawn_auth(&[]).await;
    let token = auth.stone(&["1.2.3"], None).await;
    let expired = auth.stone(&["1.2.3"], Some("2020-01-01T00:00:00Z")).await;
    let mut running = Running::start(&auth.url, &[]);
    let port = running.port("landing-page listening");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (t, status) in [(&token, 302), (&expired, 410)] {
        let res = client
            .get(format!("http://127.0.0.1:{port}/?token={t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status);
    }
    // The log line of the second request ends the wait; then everything logged is in.
    let fingerprint = landing_page::link_claims::fingerprint(&expired);
    running.wait_for(&[&fingerprint, "expired"]);
    let _ = running.child.kill();
    let _ = running.child.wait();
    let all = running.log();
    assert!(
        all.contains(&landing_page::link_claims::fingerprint(&token)),
        "{all}"
    );
    assert!(
        all.contains("outcome=\"redirect\"") || all.contains("outcome=redirect"),
        "{all}"
    );
    for t in [&token, &expired] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!all.contains(signature), "a log line holds a token: {all}");
    }
    assert!(
        !all.contains(PASSWORD),
        "a log line holds the password: {all}"
    );
}

#[tokio::test]
async fn a_clients_malformed_request_is_an_info_line_and_a_metric_never_an_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let auth = spawn_auth(&[]).await;
    let mut running = Running::start(
        &auth.url,
        &[
            ("RUST_LOG", "info"),
            ("METRICS_BIND_ADDRESS", "127.0.0.1:0"),
        ],
    );
    let metrics_port = running.port("landing-page metrics listening");
    let port = running.port("landing-page listening");
    for garbage in [
        &b"GET /?token=secret-bytes HTTP/1.1\r\nHost: x\r\nno colon in this header\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00 TLS, not HTTP\r\n\r\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let line = running.wait_for(&["malformed request refused"]);
        assert!(line.contains("INFO"), "{line}");
        running
            .seen
            .retain(|l| !l.contains("malformed request refused"));
    }
    let gate_denial = reqwest::get(format!("http://127.0.0.1:{port}/?reason=expired"))
        .await
        .unwrap();
    assert_eq!(gate_denial.status(), 410);
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("landing_http_malformed_requests_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("landing_visits_total{outcome=\"expired\"} 1"),
        "{metrics}"
    );
    // The page itself has no /metrics: it is public.
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let all = running.log();
    assert!(!all.contains("ERROR"), "an error line: {all}");
    assert!(
        !all.contains("secret-bytes"),
        "the request's bytes in the log: {all}"
    );
}

#[tokio::test]
async fn a_protected_links_password_code_and_tokens_never_reach_a_log_line() {
    use crate::protected::{protected_auth, LINK_PASSWORD};
    let smtp = crate::smtp::SmtpStandIn::start().await;
    let auth = protected_auth(Some(&smtp)).await;
    let password_link = auth
        .protected(serde_json::json!({"password": LINK_PASSWORD}))
        .await;
    let code_link = auth
        .protected(serde_json::json!({"email-code": ["alice@example.test"]}))
        .await;
    let mut running = Running::start(&auth.url, &[]);
    let port = running.port("landing-page listening");
    let landing = Landing {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let mut visitor = crate::protected::Visitor::new(&landing, "en");
    let form = visitor.open(&password_link).await;
    let wrong = "Typed-wrong-7531";
    let page = visitor
        .post(
            &password_link,
            &form,
            &[("action", "unlock"), ("password", wrong)],
        )
        .await;
    let opened = visitor
        .post(
            &password_link,
            &page,
            &[("action", "unlock"), ("password", LINK_PASSWORD)],
        )
        .await;
    assert_eq!(opened.status, 303);
    let session = opened
        .header("location")
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let form = visitor.open(&code_link).await;
    let sent = visitor
        .post(
            &code_link,
            &form,
            &[("action", "send-code"), ("address", "0")],
        )
        .await;
    let code = smtp.code_for("alice@example.test");
    let opened = visitor
        .post(&code_link, &sent, &[("action", "unlock"), ("code", &code)])
        .await;
    assert_eq!(opened.status, 303);
    let code_session = opened
        .header("location")
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let fingerprint = landing_page::link_claims::fingerprint(&code_link);
    running.wait_for(&[&fingerprint, "redirect"]);
    let _ = running.child.kill();
    let _ = running.child.wait();
    let all = running.log();
    assert!(
        all.contains("password-form") && all.contains("wrong-password"),
        "{all}"
    );
    for secret in [
        LINK_PASSWORD,
        wrong,
        &password_link,
        &code_link,
        &session,
        &code_session,
    ] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!all.contains(signature), "{secret} in a log line: {all}");
    }
    let alone = all
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run == code);
    assert!(!alone, "the code {code} in a log line: {all}");
}
