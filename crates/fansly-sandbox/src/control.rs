//! Sandbox-only routes under `/_sandbox`: what a test or a demo needs to see
//! and steer the simulated Fansly. Real Fansly has none of these; the gateway
//! never calls them. The faults and the request log they steer are in
//! `faults.rs`, Fansly's rate limits in `rate_limit.rs`; the middleware
//! here also applies drift (`drift.rs`, steered in `drift_api.rs`);
//! websocket steering is in `ws/control.rs`.

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

use crate::envelope::{fail, preflight};
use crate::faults::{record, take_matching, Fault, LoggedRequest};
use crate::rate_limit::retry_after_secs;
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
        .route("/_sandbox/har", get(har).delete(clear_har))
        .route(
            "/_sandbox/rate-limit",
            get(show_rate_limit)
                .post(set_rate_limit)
                .delete(end_rate_limit),
        )
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

/// Records every `/api/v1` request (and the exchange, for the HAR export),
/// answers CORS preflights, and applies drift, rate limits and faults.
pub async fn intercept(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let via_proxy = req.uri().authority().is_some();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    // In arrival order (hyper keeps it), for the HAR and the order check.
    let har_headers: Vec<(String, String)> = req
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
    let headers = har_headers.iter().cloned().collect();
    let header_order = har_headers.iter().map(|(k, _)| k.clone()).collect();
    record(
        &mut state.log.lock().unwrap_or_else(|p| p.into_inner()),
        LoggedRequest {
            method: req.method().to_string(),
            path: path.clone(),
            query: req.uri().query().map(str::to_owned),
            headers,
            header_order,
            via_proxy,
            at_ms: now_ms(),
        },
    );
    let started = now_ms();
    let method = req.method().to_string();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("sandbox")
        .to_owned();
    let url = format!(
        "http://{host}{}",
        req.uri()
            .path_and_query()
            .map_or(path.as_str(), |pq| pq.as_str())
    );
    let (req, request_body) = json_body(req).await;
    let resp = answer(state.clone(), req, next, path).await;
    let (resp, response_type, response_body) = captured(resp).await;
    crate::har::record(
        &mut state.har.lock().unwrap_or_else(|p| p.into_inner()),
        crate::har::Exchange {
            at_ms: started,
            method,
            url,
            request_headers: har_headers,
            request_body,
            status: resp.status().as_u16(),
            response_type,
            response_body,
            elapsed_ms: now_ms() - started,
        },
    );
    resp
}

/// A JSON request's body as text (small ones), the request rebuilt.
async fn json_body(req: Request) -> (Request, Option<String>) {
    let is_json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !is_json {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, crate::har::MAX_BODY).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (Request::from_parts(parts, Body::from(bytes)), Some(text))
        }
        Err(_) => (Request::from_parts(parts, Body::empty()), None),
    }
}

/// A JSON or text answer's body (small ones), the answer rebuilt.
async fn captured(resp: Response) -> (Response, String, Option<String>) {
    let kind = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !(kind.starts_with("application/json") || kind.starts_with("text/plain")) {
        return (resp, kind, None);
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, crate::har::MAX_BODY).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            (
                Response::from_parts(parts, Body::from(bytes)),
                kind,
                Some(text),
            )
        }
        Err(_) => (StatusCode::BAD_GATEWAY.into_response(), kind, None),
    }
}

/// The answer to one `/api/` request: preflight, drift, rate limit, fault,
/// or the route's own.
async fn answer(state: AppState, req: Request, next: Next, path: String) -> Response {
    let via_proxy = req.uri().authority().is_some();
    if req.method() == Method::OPTIONS {
        return preflight(req.headers());
    }
    let (gone, dropped) = {
        let drift = state.drift.lock().unwrap_or_else(|p| p.into_inner());
        (drift.is_gone(&path), drift.dropped_on(&path))
    };
    if gone {
        return crate::envelope::not_found().await;
    }
    if let Some(token) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let limited = state.rate.lock().unwrap_or_else(|p| p.into_inner()).check(
            token,
            req.method().as_str(),
            &path,
        );
        if let Some(wait) = limited {
            let mut resp = fail(StatusCode::TOO_MANY_REQUESTS, 429, "rate limited");
            resp.headers_mut().insert(
                "retry-after",
                axum::http::HeaderValue::from(retry_after_secs(wait)),
            );
            return resp;
        }
    }
    if !dropped.is_empty() {
        let resp = next.run(req).await;
        return drop_fields(resp, &dropped).await;
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

/// An answer with `fields` removed wherever they appear (drift).
async fn drop_fields(resp: Response, fields: &[String]) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    for f in fields {
        crate::drift::drop_field(&mut v, f);
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(v.to_string()))
}

/// `POST /_sandbox/rate-limit {per_minute, burst}` enforces Fansly's
/// per-route read limits from now on (fresh buckets); `DELETE` stops it;
/// `GET` → `{limits, limited}` (how many requests were answered 429).
async fn set_rate_limit(
    State(state): State<AppState>,
    body: Option<Json<crate::rate_limit::Limits>>,
) -> Response {
    let Some(Json(limits)) = body.filter(|b| b.per_minute > 0 && b.burst > 0) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "send {per_minute, burst}, both above 0"})),
        )
            .into_response();
    };
    state
        .rate
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .set(Some(limits));
    Json(json!({"limits": limits})).into_response()
}

async fn end_rate_limit(State(state): State<AppState>) -> StatusCode {
    state
        .rate
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .set(None);
    StatusCode::NO_CONTENT
}

async fn show_rate_limit(State(state): State<AppState>) -> Json<Value> {
    let rate = state.rate.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!({"limits": rate.limits(), "limited": rate.limited()}))
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

/// The recorded `/api/` exchanges as a HAR 1.2 file (`har.rs`).
async fn har(State(state): State<AppState>) -> Json<Value> {
    let log = state.har.lock().unwrap_or_else(|p| p.into_inner());
    Json(crate::har::to_har(&log))
}

async fn clear_har(State(state): State<AppState>) -> StatusCode {
    state.har.lock().unwrap_or_else(|p| p.into_inner()).clear();
    StatusCode::NO_CONTENT
}

async fn clear_requests(State(state): State<AppState>) -> Response<Body> {
    state.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    StatusCode::NO_CONTENT.into_response()
}
