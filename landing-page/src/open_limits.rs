//! How often links may be opened: per link (whoever opens it) and per visitor address (whatever
//! it opens), each a token bucket refilled evenly over a minute. Opening a link asks auth-service,
//! counts a use of the share and, for MedDream, may mint a MedDream link: one link repeated by
//! many clients, or one client repeating links, must not use up the service for everyone.
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::settings::OpenLimits;

/// Links and addresses remembered at most; the least recently seen are forgotten first (they
/// start again with a full bucket).
const REMEMBERED: u64 = 100_000;

/// Both limits, shared by every worker.
pub struct OpenBuckets {
    per_link: Option<Buckets<[u8; 16]>>,
    per_client: Option<Buckets<IpAddr>>,
}

impl OpenBuckets {
    pub fn new(limits: OpenLimits) -> OpenBuckets {
        OpenBuckets {
            per_link: limits.per_link.map(Buckets::per_minute),
            per_client: limits.per_client.map(Buckets::per_minute),
        }
    }

    /// A visitor's call to auth-service (a preview or an open): `Err(seconds to wait)`.
    pub fn client(&self, client: Option<IpAddr>) -> Result<(), u64> {
        match (&self.per_client, client) {
            (Some(buckets), Some(client)) => buckets.take(client),
            _ => Ok(()),
        }
    }

    /// An open of this link: `Err(seconds to wait)`.
    pub fn link(&self, token: &str) -> Result<(), u64> {
        let Some(buckets) = &self.per_link else {
            return Ok(());
        };
        let mut key = [0u8; 16];
        key.copy_from_slice(&Sha256::digest(token.as_bytes())[..16]);
        buckets.take(key)
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets<K> {
    buckets: moka::sync::Cache<K, Arc<Mutex<Bucket>>>,
    burst: f64,
    /// How long one token takes to come back.
    refill: Duration,
}

impl<K: std::hash::Hash + Eq + Send + Sync + 'static> Buckets<K> {
    fn per_minute(count: u32) -> Buckets<K> {
        let refill = Duration::from_secs(60) / count.max(1);
        Buckets {
            buckets: moka::sync::Cache::builder()
                .max_capacity(REMEMBERED)
                // Left alone a minute, a bucket is full again: no need to keep it.
                .time_to_idle(Duration::from_secs(60))
                .build(),
            burst: f64::from(count),
            refill,
        }
    }

    fn take(&self, key: K) -> Result<(), u64> {
        let now = Instant::now();
        let burst = self.burst;
        let bucket = self.buckets.get_with(key, || {
            Arc::new(Mutex::new(Bucket {
                tokens: burst,
                at: now,
            }))
        });
        let mut slot = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let gained =
            now.saturating_duration_since(slot.at).as_secs_f64() / self.refill.as_secs_f64();
        let tokens = (slot.tokens + gained).min(self.burst);
        if tokens >= 1.0 {
            *slot = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            return Ok(());
        }
        *slot = Bucket { tokens, at: now };
        let wait = (1.0 - tokens) * self.refill.as_secs_f64();
        Err((wait.ceil() as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_burst_then_waits_for_a_token() {
        let limits = OpenBuckets::new(OpenLimits {
            per_link: Some(3),
            per_client: None,
        });
        for _ in 0..3 {
            assert_eq!(limits.link("a.b.c"), Ok(()));
        }
        let wait = limits.link("a.b.c").expect_err("fourth open");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(limits.link("d.e.f"), Ok(()), "another link is not touched");
        assert_eq!(
            limits.client(Some("192.0.2.1".parse().expect("ip"))),
            Ok(()),
            "no client limit"
        );
    }

    #[test]
    fn a_client_opens_its_burst_whatever_the_links() {
        let limits = OpenBuckets::new(OpenLimits {
            per_link: None,
            per_client: Some(2),
        });
        let client = Some("192.0.2.1".parse().expect("ip"));
        assert_eq!(limits.client(client), Ok(()));
        assert_eq!(limits.client(client), Ok(()));
        assert_eq!(limits.client(client), Err(30));
        assert_eq!(
            limits.client(Some("192.0.2.2".parse().expect("ip"))),
            Ok(())
        );
        assert_eq!(limits.client(None), Ok(()), "no address known: not limited");
    }
}
