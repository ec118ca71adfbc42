//! Settings as an operator meets them: secrets files, refusals at start, dev mode, time zones.
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{json_answer, spawn_app, spawn_app_with_secrets, SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");

#[tokio::test]
async fn files_in_the_secrets_directory_win_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("SECRET_KEY"), "file-secret\n").unwrap();
    std::fs::write(
        dir.path().join("USERS"),
        "  {\"file-user\": \"file-pass\"}  \n",
    )
    .unwrap();
    let app = spawn_app_with_secrets(&[("SECRET_KEY", "env-secret")], dir.path()).await;
    let body = json!({"resources": [{"dicom-uid": "1.2", "level": "study"}]});
    let res = app
        .client
        .put(app.url("/tokens/viewer-instant-link"))
        .header(
            "Authorization",
            crate::helpers::basic("file-user", "file-pass"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Signed with the file's secret: the env secret's app refuses it.
    let env_app = spawn_app(&[("SECRET_KEY", "env-secret")]).await;
    let q = json!({"dicom-uid": "1.2", "level": "study", "method": "get"});
    assert!(!env_app.granted(&token, &q).await);
    let file_app = spawn_app(&[("SECRET_KEY", "file-secret")]).await;
    assert!(file_app.granted(&token, &q).await);
    let _ = SECRET;
}

/// The binary with only `envs` in its environment (no secrets folder) and both outputs piped.
fn command(envs: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("SECRETS_DIR", "/nonexistent")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn run_briefly(envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = command(envs, args).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_bad_setting_stops_the_process_with_one_line_naming_it() {
    let base = [
        ("SECRET_KEY", "s3cr3t-value"),
        ("USERS", r#"{"u":"hunter2-pass"}"#),
        ("BIND_ADDRESS", "127.0.0.1:0"),
    ];
    for (name, value) in [
        ("USERS", r#"{"u": "hunter2-pass""#),
        ("PUBLIC_MEDDREAM_ROOT", "https://pacs/meddream"),
        ("OHIF_DATA_SOURCE", "dicom-zip"),
        ("PUBLIC_ORTHANC_ROOT", "pacs.example.test/orthanc/"),
        ("SECRET_KEY", ""),
        ("LOGIN_FAILURE_REFILL_SECONDS", "0"),
        ("DATABASE_TIMEOUT_SECONDS", "0"),
    ] {
        let mut envs = base.to_vec();
        envs.retain(|(k, _)| *k != name);
        envs.push((name, value));
        let (code, _, stderr) = run_briefly(&envs, &[]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].contains(name), "{name}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("s3cr3t"),
            "{stderr}"
        );
    }
}

#[test]
fn without_users_it_refuses_to_start_outside_dev_mode() {
    let (code, _, stderr) =
        run_briefly(&[("SECRET_KEY", "k"), ("BIND_ADDRESS", "127.0.0.1:0")], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("USERS"), "{stderr}");
}

/// The binary started until its stdout holds `until` (a banner) or its stderr the
/// "listening" log line; then stopped. Returns (stdout, stderr): waits for readiness, never a
/// fixed time (30 s at most, for a machine busy compiling).
fn run_until_ready(envs: &[(&str, &str)], args: &[&str], until: &str) -> (String, String) {
    use std::io::BufRead;
    let mut child = command(envs, args).spawn().unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<(bool, String)>();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_lines = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = out_lines.send((true, line));
        }
    });
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send((false, line));
        }
    });
    let (mut out, mut err) = (String::new(), String::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut ready = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok((is_stdout, line)) = seen.recv_timeout(left) else {
            break;
        };
        let text = if is_stdout { &mut out } else { &mut err };
        text.push_str(&line);
        text.push('\n');
        if (is_stdout && line.contains(until))
            || (!is_stdout && line.contains("auth-service listening") && until.is_empty())
        {
            ready = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "not ready in 30 s:\n{out}\n{err}");
    (out, err)
}

#[test]
fn dev_mode_generates_credentials_once_and_prints_the_next_steps_apart_from_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let envs = [
        ("DATA_DIR", data_dir),
        ("BIND_ADDRESS", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ];
    // The banner's last line: it is printed whole, once listening.
    let last = "token-value";
    let (stdout, stderr) = run_until_ready(&envs, &["--dev"], last);
    assert!(stdout.contains("curl -s -u 'dev:"), "{stdout}");
    for next in [
        "/tokens/stone-viewer-publication",
        "/tokens/validate",
        "/tokens/decode",
    ] {
        assert!(stdout.contains(next), "{next} in {stdout}");
    }
    // Logs go to stderr: no log line inside the banner.
    assert!(
        !stdout.contains(" INFO ") && !stdout.contains(" WARN "),
        "{stdout}"
    );
    // The production roles-file path means nothing on a dev machine: no warning about it.
    assert!(
        !stderr.contains("/orthanc_auth_service") && !stderr.contains("WARN"),
        "{stderr}"
    );
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.path().join("dev-credentials.json")).unwrap(),
    )
    .unwrap();
    let password = stored["password"].as_str().unwrap();
    assert!(stdout.contains(password));
    assert!(
        !stdout.contains(stored["secret_key"].as_str().unwrap()),
        "the signing key is never printed"
    );
    let (again, _) = run_until_ready(&envs, &["--dev"], last);
    assert!(
        again.contains(password),
        "a restart keeps the same credentials"
    );
}

#[test]
fn an_smtp_login_without_tls_is_warned_about_at_start() {
    let templates = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let base = [
        ("SECRET_KEY", "k"),
        ("USERS", r#"{"u":"p"}"#),
        ("BIND_ADDRESS", "127.0.0.1:0"),
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates.path().to_str().unwrap()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "smtp.example.test"),
        ("EMAILS_SMTP_SERVER_USER_NAME", "mailer"),
        ("EMAILS_SMTP_SERVER_PWD", "smtp-pw-3141"),
        ("DATA_DIR", data.path().to_str().unwrap()),
    ];
    let warning = "the SMTP password will cross the network in clear";
    let (_, stderr) = run_until_ready(&base, &[], "");
    assert!(stderr.contains(warning), "{stderr}");
    assert!(!stderr.contains("smtp-pw-3141"), "{stderr}");
    let mut with_tls = base.to_vec();
    with_tls.push(("EMAILS_SMTP_SERVER_USES_TLS", "true"));
    let (_, stderr) = run_until_ready(&with_tls, &[], "");
    assert!(!stderr.contains(warning), "{stderr}");
}

#[tokio::test]
async fn expiry_is_judged_in_utc_whatever_the_host_time_zone() {
    // A process far ahead of UTC: a share valid one more hour must still be valid.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(BIN)
        .env_clear()
        .env("SECRET_KEY", SECRET)
        .env("USERS", r#"{"share-user": "change-me"}"#)
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .env("TZ", "Pacific/Kiritimati")
        .env("SECRETS_DIR", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::minutes(60))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let auth = crate::helpers::basic("share-user", "change-me");
    let created = json_answer(
        client
            .put(format!("{base}/tokens/viewer-instant-link"))
            .header("Authorization", &auth)
            .json(&json!({"resources": [{"dicom-uid": "1.2", "level": "study"}], "expiration-date": in_an_hour})),
    )
    .await;
    let granted = json_answer(
        client
            .post(format!("{base}/tokens/validate"))
            .header("Authorization", &auth)
            .header("token", created["token"].as_str().unwrap())
            .json(&json!({"dicom-uid": "1.2", "level": "study", "method": "get"})),
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(granted["granted"], true);
}
