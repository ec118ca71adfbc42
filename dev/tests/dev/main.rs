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

/// The dev runner started on `landing` with `extra` settings beside the test's own (an empty
/// DATA_DIR, free ports, no secrets folder): the running process and the lines of its stdout.
fn start(
    data: &std::path::Path,
    landing: &str,
    extra: &[(&str, &str)],
) -> (Running, std::sync::mpsc::Receiver<String>) {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("SECRETS_DIR", "/nonexistent")
        .env("DATA_DIR", data)
        .env("BIND_ADDRESS", free_address())
        .env("LANDING_BIND_ADDRESS", landing)
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Running(child), rx)
}

#[tokio::test]
async fn the_dev_runner_prints_links_that_open_through_its_landing_page() {
    let data = tempfile::tempdir().unwrap();
    let landing = free_address();
    let (_running, rx) = start(
        data.path(),
        &landing,
        &[("PUBLIC_ORTHANC_ROOT", "http://viewer.test/orthanc/")],
    );
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

/// Without PUBLIC_ORTHANC_ROOT, the first link ends on a page of the dev run's own that says what
/// the link opened (not on a connection error to an Orthanc nobody started).
#[tokio::test]
async fn without_an_orthanc_the_link_ends_on_a_page_that_says_what_it_opened() {
    let data = tempfile::tempdir().unwrap();
    let landing = free_address();
    let viewer = free_address();
    let (_running, rx) = start(
        data.path(),
        &landing,
        &[("DEV_VIEWER_BIND_ADDRESS", &viewer)],
    );
    let prefix = format!("  http://{landing}/?token=");
    let mut printed = Vec::new();
    let link = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the dev runner prints a link");
        printed.push(line.clone());
        if line.starts_with(&prefix) {
            break line.trim().to_owned();
        }
    };
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&format!("http://{viewer}/ stands in for the viewer"))),
        "{printed:?}"
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();
    // The landing page redirects to the stand-in; a client follows as a browser would.
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.url().as_str().starts_with(&format!(
            "http://{viewer}/stone-webviewer/index.html?study=1.2.3"
        )),
        "{}",
        page.url()
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("Stone Web Viewer would open here"), "{html}");
    assert!(html.contains("1.2.3"), "{html}");
    assert!(html.contains("PUBLIC_ORTHANC_ROOT="), "{html}");
    assert!(
        !html.contains(&token),
        "the page shows the share's id, never its token"
    );
    // The share's registry id: the first 128 bits of the token's SHA-256.
    use sha2::Digest;
    let id = hex::encode(&sha2::Sha256::digest(token.as_bytes())[..16]);
    assert!(html.contains(&id), "{html}");
}
