//! Sandbox-only routes under `/_sandbox`: what a test or a demo needs to see
//! and steer the simulated Fansly. Real Fansly has none of these; the gateway
//! never calls them. The faults and the request log they steer are in
//! `faults.rs`; websocket steering is in `ws/control.rs`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::envelope::preflight;
use crate::faults::{record, take_matching, Fault, LoggedRequest};
use crate::state::{AppState, UploadDone};
use crate::world::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/creators", get(creators).post(add_creators))
        .route(
            "/_sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sandbox/requests", get(requests).delete(clear_requests))
        .route(
            "/_sandbox/upload-answer",
            axum::routing::post(set_upload_answer),
        )
}

/// `{"done": "both" | "media" | "media_id"}`: which "upload finished"
/// markers the upload status answer carries from now on.
async fn set_upload_answer(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let done = match body.get("done").and_then(Value::as_str) {
        Some("both") => UploadDone::Both,
        Some("media") => UploadDone::MediaOnly,
        Some("media_id") => UploadDone::MediaIdOnly,
        _ => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": "done must be \"both\", \"media\" or \"media_id\""})),
            )
                .into_response()
        }
    };
    state
        .upload_done
        .store(done as u8, std::sync::atomic::Ordering::Relaxed);
    Json(json!({"done": body["done"]})).into_response()
}

/// Records every `/api/v1` request, answers CORS preflights, and applies faults.
pub async fn intercept(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let via_proxy = req.uri().authority().is_some();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = if k == "authorization" {
                "[present]".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (k.as_str().to_owned(), value)
        })
        .collect();
    record(
        &mut state.log.lock().unwrap_or_else(|p| p.into_inner()),
        LoggedRequest {
            method: req.method().to_string(),
            path: path.clone(),
            query: req.uri().query().map(str::to_owned),
            headers,
            via_proxy,
            at_ms: now_ms(),
        },
    );
    if req.method() == Method::OPTIONS {
        return preflight(req.headers());
    }
    let fault = take_matching(
        &mut state.faults.lock().unwrap_or_else(|p| p.into_inner()),
        req.method(),
        &path,
        via_proxy,
    );
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let Some(status) = fault.status.and_then(|s| StatusCode::from_u16(s).ok()) else {
        return next.run(req).await;
    };
    let body = fault.body.unwrap_or_else(|| {
        json!({"success": false, "error": {"code": status.as_u16(), "details": "sandbox fault"}})
    });
    let mut resp = (status, Json(body)).into_response();
    if let Some(ra) = fault
        .retry_after
        .and_then(|r| axum::http::HeaderValue::from_str(&r).ok())
    {
        resp.headers_mut().insert("retry-after", ra);
    }
    resp
}

async fn creators(State(state): State<AppState>) -> Json<Value> {
    Json(json!(state.world().creators()))
}

#[derive(Deserialize)]
struct NewCreators {
    /// Usernames are `<prefix><n>` for n in 1..=count.
    prefix: String,
    count: u32,
}

/// Adds creators (each with a session token, no business) for load tests;
/// answers the new ones.
async fn add_creators(State(state): State<AppState>, Json(b): Json<NewCreators>) -> Response {
    if b.prefix.is_empty() || b.count == 0 || b.count > 10_000 {
        return (StatusCode::UNPROCESSABLE_ENTITY, "prefix and count 1-10000").into_response();
    }
    let mut world = state.world();
    let made: Vec<_> = (1..=b.count)
        .filter_map(|n| world.add_creator(&format!("{}{n}", b.prefix)))
        .collect();
    Json(json!(made)).into_response()
}

async fn list_faults(State(state): State<AppState>) -> Json<Vec<Fault>> {
    Json(
        state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    )
}

async fn add_fault(State(state): State<AppState>, Json(fault): Json<Fault>) -> StatusCode {
    state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(fault);
    StatusCode::CREATED
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    StatusCode::NO_CONTENT
}

async fn requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
    Json(log.iter().cloned().collect())
}

async fn clear_requests(State(state): State<AppState>) -> Response<Body> {
    state.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    StatusCode::NO_CONTENT.into_response()
}
