//! An in-process stand-in of auth-service for tests (cargo feature `double`).
//!
//! It answers `POST /tokens/decode` with whatever the test set (a [`DecodeResponse`] by default
//! that opens `http://viewer.invalid/`; a preview gets the same answer without `redirect-url`),
//! `GET /health` with `{"status":"ok"}`, and requires the Basic credentials it was started with
//! (401 otherwise), like the real service. It records the decode calls (opens and previews
//! apart) and can be told to misbehave with [`AuthServiceDouble::set_behaviour`].
//! Outcomes the real service can produce are best tested against the real service; this is for
//! the failures it cannot be told to produce.
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use auth_wire::{DecodeRequest, DecodeResponse};
use base64::Engine;
use url::Url;

/// The credentials the double accepts.
pub const USER: &str = "landing";
pub const PASSWORD: &str = "double-password";

/// Bytes the [`Behaviour::Oversized`] answer holds (past the client's cap).
pub const OVERSIZED_ANSWER_BYTES: usize = crate::MAX_ANSWER_BYTES + 1024;

/// How the double answers the next decode calls.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    /// 200 with this answer.
    Answer(DecodeResponse),
    /// This status with a JSON error body, as the real service's errors.
    Status(u16),
    /// Never answers.
    Hang,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a JSON string longer than the client accepts.
    Oversized,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Answer(DecodeResponse {
            token_type: Some("stone-viewer-publication".into()),
            error_code: None,
            redirect_url: Some("http://viewer.invalid/".into()),
            resources: vec![],
            protection: None,
        })
    }
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    decoded: Mutex<Vec<String>>,
    previewed: Mutex<Vec<String>>,
}

/// A running stand-in of auth-service on `127.0.0.1` (a free port); stops when dropped.
pub struct AuthServiceDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl AuthServiceDouble {
    /// Starts the double on a free loopback port. Must be called inside a tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound (a broken test machine, not a test failure to handle).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address of the double");
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/tokens/decode", web::post().to(decode))
                .route("/health", web::get().to(health))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen on the double's port")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        AuthServiceDouble {
            addr,
            shared,
            server: handle,
        }
    }

    /// `http://127.0.0.1:PORT/`: the `AUTH_SERVICE_URL` to configure.
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("a socket address makes a URL")
    }

    /// Changes how the following decode calls are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// The tokens of every decode call that opens (no `preview`) so far, oldest first.
    pub fn decoded(&self) -> Vec<String> {
        lock(&self.shared.decoded).clone()
    }

    /// The tokens of every preview so far, oldest first.
    pub fn previewed(&self) -> Vec<String> {
        lock(&self.shared.previewed).clone()
    }
}

impl Drop for AuthServiceDouble {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn authorised(request: &HttpRequest) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn unauthorised() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic"))
        .json(serde_json::json!({"detail": "Invalid credentials"}))
}

async fn health(request: HttpRequest) -> HttpResponse {
    if !authorised(&request) {
        return unauthorised();
    }
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn decode(request: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if !authorised(&request) {
        return unauthorised();
    }
    let Ok(parsed) = serde_json::from_slice::<DecodeRequest>(&body) else {
        return HttpResponse::UnprocessableEntity()
            .json(serde_json::json!({"error": "invalid body"}));
    };
    let token = parsed.token_value.unwrap_or_default().into_owned();
    let calls = if parsed.preview {
        &shared.previewed
    } else {
        &shared.decoded
    };
    lock(calls).push(token);
    let behaviour = lock(&shared.behaviour).clone();
    match behaviour {
        Behaviour::Answer(answer) if parsed.preview => HttpResponse::Ok().json(DecodeResponse {
            redirect_url: None,
            ..answer
        }),
        Behaviour::Answer(answer) => HttpResponse::Ok().json(answer),
        Behaviour::Status(code) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(code)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
        )
        .json(serde_json::json!({"error": "told to fail", "detail": "auth-service double"})),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Garbage => HttpResponse::Ok()
            .content_type("application/json")
            .body("<html>not json</html>"),
        Behaviour::Oversized => HttpResponse::Ok()
            .content_type("application/json")
            .body(format!("\"{}\"", "x".repeat(OVERSIZED_ANSWER_BYTES))),
    }
}
