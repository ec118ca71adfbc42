//! Protected publication links, end to end over HTTP: creation with a password or e-mailed codes
//! and the refused cases, validate refusing the link's own token, unlock with right and wrong
//! secrets, the lockout and its end, codes (through a real SMTP server) that expire and are sent
//! at most three times in 15 minutes, revocation ending every session, two replicas on
//! PostgreSQL, and OE2's flow: a plain publication bound to its recipients by `/emails/send`.
use std::time::Duration;

use auth_service::domain::ShareId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::emails::{part, spawn_email_app, EmailApp, SmtpOptions, SmtpServer};
use crate::helpers::{spawn_app, TestApp, USER};
use crate::shares::{ask, eventually, revoke, share, study, Db};

const LANDING: &str = "https://pacs.example.test/landing/";
const ORTHANC: &str = "https://pacs.example.test/orthanc/";
const PASSWORD: &str = "Corr3ct-horse-42";
const U1: &str = "1.2.840.77";
const LINKS: [(&str, &str); 2] = [
    ("PUBLIC_ORTHANC_ROOT", ORTHANC),
    ("PUBLIC_LANDING_ROOT", LANDING),
];

async fn linked_app(extra: &[(&str, &str)]) -> TestApp {
    let mut env = LINKS.to_vec();
    env.extend_from_slice(extra);
    spawn_app(&env).await
}

/// A publication body; each gets its own `id` so identical requests stay apart.
fn publication(protection: Value) -> Value {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut body = json!({"id": format!("protected-{n}"), "resources": [study(U1)]});
    if !protection.is_null() {
        body["protection"] = protection;
    }
    body
}

async fn password_link(app: &TestApp) -> String {
    app.token(
        "stone-viewer-publication",
        &publication(json!({"password": PASSWORD})),
    )
    .await
}

async fn unlock(app: &TestApp, body: Value) -> (u16, Value) {
    app.send(Method::POST, "/tokens/unlock", &body).await
}

async fn with_password(app: &TestApp, token: &str, password: &str) -> Value {
    let (status, answer) = unlock(app, json!({"token-value": token, "password": password})).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn with_code(app: &TestApp, token: &str, code: &str) -> Value {
    let (status, answer) = unlock(app, json!({"token-value": token, "code": code})).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn send_code(app: &TestApp, token: &str, address: usize) -> (u16, Value) {
    app.send(
        Method::POST,
        "/tokens/send-code",
        &json!({"token-value": token, "address": address}),
    )
    .await
}

/// The claims of a token (its payload, unverified).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// The session token in an unlock's redirect.
fn session_of(answer: &Value) -> String {
    let url = answer["redirect-url"]
        .as_str()
        .unwrap_or_else(|| panic!("no redirect: {answer}"));
    url.split("token=")
        .nth(1)
        .expect("a token in the redirect")
        .to_owned()
}

fn sqlite_url(app: &TestApp) -> String {
    let dir = app._data_dir.as_ref().expect("the app's own data folder");
    format!(
        "sqlite://{}",
        dir.path().join("auth-service.sqlite").display()
    )
}

/// Runs one statement on the app's SQLite registry (a test moving time forward for a row).
async fn on_registry(app: &TestApp, sql: &str, id: &str) {
    let pool = sqlx::SqlitePool::connect(&sqlite_url(app)).await.unwrap();
    let changed = sqlx::query(sql).bind(id).execute(&pool).await.unwrap();
    assert!(changed.rows_affected() > 0, "{sql}");
    pool.close().await;
}

fn id_of(token: &str) -> String {
    ShareId::of_token(token).to_string()
}

// ---------------------------------------------------------------- creation

#[tokio::test]
async fn a_password_link_is_created_and_its_answer_never_holds_the_password() {
    let app = linked_app(&[]).await;
    let (status, answer) = app
        .create(
            "stone-viewer-publication",
            &publication(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["request"]["protection"],
        json!({"method": "password"})
    );
    assert!(!answer.to_string().contains(PASSWORD), "{answer}");
    let token = answer["token"].as_str().unwrap();
    assert_eq!(answer["url"], format!("{LANDING}?token={token}"));
    let c = claims(token);
    assert!(
        c["protected"].as_str().is_some_and(|n| n.len() == 32),
        "{c}"
    );
    // The registry shows the method, and keeps an Argon2id hash, never the password.
    let (_, shown) = share(&app, &id_of(token)).await;
    assert_eq!(
        shown["protection"],
        json!({"method": "password"}),
        "{shown}"
    );
    let pool = sqlx::SqlitePool::connect(&sqlite_url(&app)).await.unwrap();
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM shares WHERE id = $1")
        .bind(id_of(token))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    // The same request twice gives two shares: each protected link has a nonce of its own.
    let body = publication(json!({"password": PASSWORD}));
    let one = app.token("stone-viewer-publication", &body).await;
    let two = app.token("stone-viewer-publication", &body).await;
    assert_ne!(one, two);
    // Plain publications stay byte for byte the Python service's.
    let plain = app
        .token("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert!(claims(&plain).get("protected").is_none());
    let (_, plain_answer) = app
        .create("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert!(plain_answer["request"].get("protection").is_none());
}

#[tokio::test]
async fn an_email_code_link_is_created_with_its_addresses_checked() {
    let smtp_port = crate::tools::free_port().to_string();
    let email = spawn_email_app_with_links(&smtp_port).await;
    let (status, answer) = email
        .app
        .create(
            "ohif-viewer-publication",
            &publication(json!({"email-code": ["alice@example.org", "Alice@Example.org", "bob@example.org"]})),
        )
        .await;
    assert_eq!(status, 404, "ohif needs PUBLIC_OHIF_ROOT: {answer}");
    let (status, answer) = email
        .app
        .create(
            "stone-viewer-publication",
            &publication(json!({"email-code": ["alice@example.org", "Alice@Example.org", "bob@example.org"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["request"]["protection"],
        json!({"method": "email-code", "email-code": ["alice@example.org", "bob@example.org"]})
    );
    let token = answer["token"].as_str().unwrap();
    let decoded = email.app.decode(token).await;
    assert_eq!(decoded["error-code"], "code-required", "{decoded}");
    assert_eq!(
        decoded["protection"],
        json!({"method": "email-code", "addresses": ["a***@example.org", "b***@example.org"], "attempts-left": 5, "locked-until": null})
    );
    assert_eq!(decoded["resources"], json!([]), "nothing of what it shares");
    assert_eq!(decoded["redirect-url"], Value::Null);

    // send-code's refusals (no code is sent: no SMTP server is needed). The address must be an
    // index of the link's list (409: this link's state refuses it); past any list a share can
    // have (the document's maximum, 19), 400 whatever the token.
    let (status, answer) = send_code(&email.app, token, 2).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "no such address");
    for token in [token, "not-a-token"] {
        let (status, answer) = send_code(&email.app, token, 20).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"], "no such address");
    }
    let (status, answer) = send_code(&email.app, "not-a-token", 19).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["error-code"], "invalid");
    // A password link takes no codes.
    let password = password_link(&email.app).await;
    let (status, answer) = send_code(&email.app, &password, 0).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "wrong method");
}

async fn spawn_email_app_with_links(smtp_port: &str) -> EmailApp {
    spawn_email_app(smtp_port.parse().unwrap(), &LINKS).await
}

#[tokio::test]
async fn protections_that_cannot_hold_are_refused_naming_the_field() {
    let app = linked_app(&[]).await;
    let refused = |status: u16, answer: &Value, field: &str| {
        assert!(
            (400..500).contains(&status)
                && answer["detail"].as_str().is_some_and(|d| d.contains(field)),
            "{status} {answer}"
        );
        assert!(!answer.to_string().contains("pw-shown-nowhere"), "{answer}");
    };
    for instant in [
        "viewer-instant-link",
        "download-instant-link",
        "meddream-instant-link",
    ] {
        let (status, answer) = app
            .create(
                instant,
                &publication(json!({"password": "pw-shown-nowhere"})),
            )
            .await;
        assert_eq!(status, 400, "{instant}: {answer}");
        refused(
            status,
            &answer,
            "protection: instant links cannot be protected",
        );
    }
    let cases = [
        (
            json!({"password": "short"}),
            400,
            "protection.password: at least 8",
        ),
        (
            json!({"password": "pw-shown-nowhere", "email-code": ["a@x.test"]}),
            422,
            "not both",
        ),
        (
            json!({"password": 12345678}),
            422,
            "protection.password: must be a string",
        ),
        (
            json!({"email-code": "a@x.test"}),
            422,
            "protection.email-code",
        ),
        (
            json!({"email-code": ["a@x.test", "not an address"]}),
            400,
            "protection.email-code[1]",
        ),
        (
            json!({"email-code": []}),
            400,
            "protection.email-code: at least one",
        ),
        (
            json!({"pin": "1234"}),
            422,
            "protection: only password or email-code",
        ),
        (
            json!("pw-shown-nowhere"),
            422,
            "protection: must be an object",
        ),
        // Codes go by e-mail: refused while e-mails are off.
        (json!({"email-code": ["a@x.test"]}), 400, "ENABLE_EMAILS"),
    ];
    for (protection, expected, field) in cases {
        let (status, answer) = app
            .create("stone-viewer-publication", &publication(protection.clone()))
            .await;
        assert_eq!(status, expected, "{protection}: {answer}");
        refused(status, &answer, field);
    }
    // Without a landing page nothing could ask for the password.
    let direct = spawn_app(&[("PUBLIC_ORTHANC_ROOT", ORTHANC)]).await;
    let (status, answer) = direct
        .create(
            "stone-viewer-publication",
            &publication(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 400);
    refused(status, &answer, "PUBLIC_LANDING_ROOT");
}

#[tokio::test]
async fn required_protection_refuses_plain_publications_unless_emailed_links_are_bound() {
    let app = linked_app(&[("REQUIRE_LINK_PROTECTION", "true")]).await;
    let (status, answer) = app
        .create("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("protection required")),
        "{answer}"
    );
    assert!(answer["detail"]
        .as_str()
        .unwrap()
        .starts_with("protection:"));
    // Instant links cannot be protected: they are not refused for lacking it.
    let (status, _) = app
        .create("viewer-instant-link", &publication(Value::Null))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.create(
            "stone-viewer-publication",
            &publication(json!({"password": PASSWORD}))
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn required_protection_lets_oe2_create_plain_links_that_open_only_once_e_mailed() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let mut env = LINKS.to_vec();
    env.extend([
        ("REQUIRE_LINK_PROTECTION", "true"),
        ("PROTECT_EMAILED_LINKS", "code"),
    ]);
    let email = spawn_email_app(smtp.port, &env).await;
    let app = &email.app;
    // OE2's plain publication is accepted: e-mailing it will bind it.
    let (status, created) = app
        .create("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["request"].get("protection"), None, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let link = created["url"].as_str().unwrap().to_owned();
    // Its token is refused for data by its own claim, on any replica, whatever it holds.
    assert!(
        claims(&token)["protected"].is_string(),
        "{}",
        claims(&token)
    );
    // Until it is e-mailed it opens nothing, not even for its sender: a link copied out of the
    // share dialog is no way around the rule.
    assert!(!app.granted(&token, &ask(U1)).await);
    let decoded = app.decode(&token).await;
    assert_eq!(
        (&decoded["error-code"], &decoded["redirect-url"]),
        (&json!("not-sent"), &Value::Null),
        "{decoded}"
    );
    assert_eq!(decoded["protection"]["addresses"], json!([]));
    assert_eq!(send_code(app, &token, 0).await.1["error-code"], "not-sent");
    // A guess at a code is not counted: there is nothing to guess yet.
    for _ in 0..6 {
        assert_eq!(
            with_code(app, &token, "123456").await["error-code"],
            "not-sent"
        );
    }
    assert!(smtp.messages().is_empty());
    // E-mailed: it asks for a code sent to its recipient, and opens with it.
    let (status, answer) = app
        .send(
            Method::POST,
            "/emails/send",
            &json!({"destination-email": "frank@example.test", "email-title": "A study",
                    "email-content": format!("<a href=\"{link}\">the study</a>")}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let decoded = app.decode(&token).await;
    assert_eq!(decoded["error-code"], "code-required", "{decoded}");
    assert_eq!(
        decoded["protection"]["addresses"],
        json!(["f***@example.test"])
    );
    assert_eq!(decoded["protection"]["attempts-left"], 5, "{decoded}");
    assert_eq!(send_code(app, &token, 0).await.0, 200);
    let code = code_in_mail(&smtp, "frank@example.test");
    let opened = with_code(app, &token, &code).await;
    assert_eq!(opened["error-code"], Value::Null, "{opened}");
    assert!(app.granted(&session_of(&opened), &ask(U1)).await);
}

// ---------------------------------------------------------------- opening

#[tokio::test]
async fn the_protected_token_opens_nothing_but_the_form_and_the_session_token_opens_the_viewer() {
    let app = linked_app(&[]).await;
    let token = password_link(&app).await;
    assert!(
        !app.granted(&token, &ask(U1)).await,
        "validate refuses the link's own token"
    );
    let decoded = app.decode(&token).await;
    assert_eq!(
        decoded,
        json!({"token-type": "stone-viewer-publication", "error-code": "password-required",
               "redirect-url": null, "resources": [],
               "protection": {"method": "password", "addresses": [], "attempts-left": 5, "locked-until": null}})
    );
    assert!(!decoded.to_string().contains("argon2"), "never the hash");
    // A preview says the same (the landing page's confirm mode shows the form at once).
    let (_, preview) = app
        .send(
            Method::POST,
            "/tokens/decode",
            &json!({"token-key": "token", "token-value": token, "preview": true}),
        )
        .await;
    assert_eq!(preview["error-code"], "password-required");
    // Opening the form counted no use.
    assert_eq!(share(&app, &id_of(&token)).await.1["use-count"], 0);

    let answer = with_password(&app, &token, PASSWORD).await;
    assert_eq!(answer["error-code"], Value::Null, "{answer}");
    let session = session_of(&answer);
    let url = answer["redirect-url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{ORTHANC}stone-webviewer/index.html?study={U1}&selectedStudies={U1}&token="
        )),
        "{url}"
    );
    assert_eq!(answer["resources"][0]["dicom-uid"], U1);
    // The session: same resources and type, tied to the share, valid 8 hours.
    let c = claims(&session);
    assert_eq!(c["unlocked"], id_of(&token), "{c}");
    assert_eq!(c["type"], "stone-viewer-publication");
    assert_eq!(c["resources"], claims(&token)["resources"]);
    assert!(c.get("protected").is_none());
    let until: DateTime<Utc> = c["expiration_date"].as_str().unwrap().parse().unwrap();
    let hours = (until - Utc::now()).num_seconds() as f64 / 3600.0;
    assert!((7.9..=8.0).contains(&hours), "{hours} h");
    assert!(
        app.granted(&session, &ask(U1)).await,
        "the session opens the study"
    );
    assert!(
        !app.granted(&session, &ask("9.9.9")).await,
        "and nothing else"
    );
    assert!(
        !app.granted(&token, &ask(U1)).await,
        "the link's token still opens nothing"
    );
    // The unlock counted one use (written within a flush); decoding the session opens the
    // viewer too.
    eventually(
        Duration::from_secs(3),
        "the unlock counted as a use",
        || async { share(&app, &id_of(&token)).await.1["use-count"] == 1 },
    )
    .await;
    let reopened = app.decode(&session).await;
    assert_eq!(reopened["error-code"], Value::Null, "{reopened}");
}

#[tokio::test]
async fn a_session_never_outlives_its_share_and_sessions_follow_the_setting() {
    let app = linked_app(&[("PROTECTED_SESSION_HOURS", "2")]).await;
    let soon = (Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let mut body = publication(json!({"password": PASSWORD}));
    body["expiration-date"] = json!(soon);
    let short = app.token("stone-viewer-publication", &body).await;
    let session = session_of(&with_password(&app, &short, PASSWORD).await);
    assert_eq!(
        claims(&session)["expiration_date"],
        claims(&short)["expiration_date"]
    );
    let long = password_link(&app).await;
    let session = session_of(&with_password(&app, &long, PASSWORD).await);
    let until: DateTime<Utc> = claims(&session)["expiration_date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hours = (until - Utc::now()).num_seconds() as f64 / 3600.0;
    assert!((1.9..=2.0).contains(&hours), "{hours} h");
}

#[tokio::test]
async fn wrong_passwords_lock_the_share_for_15_minutes_then_it_opens_again() {
    let app = linked_app(&[]).await;
    let token = password_link(&app).await;
    for left in (1..=4).rev() {
        let answer = with_password(&app, &token, "not-the-password").await;
        assert_eq!(answer["error-code"], "wrong-password", "{answer}");
        assert_eq!(answer["protection"]["attempts-left"], left);
        assert_eq!(answer["redirect-url"], Value::Null);
    }
    let locked = with_password(&app, &token, "still-not-it").await;
    assert_eq!(locked["error-code"], "locked", "{locked}");
    let until: DateTime<Utc> = locked["protection"]["locked-until"]
        .as_str()
        .expect("until when")
        .parse()
        .unwrap();
    let minutes = (until - Utc::now()).num_seconds() as f64 / 60.0;
    assert!((14.9..=15.0).contains(&minutes), "{minutes} min");
    // Locked: even the right password is refused, and decode says so.
    let refused = with_password(&app, &token, PASSWORD).await;
    assert_eq!(refused["error-code"], "locked");
    assert_eq!(refused["redirect-url"], Value::Null);
    assert_eq!(app.decode(&token).await["error-code"], "locked");
    assert_eq!(share(&app, &id_of(&token)).await.1["use-count"], 0);
    // Its end: the lock's time passes (moved in the registry), the right password opens, and
    // the count starts again.
    on_registry(
        &app,
        "UPDATE shares SET locked_until = locked_until - 15 * 60 * 1000 WHERE id = $1",
        &id_of(&token),
    )
    .await;
    assert_eq!(app.decode(&token).await["error-code"], "password-required");
    let wrong = with_password(&app, &token, "nope-nope").await;
    assert_eq!(wrong["protection"]["attempts-left"], 4, "{wrong}");
    let opened = with_password(&app, &token, PASSWORD).await;
    assert_eq!(opened["error-code"], Value::Null, "{opened}");
    assert_eq!(
        app.decode(&token).await["protection"]["attempts-left"],
        5,
        "a success resets"
    );
}

#[tokio::test]
async fn a_revoked_or_used_up_share_never_unlocks_and_its_sessions_end_at_once() {
    let app = linked_app(&[]).await;
    let token = password_link(&app).await;
    let first = session_of(&with_password(&app, &token, PASSWORD).await);
    let second = session_of(&with_password(&app, &token, PASSWORD).await);
    assert!(app.granted(&first, &ask(U1)).await && app.granted(&second, &ask(U1)).await);
    assert_eq!(revoke(&app, &id_of(&token)).await.0, 200);
    assert!(
        !app.granted(&first, &ask(U1)).await,
        "revocation ends every session"
    );
    assert!(!app.granted(&second, &ask(U1)).await);
    assert_eq!(app.decode(&first).await["error-code"], "revoked");
    assert_eq!(
        with_password(&app, &token, PASSWORD).await["error-code"],
        "revoked"
    );
    // Each unlock is one use: past max-uses the share is used up, sessions with it.
    let mut body = publication(json!({"password": PASSWORD}));
    body["max-uses"] = json!(1);
    let limited = app.token("stone-viewer-publication", &body).await;
    let session = session_of(&with_password(&app, &limited, PASSWORD).await);
    assert!(app.granted(&session, &ask(U1)).await);
    assert_eq!(
        with_password(&app, &limited, PASSWORD).await["error-code"],
        "used-up"
    );
    assert!(!app.granted(&session, &ask(U1)).await);
}

#[tokio::test]
async fn unlock_and_send_code_refuse_bad_input_with_clear_statuses_and_no_echo() {
    let app = linked_app(&[]).await;
    let token = password_link(&app).await;
    let plain = app
        .token("stone-viewer-publication", &publication(Value::Null))
        .await;
    let cases = [
        (json!({"password": PASSWORD}), 422),
        (json!({"token-value": token}), 400),
        (
            json!({"token-value": token, "password": PASSWORD, "code": "123456"}),
            400,
        ),
        // No token at all reads as none of ours, as decode answers it.
        (json!({"token-value": "", "password": PASSWORD}), 200),
        // The link's state refuses these: a code for a password link, a secret for a plain one.
        (json!({"token-value": token, "code": "123456"}), 409),
        (json!({"token-value": plain, "password": PASSWORD}), 409),
        (json!({"token-value": 5, "password": PASSWORD}), 422),
        (json!([token]), 422),
    ];
    for (body, expected) in cases {
        let (status, answer) = unlock(&app, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        if expected == 200 {
            assert_eq!(answer["error-code"], "invalid", "{answer}");
        } else {
            crate::helpers::assert_no_token_in(status, &answer);
        }
        assert!(!answer.to_string().contains(PASSWORD), "{answer}");
    }
    let answer = with_password(&app, "eyJhbGciOiJIUzI1NiJ9.e30.forged", PASSWORD).await;
    assert_eq!(answer["error-code"], "invalid");
    // send-code with e-mails off: 404, as every e-mail route (its refusals with e-mails on are
    // in an_email_code_link_is_created_with_its_addresses_checked); a body of the wrong shape
    // is still a 422.
    let (status, answer) = send_code(&app, &token, 0).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "e-mails disabled");
    let (status, answer) = app
        .send(
            Method::POST,
            "/tokens/send-code",
            &json!({"token-value": token, "address": -1}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let res = app
        .client
        .post(app.url("/tokens/unlock"))
        .header(
            "Authorization",
            crate::helpers::basic(USER, crate::helpers::PASSWORD),
        )
        .header("Content-Type", "text/plain")
        .body("password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = app
        .client
        .post(app.url("/tokens/unlock"))
        .json(&json!({"token-value": token, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "credentials first");
    // None of the refusals counted as a wrong attempt.
    assert_eq!(app.decode(&token).await["protection"]["attempts-left"], 5);
}

// ---------------------------------------------------------------- codes

/// The 6-digit code in the last message the server received for `to`.
fn code_in_mail(smtp: &SmtpServer, to: &str) -> String {
    let messages = smtp.messages();
    let message = messages
        .iter()
        .rev()
        .find(|m| {
            m["rcpts"]
                .as_array()
                .is_some_and(|r| r.iter().any(|a| a == to))
        })
        .unwrap_or_else(|| panic!("no message to {to}: {messages:?}"));
    let text = part(message, "text/plain");
    let digits: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 6)
        .collect();
    assert!(!digits.is_empty(), "no code in {text}");
    assert!(
        !message["headers"]["Subject"]
            .as_str()
            .unwrap()
            .contains(digits[0]),
        "the code is not in the subject"
    );
    digits[0].to_owned()
}

#[tokio::test]
async fn a_code_sent_by_e_mail_unlocks_once_expires_and_is_sent_three_times_per_15_minutes() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let email = spawn_email_app(smtp.port, &LINKS).await;
    let app = &email.app;
    let token = app
        .token(
            "stone-viewer-publication",
            &publication(json!({"email-code": ["alice@example.test", "bob@example.test"]})),
        )
        .await;
    let (status, sent) = send_code(app, &token, 1).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["error-code"], "code-required");
    assert_eq!(
        sent["protection"]["code-sent"]["address"],
        "b***@example.test"
    );
    let expires: DateTime<Utc> = sent["protection"]["code-sent"]["expires-at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let minutes = (expires - Utc::now()).num_seconds() as f64 / 60.0;
    assert!((9.9..=10.0).contains(&minutes), "{minutes} min");
    let code = code_in_mail(&smtp, "bob@example.test");
    assert!(
        !sent.to_string().contains(&code),
        "the answer never holds the code"
    );
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.messages()[0]["rcpts"], json!(["bob@example.test"]));

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let answer = with_code(app, &token, wrong).await;
    assert_eq!(answer["error-code"], "wrong-code", "{answer}");
    assert_eq!(answer["protection"]["attempts-left"], 4);
    let opened = with_code(app, &token, &format!("{} {}", &code[..3], &code[3..])).await;
    assert_eq!(opened["error-code"], Value::Null, "{opened}");
    assert!(app.granted(&session_of(&opened), &ask(U1)).await);
    // A code opens once.
    let again = with_code(app, &token, &code).await;
    assert_eq!(again["error-code"], "wrong-code", "{again}");

    // Two more codes may go out within the 15 minutes (three in all), then none.
    assert_eq!(
        send_code(app, &token, 0).await.1["error-code"],
        "code-required"
    );
    let alice = code_in_mail(&smtp, "alice@example.test");
    let (status, third) = send_code(app, &token, 0).await;
    assert_eq!(
        (status, &third["error-code"]),
        (200, &json!("code-required"))
    );
    let newest = code_in_mail(&smtp, "alice@example.test");
    let (status, fourth) = send_code(app, &token, 1).await;
    assert_eq!(status, 200);
    assert_eq!(fourth["error-code"], "too-many-codes", "{fourth}");
    let retry = fourth["protection"]["retry-after"].as_u64().unwrap();
    assert!((890..=900).contains(&retry), "{retry} s");
    assert_eq!(smtp.messages().len(), 3, "the fourth was not sent");
    // One active code per address: the newer replaced the older.
    if alice != newest {
        assert_eq!(
            with_code(app, &token, &alice).await["error-code"],
            "wrong-code"
        );
    }
    // A code past its 10 minutes: said expired, not counted as a guess.
    on_registry(
        app,
        "UPDATE unlock_codes SET expires_at = expires_at - 10 * 60 * 1000 WHERE share_id = $1",
        &id_of(&token),
    )
    .await;
    let before = app.decode(&token).await["protection"]["attempts-left"].clone();
    let expired = with_code(app, &token, &newest).await;
    assert_eq!(expired["error-code"], "code-expired", "{expired}");
    assert_eq!(expired["protection"]["attempts-left"], before);
    // The window passes: codes go out again.
    on_registry(
        app,
        "UPDATE code_sends SET sent_at = sent_at - 15 * 60 * 1000 WHERE share_id = $1",
        &id_of(&token),
    )
    .await;
    assert_eq!(
        send_code(app, &token, 1).await.1["error-code"],
        "code-required"
    );
}

// ---------------------------------------------------------------- OE2's share dialog

#[tokio::test]
async fn oe2_plain_link_e_mailed_is_bound_to_its_recipients_and_opens_with_a_code() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let mut env = LINKS.to_vec();
    env.push(("PROTECT_EMAILED_LINKS", "code"));
    let email = spawn_email_app(smtp.port, &env).await;
    std::fs::write(
        std::path::Path::new(&email.templates.root()).join("protected.html"),
        "<html><body><div>{email-content}</div><p class=\"notice\">{link-protection}</p></body></html>",
    )
    .unwrap();
    let app = &email.app;
    // OE2 creates a plain publication through the plugin...
    let (status, created) = app
        .create("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert_eq!(status, 200, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let link = created["url"].as_str().unwrap().to_owned();
    // ...which works as any link until it is bound (the sender checking it).
    assert!(app.granted(&token, &ask(U1)).await);
    assert_eq!(app.decode(&token).await["error-code"], Value::Null);
    // Then sends it, unchanged, with /emails/send.
    let (status, answer) = app
        .send(
            Method::POST,
            "/emails/send",
            &json!({"destination-email": "carol@example.test; dan@example.test",
                    "email-title": "A study for you",
                    "email-content": format!("<p>Open <a href=\"{link}\">the study</a></p>"),
                    "layout-template": "protected"}),
        )
        .await;
    assert_eq!(
        (status, &answer),
        (200, &json!({"success": true, "details": null}))
    );
    let mail = &smtp.messages()[0];
    let html = part(mail, "text/html");
    assert!(
        html.contains(
            "<p class=\"notice\"><p>To open this link, you will be asked for a one-time code"
        ),
        "{html}"
    );
    // Bound: the plain token opens nothing now, the link asks for a code sent to a recipient.
    assert!(!app.granted(&token, &ask(U1)).await);
    let decoded = app.decode(&token).await;
    assert_eq!(decoded["error-code"], "code-required", "{decoded}");
    assert_eq!(
        decoded["protection"]["addresses"],
        json!(["c***@example.test", "d***@example.test"])
    );
    let (_, shown) = share(app, &id_of(&token)).await;
    assert_eq!(
        shown["protection"],
        json!({"method": "email-code", "email-code": ["carol@example.test", "dan@example.test"]})
    );
    assert_eq!(send_code(app, &token, 1).await.0, 200);
    let code = code_in_mail(&smtp, "dan@example.test");
    let opened = with_code(app, &token, &code).await;
    assert_eq!(opened["error-code"], Value::Null, "{opened}");
    assert!(app.granted(&session_of(&opened), &ask(U1)).await);

    // A message without any link of ours carries no notice; the placeholder is emptied.
    let (status, _) = app
        .send(
            Method::POST,
            "/emails/send",
            &json!({"destination-email": "erin@example.test", "email-title": "Hello",
                    "email-content": "<p>No link here</p>", "layout-template": "protected"}),
        )
        .await;
    assert_eq!(status, 200);
    let html = part(&smtp.messages()[smtp.messages().len() - 1], "text/html").to_owned();
    assert!(
        html.contains("<p class=\"notice\"></p>") && !html.contains("{link-protection}"),
        "{html}"
    );

    // A link of ours the registry never recorded cannot be protected: nothing is sent.
    let before = smtp.messages().len();
    let (status, answer) = app
        .send(
            Method::POST,
            "/emails/send",
            &json!({"destination-email": "erin@example.test", "email-title": "Old link",
                    "email-content": format!("<a href=\"{LANDING}?token={}\">old</a>", crate::tokens::PROTOCOL_TOKEN_1)}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["details"]
            .as_str()
            .unwrap()
            .contains("not in the share registry"),
        "{answer}"
    );
    assert_eq!(smtp.messages().len(), before);
}

// ---------------------------------------------------------------- replicas

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgresql_see_a_lockout_a_binding_and_a_revocation() {
    let Some(db) = Db::postgres(test_name!()).await else {
        return;
    };
    let url = db.fresh().await;
    let a = db.app(&url, &[]).await;
    let b = db.app(&url, &[]).await;
    let token = password_link(&a).await;
    // Five wrong passwords, spread over both replicas, lock the share on both.
    for (i, replica) in [&a, &b, &a, &b].into_iter().enumerate() {
        let answer = with_password(replica, &token, "wrong-wrong").await;
        assert_eq!(
            answer["protection"]["attempts-left"],
            4 - i as u64,
            "{answer}"
        );
    }
    assert_eq!(
        with_password(&b, &token, "wrong-wrong").await["error-code"],
        "locked"
    );
    assert_eq!(
        with_password(&a, &token, PASSWORD).await["error-code"],
        "locked"
    );
    assert_eq!(b.decode(&token).await["error-code"], "locked");

    // A session opened on A ends on B with a revocation made on A.
    let other = password_link(&a).await;
    let session = session_of(&with_password(&b, &other, PASSWORD).await);
    assert!(a.granted(&session, &ask(U1)).await && b.granted(&session, &ask(U1)).await);
    assert_eq!(revoke(&a, &id_of(&other)).await.0, 200);
    eventually(
        Duration::from_secs(2),
        "B refuses the revoked share's session",
        || async { !b.granted(&session, &ask(U1)).await },
    )
    .await;
    assert_eq!(
        with_password(&b, &other, PASSWORD).await["error-code"],
        "revoked"
    );

    // A plain share bound on one replica is refused by the other's validation.
    let plain = a
        .token("stone-viewer-publication", &publication(Value::Null))
        .await;
    assert!(b.granted(&plain, &ask(U1)).await);
    let store = auth_service::shares::ShareStore::connect(&url)
        .await
        .unwrap();
    let bound = store
        .bind(
            &ShareId::of_token(&plain),
            &["carol@example.test".to_owned()],
            Utc::now().timestamp_millis(),
        )
        .await
        .unwrap();
    assert!(
        matches!(bound, auth_service::shares::Bound::Bound(_)),
        "{bound:?}"
    );
    for replica in [&a, &b] {
        eventually(
            Duration::from_secs(2),
            "a replica refuses the bound share's token",
            || async { !replica.granted(&plain, &ask(U1)).await },
        )
        .await;
    }
    assert_eq!(b.decode(&plain).await["error-code"], "code-required");
    store.close().await;
}

// ---------------------------------------------------------------- logs

#[tokio::test]
async fn no_log_line_holds_a_password_a_code_or_a_token() {
    let smtp = or_skip!(SmtpServer::start(test_name!(), SmtpOptions::default()).await);
    let templates = tempfile::tempdir().unwrap();
    let port = smtp.port.to_string();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let app = crate::stand_ins::BinaryApp::start(&[
        ("RUST_LOG", "debug"),
        ("DATA_DIR", &data_dir),
        ("PUBLIC_ORTHANC_ROOT", ORTHANC),
        ("PUBLIC_LANDING_ROOT", LANDING),
        ("ENABLE_EMAILS", "true"),
        ("EMAILS_TEMPLATES_ROOT", templates.path().to_str().unwrap()),
        ("EMAILS_SENDER_ADDRESS", "pacs@example.test"),
        ("EMAILS_SMTP_SERVER_HOSTNAME", "127.0.0.1"),
        ("EMAILS_SMTP_SERVER_PORT", &port),
    ]);
    let client = reqwest::Client::new();
    let call = |path: &str, body: Value| {
        client
            .request(
                if path.starts_with("/tokens/stone") {
                    Method::PUT
                } else {
                    Method::POST
                },
                app.url(path),
            )
            .header(
                "Authorization",
                crate::helpers::basic(USER, crate::helpers::PASSWORD),
            )
            .json(&body)
            .send()
    };
    let json_of = |res: reqwest::Response| async move { res.json::<Value>().await.unwrap() };
    let created = json_of(
        call(
            "/tokens/stone-viewer-publication",
            publication(json!({"password": PASSWORD})),
        )
        .await
        .unwrap(),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let wrong = "Wrong-Pass-9876";
    json_of(
        call(
            "/tokens/unlock",
            json!({"token-value": token, "password": wrong}),
        )
        .await
        .unwrap(),
    )
    .await;
    let opened = json_of(
        call(
            "/tokens/unlock",
            json!({"token-value": token, "password": PASSWORD}),
        )
        .await
        .unwrap(),
    )
    .await;
    let session = session_of(&opened);
    let coded = json_of(
        call(
            "/tokens/stone-viewer-publication",
            publication(json!({"email-code": ["alice@example.test"]})),
        )
        .await
        .unwrap(),
    )
    .await;
    let code_token = coded["token"].as_str().unwrap().to_owned();
    let sent = json_of(
        call(
            "/tokens/send-code",
            json!({"token-value": code_token, "address": 0}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(sent["error-code"], "code-required", "{sent}");
    let code = code_in_mail(&smtp, "alice@example.test");
    let with = json_of(
        call(
            "/tokens/unlock",
            json!({"token-value": code_token, "code": code}),
        )
        .await
        .unwrap(),
    )
    .await;
    let code_session = session_of(&with);
    app.wait_for_line(&[
        "protected link unlocked",
        &ShareId::of_token(&code_token).fingerprint(),
    ])
    .await;
    let log = app.log();
    for secret in [
        PASSWORD,
        wrong,
        &token,
        &session,
        &code_token,
        &code_session,
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    // Six digits turn up inside timestamps and durations: the code is looked for on its own.
    let alone = log
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run == code);
    assert!(!alone, "the code {code} in the log:\n{log}");
    // What it does show: fingerprints, the masked address.
    assert!(
        log.contains(&ShareId::of_token(&token).fingerprint()),
        "{log}"
    );
    assert!(log.contains("a***@example.test"), "{log}");
}
