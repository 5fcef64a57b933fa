//! One error type for the HTTP API. Its variants are what clients see
//! (`{"error": "<message>"}` with a status); `Internal` is logged in full and
//! answered as an opaque 500.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fansly_upstream::UpstreamError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("Out of credits: this call costs {cost} and the team's balance is {balance}.")]
    PaymentRequired { cost: i64, balance: i64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the {0}-byte limit")]
    PayloadTooLarge(usize),
    /// An upload over its limit; the message names the field.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    FailedDependency(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{message}")]
    CoolingDown {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    GatewayTimeout(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) | ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::FailedDependency(_) => StatusCode::FAILED_DEPENDENCY,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::CoolingDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a Fansly failure on behalf of `account` (a `fansly_acct_…` id) to
    /// what the client can act on; Fansly's own message is carried through.
    pub fn upstream(account: &str, err: UpstreamError) -> ApiError {
        match err {
            UpstreamError::Timeout(after) => ApiError::GatewayTimeout(format!(
                "Fansly did not answer within {} ms",
                after.as_millis()
            )),
            UpstreamError::Unreachable(why) => {
                ApiError::Unavailable(format!("Fansly is unreachable: {why}"))
            }
            UpstreamError::RateLimited { retry_after } => {
                let secs = retry_after.map_or(60, |d| d.as_secs().max(1));
                ApiError::RateLimited {
                    message: format!(
                        "Fansly is rate limiting account {account}; retry after {secs} s"
                    ),
                    retry_after_secs: secs,
                }
            }
            UpstreamError::Unauthorized { status, details } => ApiError::Conflict(format!(
                "Fansly refused the session of account {account} (HTTP {status}{}); the account needs reconnecting",
                if details.is_empty() { String::new() } else { format!(": {details}") }
            )),
            UpstreamError::Proxy { proxy, details } => ApiError::FailedDependency(format!(
                "the proxy {proxy} of account {account} failed: {details}"
            )),
            UpstreamError::Throttled { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                ApiError::RateLimited {
                    message: format!(
                        "account {account} has used its request budget towards Fansly; retry after {secs} s"
                    ),
                    retry_after_secs: secs,
                }
            }
            UpstreamError::NeedsReconnect(message) => ApiError::Conflict(message),
            UpstreamError::CoolingDown {
                retry_after,
                reason,
            } => ApiError::CoolingDown {
                message: format!("account {account} cannot reach Fansly for now: {reason}"),
                retry_after_secs: retry_after.as_secs().max(1),
            },
            UpstreamError::Rejected(details) => ApiError::Conflict(format!(
                "Fansly refused the login of account {account}: {details}"
            )),
            // Fansly refused this request (not the session, which stays
            // connected): said as a 403 naming the account.
            UpstreamError::Api {
                status: 403,
                details,
                ..
            } => ApiError::Forbidden(format!(
                "Fansly refused this request of account {account} (HTTP 403{}); the session stays connected",
                if details.is_empty() { String::new() } else { format!(": {details}") }
            )),
            UpstreamError::Api { status, details, .. } => ApiError::BadGateway(format!(
                "Fansly answered HTTP {status}: {}",
                if details.is_empty() { "(no message)" } else { &details }
            )),
            UpstreamError::Protocol(why) => {
                ApiError::BadGateway(format!("unexpected answer from Fansly: {why}"))
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "Internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(json!({ "error": message }))).into_response();
        if let ApiError::RateLimited {
            retry_after_secs, ..
        }
        | ApiError::CoolingDown {
            retry_after_secs, ..
        } = &self
        {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(*retry_after_secs));
        }
        resp
    }
}
