//! The shares this replica knows, in memory: what validate and decode consult on every request
//! (a hash look-up under a read lock, never a database query). Kept current by the registry
//! from creations, revocations and the other replicas' changes.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::domain::ShareId;

/// Where a share stands for access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Not in the registry: issued by the Python service, before the registry, or purged.
    Unknown,
    Active,
    Revoked,
    /// Opened once past its use limit.
    UsedUp,
}

/// What is known of one share. Counters are atomics so that the hot path needs only the read lock.
#[derive(Debug)]
struct Entry {
    max_uses: Option<u64>,
    /// Opens counted so far (from the database at load, plus this replica's since).
    uses: AtomicU64,
    revoked: AtomicBool,
    /// Opens not yet written to the database.
    pending_uses: AtomicU64,
    /// Unix ms of the last granted validation or open (0: none yet).
    last_used: AtomicI64,
    /// Queued in `dirty` already: at most one queue push per share per flush.
    dirty: AtomicBool,
    /// A protected link, or a share since bound to e-mail addresses: its own token opens only
    /// the landing page's form (never lifted).
    protected: AtomicBool,
}

/// A share as loaded from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownShare {
    pub id: ShareId,
    pub max_uses: Option<u64>,
    pub uses: u64,
    pub revoked: bool,
    pub protected: bool,
}

impl KnownShare {
    /// A share as recorded at creation: nothing used, nothing locked.
    pub fn new(id: ShareId, max_uses: Option<u64>, protected: bool) -> KnownShare {
        KnownShare {
            id,
            max_uses,
            uses: 0,
            revoked: false,
            protected,
        }
    }
}

/// Use not yet written to the database, for one share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseDelta {
    pub id: ShareId,
    pub uses: u64,
    /// Unix ms; `None` when only uses are pending.
    pub last_used: Option<i64>,
}

#[derive(Debug, Default)]
pub struct KnownShares {
    entries: RwLock<HashMap<ShareId, Arc<Entry>, foldhash::fast::RandomState>>,
    dirty: Mutex<Vec<ShareId>>,
}

impl KnownShares {
    pub fn new() -> Self {
        KnownShares::default()
    }

    fn entry(&self, id: &ShareId) -> Option<Arc<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many shares stand active, revoked and used up (for /metrics; a full scan).
    pub fn counts(&self) -> [(Standing, usize); 3] {
        let mut counts = [
            (Standing::Active, 0),
            (Standing::Revoked, 0),
            (Standing::UsedUp, 0),
        ];
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        for entry in entries.values() {
            let standing = entry.standing();
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == standing) {
                slot.1 += 1;
            }
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn standing(&self, id: &ShareId) -> Standing {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        match entries.get(id) {
            None => Standing::Unknown,
            Some(e) => e.standing(),
        }
    }

    /// A granted validation: remembered as the share's last use (at most once a second).
    pub fn note_use(&self, id: &ShareId, now_ms: i64) {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = entries.get(id) {
            if e.last_used.load(Ordering::Relaxed) + 1000 <= now_ms {
                e.last_used.store(now_ms, Ordering::Relaxed);
                drop(entries);
                self.mark_dirty(id, None);
            }
        }
    }

    /// A landing-page open: counts one use. `UsedUp` when this open goes past the limit (it is
    /// counted too, and from then on the share is refused everywhere).
    pub fn count_use(&self, id: &ShareId, now_ms: i64) -> Standing {
        let Some(e) = self.entry(id) else {
            return Standing::Unknown;
        };
        if e.revoked.load(Ordering::Acquire) {
            return Standing::Revoked;
        }
        let limit = e.max_uses.map_or(u64::MAX, |m| m.saturating_add(1));
        let counted = e
            .uses
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < limit).then_some(u + 1)
            });
        match counted {
            Ok(before) => {
                e.pending_uses.fetch_add(1, Ordering::AcqRel);
                e.last_used.store(now_ms, Ordering::Relaxed);
                self.mark_dirty(id, Some(&e));
                if e.max_uses.is_some_and(|m| before >= m) {
                    Standing::UsedUp
                } else {
                    Standing::Active
                }
            }
            Err(_) => Standing::UsedUp,
        }
    }

    fn mark_dirty(&self, id: &ShareId, entry: Option<&Arc<Entry>>) {
        let entry = match entry {
            Some(e) => e.clone(),
            None => match self.entry(id) {
                Some(e) => e,
                None => return,
            },
        };
        if !entry.dirty.load(Ordering::Relaxed) && !entry.dirty.swap(true, Ordering::AcqRel) {
            self.dirty
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(*id);
        }
    }

    /// Adds or refreshes a share. The larger use count wins: this replica's own unflushed opens
    /// are never forgotten by a reload.
    pub fn insert(&self, share: KnownShare) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        match entries.get(&share.id) {
            Some(e) => {
                e.uses.fetch_max(share.uses, Ordering::AcqRel);
                if share.revoked {
                    e.revoked.store(true, Ordering::Release);
                }
                if share.protected {
                    e.protected.store(true, Ordering::Release);
                }
            }
            None => {
                entries.insert(
                    share.id,
                    Arc::new(Entry {
                        max_uses: share.max_uses,
                        uses: AtomicU64::new(share.uses),
                        revoked: AtomicBool::new(share.revoked),
                        pending_uses: AtomicU64::new(0),
                        last_used: AtomicI64::new(0),
                        dirty: AtomicBool::new(false),
                        protected: AtomicBool::new(share.protected),
                    }),
                );
            }
        }
    }

    /// Marks a share revoked, known here or not (a share not loaded yet is then loaded revoked:
    /// a revocation is never lifted by a later load).
    pub fn revoke(&self, id: &ShareId) {
        match self.entry(id) {
            Some(e) => e.revoked.store(true, Ordering::Release),
            None => self.insert(KnownShare {
                revoked: true,
                ..KnownShare::new(*id, None, false)
            }),
        }
    }

    /// Whether a share's own token is refused for data (see `Entry::protected`).
    pub fn is_protected(&self, id: &ShareId) -> bool {
        self.entry(id)
            .is_some_and(|e| e.protected.load(Ordering::Acquire))
    }

    /// Marks a share held here protected (bound to e-mail addresses).
    pub fn protect(&self, id: &ShareId) {
        if let Some(e) = self.entry(id) {
            e.protected.store(true, Ordering::Release);
        }
    }

    /// Whether a share has a use limit (its opens are then written, and announced, first).
    pub fn is_limited(&self, id: &ShareId) -> bool {
        self.entry(id).is_some_and(|e| e.max_uses.is_some())
    }

    /// Forgets purged shares.
    pub fn remove(&self, ids: &[ShareId]) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            entries.remove(id);
        }
    }

    /// Puts back uses that could not be written yet.
    pub fn restore(&self, delta: &UseDelta) {
        if let Some(e) = self.entry(&delta.id) {
            e.pending_uses.fetch_add(delta.uses, Ordering::AcqRel);
            if let Some(at) = delta.last_used {
                e.last_used.fetch_max(at, Ordering::Relaxed);
            }
            self.mark_dirty(&delta.id, Some(&e));
        }
    }

    /// Takes every pending use, to be written in one batch. Each share's pending count is moved
    /// out atomically: an open racing with this is either in the batch or left for the next.
    pub fn take_pending(&self) -> Vec<UseDelta> {
        let ids = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(PoisonError::into_inner));
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(e) = self.entry(&id) else { continue };
            e.dirty.store(false, Ordering::Release);
            let uses = e.pending_uses.swap(0, Ordering::AcqRel);
            let last_used = e.last_used.load(Ordering::Relaxed);
            out.push(UseDelta {
                id,
                uses,
                last_used: (last_used > 0).then_some(last_used),
            });
        }
        out
    }
}

impl Entry {
    fn standing(&self) -> Standing {
        if self.revoked.load(Ordering::Acquire) {
            Standing::Revoked
        } else if self
            .max_uses
            .is_some_and(|m| self.uses.load(Ordering::Acquire) > m)
        {
            Standing::UsedUp
        } else {
            Standing::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(max_uses: Option<u64>) -> (KnownShares, ShareId) {
        let k = KnownShares::new();
        let id = ShareId::of_token("t");
        k.insert(KnownShare::new(id, max_uses, false));
        (k, id)
    }

    #[test]
    fn a_limit_of_two_allows_two_opens_then_refuses_everywhere() {
        let (k, id) = known(Some(2));
        assert_eq!(k.count_use(&id, 1), Standing::Active);
        assert_eq!(k.count_use(&id, 2), Standing::Active);
        assert_eq!(k.standing(&id), Standing::Active);
        assert_eq!(k.count_use(&id, 3), Standing::UsedUp);
        assert_eq!(k.standing(&id), Standing::UsedUp);
        assert_eq!(k.count_use(&id, 4), Standing::UsedUp);
        let pending = k.take_pending();
        assert_eq!(
            pending,
            vec![UseDelta {
                id,
                uses: 3,
                last_used: Some(3)
            }]
        );
        assert!(k.take_pending().is_empty());
    }

    #[test]
    fn revocation_and_unknown_shares() {
        let (k, id) = known(None);
        let other = ShareId::of_token("other");
        assert_eq!(k.standing(&other), Standing::Unknown);
        k.revoke(&id);
        assert_eq!(k.standing(&id), Standing::Revoked);
        assert_eq!(k.count_use(&id, 1), Standing::Revoked);
        // A revocation that arrives before the share's load holds, and the load keeps it.
        k.revoke(&other);
        assert_eq!(k.standing(&other), Standing::Revoked);
        k.insert(KnownShare::new(other, Some(5), false));
        assert_eq!(k.standing(&other), Standing::Revoked);
    }

    #[test]
    fn validations_mark_last_use_once_a_second_and_a_reload_keeps_local_counts() {
        let (k, id) = known(None);
        k.note_use(&id, 5_000);
        k.note_use(&id, 5_500);
        assert_eq!(k.take_pending()[0].last_used, Some(5_000));
        assert_eq!(k.count_use(&id, 6_000), Standing::Active);
        k.insert(KnownShare::new(id, None, false));
        assert_eq!(k.take_pending()[0].uses, 1);
    }

    #[test]
    fn protection_is_kept_by_reloads_and_never_lifted() {
        let (k, id) = known(None);
        assert!(!k.is_protected(&id));
        k.protect(&id);
        k.insert(KnownShare::new(id, None, false));
        assert!(k.is_protected(&id), "a reload of an older row keeps it");
        let unknown = ShareId::of_token("not held here");
        k.protect(&unknown);
        assert!(!k.is_protected(&unknown));
    }
}
