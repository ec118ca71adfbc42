//! Client of the MedDream token service: the commercial viewer's service that mints the
//! short-lived tokens of `meddream-instant-link` URLs.
//!
//! With the `double` feature, [`double`] also holds an in-process MedDream token service for tests.

mod client;
mod error;

#[cfg(feature = "double")]
pub mod double;

pub use client::{
    MeddreamClient, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, MAX_ANSWER_BYTES,
    MAX_CONCURRENT_REQUESTS, MAX_QUEUED_REQUESTS,
};
pub use error::{Cause, MeddreamError, Result};
