use std::time::Duration;

/// What can go wrong talking to Fansly, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer within the configured timeout.
    #[error("Fansly did not answer within {0:?}")]
    Timeout(Duration),
    /// Could not connect (DNS, refused, TLS, proxy).
    #[error("could not reach Fansly: {0}")]
    Unreachable(String),
    /// Fansly rate-limited this session and retrying within our bound did not help.
    #[error("Fansly rate limited the request")]
    RateLimited { retry_after: Option<Duration> },
    /// The session token was refused (HTTP 401/403): the session is dead.
    #[error("Fansly refused the session: {details}")]
    Unauthorized { status: u16, details: String },
    /// Fansly answered with an error envelope or a non-success status.
    #[error("Fansly answered HTTP {status}: {details}")]
    Api {
        status: u16,
        code: Option<i64>,
        details: String,
    },
    /// The answer could not be understood (not JSON, wrong envelope, wrong shape).
    #[error("unexpected answer from Fansly: {0}")]
    Protocol(String),
}
