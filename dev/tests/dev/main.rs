//! The README's first command: one process, two services, a link that opens through the
//! landing page.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dev");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address nothing listens on now (the dev runner needs fixed ports: auth-service's
/// PUBLIC_LANDING_ROOT must name the landing page's before either starts).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn the_dev_runner_prints_links_that_open_through_its_landing_page() {
    let data = tempfile::tempdir().unwrap();
    let landing = free_address();
    let mut child = Command::new(BIN)
        .env_clear()
        .env("SECRETS_DIR", "/nonexistent")
        .env("DATA_DIR", data.path())
        .env("BIND_ADDRESS", free_address())
        .env("LANDING_BIND_ADDRESS", &landing)
        .env("PUBLIC_ORTHANC_ROOT", "http://viewer.test/orthanc/")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let prefix = format!("  http://{landing}/?token=");
    let mut links = Vec::new();
    while links.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the dev runner prints two links");
        if line.starts_with(&prefix) {
            links.push(line.trim().to_owned());
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fresh = client.get(&links[0]).send().await.unwrap();
    assert_eq!(fresh.status(), 302);
    let location = fresh.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://viewer.test/orthanc/stone-webviewer/index.html?study=1.2.3"),
        "{location}"
    );
    let expired = client.get(&links[1]).send().await.unwrap();
    assert_eq!(expired.status(), 410);
    assert!(data.path().join("dev-credentials.json").exists());
}
