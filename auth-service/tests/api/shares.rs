//! The share registry, end to end over HTTP. Every test runs twice: on SQLite and on a real
//! PostgreSQL server (see `on_both!`).
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use auth_service::domain::ShareId;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{basic, json_answer, series_value, spawn_app, TestApp, PASSWORD, USER};
use crate::postgres_server::PostgresServer;

const U1: &str = "1.2.840.1";
const U2: &str = "1.2.840.2";
const LANDING: &str = "https://pacs.example.test/landing/";

/// Where the tests' databases live: SQLite files in a temp dir, or databases of one PostgreSQL.
pub struct Db {
    pg: Option<PostgresServer>,
    dir: tempfile::TempDir,
    next: AtomicU32,
}

impl Db {
    pub async fn sqlite() -> Db {
        Db {
            pg: None,
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicU32::new(0),
        }
    }

    pub async fn postgres(test: &str) -> Option<Db> {
        Some(Db {
            pg: Some(PostgresServer::start(test).await?),
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicU32::new(0),
        })
    }

    /// A new, empty database.
    pub async fn fresh(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match &self.pg {
            Some(pg) => pg.database(&format!("registry_{n}")).await,
            None => format!(
                "sqlite://{}",
                self.dir
                    .path()
                    .join(format!("registry-{n}.sqlite"))
                    .display()
            ),
        }
    }

    pub fn server(&mut self) -> Option<&mut PostgresServer> {
        self.pg.as_mut()
    }

    /// An app on the database `url`, with links configured and `env` added.
    pub async fn app(&self, url: &str, env: &[(&str, &str)]) -> TestApp {
        let mut vars = vec![
            ("DATABASE_URL", url),
            ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
            ("PUBLIC_LANDING_ROOT", LANDING),
            ("USERS", r#"{"share-user": "change-me", "oe2": "other-pw"}"#),
        ];
        vars.extend_from_slice(env);
        spawn_app(&vars).await
    }

    /// An app on a database of its own.
    pub async fn lone_app(&self, env: &[(&str, &str)]) -> TestApp {
        let url = self.fresh().await;
        self.app(&url, env).await
    }
}

/// Runs each listed `async fn(Db)` as a test on SQLite and as one on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::Db::postgres(stringify!($name)).await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

on_both!(
    a_created_share_is_recorded_without_its_token,
    a_revoked_share_is_refused_and_revoking_again_changes_nothing,
    an_id_revoked_before_its_record_stays_revoked,
    every_share_of_a_resource_is_revoked_at_once,
    the_list_filters_and_pages_newest_first,
    a_share_with_a_use_limit_is_used_up_past_it,
    uses_are_written_in_batches,
    concurrent_creations_are_all_recorded_and_share_commits,
    a_share_of_many_studies_is_recorded_whole,
    registration_can_be_required,
    expired_shares_are_purged_after_the_retention,
    a_restarted_service_still_refuses_what_was_revoked,
    a_revocation_on_one_replica_reaches_the_other,
    migrations_apply_on_an_empty_database_and_on_the_previous_one,
);

pub fn study(uid: &str) -> Value {
    json!({"dicom-uid": uid, "orthanc-id": orthanc_id(uid), "level": "study"})
}

/// An id in Orthanc's form (`xxxxxxxx-...`, five groups), one per UID, as creation requires.
pub fn orthanc_id(uid: &str) -> String {
    use sha2::Digest;
    let hex = hex::encode(sha2::Sha256::digest(uid.as_bytes()));
    let groups: Vec<&str> = (0..5).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join("-")
}

pub fn ask(uid: &str) -> Value {
    json!({"dicom-uid": uid, "level": "study", "method": "get"})
}

/// Creates a publication; each gets its own `id` (identical requests give identical tokens).
pub async fn publish(app: &TestApp, resources: Value, extra: Value) -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut body = json!({"id": format!("share-{n}"), "resources": resources});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let token = app.token("stone-viewer-publication", &body).await;
    let id = ShareId::of_token(&token).to_string();
    (token, id)
}

pub async fn share(app: &TestApp, id: &str) -> (u16, Value) {
    app.send(Method::GET, &format!("/shares/{id}"), &json!(null))
        .await
}

/// A share record as a replica's writer makes it (a viewer instant link of no resource), for the
/// tests that write to the database directly.
pub fn share_record(
    token: &str,
    created_at: i64,
    created_by: &str,
) -> auth_service::shares::ShareRecord {
    auth_service::shares::ShareRecord {
        id: ShareId::of_token(token),
        token_type: Some(auth_service::domain::TokenType::ViewerInstantLink),
        recorded: true,
        resources: vec![],
        url: None,
        created_at,
        created_by: created_by.into(),
        expires_at: None,
        max_uses: None,
        use_count: 0,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        protection: None,
        locked_until: None,
    }
}

/// `POST /shares/{id}/revoke`: revokes a share.
pub async fn revoke(app: &TestApp, id: &str) -> (u16, Value) {
    app.send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
        .await
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    app.send(Method::GET, path, &json!(null)).await
}

/// Waits (polling, up to `limit`) until `check` holds; panics with `what` otherwise.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_created_share_is_recorded_without_its_token(db: Db) {
    let app = db.lone_app(&[]).await;
    let (token, id) = publish(
        &app,
        json!([study(U1)]),
        json!({"validity-duration": 3600, "max-uses": 3}),
    )
    .await;
    let (status, s) = share(&app, &id).await;
    assert_eq!(status, 200, "{s}");
    assert!(!s.to_string().contains(&token), "the token is stored: {s}");
    assert_eq!(s["id"], id);
    assert_eq!(s["type"], "stone-viewer-publication");
    assert_eq!(s["resources"][0]["dicom-uid"], U1);
    assert_eq!(s["url"], format!("{LANDING}?token="));
    assert_eq!(s["created-by"], USER);
    assert_eq!(s["max-uses"], 3);
    assert_eq!(s["use-count"], 0);
    assert_eq!(s["state"], "active");
    assert_eq!(s["revoked-at"], Value::Null);
    assert!(
        s["expiration-date"].is_string() && s["created-at"].is_string(),
        "{s}"
    );
    let other = ShareId::of_token("not a token").to_string();
    assert_eq!(share(&app, &other).await.0, 404);
    let (status, body) = share(&app, "not-an-id").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown share"))
    );
    let res = app
        .client
        .get(app.url(&format!("/shares/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The plugin's answer is unchanged when it did not ask for a limit.
    let (_, answer) = app
        .create(
            "stone-viewer-publication",
            &json!({"resources": [study(U1)]}),
        )
        .await;
    assert!(answer["request"].get("max-uses").is_none(), "{answer}");
    let (status, _) = app
        .create(
            "stone-viewer-publication",
            &json!({"resources": [study(U1)], "max-uses": 0}),
        )
        .await;
    assert_eq!(status, 422);
}

async fn a_revoked_share_is_refused_and_revoking_again_changes_nothing(db: Db) {
    let app = db.lone_app(&[]).await;
    let token = app
        .token(
            "stone-viewer-publication",
            &json!({"id": "same-request", "resources": [study(U1)]}),
        )
        .await;
    let id = ShareId::of_token(&token).to_string();
    assert!(app.granted(&token, &ask(U1)).await);
    let (status, first) = app
        .send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["state"].as_str(), first["revoked-by"].as_str()),
        (Some("revoked"), Some(USER))
    );
    assert!(!app.granted(&token, &ask(U1)).await);
    let d = app.decode(&token).await;
    assert_eq!(
        (d["error-code"].as_str(), d["redirect-url"].as_str()),
        (Some("revoked"), None)
    );
    assert_eq!(d["token-type"], "stone-viewer-publication");
    let (status, again) = app
        .send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["revoked-at"], first["revoked-at"]);
    // The very same request again gives the same (revoked) token: refused, not handed out.
    let (status, body) = app
        .create(
            "stone-viewer-publication",
            &json!({"id": "same-request", "resources": [study(U1)]}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("share revoked")),
        "{body}"
    );
    assert_eq!(revoke(&app, "not-an-id").await.0, 404);
}

/// A token the registry never recorded (another registry's, as the Python service's are) can be
/// revoked by its id; the revocation holds against the same request made here afterwards and
/// against a record that arrives late (another replica's writer), which fills the row in.
async fn an_id_revoked_before_its_record_stays_revoked(db: Db) {
    use auth_service::domain::TokenType;
    use auth_service::shares::{ShareRecord, ShareStore};
    let url = db.fresh().await;
    let app = db.app(&url, &[]).await;
    let elsewhere = db.lone_app(&[]).await;
    let request = json!({"id": "late", "resources": [study(U1)]});
    let token = elsewhere.token("stone-viewer-publication", &request).await;
    let id = ShareId::of_token(&token);
    assert!(
        app.granted(&token, &ask(U1)).await,
        "unregistered tokens validate by default"
    );
    let (status, revoked) = revoke(&app, &id.to_string()).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        (
            &revoked["state"],
            &revoked["type"],
            &revoked["created-by"],
            &revoked["revoked-by"]
        ),
        (&json!("revoked"), &Value::Null, &Value::Null, &json!(USER)),
        "{revoked}"
    );
    assert!(!app.granted(&token, &ask(U1)).await);
    assert_eq!(app.decode(&token).await["error-code"], "revoked");
    let (status, body) = app.create("stone-viewer-publication", &request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("share revoked")),
        "{body}"
    );
    // The record, late: the row is filled in, the revocation kept, and the writer says so.
    let store = ShareStore::connect(&url).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let record = ShareRecord {
        token_type: Some(TokenType::StoneViewerPublication),
        resources: vec![serde_json::from_value(study(U1)).unwrap()],
        max_uses: Some(2),
        ..share_record(&token, now, "other-replica")
    };
    assert_eq!(store.record_many(&[record], now).await.unwrap(), vec![id]);
    store.close().await;
    let (_, shown) = share(&app, &id.to_string()).await;
    assert_eq!(
        (
            &shown["state"],
            &shown["type"],
            &shown["created-by"],
            &shown["revoked-at"]
        ),
        (
            &json!("revoked"),
            &json!("stone-viewer-publication"),
            &json!("other-replica"),
            &revoked["revoked-at"]
        ),
        "{shown}"
    );
    let (_, page) = get(&app, &format!("/shares?resource={U1}&state=revoked")).await;
    assert_eq!(page["shares"][0]["id"], id.to_string(), "{page}");
    let restarted = db.app(&url, &[]).await;
    assert!(!restarted.granted(&token, &ask(U1)).await);
}

async fn every_share_of_a_resource_is_revoked_at_once(db: Db) {
    let app = db.lone_app(&[]).await;
    let (t1, id1) = publish(&app, json!([study(U1)]), json!({})).await;
    let (t2, id2) = publish(&app, json!([study(U1), study(U2)]), json!({})).await;
    let (t3, _) = publish(&app, json!([study(U2)]), json!({})).await;
    let (status, answer) = app
        .send(Method::POST, "/shares/revoke", &json!({"resource": U1}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut revoked: Vec<&str> = answer["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    revoked.sort_unstable();
    let mut expected = vec![id1.as_str(), id2.as_str()];
    expected.sort_unstable();
    assert_eq!(revoked, expected);
    assert!(!app.granted(&t1, &ask(U1)).await);
    assert!(!app.granted(&t2, &ask(U2)).await);
    assert!(app.granted(&t3, &ask(U2)).await);
    // By Orthanc id too; already revoked shares are not listed again.
    let (_, answer) = app
        .send(
            Method::POST,
            "/shares/revoke",
            &json!({"resource": orthanc_id(U2)}),
        )
        .await;
    assert_eq!(answer["revoked"].as_array().map(Vec::len), Some(1));
    assert!(!app.granted(&t3, &ask(U2)).await);
    let (status, _) = app
        .send(Method::POST, "/shares/revoke", &json!({"resource": ""}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.send(Method::POST, "/shares/revoke", &json!({})).await;
    assert_eq!(status, 422);
}

async fn the_list_filters_and_pages_newest_first(db: Db) {
    let app = db.lone_app(&[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, id) = publish(
            &app,
            json!([study(if i % 2 == 0 { U1 } else { U2 })]),
            json!({}),
        )
        .await;
        ids.push(id);
    }
    let (_, expired) = publish(
        &app,
        json!([study(U1)]),
        json!({"expiration-date": "2000-01-01T00:00:00Z"}),
    )
    .await;
    let (_, limited) = publish(&app, json!([study(U2)]), json!({"max-uses": 1})).await;
    let other_user = app
        .client
        .put(app.url("/tokens/viewer-instant-link"))
        .header("Authorization", basic("oe2", "other-pw"))
        .json(&json!({"resources": [study(U1)]}))
        .send()
        .await
        .unwrap();
    let other_user: Value = other_user.json().await.unwrap();
    let by_oe2 = ShareId::of_token(other_user["token"].as_str().unwrap()).to_string();
    app.send(
        Method::POST,
        &format!("/shares/{}/revoke", ids[0]),
        &json!(null),
    )
    .await;
    // Paging: every share exactly once, newest first.
    let mut seen = Vec::new();
    let mut path = "/shares?limit=3".to_owned();
    loop {
        let (status, page) = get(&app, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["shares"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
        match page["next-cursor"].as_str() {
            Some(c) => path = format!("/shares?limit=3&cursor={c}"),
            None => break,
        }
    }
    let mut all: Vec<String> = ids.clone();
    all.extend([expired.clone(), limited.clone(), by_oe2.clone()]);
    all.reverse();
    assert_eq!(seen, all);
    let list = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        async move {
            let (status, page) = get(app, &format!("/shares?{q}")).await;
            assert_eq!(status, 200, "{q}: {page}");
            let mut ids: Vec<String> = page["shares"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(list("state=revoked").await, vec![ids[0].clone()]);
    assert_eq!(list("state=expired").await, vec![expired.clone()]);
    assert_eq!(list("created-by=oe2").await, vec![by_oe2.clone()]);
    assert_eq!(list("type=viewer-instant-link").await, vec![by_oe2.clone()]);
    assert_eq!(
        list(&format!("resource={U2}")).await,
        sorted(vec![ids[1].clone(), ids[3].clone(), limited.clone()])
    );
    assert_eq!(list("state=active").await.len(), 6);
    assert_eq!(list("state=used-up").await, Vec::<String>::new());
    for bad in [
        "state=open",
        "limit=0",
        "limit=501",
        "cursor=zz",
        "type=fax",
    ] {
        let (status, body) = get(&app, &format!("/shares?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

async fn a_share_with_a_use_limit_is_used_up_past_it(db: Db) {
    let app = db.lone_app(&[]).await;
    let (token, id) = publish(&app, json!([study(U1)]), json!({"max-uses": 2})).await;
    for open in 1..=2 {
        let d = app.decode(&token).await;
        assert!(d["redirect-url"].is_string(), "open {open}: {d}");
        assert!(app.granted(&token, &ask(U1)).await, "open {open}");
    }
    let d = app.decode(&token).await;
    assert_eq!(
        (d["error-code"].as_str(), d["redirect-url"].as_str()),
        (Some("used-up"), None)
    );
    assert!(!app.granted(&token, &ask(U1)).await);
    eventually(
        Duration::from_secs(5),
        "the registry shows used-up",
        || async {
            let (_, s) = share(&app, &id).await;
            s["state"] == "used-up" && s["use-count"] == 3
        },
    )
    .await;
    let (_, page) = get(&app, "/shares?state=used-up").await;
    assert_eq!(page["shares"][0]["id"], id);
}

async fn uses_are_written_in_batches(db: Db) {
    let app = db.lone_app(&[]).await;
    let (token, id) = publish(&app, json!([study(U1)]), json!({})).await;
    let (_, s) = share(&app, &id).await;
    assert_eq!(s["last-used-at"], Value::Null);
    assert!(app.granted(&token, &ask(U1)).await);
    eventually(
        Duration::from_secs(5),
        "a validation shows as last use",
        || async { share(&app, &id).await.1["last-used-at"].is_string() },
    )
    .await;
    for _ in 0..4 {
        assert!(app.decode(&token).await["redirect-url"].is_string());
    }
    eventually(
        Duration::from_secs(5),
        "four opens counted once each",
        || async { share(&app, &id).await.1["use-count"] == 4 },
    )
    .await;
}

async fn concurrent_creations_are_all_recorded_and_share_commits(db: Db) {
    let app = db.lone_app(&[]).await;
    const N: usize = 120;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let (client, url) = (
            app.client.clone(),
            app.url("/tokens/stone-viewer-publication"),
        );
        tasks.spawn(async move {
            let body = json!({"id": format!("burst-{i}"), "resources": [study(&format!("9.{i}"))]});
            let answer = json_answer(
                client
                    .put(url)
                    .header("Authorization", basic(USER, PASSWORD))
                    .json(&body),
            )
            .await;
            ShareId::of_token(answer["token"].as_str().expect("a token")).to_string()
        });
    }
    let created = tasks.join_all().await;
    for id in &created {
        let (status, s) = share(&app, id).await;
        assert_eq!((status, &s["state"]), (200, &json!("active")), "{id}");
    }
    let (_, page) = get(&app, "/shares?limit=500").await;
    assert_eq!(page["shares"].as_array().map(Vec::len), Some(N));
    // Fewer database writes than creations: concurrent ones were committed together.
    let text = app.get_authorized("/metrics").await.text().await.unwrap();
    let writes = series_value(
        &text,
        r#"auth_dependency_call_seconds_count{dependency="database",outcome="ok"}"#,
    );
    // Every GET above is a call too: N + 1 reads, so writes alone are what exceeds that.
    let commits = writes - (N as f64 + 1.0);
    assert!(commits < N as f64, "{commits} commits for {N} creations");
}

async fn a_share_of_many_studies_is_recorded_whole(db: Db) {
    let app = db.lone_app(&[]).await;
    // 600 studies, 1,200 resource ids: more than one multi-row statement holds. An instant
    // link: a publication this large would make a link no browser or proxy passes.
    let studies: Vec<Value> = (0..600).map(|i| study(&format!("7.{i}"))).collect();
    let token = app
        .token(
            "download-instant-link",
            &json!({"id": "many", "resources": studies}),
        )
        .await;
    let id = ShareId::of_token(&token).to_string();
    let (_, s) = share(&app, &id).await;
    assert_eq!(s["resources"].as_array().map(Vec::len), Some(600));
    let (status, answer) = app
        .send(
            Method::POST,
            "/shares/revoke",
            &json!({"resource": orthanc_id("7.599")}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["revoked"], json!([id]));
    assert!(!app.granted(&token, &ask("7.0")).await);
}

async fn registration_can_be_required(db: Db) {
    let url = db.fresh().await;
    let strict = db.app(&url, &[("REQUIRE_REGISTERED_TOKENS", "true")]).await;
    let elsewhere = db.lone_app(&[]).await;
    let (foreign, _) = publish(&elsewhere, json!([study(U1)]), json!({})).await;
    assert!(
        elsewhere.granted(&foreign, &ask(U1)).await,
        "unregistered tokens validate by default"
    );
    assert!(!strict.granted(&foreign, &ask(U1)).await);
    assert_eq!(strict.decode(&foreign).await["error-code"], "invalid");
    let (own, _) = publish(&strict, json!([study(U1)]), json!({})).await;
    assert!(strict.granted(&own, &ask(U1)).await);
    assert!(strict.decode(&own).await["redirect-url"].is_string());
}

async fn expired_shares_are_purged_after_the_retention(db: Db) {
    let url = db.fresh().await;
    let app = db.app(&url, &[]).await;
    let (_, old) = publish(
        &app,
        json!([study(U1)]),
        json!({"expiration-date": "2000-01-01T00:00:00Z"}),
    )
    .await;
    let (_, recent) = publish(&app, json!([study(U1)]), json!({"validity-duration": -60})).await;
    let (_, open) = publish(&app, json!([study(U1)]), json!({})).await;
    // A replica started later purges at start.
    let purger = db.app(&url, &[("SHARES_RETENTION_DAYS", "1")]).await;
    eventually(
        Duration::from_secs(5),
        "the old share is purged",
        || async { share(&purger, &old).await.0 == 404 },
    )
    .await;
    assert_eq!(
        share(&purger, &recent).await.0,
        200,
        "expired a minute ago: kept"
    );
    assert_eq!(share(&purger, &open).await.0, 200);
}

async fn a_restarted_service_still_refuses_what_was_revoked(db: Db) {
    let url = db.fresh().await;
    let first = db.app(&url, &[]).await;
    let (token, id) = publish(&first, json!([study(U1)]), json!({"max-uses": 1})).await;
    let (kept, _) = publish(&first, json!([study(U1)]), json!({})).await;
    assert!(first.decode(&token).await["redirect-url"].is_string());
    first
        .send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
        .await;
    let second = db.app(&url, &[]).await;
    assert!(!second.granted(&token, &ask(U1)).await);
    assert_eq!(second.decode(&token).await["error-code"], "revoked");
    assert!(second.granted(&kept, &ask(U1)).await);
}

async fn a_revocation_on_one_replica_reaches_the_other(db: Db) {
    let url = db.fresh().await;
    let a = db.app(&url, &[]).await;
    let b = db.app(&url, &[]).await;
    let (token, id) = publish(&a, json!([study(U1)]), json!({})).await;
    let (limited, _) = publish(&a, json!([study(U2)]), json!({"max-uses": 1})).await;
    assert!(b.granted(&token, &ask(U1)).await);
    let (status, _) = a
        .send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
        .await;
    assert_eq!(status, 200);
    let started = Instant::now();
    eventually(
        Duration::from_secs(2),
        "replica b refuses the revoked share",
        || async { !b.granted(&token, &ask(U1)).await },
    )
    .await;
    eprintln!(
        "revocation reached the other replica in {:?}",
        started.elapsed()
    );
    assert_eq!(b.decode(&token).await["error-code"], "revoked");
    // A share used up on one replica is refused by the other once the uses are written.
    assert!(a.decode(&limited).await["redirect-url"].is_string());
    assert_eq!(a.decode(&limited).await["error-code"], "used-up");
    eventually(
        Duration::from_secs(3),
        "replica b refuses the used-up share",
        || async { !b.granted(&limited, &ask(U2)).await },
    )
    .await;
}

/// The services run as several replicas on one PostgreSQL: a roles PUT on one is in force on
/// the other within 2 s, and the roles file is left alone (it only seeded the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_roles_put_on_one_replica_show_on_the_other() {
    let test = "postgres_roles_put_on_one_replica_show_on_the_other";
    let Some(realm) = crate::realm::Realm::start(test).await else {
        return;
    };
    let Some(db) = Db::postgres(test).await else {
        return;
    };
    let files = crate::user::Files::new();
    let before = std::fs::read_to_string(files.roles()).unwrap();
    let url = db.fresh().await;
    let a = crate::user::app(&files, Some(&realm), &[("DATABASE_URL", &url)]).await;
    let b = crate::user::app(&files, Some(&realm), &[("DATABASE_URL", &url)]).await;
    let (_, on_b) = get(&b, "/settings/roles").await;
    let body = json!({"roles": {"doctor-role": {"authorized-labels": ["urgent"], "permissions": ["view"]}}, "available-labels": ["urgent"]});
    let (status, stored) = a.send(Method::PUT, "/settings/roles", &body).await;
    assert_eq!(status, 200, "{stored}");
    assert_ne!(stored, on_b);
    let started = Instant::now();
    eventually(
        Duration::from_secs(2),
        "replica b serves the new roles",
        || async { get(&b, "/settings/roles").await.1 == stored },
    )
    .await;
    eprintln!("roles reached the other replica in {:?}", started.elapsed());
    assert_eq!(std::fs::read_to_string(files.roles()).unwrap(), before);
    // A replica started later reads the database, not the file.
    let c = crate::user::app(&files, Some(&realm), &[("DATABASE_URL", &url)]).await;
    assert_eq!(get(&c, "/settings/roles").await.1, stored);
}

/// PostgreSQL stopped and started again while shares are created, opened, validated and
/// revoked: never a 500; every share handed out is recorded, every acknowledged revocation
/// holds, and every open is counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted_under_load_loses_nothing() {
    let Some(mut db) =
        Db::postgres("postgres_stopped_and_restarted_under_load_loses_nothing").await
    else {
        return;
    };
    let url = db.fresh().await;
    let app = std::sync::Arc::new(db.app(&url, &[]).await);
    let strict = db.app(&url, &[("REQUIRE_REGISTERED_TOKENS", "true")]).await;
    let (before, _) = publish(&app, json!([study(U1)]), json!({})).await;
    let (revoked_before, revoked_id) = publish(&app, json!([study(U1)]), json!({})).await;
    let (s, _) = app
        .send(
            Method::POST,
            &format!("/shares/{revoked_id}/revoke"),
            &json!(null),
        )
        .await;
    assert_eq!(s, 200);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            // (token, opens granted) of every share handed out; every status seen.
            let mut handed_out = Vec::new();
            let mut statuses = Vec::new();
            let mut acknowledged_revocations = Vec::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) && i < 400 {
                i += 1;
                let (status, answer) = app
                    .create(
                        "stone-viewer-publication",
                        &json!({"id": format!("load-{i}"), "resources": [study(U2)]}),
                    )
                    .await;
                statuses.push(status);
                if status != 200 {
                    continue;
                }
                let token = answer["token"].as_str().unwrap().to_owned();
                let mut opens = 0;
                for _ in 0..2 {
                    if app.decode(&token).await["redirect-url"].is_string() {
                        opens += 1;
                    }
                }
                assert!(
                    app.granted(&token, &ask(U2)).await,
                    "validate answers from memory"
                );
                if i.is_multiple_of(3) {
                    let id = ShareId::of_token(&token).to_string();
                    let (status, _) = app
                        .send(Method::POST, &format!("/shares/{id}/revoke"), &json!(null))
                        .await;
                    statuses.push(status);
                    if status == 200 {
                        acknowledged_revocations.push(token.clone());
                    }
                }
                handed_out.push((token, opens));
            }
            (handed_out, statuses, acknowledged_revocations)
        })
    };
    // Let the load run, stop the server, wait for the service to notice, start it again.
    eventually(Duration::from_secs(20), "some shares created", || async {
        get(&app, "/shares?limit=20").await.1["shares"]
            .as_array()
            .map_or(0, Vec::len)
            >= 12
    })
    .await;
    db.server().unwrap().stop();
    let (status, body) = strict
        .create(
            "stone-viewer-publication",
            &json!({"id": "strict", "resources": [study(U1)]}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("share registry unavailable"))
    );
    assert_eq!(get(&app, "/shares").await.0, 503);
    assert!(
        app.granted(&before, &ask(U1)).await,
        "validate works with the database down"
    );
    assert!(!app.granted(&revoked_before, &ask(U1)).await);
    assert_eq!(app.decode(&revoked_before).await["error-code"], "revoked");
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/shares/{}/revoke", ShareId::of_token(&before)),
            &json!(null),
        )
        .await;
    assert_eq!(
        status, 503,
        "a revocation that cannot be stored is refused, not lost"
    );
    db.server().unwrap().resume().await;
    eventually(
        Duration::from_secs(20),
        "the registry answers again",
        || async { get(&app, "/shares").await.0 == 200 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (handed_out, statuses, revocations) = load.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s != 500),
        "a 500 under load: {statuses:?}"
    );
    assert!(handed_out.len() >= 10, "{}", handed_out.len());
    assert!(
        statuses.contains(&503),
        "creations are refused while the database is down: {statuses:?}"
    );
    // Every share handed out is recorded, with exactly its opens.
    for (token, opens) in &handed_out {
        let id = ShareId::of_token(token).to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, s) = share(&app, &id).await;
            if status == 200 && s["use-count"] == *opens {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "share {id} ({opens} opens): {status} {s}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    // A replica started now knows every acknowledged revocation.
    let fresh = db.app(&url, &[]).await;
    assert!(!fresh.granted(&revoked_before, &ask(U1)).await);
    for token in &revocations {
        assert!(!fresh.granted(token, &ask(U2)).await);
    }
    assert!(!revocations.is_empty());
}

async fn migrations_apply_on_an_empty_database_and_on_the_previous_one(db: Db) {
    use auth_service::shares::ShareStore;
    let kind = if db.pg.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let empty = ShareStore::connect(&db.fresh().await)
        .await
        .expect("empty database migrated");
    assert_eq!(empty.known(None).await.unwrap(), vec![]);
    // A database left at the first migration, holding a share, by an older auth-service.
    let url = db.fresh().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(kind);
    let mut first = sqlx::migrate::Migrator::new(dir)
        .await
        .expect("migrations read");
    assert!(first.migrations.len() >= 2, "a previous migration exists");
    first.migrations = first.migrations[..first.migrations.len() - 1]
        .to_vec()
        .into();
    let id = ShareId::of_token("old share").to_string();
    let insert = "INSERT INTO shares (id, token_type, resources, created_at, created_by, use_count, revoked_at) \
                  VALUES ($1, 'stone-viewer-publication', '[]', 1, 'old', 2, 5)";
    if kind == "postgres" {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        first.run(&pool).await.expect("previous migration applies");
        sqlx::query(insert).bind(&id).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        first.run(&pool).await.expect("previous migration applies");
        sqlx::query(insert).bind(&id).execute(&pool).await.unwrap();
        pool.close().await;
    }
    let store = ShareStore::connect(&url)
        .await
        .expect("migrated from the previous migration");
    let known = store.known(None).await.unwrap();
    assert_eq!(known.len(), 1);
    assert!(known[0].revoked && known[0].uses == 2);
    assert_eq!(
        store.last_change().await.unwrap(),
        0,
        "the new changes table is there"
    );
    // And the service starts on it, refusing nothing it should not.
    let app = db.app(&url, &[]).await;
    assert_eq!(share(&app, &id).await.1["state"], "revoked");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Paging newest first while other shares are being created: every share that existed when
    /// paging began is listed exactly once, nothing is repeated.
    #[test]
    fn cursor_paging_skips_and_repeats_nothing_under_concurrent_inserts(
        existing in 0usize..40,
        page in 1u32..7,
        inserted_per_page in 0usize..4,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(paging_case(existing, page, inserted_per_page));
    }
}

async fn paging_case(existing: usize, page: u32, inserted_per_page: usize) {
    use auth_service::shares::{ShareFilter, ShareStore};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("paging.sqlite").display());
    let store = ShareStore::connect(&url).await.unwrap();
    let registry_clock = std::sync::atomic::AtomicI64::new(1_000);
    let mut n = 0;
    let mut create = || {
        n += 1;
        // A few shares share a creation millisecond: the id breaks the tie.
        let at = registry_clock.fetch_add(if n % 3 == 0 { 0 } else { 1 }, Ordering::Relaxed);
        share_record(&format!("token-{n}"), at, "u")
    };
    let mut before = Vec::new();
    for _ in 0..existing {
        let r = create();
        store.record(&r, 0).await.unwrap();
        before.push((r.created_at, r.id.to_string()));
    }
    let mut filter = ShareFilter {
        limit: page,
        ..ShareFilter::default()
    };
    let mut listed: Vec<String> = Vec::new();
    loop {
        let rows = store.list(&filter, 0).await.unwrap();
        listed.extend(rows.iter().map(|r| r.id.to_string()));
        for _ in 0..inserted_per_page {
            store.record(&create(), 0).await.unwrap();
        }
        match rows.last() {
            Some(last) if rows.len() == page as usize => {
                filter.cursor = Some(auth_service::shares::Cursor::after(last))
            }
            _ => break,
        }
    }
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "a share listed twice");
    // Newest first; a tie in the creation millisecond is broken by the id, descending.
    before.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<String> = before.into_iter().map(|(_, id)| id).collect();
    // A share created during paging in the same millisecond as the newest existing one may sort
    // below the cursor and be listed: harmless, it exists. Every older share, once, in order.
    let existed: Vec<String> = listed
        .iter()
        .filter(|id| expected.contains(id))
        .cloned()
        .collect();
    assert_eq!(
        existed, expected,
        "every share that existed, once, newest first"
    );
    store.close().await;
}
