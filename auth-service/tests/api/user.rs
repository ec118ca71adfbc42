//! `POST /user/get-profile`: the anonymous profile, Keycloak access tokens, api-keys, user ids.
use std::time::{Duration, Instant};

use auth_service::settings::{Settings, Source};
use auth_service::startup::Application;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{basic, spawn_app, status_json, TestApp, PASSWORD, USER};
use crate::realm::{fixture, Realm};

/// The Python service's answer for anonymous visitors with the fixture file (golden `full/profile/*`).
const ANONYMOUS: &str = r#"{"authorized-labels":[],"permissions":["upload"],"name":"Anonymous","user-id":null,"validity":60,"groups":[]}"#;

/// Copies of the fixture files in a fresh folder (PUT may rewrite the roles file).
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        let dir = tempfile::tempdir().expect("temp dir");
        for (from, to) in [
            ("permissions.jsonc", "permissions.json"),
            ("anonymous-profile.jsonc", "anonymous-profile.json"),
        ] {
            std::fs::copy(fixture(from), dir.path().join(to)).expect("fixture copied");
        }
        Files { dir }
    }
    pub fn roles(&self) -> String {
        self.dir
            .path()
            .join("permissions.json")
            .display()
            .to_string()
    }
    pub fn anonymous(&self) -> String {
        self.dir
            .path()
            .join("anonymous-profile.json")
            .display()
            .to_string()
    }
}

/// The app with the fixture files, pointed at `realm` when given, plus `extra` settings.
pub async fn app(files: &Files, realm: Option<&Realm>, extra: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(String, String)> = vec![
        ("PERMISSIONS_FILE_PATH".into(), files.roles()),
        ("ANONYMOUS_PROFILE_FILE_PATH".into(), files.anonymous()),
    ];
    if let Some(realm) = realm {
        env.extend(realm.env());
    }
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app(&pairs).await
}

pub async fn profile(app: &TestApp, body: Value) -> (u16, Value) {
    app.send(reqwest::Method::POST, "/user/get-profile", &body)
        .await
}

async fn raw_profile(app: &TestApp, body: &str) -> (u16, String) {
    let res = app
        .client
        .post(app.url("/user/get-profile"))
        .header("Authorization", basic(USER, PASSWORD))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    (res.status().as_u16(), res.text().await.expect("body"))
}

fn anonymous() -> Value {
    serde_json::from_str(ANONYMOUS).expect("constant is JSON")
}

#[tokio::test]
async fn without_keycloak_every_caller_gets_the_anonymous_profile_of_the_file() {
    let files = Files::new();
    let app = app(&files, None, &[]).await;
    for body in [
        "{}",
        r#"{"token-key": "Authorization", "token-value": "Bearer abc.def.ghi"}"#,
        r#"{"token-value": "Bearer abc"}"#,
        r#"{"token-key": "Authorization", "token-value": ""}"#,
        r#"{"user-id": "u-doctor"}"#,
        r#"{"server-id": "orthanc-a"}"#,
        r#"{"token-key": "api-key", "token-value": "key-doctor-0002"}"#,
        r#"{"foo": 1}"#,
        r#"{"server-id":null,"token-key":"","token-value":""}"#,
    ] {
        assert_eq!(
            raw_profile(&app, body).await,
            (200, ANONYMOUS.to_owned()),
            "{body}"
        );
    }
    for body in ["[", "[]", r#"{"token-value": 5}"#] {
        assert_eq!(raw_profile(&app, body).await.0, 422, "{body}");
    }
}

#[tokio::test]
async fn a_missing_anonymous_profile_file_means_no_permissions() {
    let files = Files::new();
    let app = app(
        &files,
        None,
        &[("ANONYMOUS_PROFILE_FILE_PATH", "/nonexistent/anonymous.json")],
    )
    .await;
    assert_eq!(
        profile(&app, json!({})).await,
        (
            200,
            json!({"authorized-labels": [], "permissions": [], "name": "Anonymous", "user-id": null, "validity": 60, "groups": []})
        )
    );
}

fn build(files: &Files, extra: &[(&str, &str)]) -> Result<Application, String> {
    let mut vars: std::collections::HashMap<String, String> = [
        ("SECRET_KEY", "k"),
        ("USERS", r#"{"u": "p"}"#),
        ("BIND_ADDRESS", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("PERMISSIONS_FILE_PATH".into(), files.roles());
    vars.insert("ANONYMOUS_PROFILE_FILE_PATH".into(), files.anonymous());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let settings = Settings::from_source(&Source::new(vars, std::path::Path::new("/nonexistent")))
        .expect("settings");
    Application::build(settings).map_err(|e| format!("{e:#}"))
}

#[tokio::test]
async fn a_roles_or_profile_file_that_does_not_parse_stops_the_start_with_its_path() {
    let files = Files::new();
    assert!(build(&files, &[]).is_ok());
    std::fs::write(
        files.roles(),
        r#"{"roles": {"a": {"permissions": ["fly"]}}}"#,
    )
    .expect("write");
    let e = build(&files, &[]).err().expect("refused");
    assert!(
        e.contains(&files.roles()) && e.contains("unknown permission \"fly\""),
        "{e}"
    );
    std::fs::write(files.roles(), "{\"roles\": {} // unterminated").expect("write");
    let e = build(&files, &[]).err().expect("refused");
    assert!(e.contains(&files.roles()) && e.contains("line 1"), "{e}");
    let e = build(
        &files,
        &[("PERMISSIONS_FILE_PATH", "/nonexistent/roles.json")],
    )
    .err()
    .expect("refused");
    assert!(e.contains("/nonexistent/roles.json"), "{e}");

    let files = Files::new();
    std::fs::write(files.anonymous(), r#"{"name": "Anonymous"}"#).expect("write");
    let e = build(&files, &[]).err().expect("refused");
    assert!(
        e.contains(&files.anonymous()) && e.contains("validity"),
        "{e}"
    );
}

#[tokio::test]
async fn a_realm_access_token_maps_its_roles_through_the_roles_file() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let token = realm.token("doctor-app").await;
    let doctor = json!({
        "authorized-labels": ["*", "external", "teaching"],
        "permissions": ["view", "download", "share", "send"],
        "name": "Doctor Who", "user-id": "doctor-app", "validity": 60,
        "groups": ["/doctors", "/staff"]
    });
    let bearer = format!("Bearer {token}");
    for body in [
        json!({"server-id": null, "token-key": "Authorization", "token-value": bearer}),
        json!({"server-id": "orthanc-a", "token-key": "token", "token-value": token}),
    ] {
        assert_eq!(profile(&app, body).await, (200, doctor.clone()));
    }
    let admin = realm.token("admin-app").await;
    let (status, answer) = profile(&app, json!({"token-key": "token", "token-value": admin})).await;
    assert_eq!(
        (status, &answer["permissions"]),
        (200, &json!(["all", "admin-permissions"]))
    );
    assert_eq!(answer["name"], "admin");
    let nobody = realm.token("nobody-app").await;
    let (_, answer) = profile(&app, json!({"token-key": "token", "token-value": nobody})).await;
    assert_eq!(
        (&answer["permissions"], &answer["groups"]),
        (&json!([]), &json!([]))
    );
    // No token at all: anonymous, as without Keycloak.
    assert_eq!(
        profile(&app, json!({"token-key": "", "token-value": ""})).await,
        (200, anonymous())
    );
}

fn unsigned(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn access_tokens_that_do_not_verify_give_the_anonymous_profile() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let admin_claims = json!({"sub": "x", "realm_access": {"roles": ["admin-role"]}});
    // The realm key itself signs a valid admin token: the baseline the refusals differ from.
    let good = realm.sign(admin_claims.clone(), json!({})).await;
    let (_, answer) = profile(&app, json!({"token-key": "token", "token-value": good})).await;
    assert_eq!(answer["permissions"], json!(["all", "admin-permissions"]));

    let now = chrono::Utc::now().timestamp();
    let with = |extra: Value| {
        let mut c = admin_claims.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let other_issuer = format!("{}/realms/master", realm.base());
    let cases: Vec<(&str, String)> = vec![
        ("expired", realm.sign(with(json!({"exp": now - 3600, "iat": now - 7200})), json!({})).await),
        ("not yet valid", realm.sign(with(json!({"nbf": now + 3600})), json!({})).await),
        ("wrong issuer", realm.sign(with(json!({"iss": other_issuer})), json!({})).await),
        ("wrong audience", realm.sign(with(json!({"aud": "orthanc"})), json!({})).await),
        ("unknown kid", realm.sign(admin_claims.clone(), json!({"kid": "not-a-realm-key"})).await),
        (
            "HS256 with the share secret",
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &with(json!({"iss": format!("{}/realms/orthanc", realm.base()), "aud": "account", "exp": now + 300})),
                &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        (
            "alg none",
            unsigned(
                json!({"alg": "none", "typ": "JWT", "kid": realm.kid}),
                with(json!({"iss": format!("{}/realms/orthanc", realm.base()), "aud": "account", "exp": now + 300})),
            ),
        ),
        ("tampered payload", {
            let parts: Vec<&str> = good.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(with(json!({"iss": format!("{}/realms/orthanc", realm.base()), "aud": "account", "exp": now + 300, "realm_access": {"roles": ["admin-role", "doctor-role"]}})).to_string());
            format!("{}.{}.{}", parts[0], forged, parts[2])
        }),
        ("garbage", "abc.def.ghi".to_owned()),
    ];
    for (case, token) in cases {
        for body in [
            json!({"token-key": "token", "token-value": token}),
            json!({"token-key": "Authorization", "token-value": format!("Bearer {token}")}),
        ] {
            assert_eq!(profile(&app, body).await, (200, anonymous()), "{case}");
        }
    }
}

#[tokio::test]
async fn a_rotated_realm_key_is_fetched_once_and_keys_are_not_refetched_for_garbage() {
    let mut realm = realm_or_skip!();
    let files = Files::new();
    let app = app(
        &files,
        Some(&realm),
        &[("KEYCLOAK_KEYS_REFRESH_SECONDS", "0.2")],
    )
    .await;
    let old = realm.token("doctor-app").await;
    let (_, answer) = profile(&app, json!({"token-key": "token", "token-value": old})).await;
    assert_eq!(answer["name"], "Doctor Who");

    realm.restart_with_key("realm-key-2").await;
    let new = realm.token("doctor-app").await;
    // Verified once the refresh interval since the last fetch has passed.
    let new_body = json!({"token-key": "token", "token-value": new});
    let verified = poll_until(Duration::from_secs(10), || async {
        profile(&app, new_body.clone()).await.1["name"] == "Doctor Who"
    })
    .await;
    assert!(verified, "the new key was fetched");
    // The realm no longer publishes the old key: tokens signed with it no longer verify.
    assert_eq!(
        profile(&app, json!({"token-key": "token", "token-value": old})).await,
        (200, anonymous())
    );

    // A burst of tokens with made-up key ids costs at most one JWKS fetch per interval (10 s
    // by default: the burst fits in one).
    let app = self::app(&files, Some(&realm), &[]).await;
    let before = realm.stats().await["jwks"].as_u64().unwrap();
    for i in 0..30 {
        let token = realm
            .sign(json!({}), json!({"kid": format!("made-up-{i}")}))
            .await;
        assert_eq!(
            profile(&app, json!({"token-key": "token", "token-value": token})).await,
            (200, anonymous())
        );
    }
    let fetched = realm.stats().await["jwks"].as_u64().unwrap() - before;
    assert!(
        fetched <= 1,
        "{fetched} JWKS fetches for 30 unknown key ids"
    );
}

/// Asks `check` until it holds or `limit` passes: for what becomes true on another clock (a
/// refresh interval), never a fixed sleep.
pub async fn poll_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cached_realm_keys_verify_tokens_while_keycloak_is_down() {
    let mut realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let token = realm.token("doctor-app").await;
    let body = json!({"token-key": "token", "token-value": token});
    let first = profile(&app, body.clone()).await;
    assert_eq!(first.1["name"], "Doctor Who");
    realm.stop().await;
    assert_eq!(profile(&app, body).await, first);
}

#[tokio::test]
async fn api_keys_give_the_profile_of_the_one_enabled_user_holding_them() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let key = |v: &str| json!({"server-id": null, "token-key": "api-key", "token-value": v});
    assert_eq!(
        profile(&app, key("key-doctor-0002")).await,
        (
            200,
            json!({"authorized-labels": ["*", "external", "teaching"], "permissions": ["view", "download", "share", "send"],
                   "name": "doctor", "user-id": "u-doctor", "validity": 60, "groups": []})
        )
    );
    for (case, value) in [
        ("disabled user", "key-disabled-0003"),
        ("user not valid before 2100", "key-future-0004"),
        ("key held by two users", "key-dup-0005"),
        ("unknown key", "key-nobody-9999"),
        ("search syntax", "key-doctor-0002 api-key:key-admin-0001"),
    ] {
        assert_eq!(
            profile(&app, key(value)).await,
            (200, anonymous()),
            "{case}"
        );
    }
    // Looked up once, then remembered (KEYCLOAK_API_KEY_CACHE_SECONDS).
    let before = realm.stats().await["admin"].as_u64().unwrap();
    for _ in 0..5 {
        assert_eq!(profile(&app, key("key-doctor-0002")).await.0, 200);
        assert_eq!(
            profile(&app, key("key-nobody-9999")).await,
            (200, anonymous())
        );
    }
    assert_eq!(realm.stats().await["admin"].as_u64().unwrap(), before);

    // The admin token is revoked: fetched again once, and the look-up still answers.
    realm.revoke_admin_tokens().await;
    let (status, answer) = profile(&app, key("key-admin-0001")).await;
    assert_eq!(
        (status, &answer["name"]),
        (200, &json!("admin")),
        "{answer}"
    );
}

#[tokio::test]
async fn user_id_alone_gives_the_user_name_and_no_rights() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    assert_eq!(
        profile(&app, json!({"user-id": "u-external"})).await,
        (
            200,
            json!({"authorized-labels": [], "permissions": [], "name": "external", "user-id": "u-external", "validity": 60, "groups": []})
        )
    );
    assert_eq!(
        profile(&app, json!({"user-id": "u-nobody"})).await,
        (200, anonymous())
    );
    assert_eq!(
        profile(&app, json!({"user-id": "../roles"})).await,
        (200, anonymous())
    );
}

#[tokio::test]
async fn admin_lookups_answer_503_when_keycloak_is_down_or_slow() {
    let mut realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[("KEYCLOAK_TIMEOUT_SECONDS", "1")]).await;
    let key = |v: &str| json!({"token-key": "api-key", "token-value": v});
    assert_eq!(profile(&app, key("key-doctor-0002")).await.0, 200);

    realm.delay(3000).await;
    let started = Instant::now();
    let (status, answer) = profile(&app, key("key-admin-0001")).await;
    assert_eq!(
        (status, &answer["error"]),
        (503, &json!("keycloak unavailable")),
        "{answer}"
    );
    assert!(
        answer["detail"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_millis(2900));
    realm.delay(0).await;

    realm.stop().await;
    let (status, answer) = profile(&app, key("key-external-0007")).await;
    assert_eq!(
        (status, &answer["error"]),
        (503, &json!("keycloak unavailable")),
        "{answer}"
    );
    assert!(
        !answer.to_string().contains("key-external"),
        "the api-key is never echoed: {answer}"
    );
    let (status, _) = profile(&app, json!({"user-id": "u-doctor"})).await;
    assert_eq!(status, 503);
    // Remembered look-ups still answer.
    assert_eq!(
        profile(&app, key("key-doctor-0002")).await.1["name"],
        "doctor"
    );
}

#[tokio::test]
async fn get_profile_is_behind_basic_auth() {
    let files = Files::new();
    let app = app(&files, None, &[]).await;
    let res = app
        .client
        .post(app.url("/user/get-profile"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(res).await,
        (401, json!({"detail": "Not authenticated"}))
    );
}

#[tokio::test]
async fn a_realm_token_without_kid_is_verified_against_the_published_keys() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let claims = json!({"sub": "u-admin", "preferred_username": "admin", "realm_access": {"roles": ["admin-role"]}});
    let no_kid = realm.sign(claims.clone(), json!({"kid": null})).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(no_kid.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(header.get("kid").is_none(), "{header}");
    let (status, answer) = profile(
        &app,
        json!({"token-key": "Authorization", "token-value": format!("Bearer {no_kid}")}),
    )
    .await;
    assert_eq!(
        (status, &answer["permissions"], &answer["name"]),
        (200, &json!(["all", "admin-permissions"]), &json!("admin")),
        "{answer}"
    );
    // Still RS256 with a realm key, a good signature and the realm's claims.
    let now = chrono::Utc::now().timestamp();
    let expired = realm
        .sign(
            json!({"exp": now - 3600, "iat": now - 7200, "realm_access": {"roles": ["admin-role"]}}),
            json!({"kid": null}),
        )
        .await;
    let parts: Vec<&str> = no_kid.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": format!("{}/realms/orthanc", realm.base()), "aud": "account", "exp": now + 300, "realm_access": {"roles": ["admin-role", "doctor-role"]}})
            .to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    for (case, token) in [("expired", expired), ("tampered", tampered)] {
        assert_eq!(
            profile(&app, json!({"token-key": "token", "token-value": token})).await,
            (200, anonymous()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn concurrent_lookups_of_one_api_key_make_one_keycloak_search() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let key = |v: &str| json!({"token-key": "api-key", "token-value": v});
    // The admin token is fetched and the connection pool warm.
    assert_eq!(
        profile(&app, key("key-doctor-0002")).await.1["name"],
        "doctor"
    );
    let before = realm.stats().await["admin"].as_u64().unwrap();
    // Slow enough that every request arrives while the first search is still out.
    realm.delay(300).await;
    let app = std::sync::Arc::new(app);
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = app.clone();
        lookups.spawn(async move { profile(&app, key("key-nobody-4242")).await });
    }
    let answers = lookups.join_all().await;
    realm.delay(0).await;
    for answer in answers {
        assert_eq!(answer, (200, anonymous()));
    }
    assert_eq!(
        realm.stats().await["admin"].as_u64().unwrap() - before,
        1,
        "20 concurrent look-ups of one api-key, one search"
    );
}

#[tokio::test]
async fn an_oversized_keycloak_answer_is_refused() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    realm.bloat(2 * 1024 * 1024).await;
    let (status, answer) = profile(
        &app,
        json!({"token-key": "api-key", "token-value": "key-doctor-0002"}),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (503, &json!("keycloak unavailable")),
        "{answer}"
    );
    assert!(
        answer["detail"]
            .as_str()
            .is_some_and(|d| d.contains("larger than 1048576 bytes")),
        "{answer}"
    );
    realm.bloat(0).await;
    assert_eq!(
        profile(
            &app,
            json!({"token-key": "api-key", "token-value": "key-doctor-0002"})
        )
        .await
        .1["name"],
        "doctor"
    );
}

#[tokio::test]
async fn where_python_answered_less_we_decide_on_purpose() {
    let realm = realm_or_skip!();
    let files = Files::new();
    let app = app(&files, Some(&realm), &[]).await;
    let token = realm.token("doctor-app").await;
    // A token-value without token-key: Python looks at no token (anonymous); so do we.
    assert_eq!(
        profile(&app, json!({"token-value": format!("Bearer {token}")})).await,
        (200, anonymous())
    );
    // An api-key is looked up as sent: with a `Bearer ` prefix it is another key (Python too).
    assert_eq!(
        profile(
            &app,
            json!({"token-key": "api-key", "token-value": "Bearer key-doctor-0002"})
        )
        .await,
        (200, anonymous())
    );
    // An empty token-value is no token: the user-id decides (Python: 400 "Unable to decode
    // token"; release-notes.md).
    assert_eq!(
        profile(
            &app,
            json!({"token-key": "Authorization", "token-value": "", "user-id": "u-external"})
        )
        .await
        .1["name"],
        "external"
    );
}
