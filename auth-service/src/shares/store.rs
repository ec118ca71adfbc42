//! The registry's database: SQLite (one replica) or PostgreSQL (several). One set of SQL serves
//! both: `$n` placeholders (SQLite reads them too), times as BIGINT Unix milliseconds, and each
//! query runs through `on_pool!`, which writes the same code once per backend. Queries are the
//! runtime-checked `sqlx::query` with binds: the compile-time macros are tied to one database.
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::known::{KnownShare, UseDelta};
use super::record::{ShareFilter, ShareRecord, ShareState};
use crate::api::ResourceDto;
use crate::domain::{ShareId, TokenType};

/// The channel PostgreSQL replicas NOTIFY on after every change (the payload is empty: a nudge
/// to read `changes`).
pub const CHANGES_CHANNEL: &str = "auth_service_changes";

/// Rows in one multi-row INSERT: 9 binds each stays far below both databases' bind limits.
const ROWS_PER_STATEMENT: usize = 500;
/// How long a request waits for a connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Debug)]
pub enum ShareStore {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            ShareStore::Sqlite($pool) => $body,
            ShareStore::Postgres($pool) => $body,
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

pub const CHANGE_SHARE: &str = "share";
pub const CHANGE_SETTING: &str = "setting";

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
);

const COLUMNS: &str = "id, token_type, resources, url, created_at, created_by, expires_at, \
                       max_uses, use_count, last_used_at, revoked_at, revoked_by";

/// A bind value of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

impl ShareStore {
    /// Connects (creating a SQLite file and its folder if needed) and applies the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<ShareStore> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .context("Failed to connect to the PostgreSQL of DATABASE_URL")?;
            ShareStore::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid sqlite: URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("Failed to create {}", dir.display()))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .context("Failed to open the SQLite database of DATABASE_URL")?;
            ShareStore::Sqlite(pool)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            ShareStore::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            ShareStore::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .context("Failed to apply the database migrations")
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, ShareStore::Postgres(_))
    }

    /// Records a share with its resource ids, once: recording it again changes nothing.
    pub async fn record(&self, r: &ShareRecord, now_ms: i64) -> Result<(), sqlx::Error> {
        self.record_many(std::slice::from_ref(r), now_ms).await
    }

    /// Records shares in one transaction (one commit, one fsync): all of them or none. Multi-row
    /// statements, so a batch costs a few round trips to PostgreSQL, not three per share.
    pub async fn record_many(
        &self,
        records: &[ShareRecord],
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<(&ShareRecord, String, String)> = records
            .iter()
            .filter(|r| seen.insert(r.id))
            .map(|r| {
                let resources = serde_json::to_string(&r.resources).unwrap_or_else(|_| "[]".into());
                (r, r.id.to_string(), resources)
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted: Vec<String> = Vec::new();
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO shares (id, token_type, resources, url, created_at, created_by, \
                     expires_at, max_uses, use_count) ",
                );
                insert.push_values(chunk, |mut row, (r, id, resources)| {
                    row.push_bind(id.as_str())
                        .push_bind(r.token_type.as_str())
                        .push_bind(resources.as_str())
                        .push_bind(r.url.as_deref())
                        .push_bind(r.created_at)
                        .push_bind(r.created_by.as_str())
                        .push_bind(r.expires_at)
                        .push_bind(r.max_uses.map(clamp))
                        .push_bind(0_i64);
                });
                insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
                let ids: Vec<(String,)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                inserted.extend(ids.into_iter().map(|(id,)| id));
            }
            if !inserted.is_empty() {
                let new: std::collections::HashSet<&str> =
                    inserted.iter().map(String::as_str).collect();
                let links: Vec<(&str, &str)> = rows
                    .iter()
                    .filter(|(_, id, _)| new.contains(id.as_str()))
                    .flat_map(|(r, id, _)| {
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
                for chunk in inserted.chunks(ROWS_PER_STATEMENT) {
                    let mut insert =
                        sqlx::QueryBuilder::new("INSERT INTO changes (kind, subject, at) ");
                    insert.push_values(chunk, |mut row, id| {
                        row.push_bind(CHANGE_SHARE).push_bind(id.as_str()).push_bind(now_ms);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                notify!(self, tx);
            }
            tx.commit().await
        })
    }

    pub async fn get(&self, id: &ShareId) -> Result<Option<ShareRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM shares WHERE id = $1");
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(pool).await?
        });
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
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql);
            for a in &args {
                q = match a {
                    Arg::Text(t) => q.bind(t.as_str()),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all(pool).await?
        });
        Ok(rows.into_iter().filter_map(from_row).collect())
    }

    /// Revokes one share; `None` when there is no such share. Revoking twice keeps the first date.
    pub async fn revoke(
        &self,
        id: &ShareId,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<ShareRecord>, sqlx::Error> {
        let id_text = id.to_string();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE shares SET revoked_at = $1, revoked_by = $2 \
                 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(by)
            .bind(&id_text)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 {
                add_change!(tx, CHANGE_SHARE, &id_text, now_ms);
                notify!(self, tx);
            }
            tx.commit().await?;
        });
        self.get(id).await
    }

    /// Revokes every share of a resource id; returns the ones revoked now.
    pub async fn revoke_resource(
        &self,
        resource_id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<ShareId>, sqlx::Error> {
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
    }

    /// Adds a batch of uses, exactly once: a batch id already applied is skipped, so a batch
    /// retried after a lost commit answer is not counted twice.
    pub async fn apply_uses(
        &self,
        batch_id: &str,
        deltas: &[UseDelta],
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
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
        })
    }

    /// Deletes shares expired before `before_ms` and bookkeeping older than it; returns the ids.
    pub async fn purge(&self, before_ms: i64) -> Result<Vec<ShareId>, sqlx::Error> {
        on_pool!(self, pool => {
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
        })
    }

    /// What validation needs of every share (all of them, or those named).
    pub async fn known(&self, only: Option<&[String]>) -> Result<Vec<KnownShare>, sqlx::Error> {
        let base = "SELECT id, max_uses, use_count, revoked_at FROM shares";
        let rows: Vec<(String, Option<i64>, i64, Option<i64>)> = on_pool!(self, pool => {
            match only {
                None => sqlx::query_as(base).fetch_all(pool).await?,
                Some(ids) => {
                    let mut rows = Vec::with_capacity(ids.len());
                    let sql = format!("{base} WHERE id = $1");
                    for id in ids {
                        if let Some(row) = sqlx::query_as(&sql).bind(id).fetch_optional(pool).await? {
                            rows.push(row);
                        }
                    }
                    rows
                }
            }
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, max_uses, uses, revoked_at)| {
                Some(KnownShare {
                    id: ShareId::parse(&id)?,
                    max_uses: max_uses.map(unclamp),
                    uses: unclamp(uses),
                    revoked: revoked_at.is_some(),
                })
            })
            .collect())
    }

    /// Changes with a sequence number above `after`, oldest first.
    pub async fn changes_since(&self, after: i64) -> Result<Vec<Change>, sqlx::Error> {
        let rows: Vec<(i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, kind, subject FROM changes WHERE seq > $1 ORDER BY seq LIMIT 10000",
            )
            .bind(after)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(seq, kind, subject)| Change { seq, kind, subject })
            .collect())
    }

    pub async fn last_change(&self) -> Result<i64, sqlx::Error> {
        let (seq,): (Option<i64>,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT MAX(seq) FROM changes").fetch_one(pool).await?
        });
        Ok(seq.unwrap_or(0))
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
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
    }

    /// Waits for the pool to finish its work and closes it.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
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
    ) = row;
    Some(ShareRecord {
        id: ShareId::parse(&id)?,
        token_type: TokenType::parse(&token_type)?,
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
    })
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unclamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
