//! An in-process MedDream token service for tests (cargo feature `double`).
//!
//! It answers like the Python team's fake (`shared/compat-sample/fakes.py`): any `POST` path, body
//! `{"items":[{"studies":{"study":U,"storage":"Orthanc"}}]}`, answer `text/plain` token
//! `mdt-` + the first 32 hex digits of SHA-256 over the body's canonical JSON (sorted keys, no
//! spaces); study `fail-500` gets a 500, study `empty-answer` an empty 200, a body that is not
//! JSON a 400, any other method a 404. On top of that it records every call and can be told to
//! misbehave with [`MeddreamDouble::set_behaviour`].
//!
//! ```no_run
//! # async fn demo() {
//! use meddream_bridge::double::{Behaviour, MeddreamDouble};
//! let meddream = MeddreamDouble::start().await;
//! let url = meddream.url(); // http://127.0.0.1:PORT/v3/generate: MEDDREAM_TOKEN_SERVICE_URL
//! meddream.set_behaviour(Behaviour::Status(500));
//! # }
//! ```

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServerHandle;
use actix_web::http::{header, Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

/// The path [`MeddreamDouble::url`] points at, the token service's own. The double answers on
/// any path, like fakes.py, and records which one was called.
pub const TOKEN_SERVICE_PATH: &str = "/v3/generate";

/// Bytes the [`Behaviour::Oversized`] answer streams (far past the client's cap).
pub const OVERSIZED_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How the double answers the next `POST`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Like the real service (and fakes.py): a deterministic `mdt-<hex>` token.
    #[default]
    Ok,
    /// As `Ok`, after this long: a MedDream that takes its time to mint (calls overlap).
    Slow(std::time::Duration),
    /// This status, with a short `text/plain` body.
    Status(u16),
    /// Never answers (the call stays open until the client gives up or the double is dropped).
    Hang,
    /// 200 with bytes that are not a token (not UTF-8, with a NUL).
    Garbage,
    /// 200 streaming [`OVERSIZED_ANSWER_BYTES`] with no Content-Length.
    Oversized,
    /// 200 with an empty body.
    Empty,
    /// 307 to another path of the double: a client following redirects would call twice.
    Redirect,
}

/// One request the double received, in the shape of fakes.py's log (serialises to the same
/// JSON keys, so it can be compared with the `side_log` of the golden recordings).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedCall {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query as requested.
    pub path: String,
    /// Media type of the body without parameters, `""` when absent.
    #[serde(rename = "content-type")]
    pub content_type: String,
    /// The body parsed as JSON, `None` when it is not JSON.
    pub json: Option<serde_json::Value>,
    /// The body as Latin-1 text when it is not JSON.
    pub raw: Option<String>,
    /// The client's address: one per TCP connection, to count connections.
    #[serde(skip)]
    pub peer: Option<SocketAddr>,
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    calls: Mutex<Vec<RecordedCall>>,
}

/// A running MedDream token service on `127.0.0.1` (a free port); stops when dropped.
pub struct MeddreamDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl MeddreamDouble {
    /// Starts the double on a free loopback port. Must be called inside a tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound (a broken test machine, not a test failure to handle).
    pub async fn start() -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for the MedDream double");
        let addr = listener
            .local_addr()
            .expect("local address of the MedDream double");
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen on the MedDream double's port")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            addr,
            shared,
            server: handle,
        }
    }

    /// The token service URL to configure (`MEDDREAM_TOKEN_SERVICE_URL`):
    /// `http://127.0.0.1:PORT/v3/generate`.
    pub fn url(&self) -> Url {
        let text = format!("http://{}{TOKEN_SERVICE_PATH}", self.addr);
        Url::parse(&text).expect("a socket address makes a valid URL")
    }

    /// The address the double listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how the following calls are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// Every call received so far, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.shared.calls).clone()
    }

    /// How many distinct TCP connections the calls so far came on.
    pub fn connections(&self) -> usize {
        let mut peers: Vec<_> = lock(&self.shared.calls)
            .iter()
            .filter_map(|c| c.peer)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        peers.len()
    }

    /// The token the double (and fakes.py) answers for this request body.
    pub fn token_for_body(body: &serde_json::Value) -> String {
        // serde_json's maps are sorted by key (no `preserve_order`), as Python's sort_keys=True.
        let canonical = body.to_string();
        let digest = hex::encode(Sha256::digest(canonical.as_bytes()));
        format!("mdt-{}", &digest[..32])
    }

    /// The token the double answers to a client asking for these studies, in this order.
    pub fn token_for(study_instance_uids: &[&str]) -> String {
        let items: Vec<_> = study_instance_uids
            .iter()
            .map(|uid| serde_json::json!({"studies": {"study": uid, "storage": "Orthanc"}}))
            .collect();
        Self::token_for_body(&serde_json::json!({ "items": items }))
    }
}

impl Drop for MeddreamDouble {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only waits for completion.
        drop(self.server.stop(false));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide its own failure behind ours.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(request: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let raw = json
        .is_none()
        .then(|| body.iter().map(|&b| char::from(b)).collect());
    lock(&shared.calls).push(RecordedCall {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path().to_owned(), |p| p.to_string()),
        content_type,
        json: json.clone(),
        raw,
        peer: request.peer_addr(),
    });

    if request.method() != Method::POST {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    let Some(doc) = json else {
        return text(StatusCode::BAD_REQUEST, "bad request: body is not JSON");
    };
    let behaviour = *lock(&shared.behaviour);
    match behaviour {
        Behaviour::Ok => answer_like_fakes(&doc),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            answer_like_fakes(&doc)
        }
        Behaviour::Status(code) => text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "MedDream double: told to fail",
        ),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Garbage => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(&b"\xff\xfe\x00\x80mdt-\x9c\xc3"[..]),
        Behaviour::Oversized => HttpResponse::Ok().content_type("text/plain").body(Endless {
            remaining: OVERSIZED_ANSWER_BYTES,
        }),
        Behaviour::Empty => text(StatusCode::OK, ""),
        Behaviour::Redirect => HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, "/redirected"))
            .finish(),
    }
}

fn answer_like_fakes(doc: &serde_json::Value) -> HttpResponse {
    let studies: Vec<&str> = doc
        .get("items")
        .and_then(|items| items.as_array())
        .into_iter()
        .flatten()
        .filter_map(|item| item.pointer("/studies/study").and_then(|s| s.as_str()))
        .collect();
    if studies.contains(&"fail-500") {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "MedDream internal error");
    }
    if studies.contains(&"empty-answer") {
        return text(StatusCode::OK, "");
    }
    text(StatusCode::OK, &MeddreamDouble::token_for_body(doc))
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(body.to_owned())
}

/// A body streamed in chunks without Content-Length, as a runaway answer would come.
struct Endless {
    remaining: usize,
}

impl MessageBody for Endless {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        const CHUNK: usize = 16 * 1024;
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(CHUNK);
        self.remaining -= len;
        Poll::Ready(Some(Ok(Bytes::from(vec![b'A'; len]))))
    }
}
