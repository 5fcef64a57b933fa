//! What every answer gets whichever layer produced it: a bounded
//! `X-Request-Id` (it is echoed and stored in the credit ledger), errors in
//! the vendor's `{"error": "..."}` form even when axum's own extractors or
//! layers refused the request with plain text or an empty body, and on
//! authenticated calls a `_meta` block saying nothing was charged.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use crate::http::state::AppState;
use crate::metering::meta::{CachePolicy, Meta, CREDITS_BALANCE, CREDITS_USED};
use crate::metering::rate_limit::RateStatus;

/// Longest client-chosen request id kept; longer or odd ones are replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// A client's `X-Request-Id` is kept when it is 1–128 characters of
/// `[A-Za-z0-9._:-]`; anything else is dropped here so the request id layer
/// mints a fresh one (what is echoed and stored in the ledger is bounded).
pub fn sanitize_request_id(mut req: Request) -> Request {
    let bad = req
        .headers()
        .get_all("x-request-id")
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !valid_request_id(v.as_bytes()));
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    req
}

pub fn valid_request_id(raw: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&raw.len())
        && raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Filled by the `Authed` extractor when a request's key checked out, so an
/// error answer can report the team's credits.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<(String, RateStatus)>>);

impl CallerSlot {
    pub fn set(&self, team_id: &str, rate: RateStatus) {
        let _ = self.0.set((team_id.to_owned(), rate));
    }
}

/// Largest error body rewritten; bigger ones are replaced by the status text.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Turns every 4xx/5xx answer into `{"error": "..."}` (plain-text rejections
/// from axum's extractors and layers keep their message; empty ones get the
/// status text) and adds `_meta` with `credits.used = 0` and the balance to
/// errors of authenticated calls: failed calls are refunded, and clients
/// that meter from `_meta` must not count them.
pub async fn json_errors(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) if is_json && map.get("error").is_some_and(Value::is_string) => {
            Value::Object(map)
        }
        _ => json!({ "error": message_for(status, &bytes) }),
    };
    if let Some((team, rate)) = slot.0.get() {
        if body.get("_meta").is_none() {
            // Nothing was charged: the balance this instance last saw will do.
            match state.credits.balance(team).await {
                Ok(balance) => {
                    let balance = balance.unwrap_or(0);
                    let meta = Meta {
                        credits_used: 0,
                        balance,
                        cache: CachePolicy::Disabled,
                        rate: *rate,
                        upstream_window: None,
                    };
                    body["_meta"] = meta.to_json();
                    parts
                        .headers
                        .insert(CREDITS_USED.clone(), HeaderValue::from(0));
                    parts
                        .headers
                        .insert(CREDITS_BALANCE.clone(), HeaderValue::from(balance));
                }
                Err(e) => tracing::warn!(error = %e, "reading the balance for an error answer"),
            }
        }
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// A plain-text body as the message (axum's rejections name the problem:
/// "Failed to deserialize query string: duplicate field `limit`"), else the
/// status's reason.
fn message_for(status: StatusCode, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if !text.is_empty() && !text.starts_with('{') && !text.starts_with('<') {
        return text.chars().take(500).collect();
    }
    status
        .canonical_reason()
        .unwrap_or("Request refused")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(valid_request_id(b"req-123_abc.def:9"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(&[b'a'; MAX_REQUEST_ID + 1]));
        assert!(!valid_request_id(b"a b"));
        assert!(!valid_request_id("é".as_bytes()));
    }
}
