//! Small loopback servers the operability tests need: a MedDream token service that holds every
//! answer until the test releases it (requests stay in flight as long as a test wants).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const HELD_TOKEN: &str = "mdt-held";

pub struct HeldMeddream {
    pub url: String,
    arrived: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

impl HeldMeddream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v3/generate", listener.local_addr().unwrap());
        let arrived = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(false);
        let counter = arrived.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let mut released = released.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // The client posts small JSON bodies: headers and body come in one read or two.
                    while !complete(&seen) {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    if released.wait_for(|r| *r).await.is_err() {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{HELD_TOKEN}",
                        HELD_TOKEN.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        HeldMeddream {
            url,
            arrived,
            release,
        }
    }

    /// Waits (bounded) until `n` calls are being held.
    pub async fn wait_for_calls(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(20), async {
            while self.arrived.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} MedDream calls did not arrive"));
    }

    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

fn complete(seen: &[u8]) -> bool {
    let text = String::from_utf8_lossy(seen);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

/// The real `auth-service` binary on a free loopback port, its stderr (the log) collected.
pub struct BinaryApp {
    pub child: std::process::Child,
    pub port: u16,
    log: Arc<std::sync::Mutex<String>>,
}

impl BinaryApp {
    /// `GET path` with the tests' Basic credentials: its body (a panic naming the path on any
    /// failure or non-2xx answer).
    pub async fn authorized_text(&self, path: &str) -> String {
        reqwest::Client::new()
            .get(self.url(path))
            .header(
                "Authorization",
                crate::helpers::basic(crate::helpers::USER, crate::helpers::PASSWORD),
            )
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Starts the binary with the tests' `SECRET_KEY` and `USERS` plus `env` (nothing inherited).
    pub fn start(env: &[(&str, &str)]) -> BinaryApp {
        use std::io::{BufRead, BufReader};
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"));
        command
            .env_clear()
            .env("SECRET_KEY", crate::helpers::SECRET)
            .env(
                "USERS",
                format!(
                    r#"{{"{}": "{}"}}"#,
                    crate::helpers::USER,
                    crate::helpers::PASSWORD
                ),
            )
            .env("BIND_ADDRESS", "127.0.0.1:0")
            .env("SECRETS_DIR", "/nonexistent-secrets-dir")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("auth-service starts");
        let stderr = child.stderr.take().expect("stderr");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("auth-service listening") {
                    // Human lines hold `port=N`, JSON ones `"port":N`.
                    let port = line
                        .split("port")
                        .nth(1)
                        .map(|rest| rest.trim_start_matches(['=', '"', ':']))
                        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|p| p.parse::<u16>().ok());
                    let _ = port_tx.send(port);
                }
                let mut log = writer.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the listening line")
            .expect("a port in the listening line");
        BinaryApp { child, port, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits (bounded) for a log line holding every one of `parts`, and returns it.
    pub async fn wait_for_line(&self, parts: &[&str]) -> String {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let line = self
                    .log
                    .lock()
                    .unwrap()
                    .lines()
                    .find(|l| parts.iter().all(|p| l.contains(p)))
                    .map(str::to_owned);
                if let Some(line) = line {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no log line with {parts:?} in:\n{}", self.log()))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
