use std::time::Duration;

/// What can go wrong talking to Fansly, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer within the configured timeout.
    #[error("Fansly did not answer within {0:?}")]
    Timeout(Duration),
    /// Could not connect (DNS, refused, TLS).
    #[error("could not reach Fansly: {0}")]
    Unreachable(String),
    /// The account's proxy failed (refused, unreachable, asked for credentials).
    #[error("proxy {proxy} failed: {details}")]
    Proxy { proxy: String, details: String },
    /// Fansly rate-limited this session and retrying within our bound did not help.
    #[error("Fansly rate limited the request")]
    RateLimited { retry_after: Option<Duration> },
    /// The account's own request budget towards Fansly is used up.
    #[error("the account's request budget towards Fansly is used up")]
    Throttled { retry_after: Duration },
    /// The session token was refused (HTTP 401/403): the session is dead.
    #[error("Fansly refused the session: {details}")]
    Unauthorized { status: u16, details: String },
    /// Login refused: wrong credentials or a wrong 2FA code.
    #[error("Fansly refused the login: {0}")]
    Rejected(String),
    /// The session died and cannot be renewed without the account's owner
    /// (credentials refused, a 2FA code demanded, no password stored).
    #[error("{0}")]
    NeedsReconnect(String),
    /// A re-login failed for a passing reason; the next try waits.
    #[error("re-login cooling down after a failure: {reason}")]
    CoolingDown {
        retry_after: Duration,
        reason: String,
    },
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
