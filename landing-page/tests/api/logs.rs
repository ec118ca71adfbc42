//! The binary as operators run it: its log lines name tokens by fingerprint only.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_landing-page");

/// The binary, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn no_log_line_holds_a_token_only_its_fingerprint() {
    let auth = spawn_auth(&[]).await;
    let token = auth.stone(&["1.2.3"], None).await;
    let expired = auth.stone(&["1.2.3"], Some("2020-01-01T00:00:00Z")).await;
    let child = Command::new(BIN)
        .env_clear()
        .env("RUST_LOG", "debug")
        .env("SECRETS_DIR", "/nonexistent")
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .env("AUTH_SERVICE_URL", &auth.url)
        .env("AUTH_SERVICE_USER", USER)
        .env("AUTH_SERVICE_PASSWORD", PASSWORD)
        .env("PUBLIC_ORTHANC_ROOT", ORTHANC_ROOT)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    for stream in [
        running
            .0
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        running
            .0
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let port = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the landing page logs that it listens");
        let port = line
            .contains("landing-page listening")
            .then(|| {
                line.split("port=")
                    .nth(1)
                    .and_then(|p| p.trim().parse::<u16>().ok())
            })
            .flatten();
        seen.push(line);
        if let Some(port) = port {
            break port;
        }
    };
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
    while !seen
        .iter()
        .any(|l| l.contains(&fingerprint) && l.contains("expired"))
    {
        seen.push(
            lines
                .recv_timeout(Duration::from_secs(10))
                .expect("the refusal is logged"),
        );
    }
    drop(running);
    seen.extend(lines.try_iter());
    let all = seen.join("\n");
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
