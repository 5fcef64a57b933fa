//! Fansly's answer shapes, shared by every route: the `{success, response}`
//! envelope, its error form, the plain-text 404 for unknown routes and the
//! CORS preflight answer. Nothing here reads state, so every route file can
//! use it without pulling in another.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// `{"success": true, "response": ...}`
pub fn ok(response: Value) -> Response {
    Json(json!({"success": true, "response": response})).into_response()
}

/// `{"success": false, "error": {"code", "details"}}` with an HTTP status.
pub fn fail(status: StatusCode, code: i64, details: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "error": {"code": code, "details": details}})),
    )
        .into_response()
}

pub fn bad_param(details: &str) -> Response {
    fail(StatusCode::BAD_REQUEST, 99, details)
}

/// Fansly answers unknown `/api/v1` routes with a plain-text 404.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The browser's CORS preflight precedes every call; Fansly answers 200.
pub fn preflight(headers: &HeaderMap) -> Response {
    let allow = headers
        .get("access-control-request-headers")
        .cloned()
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("*"));
    (
        StatusCode::OK,
        [
            (
                "access-control-allow-origin",
                axum::http::HeaderValue::from_static("https://fansly.com"),
            ),
            ("access-control-allow-headers", allow),
            (
                "access-control-allow-credentials",
                axum::http::HeaderValue::from_static("true"),
            ),
        ],
    )
        .into_response()
}
