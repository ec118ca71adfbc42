//! What our code costs per request, without sockets, the kernel or a load generator: the App a
//! server worker runs (`startup::Services::app`) is driven on one thread through actix's test
//! service, next to a bare App that answers fixed bytes (actix's own share of the work, the same
//! request built the same way). bench/run.sh measures throughput over loopback, where on a
//! shared VM the ratios swing by 10-20 points between runs; these per-request times stay within
//! a few percent, so they show what a change to our code does.
//!
//!   bash bench/in-process.sh                     (cargo bench -p auth-service --bench in_process)
//!   IN_PROCESS_SECONDS=3 IN_PROCESS_ROUNDS=5 ... (time per scenario and round; defaults 1 and 5)
//!   IN_PROCESS_ONLY=create ...                    (that scenario alone, e.g. under `perf record`)
//!   IN_PROCESS_ONLY=create IN_PROCESS_COUNT=2000  (exactly that many requests: bench/instructions.sh
//!                                                  counts them under valgrind, free of VM noise)
//!
//! Each scenario runs once per round, the rounds interleave the scenarios, and the table shows
//! each scenario's median round. Logging is on as a user runs the service (`RUST_LOG` unset: one
//! access line per request, through the log writer thread, on stderr).
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, ContentType};
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{web, App, HttpResponse};
use auth_service::settings::{Settings, Source};
use auth_service::startup::Services;
use base64::Engine;

const GRANTED: &str = r#"{"granted":true,"validity":60}"#;
const CREATE_BODY: &str = r#"{"id":"bench","resources":[{"dicom-uid":"1.2.3","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","level":"study"}],"type":"stone-viewer-publication","expiration-date":"2099-12-31T23:59:59Z"}"#;

/// One kind of request: where it goes and what it carries.
struct Scenario {
    name: &'static str,
    method: Method,
    path: &'static str,
    body: String,
    /// The bare App answers this one.
    bare: bool,
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    let _log = auth_service::telemetry::init("info");
    actix_web::rt::System::new().block_on(run());
}

async fn run() {
    let seconds = Duration::from_secs_f64(env_number("IN_PROCESS_SECONDS", 1.0));
    let rounds = env_number("IN_PROCESS_ROUNDS", 5.0) as usize;
    let data_dir = tempfile::tempdir().expect("a temp folder");
    let permissions = data_dir.path().join("permissions.jsonc");
    std::fs::write(
        &permissions,
        r#"{"roles":{"doctor-role":{"authorized-labels":["*"],"permissions":["view","download","share","send"]}},"available-labels":[]}"#,
    )
    .expect("the permissions file");
    // The settings of bench/run.sh's auth-service.
    let vars = [
        ("SECRET_KEY", "bench-secret"),
        ("USERS", r#"{"bench":"bench-pass"}"#),
        ("PUBLIC_ORTHANC_ROOT", "http://127.0.0.1:8042/"),
        (
            "PERMISSIONS_FILE_PATH",
            permissions.to_str().expect("a UTF-8 path"),
        ),
        ("DATA_DIR", data_dir.path().to_str().expect("a UTF-8 path")),
        ("BIND_ADDRESS", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_source(&Source::new(vars, std::path::Path::new("/nonexistent")))
        .expect("the bench settings");
    let services = Services::build(&settings).await.expect("the services");
    let service = test::init_service(services.app()).await;
    let bare = test::init_service(App::new().route(
        "/tokens/validate",
        web::post().to(|_body: web::Bytes| async {
            HttpResponse::Ok()
                .content_type(ContentType::json())
                .body(GRANTED)
        }),
    ))
    .await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bench:bench-pass")
    );

    let created = test::call_service(
        &service,
        request(
            &auth,
            &Method::PUT,
            "/tokens/stone-viewer-publication",
            CREATE_BODY,
        ),
    )
    .await;
    assert_eq!(created.status(), StatusCode::OK, "create answers 200");
    let created: serde_json::Value = test::read_body_json(created).await;
    let token = created["token"].as_str().expect("a token").to_owned();
    let validate_body = format!(
        r#"{{"dicom-uid":"1.2.3","level":"study","method":"get","orthanc-id":"6b1f3e2a-0c5d7e88-1a2b3c4d-5e6f7a8b-9c0d1e2f","server-id":null,"token-key":"token","token-value":"{token}"}}"#
    );
    let scenarios = [
        Scenario {
            name: "ceiling",
            method: Method::POST,
            path: "/tokens/validate",
            body: validate_body.clone(),
            bare: true,
        },
        Scenario {
            name: "validate",
            method: Method::POST,
            path: "/tokens/validate",
            body: validate_body,
            bare: false,
        },
        Scenario {
            name: "create",
            method: Method::PUT,
            path: "/tokens/stone-viewer-publication",
            body: CREATE_BODY.to_owned(),
            bare: false,
        },
        Scenario {
            name: "decode",
            method: Method::POST,
            path: "/tokens/decode",
            body: format!(r#"{{"token-key":"token","token-value":"{token}"}}"#),
            bare: false,
        },
    ];
    // Each scenario's answer is checked once: a bench of refusals would measure nothing useful.
    for s in &scenarios {
        let req = request(&auth, &s.method, s.path, &s.body);
        let answer = if s.bare {
            test::read_body(test::call_service(&bare, req).await).await
        } else {
            test::read_body(test::call_service(&service, req).await).await
        };
        assert!(
            s.name == "create" || s.name == "decode" || answer == GRANTED.as_bytes(),
            "{}: not granted",
            s.name
        );
    }

    if let Ok(only) = std::env::var("IN_PROCESS_ONLY") {
        let s = scenarios
            .iter()
            .find(|s| s.name == only)
            .unwrap_or_else(|| panic!("IN_PROCESS_ONLY={only}: no such scenario"));
        let budget = match std::env::var("IN_PROCESS_COUNT") {
            Ok(n) => Budget::Requests(n.parse().expect("IN_PROCESS_COUNT is a whole number")),
            Err(_) => Budget::Time(seconds * rounds as u32),
        };
        let ns = if s.bare {
            run_requests(&bare, &auth, s, budget).await
        } else {
            run_requests(&service, &auth, s, budget).await
        };
        println!("{only}: {:.2} us/request", ns / 1000.0);
        return;
    }
    let mut per_request: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    for _ in 0..rounds.max(1) {
        for (i, s) in scenarios.iter().enumerate() {
            let ns = if s.bare {
                run_requests(&bare, &auth, s, Budget::Time(seconds)).await
            } else {
                run_requests(&service, &auth, s, Budget::Time(seconds)).await
            };
            per_request[i].push(ns);
        }
    }
    let medians: Vec<f64> = per_request.iter_mut().map(|v| median(v)).collect();
    println!("# in-process, one thread, median of {rounds} rounds of {seconds:?} per scenario");
    println!(
        "{:<10} {:>12} {:>14} {:>10}",
        "scenario", "us/request", "requests/s", "spread"
    );
    for (i, s) in scenarios.iter().enumerate() {
        let v = &per_request[i];
        let spread = (v[v.len() - 1] - v[0]) / medians[i] * 100.0;
        println!(
            "{:<10} {:>12.2} {:>14.0} {:>9.1}%",
            s.name,
            medians[i] / 1000.0,
            1e9 / medians[i],
            spread
        );
    }
    let (ceiling, validate) = (medians[0], medians[1]);
    // As in bench/run.sh: throughput ratios (the inverse ratio of the times).
    for (i, s) in scenarios.iter().enumerate().skip(1) {
        println!(
            "{}/ceiling {:>26.1} %",
            s.name,
            ceiling / medians[i] * 100.0
        );
    }
    for (i, s) in scenarios.iter().enumerate().skip(2) {
        println!(
            "{}/validate {:>25.1} %",
            s.name,
            validate / medians[i] * 100.0
        );
    }
}

fn request(auth: &str, method: &Method, path: &str, body: &str) -> actix_http::Request {
    TestRequest::default()
        .method(method.clone())
        .uri(path)
        .insert_header((header::AUTHORIZATION, auth))
        .insert_header(ContentType::json())
        .set_payload(body.to_owned())
        .to_request()
}

#[derive(Clone, Copy)]
enum Budget {
    Time(Duration),
    Requests(u64),
}

/// Mean nanoseconds per request within the budget, the body read as a client would.
async fn run_requests<S, B>(service: &S, auth: &str, s: &Scenario, budget: Budget) -> f64
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let started = Instant::now();
    let mut count = 0u64;
    while match budget {
        Budget::Time(duration) => started.elapsed() < duration,
        Budget::Requests(n) => count < n,
    } {
        for _ in 0..64 {
            let answer =
                test::call_service(service, request(auth, &s.method, s.path, &s.body)).await;
            debug_assert!(answer.status().is_success());
            std::hint::black_box(test::read_body(answer).await);
        }
        count += 64;
    }
    started.elapsed().as_nanos() as f64 / count as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
