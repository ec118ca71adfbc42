//! The one error type of this crate.
//!
//! No variant carries the answer body: a MedDream answer is a token (a secret), so neither the
//! messages nor the sources below can leak one into a log line or an HTTP error body.

/// A boxed cause, kept for logs (`{:#}`/cause chains) without exposing `reqwest` in our API.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why no MedDream token could be had.
#[derive(Debug, thiserror::Error)]
pub enum MeddreamError {
    /// The client could not be built from the given settings (URL scheme, zero timeouts, TLS set-up).
    #[error("cannot build the meddream client: {0}")]
    Build(String),

    /// Asked for a token without any study: MedDream would mint a token that opens nothing.
    #[error("no study to ask a meddream token for")]
    NoStudy,

    /// Connection refused, DNS failure, connect or total timeout, or the connection broke
    /// mid-answer. The message is fixed (auth-service shows it); the cause is the source.
    #[error("meddream token service unreachable")]
    Unreachable(#[source] Cause),

    /// Every slot to MedDream is taken and the queue behind them is full: refused at once
    /// (see [`crate::MAX_QUEUED_REQUESTS`]). MedDream was not called.
    #[error("meddream token service busy")]
    Busy,

    /// MedDream answered with a non-2xx status (redirects are not followed, so 3xx lands here).
    #[error("meddream token service answered HTTP {0}")]
    Status(u16),

    /// MedDream answered 2xx with an empty (or blank) body.
    #[error("meddream token service answered an empty body")]
    EmptyAnswer,

    /// The answer grew past [`crate::MAX_ANSWER_BYTES`]; reading stopped there.
    #[error(
        "meddream token service answer is larger than {} bytes",
        crate::MAX_ANSWER_BYTES
    )]
    OversizedAnswer,

    /// The answer is not a token: not UTF-8, or it holds whitespace or control characters
    /// (it would break the viewer URL the token is put in).
    #[error("meddream token service answered something that is not a token")]
    InvalidAnswer,
}

impl MeddreamError {
    /// What to put in the `detail` field of an error answer: MedDream's own status when it gave
    /// one, otherwise `None` (the message says it all). Never contains a token.
    pub fn status_detail(&self) -> Option<String> {
        match self {
            Self::Status(code) => Some(format!("meddream token service answered HTTP {code}")),
            _ => None,
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, MeddreamError>;
