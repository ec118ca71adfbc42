//! The pooled HTTP client of the MedDream token service.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use url::Url;

use crate::error::{MeddreamError, Result};

/// Default for `MEDDREAM_CONNECT_TIMEOUT_SECONDS`: MedDream sits next to Orthanc, a connect
/// slower than this means it is down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default for `MEDDREAM_TIMEOUT_SECONDS`: the whole call (queueing, connect, request, answer),
/// so a stuck MedDream cannot hold an auth-service request for long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer accepted: a token is a few hundred bytes; anything past this is not one, and
/// we stop reading there instead of buffering whatever MedDream sends.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Calls to MedDream in flight at once through one client; further calls wait (within their
/// timeout). HTTP/1.1 needs one connection per call in flight, so this bounds the sockets we
/// open to MedDream and lets a burst reuse the pooled connections instead of opening one each.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;

/// Calls that may wait for a slot behind the [`MAX_CONCURRENT_REQUESTS`] in flight. One more is
/// refused at once ([`MeddreamError::Busy`]): when MedDream is that far behind, waiting would
/// only hold the caller until its timeout and keep the queue full for the next ones.
pub const MAX_QUEUED_REQUESTS: usize = 16;

/// MedDream's name for the PACS the study is in; the Orthanc plugin of MedDream registers as this.
const STORAGE: &str = "Orthanc";

/// Client of the MedDream token service. Build it once and share it (cloning is cheap and
/// shares the connection pool and the in-flight limit).
#[derive(Clone, Debug)]
pub struct MeddreamClient {
    http: reqwest::Client,
    token_service_url: Url,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    /// Calls waiting for a slot of `in_flight`.
    queued: Arc<AtomicUsize>,
}

/// `{"items":[{"studies":{"study":U,"storage":"Orthanc"}}]}`, what MedDream's token service reads.
#[derive(Serialize)]
struct TokenRequest<'a> {
    items: Vec<TokenItem<'a>>,
}

#[derive(Serialize)]
struct TokenItem<'a> {
    studies: StudyRef<'a>,
}

#[derive(Serialize)]
struct StudyRef<'a> {
    study: &'a str,
    storage: &'static str,
}

impl MeddreamClient {
    /// Builds the client for `token_service_url` (`MEDDREAM_TOKEN_SERVICE_URL`, posted to as is).
    ///
    /// `connect_timeout` bounds the TCP/TLS connect; `timeout` bounds a whole
    /// [`instant_token`](Self::instant_token) call. Redirects are never followed: the token
    /// service has no reason to redirect, and following one would send study UIDs elsewhere.
    pub fn new(
        token_service_url: Url,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self> {
        if !matches!(token_service_url.scheme(), "http" | "https") {
            return Err(MeddreamError::Build(format!(
                "the token service URL must be http or https, not {}",
                token_service_url.scheme()
            )));
        }
        if connect_timeout.is_zero() || timeout.is_zero() {
            return Err(MeddreamError::Build(
                "timeouts must be longer than zero".to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| MeddreamError::Build(e.to_string()))?;
        Ok(Self {
            http,
            token_service_url,
            timeout,
            in_flight: Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            queued: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The token service URL this client posts to.
    pub fn token_service_url(&self) -> &Url {
        &self.token_service_url
    }

    /// Calls waiting for a slot right now (at most [`MAX_QUEUED_REQUESTS`]).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire).min(MAX_QUEUED_REQUESTS)
    }

    /// Asks MedDream for a token opening these studies (one item per study, in this order) and
    /// returns MedDream's answer verbatim.
    pub async fn instant_token(&self, study_instance_uids: &[String]) -> Result<String> {
        if study_instance_uids.is_empty() {
            return Err(MeddreamError::NoStudy);
        }
        let started = Instant::now();
        // One deadline over the wait for a slot, the request and the answer.
        let result = tokio::time::timeout(self.timeout, self.mint(study_instance_uids))
            .await
            .unwrap_or_else(|elapsed| Err(MeddreamError::Unreachable(Box::new(elapsed))));
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => tracing::debug!(
                studies = study_instance_uids.len(),
                elapsed_ms,
                "meddream token minted"
            ),
            Err(error) => tracing::debug!(
                studies = study_instance_uids.len(),
                elapsed_ms,
                %error,
                "meddream token not minted"
            ),
        }
        result
    }

    /// A slot of `in_flight`: at once when one is free, after a wait in the queue when it has
    /// room, else `Busy`.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        if let Ok(slot) = self.in_flight.try_acquire() {
            return Ok(slot);
        }
        let queued = self.queued.fetch_add(1, Ordering::AcqRel);
        // Leaves the queue however the wait ends (the caller's timeout drops this future).
        let _place = QueuePlace(&self.queued);
        if queued >= MAX_QUEUED_REQUESTS {
            return Err(MeddreamError::Busy);
        }
        self.in_flight
            .acquire()
            .await
            .map_err(|closed| MeddreamError::Unreachable(Box::new(closed)))
    }

    async fn mint(&self, study_instance_uids: &[String]) -> Result<String> {
        let _slot = self.slot().await?;
        let body = TokenRequest {
            items: study_instance_uids
                .iter()
                .map(|uid| TokenItem {
                    studies: StudyRef {
                        study: uid,
                        storage: STORAGE,
                    },
                })
                .collect(),
        };
        let mut response = self
            .http
            .post(self.token_service_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(MeddreamError::Status(status.as_u16()));
        }
        let declared = response.content_length().unwrap_or(0);
        if declared > MAX_ANSWER_BYTES as u64 {
            return Err(MeddreamError::OversizedAnswer);
        }
        // Read chunk by chunk so an answer without Content-Length is cut at the cap too.
        let mut answer = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(MeddreamError::OversizedAnswer);
            }
            answer.extend_from_slice(&chunk);
        }
        token_from_answer(answer)
    }
}

/// A place in the queue of calls waiting for a slot, given back when dropped.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn unreachable(error: reqwest::Error) -> MeddreamError {
    MeddreamError::Unreachable(Box::new(error))
}

/// The token is MedDream's answer verbatim (the Python service and its fake neither add nor trim
/// anything). What cannot be put in a URL as a token is refused rather than repaired.
fn token_from_answer(answer: Vec<u8>) -> Result<String> {
    let text = String::from_utf8(answer).map_err(|_| MeddreamError::InvalidAnswer)?;
    if text.trim().is_empty() {
        return Err(MeddreamError::EmptyAnswer);
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(MeddreamError::InvalidAnswer);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_answer_is_the_token_verbatim() {
        let token = token_from_answer(b"mdt-0123abcd".to_vec()).unwrap();
        assert_eq!(token, "mdt-0123abcd");
    }

    #[test]
    fn blank_answers_are_empty() {
        for blank in [&b""[..], b" ", b"\r\n"] {
            assert!(matches!(
                token_from_answer(blank.to_vec()),
                Err(MeddreamError::EmptyAnswer)
            ));
        }
    }

    #[test]
    fn non_utf8_whitespace_and_control_characters_are_not_tokens() {
        for bad in [&b"\xff\xfe\x00\x80"[..], b"mdt-1\n", b"mdt 1", b"mdt\x001"] {
            assert!(
                matches!(
                    token_from_answer(bad.to_vec()),
                    Err(MeddreamError::InvalidAnswer)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_http_urls_and_non_zero_timeouts_build() {
        let url = Url::parse("ftp://meddream/v3/generate").unwrap();
        let err = MeddreamClient::new(url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, MeddreamError::Build(_)));
        let url = Url::parse("http://meddream/v3/generate").unwrap();
        let err = MeddreamClient::new(url, Duration::ZERO, DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, MeddreamError::Build(_)));
    }

    #[test]
    fn the_unreachable_message_is_fixed_and_status_detail_names_the_status() {
        let err = MeddreamError::Unreachable("connection refused".into());
        assert_eq!(err.to_string(), "meddream token service unreachable");
        assert_eq!(err.status_detail(), None);
        assert_eq!(
            MeddreamError::Status(500).status_detail().as_deref(),
            Some("meddream token service answered HTTP 500")
        );
    }
}
