//! The registry's protected-link calls that change what validation sees here at once: a binding
//! (the share's own token refused from now on) and a lock (unlocking refused here without asking
//! the database). The other replicas learn both through `changes`.
use chrono::Utc;

use super::registry::{ShareRegistry, Unavailable};
use super::store::Bound;
use crate::domain::ShareId;

impl ShareRegistry {
    /// Binds a share to e-mail addresses (see `ShareStore::bind`); committed before it answers.
    pub async fn bind(&self, id: &ShareId, addresses: &[String]) -> Result<Bound, Unavailable> {
        let now = Utc::now().timestamp_millis();
        let bound = self.store.bind(id, addresses, now).await?;
        if let Bound::Bound(share) = &bound {
            self.known.insert(share.clone());
            self.known.protect(id);
        }
        Ok(bound)
    }

    /// Counts a wrong password or code (see `ShareStore::count_failure`): the attempts counted
    /// in the window, and the lock when this one locked the share.
    pub async fn count_failure(
        &self,
        id: &ShareId,
        window_ms: i64,
        max_failures: u32,
        lock_ms: i64,
    ) -> Result<(u32, Option<i64>), Unavailable> {
        let now = Utc::now().timestamp_millis();
        let (failures, locked) = self
            .store
            .count_failure(id, now, now - window_ms, max_failures, now + lock_ms)
            .await?;
        if let Some(until) = locked {
            self.known.lock(id, until);
        }
        Ok((failures, locked))
    }
}
