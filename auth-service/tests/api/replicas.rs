//! The share registry as several replicas and a real PostgreSQL run it, under load and faults:
//! revocations reach every replica within 2 s whatever the others are creating, none is ever
//! missed, a restart while the database is down loses nothing handed out, and a hung database
//! bounds every call. PostgreSQL only (SQLite has one writer and no replicas).
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use auth_service::domain::ShareId;
use auth_service::shares::{ShareRecord, ShareStore};
use auth_service::startup::Application;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{test_settings, TestApp};
use crate::postgres_server::PostgresServer;
use crate::shares::{ask, eventually, publish, revoke, share, share_record, study};

/// A replica built by hand, so a test can stop it (as SIGTERM does) and start another on the
/// same data folder.
pub struct Replica {
    pub app: Arc<TestApp>,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Replica {
    pub async fn start(url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Replica {
        Self::build(url, data_dir, env)
            .await
            .expect("the replica starts")
    }

    /// The replica, or why it did not start.
    pub async fn build(
        url: &str,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Replica> {
        let data = data_dir.display().to_string();
        let mut vars = vec![
            ("DATABASE_URL", url),
            ("DATA_DIR", data.as_str()),
            ("PUBLIC_ORTHANC_ROOT", "https://pacs.example.test/orthanc/"),
            ("PUBLIC_LANDING_ROOT", "https://pacs.example.test/landing/"),
        ];
        vars.extend_from_slice(env);
        let (settings, _unused) = test_settings(&vars);
        let app = Application::build(settings).await?;
        let port = app.port();
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        Ok(Replica {
            app: Arc::new(TestApp {
                address: format!("http://127.0.0.1:{port}"),
                port,
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(64)
                    .build()
                    .unwrap(),
                _data_dir: None,
            }),
            handle,
            server,
        })
    }

    /// Stops it as SIGTERM does: in-flight requests finish, then the shutdown hooks run.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.server.await.unwrap().unwrap();
    }
}

/// A PostgreSQL server for the calling test, or it stops there (SKIPPED, a failure under CI).
macro_rules! postgres_or_skip {
    () => {
        or_skip!(PostgresServer::start(test_name!()).await)
    };
}

/// A share of another replica's batch, written straight to the database.
fn record(n: u64, at: i64) -> ShareRecord {
    share_record(&format!("other-replica-{n}-{at}"), at, "other-replica")
}

/// Two replicas on one PostgreSQL: A creates shares over HTTP as fast as its clients can, a
/// third writer stands for other replicas committing full batches (256 shares, as a replica's
/// group commit does), and B meanwhile revokes shares one by one, or uses up one in five (a
/// limit of one open, opened twice). Every such share must be refused by both replicas within
/// 2 s of B's answer. Rounds repeat the interleaving many times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revocation_reaches_both_replicas_within_2_s_while_others_create() {
    let pg = postgres_or_skip!();
    let url = pg.database("registry").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Replica::start(&url, dir_a.path(), &[]).await;
    let b = Replica::start(&url, dir_b.path(), &[]).await;
    let writer = ShareStore::connect(&url).await.unwrap();
    const ROUNDS: usize = 3;
    const REVOKED_PER_ROUND: usize = 25;
    const USED_UP_EVERY: usize = 5;
    const LIMIT: Duration = Duration::from_secs(2);
    let counter = sqlx::PgPool::connect(&url).await.unwrap();
    let mut worst = Duration::ZERO;
    let mut worst_used_up = Duration::ZERO;
    let mut slowest_load = Duration::ZERO;
    let mut created_total = 0u64;
    let mut batches_total = 0u64;
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut targets = Vec::new();
        for i in 0..REVOKED_PER_ROUND {
            let used_up = i % USED_UP_EVERY == 0;
            let limit = if used_up {
                json!({"max-uses": 1})
            } else {
                json!({})
            };
            targets.push((publish(&a.app, json!([study("5.5")]), limit).await, used_up));
        }
        for ((token, _), _) in &targets {
            assert!(b.app.granted(token, &ask("5.5")).await);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let created = Arc::new(AtomicU32::new(0));
        // A's creators: distinct shares, many in flight, so A's writer commits in batches.
        let mut load = tokio::task::JoinSet::new();
        for c in 0..48 {
            let (stop, created, client, url) = (
                stop.clone(),
                created.clone(),
                a.app.client.clone(),
                a.app.url("/tokens/viewer-instant-link"),
            );
            load.spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let body =
                        json!({"id": format!("r{round}-c{c}-{i}"), "resources": [study("6.6")]});
                    let res = client
                        .put(&url)
                        .header(
                            "Authorization",
                            crate::helpers::basic(crate::helpers::USER, crate::helpers::PASSWORD),
                        )
                        .json(&body)
                        .send()
                        .await;
                    if res.is_ok_and(|r| r.status() == 200) {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        // The other replicas: full batches straight to the database, back to back.
        let batches = {
            let (stop, writer) = (stop.clone(), writer.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let at = chrono::Utc::now().timestamp_millis();
                    let batch: Vec<ShareRecord> =
                        (0..256).map(|i| record(n * 256 + i, at)).collect();
                    writer.record_many(&batch, at).await.unwrap();
                    n += 1;
                }
                n
            })
        };
        // B revokes one by one, spread over the burst; each is then watched on both replicas.
        let mut watchers = tokio::task::JoinSet::new();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for ((token, id), used_up) in targets {
            if used_up {
                assert!(b.app.decode(&token).await["redirect-url"].is_string());
                assert_eq!(b.app.decode(&token).await["error-code"], "used-up");
            } else {
                let (status, body) = revoke(&b.app, &id).await;
                assert_eq!(status, 200, "{body}");
            }
            let revoked = Instant::now();
            for replica in [&a, &b] {
                let (app, token) = (replica.app.clone(), token.clone());
                watchers.spawn(async move {
                    (refused_after(&app, &token, revoked, LIMIT).await, used_up)
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let latencies = watchers.join_all().await;
        stop.store(true, Ordering::Relaxed);
        load.join_all().await;
        batches_total += batches.await.unwrap();
        // The shares created elsewhere are loaded on B too (by its loader, after the revocations).
        let burst_ended = Instant::now();
        let (recorded,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shares")
            .fetch_one(&counter)
            .await
            .unwrap();
        eventually(
            Duration::from_secs(20),
            "replica B loads every new share",
            || async {
                let held = known(&b.app, "active").await
                    + known(&b.app, "revoked").await
                    + known(&b.app, "used-up").await;
                held >= recorded as f64
            },
        )
        .await;
        slowest_load = slowest_load.max(burst_ended.elapsed());
        created_total += u64::from(created.load(Ordering::Relaxed));
        for (latency, used_up) in latencies {
            let slot = if used_up {
                &mut worst_used_up
            } else {
                &mut worst
            };
            *slot = (*slot).max(latency);
        }
    }
    eprintln!(
        "{ROUNDS} rounds of {REVOKED_PER_ROUND} revocations (one in {USED_UP_EVERY} a share used up) in {:?}: {created_total} shares created on A, {batches_total} batches of 256 by other writers; slowest revocation seen by both replicas after {worst:?}, slowest used-up share after {worst_used_up:?}; B held every new share at most {slowest_load:?} after a burst ended",
        started.elapsed()
    );
    counter.close().await;
    writer.close().await;
    a.stop().await;
    b.stop().await;
}

/// How long after `revoked` the replica refused `token`: the start of its first refusing
/// validation. A validation started more than `limit` after `revoked` that still grants fails.
async fn refused_after(app: &TestApp, token: &str, revoked: Instant, limit: Duration) -> Duration {
    loop {
        let asked = Instant::now();
        if !app.granted(token, &ask("5.5")).await {
            return asked.saturating_duration_since(revoked);
        }
        let late = asked.saturating_duration_since(revoked);
        assert!(
            late <= limit,
            "a share revoked {late:?} before this validation started is still granted by {}",
            app.address
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The share counts a replica's /metrics shows, by state.
async fn known(app: &TestApp, state: &str) -> f64 {
    let text = app.get_authorized("/metrics").await.text().await.unwrap();
    crate::helpers::series_value(&text, &format!(r#"auth_shares_known{{state="{state}"}}"#))
}

/// Which of the two transactions took its transaction id first.
#[derive(Clone, Copy, Debug)]
enum First {
    /// The revocation: the batch's commit then moves the snapshot's horizon past it, so the
    /// snapshot lists it in progress.
    Revocation,
    /// The batch: the revocation's id is then at or past the horizon of the snapshot that sees
    /// the batch, where PostgreSQL lists nothing.
    Batch,
}

/// The interleavings that made a replica miss a revocation for good, made on purpose: a
/// revocation takes its place in the `changes` sequence, a batch of 300 shares from another
/// replica takes later places, commits, and is read by replica A, and only then does the
/// revocation commit. A must still apply it, within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_after_a_later_batch_is_not_missed() {
    let pg = postgres_or_skip!();
    for first in [First::Revocation, First::Batch] {
        let url = pg
            .database(&format!("registry_{first:?}").to_lowercase())
            .await;
        let dir = tempfile::tempdir().unwrap();
        let a = Replica::start(&url, dir.path(), &[]).await;
        late_revocation(&a, &url, first).await;
        a.stop().await;
    }
}

async fn late_revocation(a: &Replica, url: &str, first: First) {
    let (token, id) = publish(&a.app, json!([study("5.5")]), json!({})).await;
    let before = known(&a.app, "active").await;
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut batch = pool.begin().await.unwrap();
    let mut revocation = pool.begin().await.unwrap();
    // The batch's shares, then its announcements, as a replica's writer writes them.
    let ids: Vec<String> = (0..300)
        .map(|i| ShareId::of_token(&format!("batch-{first:?}-{i}")).to_string())
        .collect();
    let write_shares = "INSERT INTO shares (id, token_type, resources, created_at, created_by) \
                        SELECT id, 'viewer-instant-link', '[]', $2, 'other' FROM UNNEST($1::text[]) AS id";
    let announce = "INSERT INTO changes (kind, subject, at) SELECT 'created', id, $2 FROM UNNEST($1::text[]) AS id";
    // Replica B's revocation: the row and its change, written (with its transaction id and
    // sequence number) without committing.
    let revoke = sqlx::query(
        "WITH revoked AS (UPDATE shares SET revoked_at = $1, revoked_by = 'b' WHERE id = $2 \
         RETURNING id) INSERT INTO changes (kind, subject, at) SELECT 'share', id, $1 FROM revoked",
    )
    .bind(now)
    .bind(&id);
    let write = sqlx::query(write_shares).bind(&ids).bind(now);
    match first {
        First::Revocation => {
            revoke.execute(&mut *revocation).await.unwrap();
            write.execute(&mut *batch).await.unwrap();
        }
        First::Batch => {
            write.execute(&mut *batch).await.unwrap();
            revoke.execute(&mut *revocation).await.unwrap();
        }
    }
    sqlx::query(announce)
        .bind(&ids)
        .bind(now)
        .execute(&mut *batch)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('auth_service_changes', '')")
        .execute(&mut *batch)
        .await
        .unwrap();
    batch.commit().await.unwrap();
    eventually(
        Duration::from_secs(10),
        "replica A loads the batch",
        || async { known(&a.app, "active").await >= before + 300.0 },
    )
    .await;
    assert!(a.app.granted(&token, &ask("5.5")).await, "not revoked yet");
    sqlx::query("SELECT pg_notify('auth_service_changes', '')")
        .execute(&mut *revocation)
        .await
        .unwrap();
    revocation.commit().await.unwrap();
    let committed = Instant::now();
    eventually(
        Duration::from_secs(2),
        &format!("{first:?} first: replica A refuses the revoked share"),
        || async { !a.app.granted(&token, &ask("5.5")).await },
    )
    .await;
    eprintln!(
        "{first:?} first: the late revocation applied after {:?}",
        committed.elapsed()
    );
    pool.close().await;
}

/// PostgreSQL stopped, a share asked for, the replica restarted, PostgreSQL started again:
/// nothing was handed out that the registry does not hold, the opens counted during the outage
/// still count against the use limit, and every revocation holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_the_database_is_down_loses_nothing_handed_out() {
    let mut pg = postgres_or_skip!();
    let url = pg.database("registry").await;
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start(&url, dir.path(), &[]).await;
    let (limited, limited_id) =
        publish(&a.app, json!([study("5.5")]), json!({"max-uses": 3})).await;
    let (revoked, revoked_id) = publish(&a.app, json!([study("5.5")]), json!({})).await;
    let (kept, kept_id) = publish(&a.app, json!([study("5.5")]), json!({})).await;
    let (status, _) = revoke(&a.app, &revoked_id).await;
    assert_eq!(status, 200);
    assert!(a.app.decode(&limited).await["redirect-url"].is_string());
    eventually(
        Duration::from_secs(5),
        "the first open is written",
        || async { share(&a.app, &limited_id).await.1["use-count"] == 1 },
    )
    .await;

    pg.stop();
    let (status, body) = a
        .app
        .create(
            "stone-viewer-publication",
            &json!({"id": "during-the-outage", "resources": [study("5.5")]}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str(), body.get("token")),
        (503, Some("share registry unavailable"), None),
        "a share the registry cannot hold is not handed out: {body}"
    );
    // Opens go on from memory, counted: two more reach the limit, the next is refused.
    for open in 2..=3 {
        assert!(
            a.app.decode(&limited).await["redirect-url"].is_string(),
            "open {open}"
        );
    }
    assert_eq!(a.app.decode(&limited).await["error-code"], "used-up");
    assert!(!a.app.granted(&revoked, &ask("5.5")).await);
    let (status, _) = revoke(&a.app, &kept_id).await;
    assert_eq!(
        status, 503,
        "a revocation that cannot be stored is refused, not lost"
    );
    a.stop().await;
    let kept_file = dir.path().join("share-uses-pending.json");
    assert!(
        kept_file.is_file(),
        "the opens not written are kept in DATA_DIR"
    );

    // Restarted with the database still down: it does not serve without its revocations.
    let refused = Replica::build(&url, dir.path(), &[])
        .await
        .err()
        .expect("no start without the database");
    assert!(format!("{refused:#}").contains("PostgreSQL"), "{refused:#}");

    pg.resume().await;
    let a = Replica::start(&url, dir.path(), &[]).await;
    assert!(!kept_file.exists(), "the kept opens are written at start");
    let (_, page) = a.app.send(Method::GET, "/shares", &json!(null)).await;
    let mut listed: Vec<&str> = page["shares"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    listed.sort_unstable();
    let mut handed_out = vec![limited_id.as_str(), revoked_id.as_str(), kept_id.as_str()];
    handed_out.sort_unstable();
    assert_eq!(listed, handed_out, "exactly the shares handed out: {page}");
    let (_, shown) = share(&a.app, &limited_id).await;
    assert_eq!(
        (&shown["use-count"], &shown["state"]),
        (&json!(4), &json!("used-up")),
        "{shown}"
    );
    assert_eq!(a.app.decode(&limited).await["error-code"], "used-up");
    assert!(!a.app.granted(&limited, &ask("5.5")).await);
    assert!(!a.app.granted(&revoked, &ask("5.5")).await);
    assert!(a.app.granted(&kept, &ask("5.5")).await);
    let (status, _) = revoke(&a.app, &kept_id).await;
    assert_eq!(status, 200);
    assert!(!a.app.granted(&kept, &ask("5.5")).await);
    a.stop().await;
}

/// A TCP relay to PostgreSQL that can stop passing bytes while keeping every connection open:
/// a database that hangs rather than fails.
struct FreezableRelay {
    port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl FreezableRelay {
    async fn start(target: u16) -> FreezableRelay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(relay(client_read, server_write, watch.clone()));
                tokio::spawn(relay(server_read, client_write, watch.clone()));
            }
        });
        FreezableRelay {
            port,
            frozen,
            accept,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

impl Drop for FreezableRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to`, holding every byte while `frozen` says so.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The database hangs (connections open, no answer): every call is given up at
/// DATABASE_TIMEOUT_SECONDS and counted as a timeout, requests that need the database answer
/// 503 instead of waiting, validation goes on from memory, and all is well once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_bounds_every_call_and_counts_the_timeouts() {
    let pg = postgres_or_skip!();
    let direct = pg.database("registry").await;
    let relay = FreezableRelay::start(pg.port).await;
    let url = direct.replace(&format!(":{}/", pg.port), &format!(":{}/", relay.port));
    let dir = tempfile::tempdir().unwrap();
    let a = Replica::start(&url, dir.path(), &[("DATABASE_TIMEOUT_SECONDS", "1")]).await;
    let (token, id) = publish(&a.app, json!([study("5.5")]), json!({})).await;
    relay.freeze(true);
    let bounded = Duration::from_secs(6);
    let body = json!({"id": "while-it-hangs", "resources": [study("5.5")]});
    let create = a.app.create("stone-viewer-publication", &body);
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(bounded, create)
        .await
        .expect("a creation does not wait for a hung database");
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("share registry unavailable")),
        "{body}"
    );
    eprintln!(
        "creation refused after {:?} with the database hung",
        started.elapsed()
    );
    for (method, path) in [
        (Method::GET, "/shares".to_owned()),
        (Method::POST, format!("/shares/{id}/revoke")),
    ] {
        let (status, _) = tokio::time::timeout(bounded, a.app.send(method, &path, &json!(null)))
            .await
            .unwrap_or_else(|_| panic!("{path} does not wait for a hung database"));
        assert_eq!(status, 503, "{path}");
    }
    assert!(
        a.app.granted(&token, &ask("5.5")).await,
        "validation never waits on the database"
    );
    let metrics = a.app.get_authorized("/metrics").await.text().await.unwrap();
    let timeouts = crate::helpers::series_value(
        &metrics,
        r#"auth_dependency_call_seconds_count{dependency="database",outcome="timeout"}"#,
    );
    assert!(timeouts >= 3.0, "{timeouts} timeouts counted");
    relay.freeze(false);
    eventually(Duration::from_secs(15), "creations work again", || async {
        a.app
            .create(
                "stone-viewer-publication",
                &json!({"id": "after", "resources": [study("5.5")]}),
            )
            .await
            .0
            == 200
    })
    .await;
    let (status, _) = revoke(&a.app, &id).await;
    assert_eq!(status, 200);
    a.stop().await;
}

/// With REQUIRE_REGISTERED_TOKENS, a share another replica recorded a moment ago, whose
/// announcement this replica has not read yet, is looked up on first sight: granted, and its
/// opens counted against its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_not_announced_yet_is_looked_up_on_first_sight() {
    let pg = postgres_or_skip!();
    let url = pg.database("registry").await;
    let dir = tempfile::tempdir().unwrap();
    let strict = Replica::start(&url, dir.path(), &[("REQUIRE_REGISTERED_TOKENS", "true")]).await;
    let other_url = pg.database("elsewhere").await;
    let other_dir = tempfile::tempdir().unwrap();
    let elsewhere = Replica::start(&other_url, other_dir.path(), &[]).await;
    // Its record only, as another replica's commit leaves it before anyone reads `changes`.
    let (token, id) = publish(
        &elsewhere.app,
        json!([study("5.5")]),
        json!({"max-uses": 1}),
    )
    .await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO shares (id, token_type, resources, created_at, created_by, max_uses) \
         VALUES ($1, 'stone-viewer-publication', '[]', 1, 'other-replica', 1)",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(
        strict.app.granted(&token, &ask("5.5")).await,
        "found on first sight"
    );
    assert!(strict.app.decode(&token).await["redirect-url"].is_string());
    assert_eq!(strict.app.decode(&token).await["error-code"], "used-up");
    eventually(Duration::from_secs(5), "the opens are written", || async {
        share(&strict.app, &id).await.1["use-count"] == 2
    })
    .await;
    // A token no registry holds is still refused.
    let (stranger, _) = publish(&elsewhere.app, json!([study("5.5")]), json!({})).await;
    assert!(!strict.app.granted(&stranger, &ask("5.5")).await);
    strict.stop().await;
    elsewhere.stop().await;
}
