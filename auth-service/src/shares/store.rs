//! The registry's database: SQLite (one replica) or PostgreSQL (several). One set of SQL serves
//! both: `$n` placeholders (SQLite reads them too), times as BIGINT Unix milliseconds, and each
//! query runs through `on_pool!`, which writes the same code once per backend. Queries are the
//! runtime-checked `sqlx::query` with binds: the compile-time macros are tied to one database.
//!
//! Every call is bounded (`DATABASE_TIMEOUT_SECONDS`): past it the call is dropped and answered
//! as an error, so a hung connection never holds a request, the writer or a follower for longer.
//! PostgreSQL also gets the bound as `statement_timeout`, so the server gives up the work too.
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::known::{KnownShare, UseDelta};
use super::record::{ShareFilter, ShareRecord, ShareState, StoredProtection};
use crate::api::ResourceDto;
use crate::domain::{ShareId, TokenType};
use crate::metrics::DependencyCalls;
use auth_wire::ProtectionMethod;

/// The channel PostgreSQL replicas NOTIFY on after every change (the payload is empty: a nudge
/// to read `changes`).
pub const CHANGES_CHANNEL: &str = "auth_service_changes";

/// Rows in one multi-row INSERT: 12 binds each stays far below both databases' bind limits.
const ROWS_PER_STATEMENT: usize = 500;
/// How long a request waits for a connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// The bound of one database call when none is configured (`DATABASE_TIMEOUT_SECONDS`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Changes read at most in one go; a follower reads again at once when it got that many.
const CHANGES_PER_READ: i64 = 10_000;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database, and the bound and timing of every call made to it.
#[derive(Clone)]
pub struct ShareStore {
    pool: Pool,
    timeout: Duration,
    /// Latency, errors and timeouts (`dependency="database"` in /metrics).
    calls: DependencyCalls,
}

impl std::fmt::Debug for ShareStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareStore")
            .field("pool", &self.pool)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Appends a change inside the transaction `$tx`.
macro_rules! add_change {
    ($tx:ident, $kind:expr, $subject:expr, $at:expr) => {
        sqlx::query("INSERT INTO changes (kind, subject, at) VALUES ($1, $2, $3)")
            .bind($kind)
            .bind($subject)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    };
}

/// On PostgreSQL, wakes the other replicas when `$tx` commits (NOTIFY is transactional).
macro_rules! notify {
    ($store:expr, $tx:ident) => {
        if $store.is_postgres() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANGES_CHANNEL)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// A change another replica must apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub kind: String,
    pub subject: String,
}

/// A share's standing changed (revoked, opened past a limit): followers reload its row.
pub const CHANGE_SHARE: &str = "share";
/// A share was recorded: followers load it when they have the time (revocations come first).
pub const CHANGE_CREATED: &str = "created";
pub const CHANGE_SETTING: &str = "setting";

/// Where a follower stands in `changes`. Sequence numbers are taken when a row is written but
/// become visible when its transaction commits, so on PostgreSQL a change may appear below the
/// highest one read. It can only belong to a transaction the last read's snapshot did not see
/// as finished: one listed in progress by the snapshot (`open`), or one with an id at or past
/// the snapshot's horizon (`unseen_from`; PostgreSQL does not list those). Their changes are
/// read again until they show. Exact, whatever the load, the batch sizes or the clocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeCursor {
    /// Every change up to this sequence number was read, but those of unfinished transactions.
    high: i64,
    /// PostgreSQL transaction ids in progress at the last read (`pg_snapshot_xip`).
    open: Vec<i64>,
    /// Transactions from this id on had not finished at the last read (`pg_snapshot_xmax`).
    /// 0 on SQLite, whose writers commit one at a time in sequence order: nothing comes late.
    unseen_from: i64,
}

/// One read of `changes`: what came, where to read next, and whether more is waiting.
#[derive(Debug)]
pub struct ChangesRead {
    pub changes: Vec<Change>,
    pub next: ChangeCursor,
    pub more: bool,
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "id, token_type, resources, url, created_at, created_by, expires_at, \
                       max_uses, use_count, last_used_at, revoked_at, revoked_by, recorded, \
                       protection, protection_addresses, locked_until";

/// What validation needs of a share (`KnownShare`), as selected.
const KNOWN_COLUMNS: &str = "id, max_uses, use_count, revoked_at, protection";
type KnownRow = (String, Option<i64>, i64, Option<i64>, Option<String>);

/// A bind value of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

impl ShareStore {
    /// Connects with the default bound on each call (tests, the doctor).
    pub async fn connect(url: &str) -> anyhow::Result<ShareStore> {
        Self::connect_with(url, DEFAULT_TIMEOUT).await
    }

    /// Connects (creating a SQLite file and its folder if needed) and applies the migrations;
    /// every call made afterwards is given up after `timeout`.
    pub async fn connect_with(url: &str, timeout: Duration) -> anyhow::Result<ShareStore> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid postgres:// URL")?;
            migrate_postgres(&options, timeout).await?;
            let millis = timeout.as_millis().max(1);
            let bounded = options.options([
                ("statement_timeout", millis),
                // A transaction left open by a call given up here ends on the server too.
                ("idle_in_transaction_session_timeout", millis),
            ]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT.min(timeout))
                .connect_with(bounded)
                .await
                .context("Failed to connect to the PostgreSQL of DATABASE_URL")?;
            Pool::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid sqlite: URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(timeout);
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("Failed to create {}", dir.display()))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT.min(timeout))
                .connect_with(options)
                .await
                .context("Failed to open the SQLite database of DATABASE_URL")?;
            SQLITE_MIGRATIONS
                .run(&pool)
                .await
                .context("Failed to apply the database migrations")?;
            Pool::Sqlite(pool)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
        };
        Ok(ShareStore {
            pool,
            timeout,
            calls: DependencyCalls::new("database")?,
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Latency, errors and timeouts of the calls made here.
    pub fn calls(&self) -> &DependencyCalls {
        &self.calls
    }

    /// The pool of a PostgreSQL store (LISTEN needs a connection of its own).
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Runs one call within the bound, timed.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let limit = self.timeout;
        let pool_gave_up = |e: &sqlx::Error| matches!(e, sqlx::Error::PoolTimedOut);
        self.calls
            .time_within(limit, call, pool_gave_up, || {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no answer from the database within {} ms (DATABASE_TIMEOUT_SECONDS)",
                        limit.as_millis()
                    ),
                ))
            })
            .await
    }

    /// Records a share with its resource ids, once: recording it again changes nothing.
    pub async fn record(&self, r: &ShareRecord, now_ms: i64) -> Result<(), sqlx::Error> {
        self.record_many(std::slice::from_ref(r), now_ms)
            .await
            .map(drop)
    }

    /// Records shares in one transaction (one commit, one fsync): all of them or none. Multi-row
    /// statements, so a batch costs a few round trips to PostgreSQL, not three per share. A
    /// share whose id was revoked before its record arrived fills in the revocation's row and
    /// stays revoked: those ids are returned.
    pub async fn record_many(
        &self,
        records: &[ShareRecord],
        now_ms: i64,
    ) -> Result<Vec<ShareId>, sqlx::Error> {
        self.bounded(self.record_many_unbounded(records, now_ms))
            .await
    }

    async fn record_many_unbounded(
        &self,
        records: &[ShareRecord],
        now_ms: i64,
    ) -> Result<Vec<ShareId>, sqlx::Error> {
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<(&ShareRecord, String, String, Option<String>)> = records
            .iter()
            .filter(|r| seen.insert(r.id))
            .map(|r| {
                let resources = serde_json::to_string(&r.resources).unwrap_or_else(|_| "[]".into());
                let addresses = r
                    .protection
                    .as_ref()
                    .filter(|p| p.method == ProtectionMethod::EmailCode)
                    .map(|p| serde_json::to_string(&p.addresses).unwrap_or_else(|_| "[]".into()));
                (r, r.id.to_string(), resources, addresses)
            })
            .collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // (id, revoked): shares new here, and revocations' rows filled in.
            let mut written: Vec<(String, Option<i64>)> = Vec::new();
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO shares (id, token_type, resources, url, created_at, created_by, \
                     expires_at, max_uses, use_count, protection, password_hash, \
                     protection_addresses) ",
                );
                insert.push_values(chunk, |mut row, (r, id, resources, addresses)| {
                    let protection = r.protection.as_ref();
                    row.push_bind(id.as_str())
                        .push_bind(r.token_type.map_or("", TokenType::as_str))
                        .push_bind(resources.as_str())
                        .push_bind(r.url.as_deref())
                        .push_bind(r.created_at)
                        .push_bind(r.created_by.as_str())
                        .push_bind(r.expires_at)
                        .push_bind(r.max_uses.map(clamp))
                        .push_bind(0_i64)
                        .push_bind(protection.map(|p| p.method.as_str()))
                        .push_bind(protection.and_then(|p| p.password_hash.as_deref()))
                        .push_bind(addresses.as_deref());
                });
                insert.push(
                    " ON CONFLICT (id) DO UPDATE SET token_type = excluded.token_type, \
                     resources = excluded.resources, url = excluded.url, \
                     created_at = excluded.created_at, created_by = excluded.created_by, \
                     expires_at = excluded.expires_at, max_uses = excluded.max_uses, \
                     protection = excluded.protection, password_hash = excluded.password_hash, \
                     protection_addresses = excluded.protection_addresses, \
                     recorded = TRUE WHERE shares.recorded = FALSE RETURNING id, revoked_at",
                );
                written.extend(
                    insert
                        .build_query_as::<(String, Option<i64>)>()
                        .fetch_all(&mut *tx)
                        .await?,
                );
            }
            if !written.is_empty() {
                let new: std::collections::HashSet<&str> =
                    written.iter().map(|(id, _)| id.as_str()).collect();
                let links: Vec<(&str, &str)> = rows
                    .iter()
                    .filter(|(_, id, _, _)| new.contains(id.as_str()))
                    .flat_map(|(r, id, _, _)| {
                        resource_ids(&r.resources)
                            .into_iter()
                            .map(move |resource| (resource, id.as_str()))
                    })
                    .collect();
                for chunk in links.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO share_resources (resource_id, share_id) ",
                    );
                    insert.push_values(chunk, |mut row, (resource, id)| {
                        row.push_bind(*resource).push_bind(*id);
                    });
                    insert.push(" ON CONFLICT DO NOTHING");
                    insert.build().execute(&mut *tx).await?;
                }
                // Announced for the other replicas to load; a revoked one is known revoked there.
                let created: Vec<&str> = written
                    .iter()
                    .filter(|(_, revoked)| revoked.is_none())
                    .map(|(id, _)| id.as_str())
                    .collect();
                for chunk in created.chunks(ROWS_PER_STATEMENT) {
                    let mut insert =
                        sqlx::QueryBuilder::new("INSERT INTO changes (kind, subject, at) ");
                    insert.push_values(chunk, |mut row, id| {
                        row.push_bind(CHANGE_CREATED).push_bind(*id).push_bind(now_ms);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                if !created.is_empty() {
                    notify!(self, tx);
                }
            }
            tx.commit().await?;
            Ok(written
                .iter()
                .filter(|(_, revoked)| revoked.is_some())
                .filter_map(|(id, _)| ShareId::parse(id))
                .collect())
        })
    }

    pub async fn get(&self, id: &ShareId) -> Result<Option<ShareRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM shares WHERE id = $1");
        let row: Option<Row> = self
            .bounded(async {
                on_pool!(self, pool => {
                    sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await
                })
            })
            .await?;
        Ok(row.and_then(from_row))
    }

    /// A page of shares, newest first.
    pub async fn list(
        &self,
        filter: &ShareFilter,
        now_ms: i64,
    ) -> Result<Vec<ShareRecord>, sqlx::Error> {
        let mut sql = format!("SELECT {COLUMNS} FROM shares WHERE 1 = 1");
        let mut args = Vec::new();
        let mut arg = |a: Arg| {
            args.push(a);
            format!("${}", args.len())
        };
        if let Some(resource) = &filter.resource {
            let p = arg(Arg::Text(resource.clone()));
            sql += &format!(
                " AND id IN (SELECT share_id FROM share_resources WHERE resource_id = {p})"
            );
        }
        if let Some(t) = filter.token_type {
            sql += &format!(" AND token_type = {}", arg(Arg::Text(t.as_str().into())));
        }
        if let Some(user) = &filter.created_by {
            sql += &format!(" AND created_by = {}", arg(Arg::Text(user.clone())));
        }
        if let Some(state) = filter.state {
            let used_up = "(max_uses IS NOT NULL AND use_count > max_uses)";
            match state {
                ShareState::Revoked => sql += " AND revoked_at IS NOT NULL",
                ShareState::UsedUp => sql += &format!(" AND revoked_at IS NULL AND {used_up}"),
                ShareState::Expired => {
                    let now = arg(Arg::Int(now_ms));
                    sql += &format!(
                        " AND revoked_at IS NULL AND NOT {used_up} AND expires_at IS NOT NULL \
                         AND expires_at <= {now}"
                    );
                }
                ShareState::Active => {
                    let now = arg(Arg::Int(now_ms));
                    sql += &format!(
                        " AND revoked_at IS NULL AND NOT {used_up} AND (expires_at IS NULL \
                         OR expires_at > {now})"
                    );
                }
            }
        }
        if let Some(cursor) = &filter.cursor {
            let at = arg(Arg::Int(cursor.created_at));
            let at2 = arg(Arg::Int(cursor.created_at));
            let id = arg(Arg::Text(cursor.id.clone()));
            sql += &format!(" AND (created_at < {at} OR (created_at = {at2} AND id < {id}))");
        }
        sql += &format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            arg(Arg::Int(i64::from(filter.limit)))
        );
        let rows: Vec<Row> = self
            .bounded(async {
                on_pool!(self, pool => {
                    let mut q = sqlx::query_as(&sql);
                    for a in &args {
                        q = match a {
                            Arg::Text(t) => q.bind(t.as_str()),
                            Arg::Int(i) => q.bind(*i),
                        };
                    }
                    q.fetch_all(pool).await
                })
            })
            .await?;
        Ok(rows.into_iter().filter_map(from_row).collect())
    }

    /// Revokes one share; revoking twice keeps the first date. An id with no share yet (its
    /// record may still come, or it is a token the registry never recorded) gets a row of its
    /// own holding the revocation, which the record fills in later without lifting it.
    pub async fn revoke(
        &self,
        id: &ShareId,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<ShareRecord>, sqlx::Error> {
        let id_text = id.to_string();
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                let mut changed = sqlx::query(
                    "UPDATE shares SET revoked_at = $1, revoked_by = $2 \
                     WHERE id = $3 AND revoked_at IS NULL",
                )
                .bind(now_ms)
                .bind(by)
                .bind(&id_text)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    changed = sqlx::query(
                        "INSERT INTO shares (id, token_type, resources, created_at, created_by, \
                         use_count, revoked_at, revoked_by, recorded) \
                         VALUES ($1, '', '[]', $2, '', 0, $2, $3, FALSE) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&id_text)
                    .bind(now_ms)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                if changed > 0 {
                    add_change!(tx, CHANGE_SHARE, &id_text, now_ms);
                    notify!(self, tx);
                }
                tx.commit().await
            })
        })
        .await?;
        self.get(id).await
    }

    /// Revokes every share of a resource id; returns the ones revoked now.
    pub async fn revoke_resource(
        &self,
        resource_id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<ShareId>, sqlx::Error> {
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                let ids: Vec<(String,)> = sqlx::query_as(
                    "UPDATE shares SET revoked_at = $1, revoked_by = $2 WHERE revoked_at IS NULL \
                     AND id IN (SELECT share_id FROM share_resources WHERE resource_id = $3) \
                     RETURNING id",
                )
                .bind(now_ms)
                .bind(by)
                .bind(resource_id)
                .fetch_all(&mut *tx)
                .await?;
                for (id,) in &ids {
                    add_change!(tx, CHANGE_SHARE, id, now_ms);
                }
                if !ids.is_empty() {
                    notify!(self, tx);
                }
                tx.commit().await?;
                Ok(ids.iter().filter_map(|(id,)| ShareId::parse(id)).collect())
            })
        })
        .await
    }

    /// Adds a batch of uses, exactly once: a batch id already applied is skipped, so a batch
    /// retried after a lost commit answer is not counted twice.
    pub async fn apply_uses(
        &self,
        batch_id: &str,
        deltas: &[UseDelta],
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        self.bounded(async { on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO use_batches (id, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(batch_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if fresh == 0 {
                return tx.commit().await;
            }
            let mut limited = false;
            for d in deltas {
                let id = d.id.to_string();
                let updated = sqlx::query_as::<_, (Option<i64>,)>(
                    "UPDATE shares SET use_count = use_count + $1, last_used_at = CASE \
                     WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 \
                     ELSE last_used_at END WHERE id = $3 RETURNING max_uses",
                )
                .bind(clamp(d.uses))
                .bind(d.last_used.unwrap_or(0))
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
                // Other replicas follow the counts of limited shares only.
                if matches!(updated, Some((Some(_),))) && d.uses > 0 {
                    add_change!(tx, CHANGE_SHARE, &id, now_ms);
                    limited = true;
                }
            }
            if limited {
                notify!(self, tx);
            }
            tx.commit().await
        }) })
        .await
    }

    /// Deletes shares expired before `before_ms` and bookkeeping older than it; returns the ids.
    pub async fn purge(&self, before_ms: i64) -> Result<Vec<ShareId>, sqlx::Error> {
        self.bounded(async { on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<(String,)> = sqlx::query_as(
                "DELETE FROM shares WHERE expires_at IS NOT NULL AND expires_at < $1 RETURNING id",
            )
            .bind(before_ms)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM share_resources WHERE share_id NOT IN (SELECT id FROM shares)",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM unlock_codes WHERE expires_at < $1 \
                 OR share_id NOT IN (SELECT id FROM shares)",
            )
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM code_sends WHERE sent_at < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM use_batches WHERE applied_at < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM changes WHERE at < $1")
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ids.iter().filter_map(|(id,)| ShareId::parse(id)).collect())
        }) })
        .await
    }

    /// What validation needs of every share (all of them, or those named, a few hundred per
    /// query).
    pub async fn known(&self, only: Option<&[String]>) -> Result<Vec<KnownShare>, sqlx::Error> {
        let base = format!("SELECT {KNOWN_COLUMNS} FROM shares");
        let base = base.as_str();
        let rows: Vec<KnownRow> = self
            .bounded(async {
                on_pool!(self, pool => {
                    match only {
                        None => sqlx::query_as(base).fetch_all(pool).await,
                        Some(ids) => {
                            let mut rows = Vec::with_capacity(ids.len());
                            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                                let mut select = sqlx::QueryBuilder::new(base);
                                select.push(" WHERE id IN (");
                                let mut list = select.separated(", ");
                                for id in chunk {
                                    list.push_bind(id.as_str());
                                }
                                select.push(")");
                                rows.extend(select.build_query_as().fetch_all(pool).await?);
                            }
                            Ok(rows)
                        }
                    }
                })
            })
            .await?;
        Ok(rows.into_iter().filter_map(known_from_row).collect())
    }

    /// Where a follower starts: every change committed now is behind it. Read before the shares
    /// are loaded, so that whatever the load misses is followed afterwards.
    pub async fn change_cursor(&self) -> Result<ChangeCursor, sqlx::Error> {
        self.bounded(async {
            match &self.pool {
                Pool::Sqlite(pool) => {
                    let (high,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes")
                        .fetch_one(pool)
                        .await?;
                    Ok(ChangeCursor {
                        high: high.unwrap_or(0),
                        open: Vec::new(),
                        unseen_from: 0,
                    })
                }
                Pool::Postgres(pool) => {
                    let mut tx = snapshot(pool).await?;
                    let (open, unseen_from) = unfinished(&mut tx).await?;
                    let (high,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes")
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(ChangeCursor {
                        high: high.unwrap_or(0),
                        open,
                        unseen_from,
                    })
                }
            }
        })
        .await
    }

    /// The changes past `cursor`, oldest first, and the cursor after them.
    pub async fn changes_after(&self, cursor: &ChangeCursor) -> Result<ChangesRead, sqlx::Error> {
        let (rows, open, unseen_from): (Vec<(i64, String, String)>, Vec<i64>, i64) = self
            .bounded(async {
                match &self.pool {
                    Pool::Sqlite(pool) => {
                        let rows = sqlx::query_as(
                            "SELECT seq, kind, subject FROM changes WHERE seq > $1 \
                             ORDER BY seq LIMIT $2",
                        )
                        .bind(cursor.high)
                        .bind(CHANGES_PER_READ)
                        .fetch_all(pool)
                        .await?;
                        Ok((rows, Vec::new(), 0))
                    }
                    Pool::Postgres(pool) => {
                        // The unfinished transactions and the changes, from one snapshot. Two
                        // queries, each on its index (an OR of both would scan the table).
                        let mut tx = snapshot(pool).await?;
                        let (open, unseen_from) = unfinished(&mut tx).await?;
                        let mut rows: Vec<(i64, String, String)> = sqlx::query_as(
                            "SELECT seq, kind, subject FROM changes \
                             WHERE (xid = ANY($1) OR xid >= $2) AND seq <= $3",
                        )
                        .bind(&cursor.open)
                        .bind(cursor.unseen_from)
                        .bind(cursor.high)
                        .fetch_all(&mut *tx)
                        .await?;
                        rows.extend(
                            sqlx::query_as::<_, (i64, String, String)>(
                                "SELECT seq, kind, subject FROM changes WHERE seq > $1 \
                                 ORDER BY seq LIMIT $2",
                            )
                            .bind(cursor.high)
                            .bind(CHANGES_PER_READ)
                            .fetch_all(&mut *tx)
                            .await?,
                        );
                        tx.commit().await?;
                        Ok((rows, open, unseen_from))
                    }
                }
            })
            .await?;
        let more =
            rows.iter().filter(|(seq, _, _)| *seq > cursor.high).count() as i64 >= CHANGES_PER_READ;
        let high = rows
            .iter()
            .map(|(seq, _, _)| *seq)
            .fold(cursor.high, i64::max);
        Ok(ChangesRead {
            changes: rows
                .into_iter()
                .map(|(seq, kind, subject)| Change { seq, kind, subject })
                .collect(),
            next: ChangeCursor {
                high,
                open,
                unseen_from,
            },
            more,
        })
    }

    pub async fn last_change(&self) -> Result<i64, sqlx::Error> {
        let (seq,): (Option<i64>,) = self
            .bounded(async {
                on_pool!(self, pool => {
                    sqlx::query_as("SELECT MAX(seq) FROM changes").fetch_one(pool).await
                })
            })
            .await?;
        Ok(seq.unwrap_or(0))
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = self
            .bounded(async {
                on_pool!(self, pool => {
                    sqlx::query_as("SELECT value FROM settings WHERE name = $1")
                        .bind(name)
                        .fetch_optional(pool)
                        .await
                })
            })
            .await?;
        Ok(row.map(|(v,)| v))
    }

    /// Stores a setting; with `only_if_absent`, a value already there is kept (seeding).
    pub async fn put_setting(
        &self,
        name: &str,
        value: &str,
        only_if_absent: bool,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let sql = if only_if_absent {
            "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING"
        } else {
            "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        };
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                let changed = sqlx::query(sql)
                    .bind(name)
                    .bind(value)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed > 0 {
                    add_change!(tx, CHANGE_SETTING, name, now_ms);
                    notify!(self, tx);
                }
                tx.commit().await
            })
        })
        .await
    }

    /// Waits for the pool to finish its work and closes it.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

// Protected links: their state and codes (after the macros above, which it uses).
mod protection;
pub use protection::{Bound, CodeIssue, NewCode, SendLimit, UnlockState};

/// The migrations, on a connection of their own without the statement bound: building an index
/// on a large table may take longer than any request should.
async fn migrate_postgres(options: &PgConnectOptions, timeout: Duration) -> anyhow::Result<()> {
    let connecting = tokio::time::timeout(timeout.max(ACQUIRE_TIMEOUT), options.connect());
    let mut connection = connecting
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the PostgreSQL of DATABASE_URL did not answer within {} ms",
                timeout.max(ACQUIRE_TIMEOUT).as_millis()
            )
        })?
        .context("Failed to connect to the PostgreSQL of DATABASE_URL")?;
    POSTGRES_MIGRATIONS
        .run(&mut connection)
        .await
        .context("Failed to apply the database migrations")?;
    let _ = connection.close().await;
    Ok(())
}

/// A read-only transaction whose statements all see one snapshot.
async fn snapshot(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The transactions the snapshot of `tx` does not see as finished (its first statement takes
/// it): those it lists in progress, and every id from its horizon on.
async fn unfinished(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(Vec<i64>, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x), \
         pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
    )
    .fetch_one(&mut **tx)
    .await
}

/// The ids a resource can be found by.
fn resource_ids(resources: &[ResourceDto]) -> Vec<&str> {
    let mut ids: Vec<&str> = resources
        .iter()
        .flat_map(|r| [r.dicom_uid.as_deref(), r.orthanc_id.as_deref()])
        .flatten()
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn known_from_row(row: KnownRow) -> Option<KnownShare> {
    let (id, max_uses, uses, revoked_at, protection) = row;
    Some(KnownShare {
        id: ShareId::parse(&id)?,
        max_uses: max_uses.map(unclamp),
        uses: unclamp(uses),
        revoked: revoked_at.is_some(),
        protected: protection.is_some(),
    })
}

/// The protection columns as a record shows them (the hash is never read here).
fn protection_from_columns(
    method: Option<&str>,
    addresses: Option<&str>,
) -> Option<StoredProtection> {
    Some(StoredProtection {
        method: ProtectionMethod::parse(method?)?,
        addresses: addresses
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default(),
        password_hash: None,
    })
}

fn from_row(row: Row) -> Option<ShareRecord> {
    let (
        id,
        token_type,
        resources,
        url,
        created_at,
        created_by,
        expires_at,
        max_uses,
        uses,
        last,
        revoked_at,
        revoked_by,
        recorded,
        protection,
        addresses,
        locked_until,
    ) = row;
    // A revocation's own row (recorded = false) has no type yet.
    let token_type = match TokenType::parse(&token_type) {
        Some(t) => Some(t),
        None if !recorded => None,
        None => return None,
    };
    Some(ShareRecord {
        id: ShareId::parse(&id)?,
        token_type,
        recorded,
        resources: serde_json::from_str(&resources).unwrap_or_default(),
        url,
        created_at,
        created_by,
        expires_at,
        max_uses: max_uses.map(unclamp),
        use_count: unclamp(uses),
        last_used_at: last,
        revoked_at,
        revoked_by,
        protection: protection_from_columns(protection.as_deref(), addresses.as_deref()),
        locked_until,
    })
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unclamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
