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
