//! Failed basic-auth throttling: a token bucket per client address. Every wrong user/password
//! pair takes a token; tokens come back one per refill period up to the burst. A client with no
//! token left is answered 429 whatever its credentials, so guessing goes no faster than the
//! refill. Correct credentials take nothing, so callers that know their password (the Orthanc
//! plugin, the landing page) are never slowed by their own traffic, and a user that has already
//! logged in from an address keeps getting in from there while that address is locked out: a
//! stranger sharing the plugin's address (or a client with an old password) cannot lock the
//! plugin out.
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use service_settings::TrustedProxies;

use crate::basic_auth::Caller;
use crate::error::Error;
use crate::settings::ThrottleSettings;

/// Clients remembered at most; the least recently seen are forgotten first. A forgotten client
/// starts again with a full bucket, which only favours the attacker spreading over this many
/// addresses.
const MAX_CLIENTS: u64 = 100_000;
/// How long a user that logged in from an address stays let through that address's lockout
/// without logging in again.
const PROVEN_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct LoginThrottle {
    buckets: moka::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
    /// (client, user) pairs that logged in with the right password.
    proven: moka::sync::Cache<(IpAddr, Arc<str>), ()>,
    burst: f64,
    refill: Duration,
    trusted_proxies: TrustedProxies,
    /// Until when (milliseconds since `epoch`) some bucket may be short of tokens: the last
    /// failure plus the time an empty bucket takes to fill. Past it every bucket is full, so
    /// `admit` looks nothing up: the usual case, where nobody is guessing, costs one clock read.
    busy_until_ms: AtomicU64,
    epoch: Instant,
    full_refill: Duration,
}

impl LoginThrottle {
    pub fn new(settings: &ThrottleSettings) -> LoginThrottle {
        let full_refill = settings.refill.saturating_mul(settings.burst);
        // A bucket left alone this long is full again: no need to keep it.
        let idle = full_refill.max(Duration::from_secs(1));
        LoginThrottle {
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_idle(idle)
                .build(),
            proven: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_idle(PROVEN_FOR)
                .build(),
            burst: f64::from(settings.burst),
            refill: settings.refill,
            trusted_proxies: settings.trusted_proxies.clone(),
            busy_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            full_refill,
        }
    }

    /// The throttle's step of authentication: the outcome of the credentials check, judged for
    /// the client address the request came from. Counts a failed login, forgets the failures of
    /// a success, and answers 429 (`TooManyFailedLogins`) to an address out of tries, except for
    /// a user that has already logged in from it (the plugin must not be locked out by a
    /// stranger guessing beside it). A request without credentials is not a login attempt:
    /// neither counted nor throttled (its 401 says nothing about any password).
    pub fn judge(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        checked: Result<Caller, Error>,
    ) -> Result<Caller, Error> {
        let Some(client) = self.client(peer, headers) else {
            return checked;
        };
        match (&checked, self.admit(client)) {
            (Ok(caller), Ok(())) => self.record_success(client, &caller.user),
            (Ok(caller), Err(_)) if self.is_proven(client, &caller.user) => {}
            (Ok(_) | Err(Error::BadCredentials), Err(retry_after)) => {
                tracing::warn!(%client, retry_after, "basic auth throttled");
                return Err(Error::TooManyFailedLogins { retry_after });
            }
            (Err(Error::BadCredentials), Ok(())) => self.record_failure(client),
            (Err(_), _) => {}
        }
        checked
    }

    /// The address the throttle keys on: the peer, or the client a trusted proxy names in
    /// `X-Forwarded-For` (service-settings' [`TrustedProxies::client`]).
    fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        Some(self.trusted_proxies.client(peer?, forwarded))
    }

    /// `Err(seconds to wait)` when `client` has no try left; takes nothing.
    fn admit(&self, client: IpAddr) -> Result<(), u64> {
        if self.since_epoch_ms(Instant::now()) >= self.busy_until_ms.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(bucket) = self.buckets.get(&client) else {
            return Ok(());
        };
        let bucket = self.refilled(&bucket);
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * self.refill.as_secs_f64();
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// `user` logged in from `client` with the right password.
    fn record_success(&self, client: IpAddr, user: &Arc<str>) {
        let key = (client, user.clone());
        if !self.proven.contains_key(&key) {
            self.proven.insert(key, ());
        }
    }

    /// Whether `user` has logged in from `client` before (and so passes its lockout).
    fn is_proven(&self, client: IpAddr, user: &Arc<str>) -> bool {
        self.proven.contains_key(&(client, user.clone()))
    }

    /// A wrong user/password pair from `client`: one token less.
    fn record_failure(&self, client: IpAddr) {
        // Before the bucket is emptied, so that `admit` never skips an empty one.
        let busy_until = Instant::now() + self.full_refill;
        self.busy_until_ms
            .fetch_max(self.since_epoch_ms(busy_until) + 1, Ordering::Release);
        let burst = self.burst;
        let bucket = self.buckets.get_with(client, || {
            Arc::new(Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }))
        });
        let mut slot = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.refill_at(*slot, Instant::now());
        *slot = Bucket {
            tokens: (now.tokens - 1.0).max(0.0),
            at: now.at,
        };
    }

    fn since_epoch_ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn refilled(&self, bucket: &Mutex<Bucket>) -> Bucket {
        let mut slot = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = self.refill_at(*slot, Instant::now());
        *slot
    }

    fn refill_at(&self, bucket: Bucket, now: Instant) -> Bucket {
        if self.refill.is_zero() {
            return Bucket {
                tokens: self.burst,
                at: now,
            };
        }
        let gained =
            now.saturating_duration_since(bucket.at).as_secs_f64() / self.refill.as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + gained).min(self.burst),
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn throttle(burst: u32, refill_secs: u64, trusted: &[&str]) -> LoginThrottle {
        LoginThrottle::new(&ThrottleSettings {
            burst,
            refill: Duration::from_secs(refill_secs),
            trusted_proxies: TrustedProxies::parse("TRUSTED_PROXIES", Some(&trusted.join(",")))
                .expect("nets"),
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn the_burst_is_spent_then_refused_with_the_wait() {
        let t = throttle(3, 60, &[]);
        let c = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(t.admit(c), Ok(()));
            t.record_failure(c);
        }
        let wait = t.admit(c).expect_err("throttled");
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(
            t.admit(ip("192.0.2.2")),
            Ok(()),
            "another client is not touched"
        );
    }

    #[test]
    fn once_every_bucket_has_refilled_clients_are_admitted_without_a_look_up() {
        let t = LoginThrottle::new(&ThrottleSettings {
            burst: 1,
            refill: Duration::from_millis(20),
            trusted_proxies: TrustedProxies::default(),
        });
        let c = ip("192.0.2.1");
        assert_eq!(
            t.busy_until_ms.load(Ordering::Acquire),
            0,
            "quiet from the start"
        );
        t.record_failure(c);
        assert!(t.admit(c).is_err(), "the bucket is empty");
        assert!(t.busy_until_ms.load(Ordering::Acquire) >= 20);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(t.admit(c), Ok(()), "refilled");
        assert!(t.since_epoch_ms(Instant::now()) >= t.busy_until_ms.load(Ordering::Acquire));
    }

    #[test]
    fn tokens_come_back_with_time() {
        let t = throttle(1, 10, &[]);
        let start = Instant::now();
        let empty = Bucket {
            tokens: 0.0,
            at: start,
        };
        let later = t.refill_at(empty, start + Duration::from_secs(5));
        assert!((later.tokens - 0.5).abs() < 1e-9);
        let much_later = t.refill_at(empty, start + Duration::from_secs(500));
        assert_eq!(much_later.tokens, 1.0, "never above the burst");
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let t = throttle(1, 60, &["10.0.0.0/8"]);
        let spoofed = forwarded("203.0.113.9");
        assert_eq!(
            t.client(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            t.client(Some(ip("10.0.0.2")), &spoofed),
            Some(ip("203.0.113.9"))
        );
        // The client wrote the left part; nginx appended the address it saw.
        let chain = forwarded("1.1.1.1, 203.0.113.9, 10.0.0.3");
        assert_eq!(
            t.client(Some(ip("10.0.0.2")), &chain),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            t.client(Some(ip("10.0.0.2")), &forwarded("junk")),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            t.client(Some(ip("10.0.0.2")), &HeaderMap::new()),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            t.client(Some(ip("::ffff:10.0.0.2")), &spoofed),
            Some(ip("203.0.113.9")),
            "an IPv4-mapped peer is the same proxy"
        );
    }
}
