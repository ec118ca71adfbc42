//! An SMTP stand-in for auth-service's code e-mails: a plain SMTP server on a free loopback port
//! (EHLO, MAIL, RCPT, DATA, QUIT; no TLS, no login, as auth-service speaks with
//! `EMAILS_SMTP_SERVER_USES_TLS=false`) that keeps every message it receives, and reads the code
//! out of one the way a mail client would (its transfer encoding undone).
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message: its recipients and its raw text.
#[derive(Clone, Debug)]
pub struct Received {
    pub rcpts: Vec<String>,
    pub raw: String,
}

pub struct SmtpStandIn {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpStandIn {
    pub async fn start() -> SmtpStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 stand-in ESMTP\r\n").await;
                    let mut rcpts = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-stand-in\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            let address = line[8..].trim().trim_start_matches('<');
                            let address = address.split('>').next().unwrap_or("").to_owned();
                            rcpts.push(address);
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut raw = String::new();
                            while let Ok(Some(data)) = lines.next_line().await {
                                if data == "." {
                                    break;
                                }
                                raw.push_str(data.strip_prefix('.').unwrap_or(&data));
                                raw.push('\n');
                            }
                            store.lock().unwrap().push(Received {
                                rcpts: std::mem::take(&mut rcpts),
                                raw,
                            });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SmtpStandIn { port, received }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The code in the last message to `to` (its HTML part shows it in bold).
    pub fn code_for(&self, to: &str) -> String {
        let messages = self.messages();
        let message = messages
            .iter()
            .rev()
            .find(|m| m.rcpts.iter().any(|r| r == to))
            .unwrap_or_else(|| panic!("no message to {to}: {messages:?}"));
        let text = decoded(&message.raw);
        let code = text
            .split("<b>")
            .skip(1)
            .filter_map(|rest| rest.split("</b>").next())
            .find(|bold| bold.len() == 6 && bold.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in {text}"));
        code.to_owned()
    }
}

/// The message's text with quoted-printable and base64 bodies decoded.
fn decoded(raw: &str) -> String {
    // Quoted-printable: soft line breaks joined, `=XX` undone.
    let joined = raw.replace("=\n", "");
    let mut out = String::new();
    let mut bytes = joined.bytes().peekable();
    let mut text = Vec::new();
    while let Some(b) = bytes.next() {
        if b == b'=' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            match std::str::from_utf8(&hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => text.push(byte),
                None => {
                    text.push(b'=');
                    text.extend(hex);
                }
            }
        } else {
            text.push(b);
        }
    }
    out.push_str(&String::from_utf8_lossy(&text));
    // Base64 bodies: every run of lines that decodes.
    let mut block = String::new();
    for line in raw.lines().chain(std::iter::once("")) {
        let plain = !line.is_empty()
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if plain {
            block.push_str(line);
        } else if !block.is_empty() {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&block) {
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            block.clear();
        }
    }
    out
}
