//! Steering drift (`POST /_sandbox/drift`, `DELETE /_sandbox/drift`, `GET`
//! to read it) and serving the sandbox's copy of the web app's bundle
//! (`/main.<hash>.js`; the start page is served at `/` by `ws::protocol`
//! when the request is not a websocket upgrade). The drift itself is in
//! `drift.rs`, applied by `control::intercept`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::drift::{main_js, main_js_name};
use crate::envelope::not_found;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/_sandbox/drift",
            get(show).post(add_drift).delete(end_drift),
        )
        .route("/{file}", get(bundle))
}

fn unprocessable(msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": msg})),
    )
        .into_response()
}

/// One of `{"check_key": "<new key>"}`, `{"path": "/api/v1/…", "drop_field":
/// "<name>"}`, `{"path": "/api/v1/…", "gone": true}`; drift adds up until
/// `DELETE` ends it all.
async fn add_drift(State(state): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return unprocessable("send a JSON object");
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let mut drift = state.drift.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(key) = text("check_key") {
        let ok = (10..=50).contains(&key.len())
            && key.contains('-')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return unprocessable("check_key: 10-50 letters, digits and '-', with a '-'");
        }
        drift.check_key = Some(key.to_owned());
    } else if let Some(path) = text("path").filter(|p| p.starts_with("/api/")) {
        match (text("drop_field"), body.get("gone")) {
            (Some(field), None) if !field.is_empty() => {
                drift.dropped.push((path.to_owned(), field.to_owned()))
            }
            (None, Some(Value::Bool(true))) => drift.gone.push(path.to_owned()),
            _ => return unprocessable("with path, give drop_field or \"gone\": true"),
        }
    } else {
        return unprocessable("give check_key, or path (under /api/) with drop_field or gone");
    }
    let shown = shown(&state, &drift);
    (StatusCode::CREATED, Json(shown)).into_response()
}

async fn end_drift(State(state): State<AppState>) -> StatusCode {
    *state.drift.lock().unwrap_or_else(|p| p.into_inner()) = Default::default();
    StatusCode::NO_CONTENT
}

async fn show(State(state): State<AppState>) -> Json<Value> {
    let drift = state.drift.lock().unwrap_or_else(|p| p.into_inner());
    Json(shown(&state, &drift))
}

fn shown(state: &AppState, drift: &crate::drift::Drift) -> Value {
    let key = drift
        .check_key
        .clone()
        .unwrap_or_else(|| state.config.check_key.clone());
    json!({
        "check_key": key,
        "main_js": main_js_name(&key),
        "dropped": drift.dropped.iter().map(|(p, f)| json!({"path": p, "field": f})).collect::<Vec<_>>(),
        "gone": drift.gone,
    })
}

/// The current bundle; any other single-segment path is Fansly's 404.
async fn bundle(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let key = state.check_key();
    if file != main_js_name(&key) {
        return not_found().await;
    }
    (
        [(header::CONTENT_TYPE, "application/javascript")],
        main_js(&key),
    )
        .into_response()
}
