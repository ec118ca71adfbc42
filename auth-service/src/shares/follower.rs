//! Following the other replicas through the `changes` table (PostgreSQL announces each commit
//! with NOTIFY; a read every second covers lost notifications and SQLite). Revocations and
//! use-limit changes are applied as soon as they are read, in one query per read whatever their
//! number; shares other replicas create are only queued here and loaded by a task of their own,
//! so no amount of creation elsewhere delays a revocation. Where the follower stands is an
//! exact cursor (see `ChangeCursor`): a change committed late is read late, never skipped.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::known::Standing;
use super::registry::{ShareRegistry, Unavailable, POLL_INTERVAL};
use super::store::{
    Change, ChangeCursor, CHANGES_CHANNEL, CHANGE_CREATED, CHANGE_SETTING, CHANGE_SHARE,
};
use crate::domain::ShareId;

/// New shares loaded in one query at most.
const LOAD_BATCH: usize = 5_000;
/// The longest the follower waits to (re)subscribe to notifications before polling instead.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Shares recorded by other replicas, not loaded here yet.
#[derive(Default)]
pub struct NewShares {
    queue: Mutex<Vec<ShareId>>,
    ready: tokio::sync::Notify,
}

impl NewShares {
    fn push(&self, ids: impl IntoIterator<Item = ShareId>) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let before = queue.len();
        queue.extend(ids);
        if queue.len() > before {
            self.ready.notify_one();
        }
    }

    fn take(&self, at_most: usize) -> Vec<ShareId> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let from = queue.len().saturating_sub(at_most);
        queue.split_off(from)
    }
}

pub(super) struct ChangeFollower {
    registry: Arc<ShareRegistry>,
    cursor: ChangeCursor,
}

impl ChangeFollower {
    pub(super) fn new(registry: Arc<ShareRegistry>, cursor: ChangeCursor) -> Self {
        ChangeFollower { registry, cursor }
    }

    pub(super) async fn run(mut self) {
        let mut listener = None;
        let mut failing = false;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        n = l.try_recv() => if !matches!(n, Ok(Some(_))) { listener = None; },
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                    // One read serves every notification that came meanwhile.
                    if let Some(l) = listener.as_mut() {
                        while l.next_buffered().is_some() {}
                    }
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
            loop {
                match self.step().await {
                    Ok(more) => {
                        failing = false;
                        if !more {
                            break;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            failing = true;
                            tracing::warn!(error = %e.0, "changes of other replicas not read (retrying)");
                        }
                        break;
                    }
                }
            }
        }
    }

    /// Reads and applies the next changes; moves on only once they are applied. True when
    /// more are waiting.
    async fn step(&mut self) -> Result<bool, Unavailable> {
        let read = self.registry.store.changes_after(&self.cursor).await?;
        self.registry.apply(&read.changes).await?;
        self.cursor = read.next;
        Ok(read.more)
    }

    async fn listen(&self) -> Option<PgListener> {
        let pool = self.registry.store.postgres_pool()?;
        let subscribe = async {
            let mut listener = PgListener::connect_with(pool).await.ok()?;
            listener.listen(CHANGES_CHANNEL).await.ok()?;
            Some(listener)
        };
        tokio::time::timeout(LISTEN_TIMEOUT, subscribe)
            .await
            .ok()
            .flatten()
    }
}

impl ShareRegistry {
    /// Applies other replicas' changes: revoked and used-up shares at once (their rows
    /// reloaded in one query), new shares queued for the loader, settings handed to their
    /// followers. Applying twice changes nothing.
    pub(super) async fn apply(&self, changes: &[Change]) -> Result<(), Unavailable> {
        let mut reload: Vec<String> = changes
            .iter()
            .filter(|c| c.kind == CHANGE_SHARE)
            .map(|c| c.subject.clone())
            .collect();
        reload.sort_unstable();
        reload.dedup();
        if !reload.is_empty() {
            for share in self.store.known(Some(&reload)).await? {
                self.known.insert(share);
            }
        }
        // Shares created here are known already.
        self.new_shares.push(
            changes
                .iter()
                .filter(|c| c.kind == CHANGE_CREATED)
                .filter_map(|c| ShareId::parse(&c.subject))
                .filter(|id| self.known.standing(id) == Standing::Unknown),
        );
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
        Ok(())
    }

    /// Loads the shares other replicas created, a few thousand per query, as they come.
    pub(super) async fn load_loop(self: Arc<Self>) {
        loop {
            self.new_shares.ready.notified().await;
            loop {
                let ids = self.new_shares.take(LOAD_BATCH);
                if ids.is_empty() {
                    break;
                }
                let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
                match self.store.known(Some(&names)).await {
                    Ok(found) => {
                        for share in found {
                            self.known.insert(share);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, shares = ids.len(), "shares of other replicas not loaded yet (retrying)");
                        self.new_shares.push(ids);
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                }
            }
        }
    }
}
