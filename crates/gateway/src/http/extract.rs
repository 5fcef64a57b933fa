//! Request extractors: the caller behind the API key (with the team's rate
//! limit applied) and JSON bodies whose errors name the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::core::error::ApiError;
use crate::http::state::AppState;
use crate::metering::rate_limit::RateStatus;
use crate::tenancy::Caller;

/// An authenticated request that is within its team's rate limit.
#[derive(Clone, Debug)]
pub struct Authed {
    pub caller: Caller,
    pub rate: RateStatus,
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(&parts.headers).ok_or_else(|| {
            ApiError::Unauthorized(
                "Unauthorized: send your API key as 'Authorization: Bearer <key>'".into(),
            )
        })?;
        let caller = crate::http::operator::caller(state, &parts.headers, presented)
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized("Unauthorized: the API key is invalid or revoked".into())
            })?;
        crate::http::request_log::tag(parts, &caller);
        // Every later log line of this request (and its OTLP span) names the team.
        tracing::Span::current().record("team", caller.team_id.as_str());
        let limit = caller
            .rate_limit_per_minute
            .unwrap_or(state.config.default_rate_limit_per_minute);
        let rate = state
            .limiter
            .hit(&caller.team_id, limit)
            .await
            .map_err(ApiError::Internal)?;
        // Error answers of this call report the team's credits (http/hardening.rs).
        if let Some(slot) = parts.extensions.get::<crate::http::hardening::CallerSlot>() {
            slot.set(&caller.team_id, rate);
        }
        if rate.exceeded {
            return Err(ApiError::RateLimited {
                message: format!(
                    "Rate limit of {limit} requests per minute exceeded; retry after {} s",
                    rate.reset_secs
                ),
                retry_after_secs: rate.reset_secs,
            });
        }
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Authed {
            caller,
            rate,
            request_id,
        })
    }
}

/// A JSON object body. Wrong content type: 415; over the size limit: 413;
/// broken JSON: 400; well-formed but wrong shape: 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".into(),
            ));
        }
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::BadRequest(format!("could not read the request body: {rej}"))
            }
        })?;
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => {
                return Err(ApiError::Unprocessable(
                    "the request body is empty; send a JSON object".into(),
                ))
            }
            Some(b'{') => {}
            Some(_) if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() => {
                return Err(ApiError::Unprocessable(
                    "the request body must be a JSON object".into(),
                ))
            }
            Some(_) => {}
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::BadRequest(format!("the request body is not valid JSON: {inner}"))
            } else if path == "." {
                ApiError::Unprocessable(format!("invalid request body: {inner}"))
            } else {
                ApiError::Unprocessable(format!("{path}: {inner}"))
            }
        })?;
        de.end().map_err(|e| {
            ApiError::BadRequest(format!("the request body is not valid JSON: {e}"))
        })?;
        Ok(ApiJson(value))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched
/// case-insensitively), if there is a non-empty one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
