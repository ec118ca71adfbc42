//! The one error type of this crate. No variant carries an answer body or a token.

/// Why auth-service gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The client could not be built (URL scheme, zero timeouts, TLS set-up).
    #[error("cannot build the auth-service client: {0}")]
    Build(String),

    /// Connection refused, DNS failure, timeout, or the connection broke mid-answer.
    #[error("auth-service unreachable: {0}")]
    Unreachable(String),

    /// auth-service answered with this non-2xx status. 502 means a service behind it (MedDream)
    /// failed; 401 means our credentials are wrong.
    #[error("auth-service answered HTTP {0}")]
    Status(u16),

    /// The answer grew past [`crate::MAX_ANSWER_BYTES`]; reading stopped there.
    #[error("auth-service answer is larger than {} bytes", crate::MAX_ANSWER_BYTES)]
    OversizedAnswer,

    /// The answer is not the JSON the contract describes.
    #[error("auth-service answered something unexpected: {0}")]
    InvalidAnswer(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, AuthError>;
