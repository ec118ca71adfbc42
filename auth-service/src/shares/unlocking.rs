//! The registry's protected-link call that changes what validation sees here at once: a binding
//! (the share's own token refused from now on; the other replicas learn it through `changes`).
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
}
