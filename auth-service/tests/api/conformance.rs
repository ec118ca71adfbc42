//! The OpenAPI document is the contract: schemathesis (an outside property-based tester, from
//! PyPI, pinned in `tests/support/schemathesis-requirements.txt`) generates requests from
//! `/openapi.json` and checks every answer against it, with `--checks all`, against the real
//! binary with every feature on: e-mails through the SMTP test server, MedDream through its
//! double, Keycloak through the realm double, the gate on a real Orthanc. Any finding fails.
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use meddream_bridge::double::MeddreamDouble;

use crate::emails::{SmtpOptions, SmtpServer, TemplatesDir};
use crate::gate_stack::{gate_settings, share_of, OrthancServer, Study, Tools};
use crate::helpers::{basic, PASSWORD, USER};
use crate::stand_ins::BinaryApp;
use crate::tools::{python_packages, unavailable, Need};
use crate::user::Files;

/// Fixed, so a run can be repeated request for request.
const SEED: &str = "26";
/// Examples per operation and phase: the whole run stays well under three minutes.
const EXAMPLES: &str = "25";
/// Past this the run is stopped and fails: a hung request must not hold CI.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// `target/test-tools/schemathesis`, where pip installed the pinned schemathesis.
fn schemathesis() -> Result<std::path::PathBuf, String> {
    static READY: OnceLock<Result<std::path::PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let requirements = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/support/schemathesis-requirements.txt");
            python_packages(
                "schemathesis",
                &["-r", &requirements.display().to_string()],
                "schemathesis.cli",
            )
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_with_every_feature_on() {
    let test = test_name!();
    let tool = match schemathesis() {
        Ok(dir) => dir,
        Err(reason) => return unavailable(test, &reason, Need::Required),
    };
    let smtp = or_skip!(SmtpServer::start(test, SmtpOptions::default()).await);
    let realm = realm_or_skip!();
    let tools = or_skip!(Tools::find(test));
    let orthanc = OrthancServer::start(&tools).await;
    let studies = orthanc.load_studies().await;
    let meddream = MeddreamDouble::start().await;
    let templates = TemplatesDir::new();
    let files = Files::new();
    let data = tempfile::tempdir().expect("data dir");

    let orthanc_url = orthanc.url();
    let smtp_port = smtp.port.to_string();
    let meddream_url = meddream.url().to_string();
    let mut env: Vec<(String, String)> = gate_settings(&orthanc_url)
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.extend(realm.env());
    for (name, value) in [
        ("DATA_DIR", data.path().display().to_string()),
        ("PERMISSIONS_FILE_PATH", files.roles()),
        ("ANONYMOUS_PROFILE_FILE_PATH", files.anonymous()),
        (
            "PUBLIC_LANDING_ROOT",
            "https://pacs.example.test/landing/".into(),
        ),
        ("PUBLIC_OHIF_ROOT", "https://pacs.example.test/ohif/".into()),
        ("MEDDREAM_TOKEN_SERVICE_URL", meddream_url),
        (
            "PUBLIC_MEDDREAM_ROOT",
            "https://pacs.example.test/meddream/".into(),
        ),
        ("ENABLE_EMAILS", "true".into()),
        ("EMAILS_TEMPLATES_ROOT", templates.root()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test".into()),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1".into()),
        ("EMAILS_SMTP_SERVER_PORT", smtp_port),
        ("EMAILS_SMTP_SERVER_USES_TLS", "false".into()),
        // schemathesis sends hundreds of wrong passwords from this one address, to check each
        // route refuses them with a 401: the throttle (on, as everywhere) must not turn those
        // into its 429 halfway through (throttle.rs tests it).
        ("LOGIN_FAILURE_BURST", "10000".into()),
    ] {
        env.push((name.to_owned(), value));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = BinaryApp::start(&pairs);

    // The document as an integrator downloads it (behind Basic auth), then run from the file.
    let work = tempfile::tempdir().expect("work dir");
    let document = app.authorized_text("/openapi.json").await;
    let schema = work.path().join("openapi.json");
    std::fs::write(&schema, document).expect("document written");
    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, gate_config(&app, &studies.a).await).expect("config written");

    let started = Instant::now();
    let run = tokio::process::Command::new("python3")
        .arg(tool.join("bin/st"))
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&schema)
        .args(["--url", &app.url("")])
        .args(["--auth", &format!("{USER}:{PASSWORD}")])
        .args(["--checks", "all"])
        .args(["--seed", SEED])
        .args(["--max-examples", EXAMPLES])
        .args(["--generation-database", "none"])
        // One worker: with two, one run in five ended in an internal error of the generator
        // ("SystemError: AST constructor recursion depth mismatch", CPython compiling Hypothesis's
        // strategies on two threads at once), a failure that is not a finding.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .arg("--no-color")
        // Hypothesis keeps its files in the working folder.
        .current_dir(work.path())
        .env("PYTHONPATH", &tool)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran past {RUN_LIMIT:?}"))
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "schemathesis ran {:.0} s:\n{report}\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found what the document does not say (report above)\nservice log:\n{}",
        app.log()
    );
    // The gate's answers were checked on Orthanc's word, not only on refusals before it.
    let metrics = app.authorized_text("/metrics").await;
    let granted = metrics
        .lines()
        .find(|l| l.starts_with("auth_gate_decisions_total") && l.contains("\"granted\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    eprintln!("the gate allowed {granted} of schemathesis's requests");
    assert!(granted > 0.0, "no gate request was allowed:\n{metrics}");
}

/// schemathesis's settings for `GET /gate`: besides the values it generates, a share token of
/// study A and the URIs of its resources, often enough that some requests are allowed (a 204
/// with its cookie) after the gate asked the real Orthanc where they sit.
async fn gate_config(app: &BinaryApp, study: &Study) -> String {
    let created: serde_json::Value = reqwest::Client::new()
        .put(app.url("/tokens/viewer-instant-link"))
        .header("Authorization", basic(USER, PASSWORD))
        .json(&share_of(study))
        .send()
        .await
        .expect("share created")
        .json()
        .await
        .expect("creation answer");
    let token = created["token"].as_str().expect("a token");
    let instance = &study.first_instance().id;
    let series = &study.series[0].id;
    let uris = [
        format!("/orthanc/instances/{instance}/preview"),
        format!("/orthanc/instances/{instance}/file"),
        format!("/orthanc/series/{series}"),
        format!("/orthanc/studies/{}", study.id),
        format!("/orthanc/dicom-web/studies/{}/metadata", study.uid),
    ];
    let quoted = |values: &[&str]| {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
    format!(
        r#"[dictionaries]
tokens = {{ values = [{token:?}] }}
uris = {{ values = [{uris}] }}
methods = {{ values = ["GET", "HEAD"] }}

[[operations]]
include-path = "/gate"
parameters = {{ "header.token" = {{ dictionary = "tokens", probability = 0.7 }}, "header.X-Original-URI" = {{ dictionary = "uris", probability = 0.7 }}, "header.X-Original-Method" = {{ dictionary = "methods", probability = 0.7 }} }}
"#,
        uris = quoted(&uris),
    )
}
