//! The registry as the service uses it: the database, the in-memory view validation reads, and
//! the background work that keeps the two together (use counts written in batches, shares
//! recorded late when the database was down, other replicas' changes followed, old shares purged).
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgListener;

use super::known::{KnownShare, KnownShares, Standing, UseDelta};
use super::record::{ShareFilter, ShareRecord};
use super::store::{Change, ShareStore, CHANGES_CHANNEL, CHANGE_SETTING, CHANGE_SHARE};
use crate::domain::ShareId;
use crate::metrics::DependencyCalls;

/// How often pending use counts and late records are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often the changes of other replicas are read when no NOTIFY arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// New shares written in one transaction at most: concurrent creations share a commit (and its
/// fsync), so creation scales with load instead of with the disk's sync rate.
const MAX_RECORD_BATCH: usize = 256;

/// A creation waiting for its commit: the record, and where to say how the commit went (the
/// database error's text on failure).
type PendingRecord = (ShareRecord, tokio::sync::oneshot::Sender<Option<String>>);
/// Changes are re-read this far back: PostgreSQL sequence numbers may commit out of order.
const CHANGES_OVERLAP: i64 = 256;

/// Why a share could not be recorded now.
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

pub struct ShareRegistry {
    store: ShareStore,
    known: Arc<KnownShares>,
    /// Shares created while the database was down, recorded by the flusher.
    unrecorded: Mutex<Vec<ShareRecord>>,
    /// A batch whose commit failed or whose outcome is unknown: retried under the same id.
    retry_batch: tokio::sync::Mutex<Option<(String, Vec<UseDelta>)>>,
    require_registered: bool,
    retention_ms: i64,
    followers: std::sync::RwLock<Vec<SettingFollower>>,
    /// The last creation time handed out: creation times are unique and increasing here, so
    /// the list's newest-first order is the order of creation.
    last_stamp: AtomicI64,
    /// Latency and errors of the database calls (`dependency="database"` in /metrics).
    pub calls: DependencyCalls,
    /// The group-commit writer of new shares (see `write_loop`).
    writer: tokio::sync::mpsc::Sender<PendingRecord>,
}

impl ShareRegistry {
    /// Opens the database (migrations run), loads every share into memory.
    pub async fn open(
        url: &str,
        require_registered: bool,
        retention_days: u32,
    ) -> anyhow::Result<Arc<ShareRegistry>> {
        let store = ShareStore::connect(url).await?;
        let known = Arc::new(KnownShares::new());
        for share in store.known(None).await? {
            known.insert(share);
        }
        tracing::info!(
            shares = known.len(),
            postgres = store.is_postgres(),
            "share registry loaded"
        );
        let calls = DependencyCalls::new("database")?;
        let (writer, pending) = tokio::sync::mpsc::channel(4 * MAX_RECORD_BATCH);
        tokio::spawn(write_loop(store.clone(), calls.clone(), pending));
        Ok(Arc::new(ShareRegistry {
            store,
            known,
            unrecorded: Mutex::new(Vec::new()),
            retry_batch: tokio::sync::Mutex::new(None),
            require_registered,
            retention_ms: i64::from(retention_days) * 86_400_000,
            followers: std::sync::RwLock::new(Vec::new()),
            last_stamp: AtomicI64::new(0),
            calls,
            writer,
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

    /// Starts the background work. The change follower starts from the last change recorded
    /// before the shares were loaded, so no change is missed.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let high = self.store.last_change().await?;
        // Changes between the load and now are applied again: applying is idempotent.
        tokio::spawn(self.clone().flush_loop());
        tokio::spawn(self.clone().follow_loop(high));
        tokio::spawn(self.clone().purge_loop());
        Ok(())
    }

    pub fn add_follower(&self, follower: SettingFollower) {
        self.followers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(follower);
    }

    /// Records a new share. Known in memory at once; written now, or later by the flusher when
    /// the database is down, unless registration is required (then the share is refused).
    pub async fn created(&self, record: ShareRecord) -> Result<(), Unavailable> {
        // The same request gives the same token: a share known here is recorded already (or
        // queued for it), and writing it again would change nothing but cost a transaction.
        if self.known.standing(&record.id) != Standing::Unknown {
            return Ok(());
        }
        self.known.insert(KnownShare {
            id: record.id,
            max_uses: record.max_uses,
            uses: 0,
            revoked: false,
        });
        match self.commit(record.clone()).await {
            Ok(()) => Ok(()),
            Err(e) if self.require_registered => {
                self.known.remove(&[record.id]);
                Err(e)
            }
            Err(e) => {
                tracing::warn!(share = %record.id, error = %e.0, "share not recorded now (database unavailable): it will be recorded when the database is back");
                self.unrecorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(record);
                Ok(())
            }
        }
    }

    /// Hands a new share to the writer and waits for the commit that holds it.
    async fn commit(&self, record: ShareRecord) -> Result<(), Unavailable> {
        let gone = || Unavailable(sqlx::Error::WorkerCrashed);
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.writer.send((record, done)).await.map_err(|_| gone())?;
        match outcome.await.map_err(|_| gone())? {
            None => Ok(()),
            Some(error) => Err(Unavailable(sqlx::Error::Io(std::io::Error::other(error)))),
        }
    }

    pub async fn get(&self, id: &ShareId) -> Result<Option<ShareRecord>, Unavailable> {
        Ok(self.calls.time(self.store.get(id)).await?)
    }

    pub async fn list(
        &self,
        filter: &ShareFilter,
        now_ms: i64,
    ) -> Result<Vec<ShareRecord>, Unavailable> {
        Ok(self.calls.time(self.store.list(filter, now_ms)).await?)
    }

    /// Revokes a share here at once, in the database, and (through it) on the other replicas.
    pub async fn revoke(&self, id: &ShareId, by: &str) -> Result<Option<ShareRecord>, Unavailable> {
        let now = Utc::now().timestamp_millis();
        let found = self.calls.time(self.store.revoke(id, by, now)).await?;
        if found.is_some() {
            self.known.revoke(id);
        }
        Ok(found)
    }

    pub async fn revoke_resource(
        &self,
        resource_id: &str,
        by: &str,
    ) -> Result<Vec<ShareId>, Unavailable> {
        let now = Utc::now().timestamp_millis();
        let ids = self
            .calls
            .time(self.store.revoke_resource(resource_id, by, now))
            .await?;
        for id in &ids {
            self.known.revoke(id);
        }
        Ok(ids)
    }

    /// Writes what is pending: late records first (their uses need the row), then use counts.
    /// On failure everything stays pending for the next call; nothing is counted twice.
    pub async fn flush(&self) -> Result<(), Unavailable> {
        let now = Utc::now().timestamp_millis();
        let late = std::mem::take(
            &mut *self
                .unrecorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // One transaction for all of them (all or none), like the writer's batches.
        if !late.is_empty() {
            if let Err(e) = self.calls.time(self.store.record_many(&late, now)).await {
                let mut unrecorded = self
                    .unrecorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                unrecorded.extend(late);
                return Err(Unavailable(e));
            }
            for record in &late {
                tracing::info!(share = %record.id, "share recorded late");
            }
        }
        let mut retry = self.retry_batch.lock().await;
        if let Some((batch_id, deltas)) = retry.as_ref() {
            self.calls
                .time(self.store.apply_uses(batch_id, deltas, now))
                .await?;
            *retry = None;
        }
        let mut deltas = self.known.take_pending();
        {
            // Uses of a share not recorded yet wait for its row.
            let unrecorded = self
                .unrecorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !unrecorded.is_empty() {
                deltas.retain(|d| {
                    let waiting = unrecorded.iter().any(|r| r.id == d.id);
                    if waiting {
                        self.known.restore(d);
                    }
                    !waiting
                });
            }
        }
        if deltas.is_empty() {
            return Ok(());
        }
        let batch_id = format!("{:032x}", rand::random::<u128>());
        if let Err(e) = self
            .calls
            .time(self.store.apply_uses(&batch_id, &deltas, now))
            .await
        {
            *retry = Some((batch_id, deltas));
            return Err(Unavailable(e));
        }
        Ok(())
    }

    /// Flushes until done or the database has failed `attempts` times (graceful shutdown).
    pub async fn flush_before_exit(&self, attempts: u32) {
        for attempt in 1..=attempts {
            match self.flush().await {
                Ok(()) => {
                    tracing::info!("pending share uses written");
                    return;
                }
                Err(e) if attempt == attempts => {
                    tracing::error!(error = %e.0, "pending share uses could not be written before exit");
                }
                Err(_) => tokio::time::sleep(FLUSH_INTERVAL).await,
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
                    tracing::warn!(error = %e.0, "share registry database unavailable: uses and records kept in memory");
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
        let ids = self.calls.time(self.store.purge(before)).await?;
        self.known.remove(&ids);
        Ok(ids.len())
    }

    async fn follow_loop(self: Arc<Self>, mut high: i64) {
        let mut seen = BTreeSet::new();
        let mut listener = None;
        let mut failing = false;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        n = l.try_recv() => if n.is_err() { listener = None; },
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
            match self.apply_changes(&mut high, &mut seen).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e.0, "changes of other replicas not read (retrying)");
                }
                Err(_) => {}
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let ShareStore::Postgres(pool) = &self.store else {
            return None;
        };
        let mut listener = PgListener::connect_with(pool).await.ok()?;
        listener.listen(CHANGES_CHANNEL).await.ok()?;
        Some(listener)
    }

    /// Reads the changes after `high` (and a little before: see CHANGES_OVERLAP) and applies the
    /// ones not seen yet.
    async fn apply_changes(
        &self,
        high: &mut i64,
        seen: &mut BTreeSet<i64>,
    ) -> Result<(), Unavailable> {
        let changes: Vec<Change> = self
            .store
            .changes_since(*high - CHANGES_OVERLAP)
            .await?
            .into_iter()
            .filter(|c| c.seq > *high || !seen.contains(&c.seq))
            .collect();
        let shares: Vec<String> = changes
            .iter()
            .filter(|c| c.kind == CHANGE_SHARE)
            .map(|c| c.subject.clone())
            .collect();
        if !shares.is_empty() {
            for share in self.store.known(Some(&shares)).await? {
                self.known.insert(share);
            }
        }
        for c in changes.iter().filter(|c| c.kind == CHANGE_SETTING) {
            if let Some(value) = self.store.setting(&c.subject).await? {
                let followers = self
                    .followers
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                for follower in followers.iter() {
                    follower(&c.subject, &value);
                }
            }
        }
        for c in &changes {
            seen.insert(c.seq);
            *high = (*high).max(c.seq);
        }
        let floor = *high - CHANGES_OVERLAP;
        *seen = seen.split_off(&floor);
        Ok(())
    }
}

/// Writes new shares as they come, each batch in one transaction: every creation waiting when a
/// commit ends goes into the next one. One writer, so SQLite never sees competing writers here.
async fn write_loop(
    store: ShareStore,
    calls: DependencyCalls,
    mut pending: tokio::sync::mpsc::Receiver<PendingRecord>,
) {
    let mut batch = Vec::with_capacity(MAX_RECORD_BATCH);
    while pending.recv_many(&mut batch, MAX_RECORD_BATCH).await > 0 {
        let (records, waiting): (Vec<ShareRecord>, Vec<_>) = batch.drain(..).unzip();
        let now = Utc::now().timestamp_millis();
        let failure = calls
            .time(store.record_many(&records, now))
            .await
            .err()
            .map(|e| e.to_string());
        for done in waiting {
            // The creation may have been given up (its request dropped): nothing to tell.
            let _ = done.send(failure.clone());
        }
    }
}
