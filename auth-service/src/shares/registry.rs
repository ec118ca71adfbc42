//! The registry as the service uses it: the database, the in-memory view validation reads, and
//! the background work that keeps the two together (use counts written in batches, other
//! replicas' changes followed, old shares purged).
//!
//! What is promised: a share is handed out only once its record is committed (the database
//! down: 503, nothing handed out); a revocation is answered only once committed; use counts are
//! written every 0.5 s, and those still pending when the process stops with the database down
//! are kept under `DATA_DIR` and written at the next start.
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;

use super::follower::{ChangeFollower, NewShares};
use super::journal::{UseBatch, UseJournal};
use super::known::{KnownShare, KnownShares, Standing, UseDelta};
use super::record::{ShareFilter, ShareRecord};
use super::store::{ChangeCursor, ShareStore};
use crate::domain::ShareId;
use crate::metrics::DependencyCalls;

/// How often pending use counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How long a stopping service tries to write its pending uses before keeping them on disk
/// (well inside SHUTDOWN_TIMEOUT_SECONDS, the bound of every shutdown hook).
const FLUSH_AT_EXIT: Duration = Duration::from_secs(3);
/// How often the changes of other replicas are read when no NOTIFY arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// New shares written in one transaction at most: concurrent creations share a commit (and its
/// fsync), so creation scales with load instead of with the disk's sync rate.
const MAX_RECORD_BATCH: usize = 256;
/// The longest a validation waits for the database to say whether a share it has not seen
/// exists (REQUIRE_REGISTERED_TOKENS); then it is refused, and asked again a second later.
const SIGHT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a share found nowhere is not looked up again.
const NOT_FOUND_FOR: Duration = Duration::from_secs(1);

/// What a creation waits for: its commit's outcome (the ids found revoked, or the error text).
type CommitOutcome = Result<Vec<ShareId>, String>;
/// A creation waiting for its commit.
type PendingRecord = (ShareRecord, tokio::sync::oneshot::Sender<CommitOutcome>);

/// Why the registry could not answer now.
#[derive(Debug, thiserror::Error)]
#[error("the share registry database is unavailable")]
pub struct Unavailable(#[source] pub sqlx::Error);

impl From<sqlx::Error> for Unavailable {
    fn from(e: sqlx::Error) -> Self {
        Unavailable(e)
    }
}

/// Told `(name, value)` when another replica changes a setting (the roles).
pub type SettingFollower = Box<dyn Fn(&str, &str) + Send + Sync>;

/// How the registry is opened (from the settings).
pub struct RegistryOptions<'a> {
    /// `DATABASE_URL`, or the SQLite file in `DATA_DIR`.
    pub url: &'a str,
    pub require_registered: bool,
    pub retention_days: u32,
    /// `DATA_DIR`: where uses that could not be written before a stop are kept.
    pub data_dir: PathBuf,
    /// `DATABASE_TIMEOUT_SECONDS`: the bound of every database call.
    pub timeout: Duration,
}

pub struct ShareRegistry {
    pub(super) store: ShareStore,
    pub(super) known: Arc<KnownShares>,
    /// Batches of uses whose commit failed or whose outcome is unknown: retried under their id.
    retry: tokio::sync::Mutex<Vec<UseBatch>>,
    journal: UseJournal,
    require_registered: bool,
    retention_ms: i64,
    pub(super) followers: std::sync::RwLock<Vec<SettingFollower>>,
    /// The last creation time handed out: creation times are unique and increasing here, so
    /// the list's newest-first order is the order of creation.
    last_stamp: AtomicI64,
    /// Latency, errors and timeouts of the database calls (`dependency="database"`).
    pub calls: DependencyCalls,
    /// The group-commit writer of new shares (see `write_loop`).
    writer: tokio::sync::mpsc::Sender<PendingRecord>,
    /// Shares other replicas recorded, waiting to be loaded here.
    pub(super) new_shares: NewShares,
    /// Shares looked up on first sight and found nowhere, not asked for again for a while.
    not_found: moka::sync::Cache<ShareId, ()>,
    /// Where the follower starts: read before the shares were loaded.
    cursor: Mutex<Option<ChangeCursor>>,
    /// The background tasks, stopped by `close`.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl ShareRegistry {
    /// Opens the database (migrations run), writes the uses kept at the last stop, and loads
    /// every share into memory.
    pub async fn open(options: RegistryOptions<'_>) -> anyhow::Result<Arc<ShareRegistry>> {
        let store = ShareStore::connect_with(options.url, options.timeout).await?;
        let journal = UseJournal::new(&options.data_dir);
        let kept = journal.kept()?;
        let now = Utc::now().timestamp_millis();
        for (batch, deltas) in &kept {
            store.apply_uses(batch, deltas, now).await.map_err(|e| {
                anyhow::anyhow!(e).context(format!(
                    "Failed to write the share uses kept in {}",
                    journal.path().display()
                ))
            })?;
        }
        if !kept.is_empty() {
            journal.clear()?;
            tracing::info!(
                batches = kept.len(),
                "share uses kept at the last stop written"
            );
        }
        // Before the load: whatever changes while the shares load is followed afterwards.
        let cursor = store.change_cursor().await?;
        let known = Arc::new(KnownShares::new());
        for share in store.known(None).await? {
            known.insert(share);
        }
        tracing::info!(
            shares = known.len(),
            postgres = store.is_postgres(),
            "share registry loaded"
        );
        let calls = store.calls().clone();
        let (writer, pending) = tokio::sync::mpsc::channel(4 * MAX_RECORD_BATCH);
        let write = tokio::spawn(write_loop(store.clone(), pending));
        Ok(Arc::new(ShareRegistry {
            store,
            known,
            retry: tokio::sync::Mutex::new(Vec::new()),
            journal,
            require_registered: options.require_registered,
            retention_ms: i64::from(options.retention_days) * 86_400_000,
            followers: std::sync::RwLock::new(Vec::new()),
            last_stamp: AtomicI64::new(0),
            calls,
            writer,
            new_shares: NewShares::default(),
            not_found: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(NOT_FOUND_FOR)
                .build(),
            cursor: Mutex::new(Some(cursor)),
            tasks: Mutex::new(vec![write.abort_handle()]),
        }))
    }

    /// A creation time (Unix ms): now, or one past the previous one if that is not earlier.
    pub fn stamp(&self) -> i64 {
        let now = Utc::now().timestamp_millis();
        let previous = self
            .last_stamp
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }

    pub fn known(&self) -> &Arc<KnownShares> {
        &self.known
    }

    pub fn store(&self) -> &ShareStore {
        &self.store
    }

    pub fn require_registered(&self) -> bool {
        self.require_registered
    }

    /// Starts the background work: flushing uses, following the other replicas (from where
    /// the load began), loading the shares they create, purging.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let cursor = self
            .cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        let follower = ChangeFollower::new(self.clone(), cursor);
        let handles = [
            tokio::spawn(self.clone().flush_loop()).abort_handle(),
            tokio::spawn(follower.run()).abort_handle(),
            tokio::spawn(self.clone().load_loop()).abort_handle(),
            tokio::spawn(self.clone().purge_loop()).abort_handle(),
        ];
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(handles);
        Ok(())
    }

    /// At shutdown: writes what is pending (kept under `DATA_DIR` when the database cannot
    /// take it), stops the background work and closes the database.
    pub async fn close(&self) {
        self.flush_before_exit().await;
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        self.store.close().await;
    }

    pub fn add_follower(&self, follower: SettingFollower) {
        self.followers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(follower);
    }

    /// Records a new share; answers once its record is committed, so a share handed out is
    /// always listed, revocable and limited, on every replica and after any restart. `Revoked`
    /// when the id was revoked before (the same request made earlier and revoked since).
    pub async fn created(&self, record: ShareRecord) -> Result<Standing, Unavailable> {
        // The same request gives the same token: a share known here is recorded already.
        let standing = self.known.standing(&record.id);
        if standing != Standing::Unknown {
            return Ok(standing);
        }
        let id = record.id;
        let share = KnownShare::new(id, record.max_uses, record.protection.is_some());
        let revoked = self.commit(record).await?;
        self.known.insert(share);
        for revoked in &revoked {
            self.known.revoke(revoked);
        }
        Ok(self.known.standing(&id))
    }

    /// Hands a new share to the writer and waits for the commit that holds it; the ids of the
    /// batch that turned out revoked.
    async fn commit(&self, record: ShareRecord) -> Result<Vec<ShareId>, Unavailable> {
        let gone = || Unavailable(sqlx::Error::WorkerCrashed);
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.writer.send((record, done)).await.map_err(|_| gone())?;
        outcome
            .await
            .map_err(|_| gone())?
            .map_err(|error| Unavailable(sqlx::Error::Io(std::io::Error::other(error))))
    }

    pub async fn get(&self, id: &ShareId) -> Result<Option<ShareRecord>, Unavailable> {
        Ok(self.store.get(id).await?)
    }

    pub async fn list(
        &self,
        filter: &ShareFilter,
        now_ms: i64,
    ) -> Result<Vec<ShareRecord>, Unavailable> {
        Ok(self.store.list(filter, now_ms).await?)
    }

    /// Revokes a share here at once, in the database, and (through it) on the other replicas.
    /// An id no share has yet is revoked all the same: whatever record comes later stays
    /// revoked.
    pub async fn revoke(&self, id: &ShareId, by: &str) -> Result<Option<ShareRecord>, Unavailable> {
        let now = Utc::now().timestamp_millis();
        let found = self.store.revoke(id, by, now).await?;
        self.known.revoke(id);
        Ok(found)
    }

    pub async fn revoke_resource(
        &self,
        resource_id: &str,
        by: &str,
    ) -> Result<Vec<ShareId>, Unavailable> {
        let now = Utc::now().timestamp_millis();
        let ids = self.store.revoke_resource(resource_id, by, now).await?;
        for id in &ids {
            self.known.revoke(id);
        }
        Ok(ids)
    }

    /// Where a share stands, looking it up in the database if this replica has not seen it
    /// yet (created on another replica a moment ago). A share found nowhere is not looked up
    /// again for a second; the database slow or down counts as not found (fail closed).
    pub async fn sight(&self, id: &ShareId) -> Standing {
        let standing = self.known.standing(id);
        if standing != Standing::Unknown || self.not_found.contains_key(id) {
            return standing;
        }
        let name = [id.to_string()];
        match tokio::time::timeout(SIGHT_TIMEOUT, self.store.known(Some(&name))).await {
            Ok(Ok(found)) if !found.is_empty() => {
                for share in found {
                    self.known.insert(share);
                }
            }
            _ => self.not_found.insert(*id, ()),
        }
        self.known.standing(id)
    }

    /// Writes the pending use counts: opens of limited shares first, in a transaction of their
    /// own, so a share used up here is refused by the other replicas without waiting for the
    /// last-use times of every other share. On failure everything stays pending for the next
    /// call; nothing is counted twice.
    pub async fn flush(&self) -> Result<(), Unavailable> {
        let now = Utc::now().timestamp_millis();
        let mut retry = self.retry.lock().await;
        while let Some((batch_id, deltas)) = retry.first() {
            self.store.apply_uses(batch_id, deltas, now).await?;
            retry.remove(0);
        }
        let (urgent, rest): (Vec<UseDelta>, Vec<UseDelta>) = self
            .known
            .take_pending()
            .into_iter()
            .partition(|d| d.uses > 0 && self.known.is_limited(&d.id));
        for deltas in [urgent, rest] {
            if !deltas.is_empty() {
                retry.push((format!("{:032x}", rand::random::<u128>()), deltas));
            }
        }
        while let Some((batch_id, deltas)) = retry.first() {
            self.store.apply_uses(batch_id, deltas, now).await?;
            retry.remove(0);
        }
        Ok(())
    }

    /// At shutdown: writes the pending uses if the database takes them within a few seconds,
    /// else keeps them under `DATA_DIR` for the next start (each batch under its id, so one
    /// whose commit was cut short is still counted once).
    pub async fn flush_before_exit(&self) {
        let attempts = async {
            loop {
                match self.flush().await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e.0, "pending share uses not written yet");
                        tokio::time::sleep(FLUSH_INTERVAL).await;
                    }
                }
            }
        };
        if tokio::time::timeout(FLUSH_AT_EXIT, attempts).await.is_ok() {
            tracing::info!("pending share uses written");
            return;
        }
        let mut batches = std::mem::take(&mut *self.retry.lock().await);
        let pending = self.known.take_pending();
        if !pending.is_empty() {
            batches.push((format!("{:032x}", rand::random::<u128>()), pending));
        }
        if batches.is_empty() {
            return;
        }
        match self.journal.keep(&batches) {
            Ok(()) => tracing::warn!(
                file = %self.journal.path().display(),
                "the database did not take the pending share uses: kept for the next start"
            ),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "pending share uses lost: they could not be kept either"
                )
            }
        }
    }

    async fn flush_loop(self: Arc<Self>) {
        let mut down = false;
        loop {
            tokio::time::sleep(FLUSH_INTERVAL).await;
            match self.flush().await {
                Ok(()) if down => {
                    down = false;
                    tracing::info!("share registry database reachable again");
                }
                Ok(()) => {}
                Err(e) if !down => {
                    down = true;
                    tracing::warn!(error = %e.0, "share registry database unavailable: uses kept in memory");
                }
                Err(_) => {}
            }
        }
    }

    async fn purge_loop(self: Arc<Self>) {
        loop {
            match self.purge().await {
                Ok(n) if n > 0 => tracing::info!(shares = n, "expired shares purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.0, "expired shares not purged"),
            }
            tokio::time::sleep(PURGE_INTERVAL).await;
        }
    }

    /// Deletes shares expired more than the retention period ago; returns how many.
    pub async fn purge(&self) -> Result<usize, Unavailable> {
        let before = Utc::now().timestamp_millis() - self.retention_ms;
        let ids = self.store.purge(before).await?;
        self.known.remove(&ids);
        Ok(ids.len())
    }
}

/// Writes new shares as they come, each batch in one transaction: every creation waiting when a
/// commit ends goes into the next one. One writer, so SQLite never sees competing writers here.
/// Each call is bounded (the store's timeout): a hung connection fails its batch, not the writer.
async fn write_loop(store: ShareStore, mut pending: tokio::sync::mpsc::Receiver<PendingRecord>) {
    let mut batch = Vec::with_capacity(MAX_RECORD_BATCH);
    while pending.recv_many(&mut batch, MAX_RECORD_BATCH).await > 0 {
        let (records, waiting): (Vec<ShareRecord>, Vec<_>) = batch.drain(..).unzip();
        let now = Utc::now().timestamp_millis();
        let outcome = store
            .record_many(&records, now)
            .await
            .map_err(|e| e.to_string());
        for done in waiting {
            // The creation may have been given up (its request dropped): nothing to tell.
            let _ = done.send(outcome.clone());
        }
    }
}
