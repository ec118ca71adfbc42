//! The registry's side of protected links: what an unlock attempt reads, the wrong attempts that
//! lock a share (counted in the share's row, which every unlock attempt on every replica reads:
//! a lock holds everywhere from its commit on), codes (a keyed hash per share and address) and
//! the sends allowed per share, and e-mail bindings (announced through `changes`: validation on
//! the other replicas refuses the share's own token from memory). Each write that must not race with another on the same
//! share starts with an UPDATE of its row: PostgreSQL then holds the row lock, SQLite its writer
//! lock, until the transaction ends.
use auth_wire::ProtectionMethod;

use super::{known_from_row, Pool, ShareStore, CHANGES_CHANNEL, CHANGE_SHARE, KNOWN_COLUMNS};
use crate::domain::ShareId;
use crate::shares::known::KnownShare;

/// What an unlock attempt needs of a protected share.
#[derive(Clone, PartialEq, Eq)]
pub struct UnlockState {
    pub method: ProtectionMethod,
    pub addresses: Vec<String>,
    /// The Argon2id hash (PHC string) of a password share.
    pub password_hash: Option<String>,
    /// Wrong attempts in the current window.
    pub failures: u32,
    /// Unix ms, while locked.
    pub locked_until: Option<i64>,
    pub revoked: bool,
}

impl std::fmt::Debug for UnlockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockState")
            .field("method", &self.method)
            .field("addresses", &self.addresses.len())
            .field("failures", &self.failures)
            .field("locked_until", &self.locked_until)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// What binding a share to e-mail addresses did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Bound (or its addresses extended): the share as validation needs it now.
    Bound(KnownShare),
    /// A password share: left as it is.
    Password,
    /// No recorded share with this id.
    NotFound,
}

/// A code about to go out, as stored.
pub struct NewCode<'a> {
    pub address: &'a str,
    /// The keyed hash (`CodeKey::hash`), never the code.
    pub hash: &'a str,
    pub sent_at: i64,
    pub expires_at: i64,
}

/// Codes allowed per share: `max` since `window_start` (Unix ms).
#[derive(Clone, Copy, Debug)]
pub struct SendLimit {
    pub window_start: i64,
    pub max: u32,
}

/// Whether a code may go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeIssue {
    /// Stored (replacing the address's previous code) and counted.
    Stored,
    /// The sends allowed in the window are used: the oldest leaves the window in this many ms.
    TooMany { retry_after_ms: i64 },
}

type StateRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Takes the share's row for the rest of the transaction; its id when there is a recorded one.
const TAKE_ROW: &str = "UPDATE shares SET unlock_failures = unlock_failures \
                        WHERE id = $1 AND recorded RETURNING id";

impl ShareStore {
    /// The protection of a share, its wrong attempts counted since `window_start_ms` and its
    /// lock; `None` for a share that is not recorded or not protected.
    pub async fn unlock_state(
        &self,
        id: &ShareId,
        window_start_ms: i64,
    ) -> Result<Option<UnlockState>, sqlx::Error> {
        let row: Option<StateRow> = self
            .bounded(async {
                on_pool!(self, pool => {
                    sqlx::query_as(
                        "SELECT protection, protection_addresses, password_hash, unlock_failures, \
                         unlock_failures_since, locked_until, revoked_at FROM shares \
                         WHERE id = $1 AND recorded",
                    )
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await
                })
            })
            .await?;
        let Some((method, addresses, hash, failures, since, locked_until, revoked)) = row else {
            return Ok(None);
        };
        let Some(method) = method.as_deref().and_then(ProtectionMethod::parse) else {
            return Ok(None);
        };
        let current = since.is_some_and(|since| since > window_start_ms);
        Ok(Some(UnlockState {
            method,
            addresses: addresses
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
            password_hash: hash,
            failures: if current {
                u32::try_from(failures).unwrap_or(u32::MAX)
            } else {
                0
            },
            locked_until,
            revoked: revoked.is_some(),
        }))
    }

    /// Counts a wrong password or code: attempts older than `window_start_ms` are forgotten; the
    /// attempt that reaches `max_failures` locks the share until `lock_until_ms` (and starts the
    /// count again). Returns the attempts counted and the lock.
    pub async fn count_failure(
        &self,
        id: &ShareId,
        now_ms: i64,
        window_start_ms: i64,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Result<(u32, Option<i64>), sqlx::Error> {
        let id = id.to_string();
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                let counted: Option<(i64,)> = sqlx::query_as(
                    "UPDATE shares SET \
                     unlock_failures = CASE WHEN unlock_failures_since IS NULL \
                       OR unlock_failures_since <= $2 THEN 1 ELSE unlock_failures + 1 END, \
                     unlock_failures_since = CASE WHEN unlock_failures_since IS NULL \
                       OR unlock_failures_since <= $2 THEN $3 ELSE unlock_failures_since END \
                     WHERE id = $1 RETURNING unlock_failures",
                )
                .bind(&id)
                .bind(window_start_ms)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let failures = counted.map_or(0, |(n,)| u32::try_from(n).unwrap_or(u32::MAX));
                let mut locked = None;
                if failures >= max_failures {
                    sqlx::query(
                        "UPDATE shares SET locked_until = $2, unlock_failures = 0, \
                         unlock_failures_since = NULL WHERE id = $1",
                    )
                    .bind(&id)
                    .bind(lock_until_ms)
                    .execute(&mut *tx)
                    .await?;
                    locked = Some(lock_until_ms);
                }
                tx.commit().await?;
                Ok((failures, locked))
            })
        })
        .await
    }

    /// A right password or code: the wrong attempts are forgotten and, for a code, that code is
    /// used up. False (nothing changed) when the share is locked or revoked by now, or the code
    /// was used or expired meanwhile: a locked or revoked share never unlocks, and a code opens
    /// once.
    pub async fn unlocked(
        &self,
        id: &ShareId,
        code_address: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let id = id.to_string();
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                let open: Option<(String,)> = sqlx::query_as(
                    "UPDATE shares SET unlock_failures = 0, unlock_failures_since = NULL \
                     WHERE id = $1 AND revoked_at IS NULL \
                     AND (locked_until IS NULL OR locked_until <= $2) RETURNING id",
                )
                .bind(&id)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                if open.is_none() {
                    return Ok(false);
                }
                if let Some(address) = code_address {
                    let used: Option<(String,)> = sqlx::query_as(
                        "DELETE FROM unlock_codes WHERE share_id = $1 AND address = $2 \
                         AND expires_at > $3 RETURNING address",
                    )
                    .bind(&id)
                    .bind(address)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if used.is_none() {
                        return Ok(false);
                    }
                }
                tx.commit().await?;
                Ok(true)
            })
        })
        .await
    }

    /// Stores a new code for (share, address), replacing that address's previous one, unless
    /// the limit's codes were sent for the share within its window.
    pub async fn issue_code(
        &self,
        id: &ShareId,
        code: &NewCode<'_>,
        limit: SendLimit,
    ) -> Result<CodeIssue, sqlx::Error> {
        let id = id.to_string();
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                sqlx::query(TAKE_ROW).bind(&id).fetch_optional(&mut *tx).await?;
                let (sent, oldest): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(sent_at) FROM code_sends \
                     WHERE share_id = $1 AND sent_at > $2",
                )
                .bind(&id)
                .bind(limit.window_start)
                .fetch_one(&mut *tx)
                .await?;
                if sent >= i64::from(limit.max) {
                    let leaves = oldest.unwrap_or(code.sent_at) - limit.window_start;
                    return Ok(CodeIssue::TooMany {
                        retry_after_ms: leaves.max(1),
                    });
                }
                sqlx::query(
                    "INSERT INTO unlock_codes (share_id, address, code_hash, sent_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (share_id, address) DO UPDATE SET \
                     code_hash = excluded.code_hash, sent_at = excluded.sent_at, \
                     expires_at = excluded.expires_at",
                )
                .bind(&id)
                .bind(code.address)
                .bind(code.hash)
                .bind(code.sent_at)
                .bind(code.expires_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO code_sends (share_id, sent_at) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(code.sent_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(CodeIssue::Stored)
            })
        })
        .await
    }

    /// The codes of a share, expired ones included: `(address, keyed hash, expires at)`.
    pub async fn codes(&self, id: &ShareId) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        self.bounded(async {
            on_pool!(self, pool => {
                sqlx::query_as(
                    "SELECT address, code_hash, expires_at FROM unlock_codes WHERE share_id = $1",
                )
                .bind(id.to_string())
                .fetch_all(pool)
                .await
            })
        })
        .await
    }

    /// Binds a plain share, or extends an e-mail-code share, to `addresses` (kept in their
    /// order, each once, case-insensitively), announced to the other replicas. A password share
    /// is left as it is.
    pub async fn bind(
        &self,
        id: &ShareId,
        addresses: &[String],
        now_ms: i64,
    ) -> Result<Bound, sqlx::Error> {
        let id = id.to_string();
        self.bounded(async {
            on_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                if sqlx::query(TAKE_ROW).bind(&id).fetch_optional(&mut *tx).await?.is_none() {
                    return Ok(Bound::NotFound);
                }
                let (method, known): (Option<String>, Option<String>) = sqlx::query_as(
                    "SELECT protection, protection_addresses FROM shares WHERE id = $1",
                )
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
                if method.as_deref() == Some(ProtectionMethod::Password.as_str()) {
                    return Ok(Bound::Password);
                }
                let mut all: Vec<String> = known
                    .and_then(|a| serde_json::from_str(&a).ok())
                    .unwrap_or_default();
                let before = all.len();
                for address in addresses {
                    if !all.iter().any(|a| a.eq_ignore_ascii_case(address)) {
                        all.push(address.clone());
                    }
                }
                if method.is_none() || all.len() > before {
                    sqlx::query(
                        "UPDATE shares SET protection = $2, protection_addresses = $3 \
                         WHERE id = $1",
                    )
                    .bind(&id)
                    .bind(ProtectionMethod::EmailCode.as_str())
                    .bind(serde_json::to_string(&all).unwrap_or_else(|_| "[]".into()))
                    .execute(&mut *tx)
                    .await?;
                    add_change!(tx, CHANGE_SHARE, &id, now_ms);
                    notify!(self, tx);
                }
                let row = sqlx::query_as(&format!(
                    "SELECT {KNOWN_COLUMNS} FROM shares WHERE id = $1"
                ))
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(known_from_row(row).map_or(Bound::NotFound, Bound::Bound))
            })
        })
        .await
    }
}
