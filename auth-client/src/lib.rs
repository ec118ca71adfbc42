//! Client of auth-service: what the landing page and the dev runner call, over the wire types
//! of `auth-wire`. It does not depend on auth-service itself (no actix handlers, JWT or SMTP code).
//!
//! With the `double` feature, [`double`] also holds an in-process stand-in of auth-service for
//! the failures a real one cannot be told to produce (hanging, 500, oversized answers).
mod client;
mod error;

#[cfg(feature = "double")]
pub mod double;

pub use client::{AuthClient, Timeouts, MAX_ANSWER_BYTES};
pub use error::{AuthError, Result};
