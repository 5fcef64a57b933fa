//! [`UpstreamError`]: every way talking to Fansly can fail, in terms a caller
//! can act on, and the one definition of which of those failures pass
//! ([`UpstreamError::is_transient`]); [`Answer`], what a Fansly call returns.

use std::time::Duration;

use serde_json::Value;

/// What a Fansly call returns: the `response` of its envelope, or why there
/// is none. Every call of the client answers this.
pub(crate) type Answer = Result<Value, UpstreamError>;

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
    /// The session token was refused (HTTP 401): the session is dead. A 403
    /// is a refusal of one request and comes as `Api { status: 403, .. }`.
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

impl UpstreamError {
    /// Whether this is a passing failure: the same request, repeated later
    /// unchanged, may well succeed. The one definition callers use to decide
    /// "retry later" versus "give up / tell the user"; how soon and how often
    /// to retry stays the caller's business (honour [`Self::retry_after`]).
    ///
    /// | Variant | Transient | Why |
    /// |---|---|---|
    /// | `Timeout` | yes | Fansly (or the network) was slow this once. |
    /// | `Unreachable` | yes | DNS, connection refused, TLS: outages pass. |
    /// | `Proxy` | yes | Through a proxy every transport failure, including Fansly being down, is reported as the proxy's; a refusing proxy (407) only passes once its owner fixes it, which a bounded retry survives. |
    /// | `RateLimited` | yes | Fansly's 429: wait and it lifts. |
    /// | `Throttled` | yes | The account's own budget refills. |
    /// | `CoolingDown` | yes | A re-login failed for a passing reason; it may be tried again after `retry_after`. |
    /// | `Api` 5xx, 418, 429 | yes | Fansly's own failure (the sandbox's injected 5xx/429 faults included); 418 is retried like a 5xx by the client's own GET loop, so it is classified the same way. |
    /// | `Api` other 4xx (400, 403, 404, 409, 422…) | no | Fansly refused this request; repeating it gets the same answer. |
    /// | `Unauthorized` (401) | no | Repeating with the same token cannot help. The cure is a new session, which happens elsewhere: [`FanslyClient`](crate::FanslyClient) already asked the session's renewer once and repeated the request, and the relay renews on a websocket 401. A renewer that failed for a passing reason answers `CoolingDown` (transient), one that cannot renew answers `NeedsReconnect`. |
    /// | `Rejected` | no | Wrong credentials or 2FA code. |
    /// | `NeedsReconnect` | no | Only the account's owner can fix it. |
    /// | `Protocol` | no | Fansly answered (usually 2xx) in a shape this crate cannot read: repeating gets the same answer, and after a write the action has probably happened, so a blind repeat risks doing it twice. |
    pub fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Timeout(_)
            | UpstreamError::Unreachable(_)
            | UpstreamError::Proxy { .. }
            | UpstreamError::RateLimited { .. }
            | UpstreamError::Throttled { .. }
            | UpstreamError::CoolingDown { .. } => true,
            UpstreamError::Api { status, .. } => transient_status(*status),
            UpstreamError::Unauthorized { .. }
            | UpstreamError::Rejected(_)
            | UpstreamError::NeedsReconnect(_)
            | UpstreamError::Protocol(_) => false,
        }
    }

    /// How long Fansly (or the account's budget, or the re-login cooldown)
    /// asked to be left alone, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::RateLimited { retry_after } => *retry_after,
            UpstreamError::Throttled { retry_after }
            | UpstreamError::CoolingDown { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// An HTTP status from Fansly that means "Fansly failed this time", not
/// "Fansly refused this request": any 5xx, 429 and 418.
pub(crate) fn transient_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 418
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> UpstreamError {
        UpstreamError::Api {
            status,
            code: Some(i64::from(status)),
            details: String::new(),
        }
    }

    #[test]
    fn passing_failures_are_transient() {
        let secs = Duration::from_secs;
        for e in [
            UpstreamError::Timeout(secs(15)),
            UpstreamError::Unreachable("connection refused".into()),
            UpstreamError::Proxy {
                proxy: "p:1".into(),
                details: "the proxy asks for credentials (HTTP 407)".into(),
            },
            UpstreamError::RateLimited { retry_after: None },
            UpstreamError::RateLimited {
                retry_after: Some(secs(3)),
            },
            UpstreamError::Throttled {
                retry_after: secs(1),
            },
            UpstreamError::CoolingDown {
                retry_after: secs(30),
                reason: "re-login timed out".into(),
            },
            api(500),
            api(502),
            api(503),
            api(504),
            api(599),
            api(429),
            api(418),
        ] {
            assert!(e.is_transient(), "{e:?}");
        }
    }

    #[test]
    fn refusals_are_not_transient() {
        for e in [
            UpstreamError::Unauthorized {
                status: 401,
                details: String::new(),
            },
            api(403),
            UpstreamError::Rejected("wrong password".into()),
            UpstreamError::NeedsReconnect("reconnect the account".into()),
            UpstreamError::Protocol("not JSON".into()),
            api(400),
            api(404),
            api(405),
            api(409),
            api(410),
            api(422),
            api(499),
        ] {
            assert!(!e.is_transient(), "{e:?}");
        }
    }

    #[test]
    fn retry_after_is_what_was_asked() {
        let secs = Duration::from_secs;
        assert_eq!(
            UpstreamError::RateLimited {
                retry_after: Some(secs(3))
            }
            .retry_after(),
            Some(secs(3))
        );
        assert_eq!(
            UpstreamError::RateLimited { retry_after: None }.retry_after(),
            None
        );
        assert_eq!(
            UpstreamError::Throttled {
                retry_after: secs(2)
            }
            .retry_after(),
            Some(secs(2))
        );
        assert_eq!(
            UpstreamError::CoolingDown {
                retry_after: secs(9),
                reason: String::new()
            }
            .retry_after(),
            Some(secs(9))
        );
        assert_eq!(UpstreamError::Timeout(secs(15)).retry_after(), None);
        assert_eq!(api(503).retry_after(), None);
    }
}
