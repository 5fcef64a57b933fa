//! Recording each authenticated request into the team's ring
//! (`metering::requests`): a route layer (run inside the idempotency
//! layer, which calls it) times the request and counts the
//! Fansly calls made for it; the `Authed` extractor names the team through
//! the [`Tag`] this layer leaves in the request's extensions. Requests no
//! key authenticated (401s, health checks) are not recorded.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use fansly_upstream::calls;
use futures::future::Either;

use crate::core::time::now_ms;
use crate::http::state::AppState;
use crate::metering::meta::CREDITS_USED;
use crate::metering::requests::RequestRecord;
use crate::tenancy::Caller;

/// Filled by the `Authed` extractor: whose request this is.
#[derive(Clone, Default)]
pub struct Tag(Arc<Mutex<Option<(String, String)>>>);

/// Names the request's team and key (called by the `Authed` extractor).
pub fn tag(parts: &Parts, caller: &Caller) {
    if let Some(tag) = parts.extensions.get::<Tag>() {
        *tag.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((caller.team_id.clone(), caller.key_id.clone()));
    }
}

/// `work` with the current request's Fansly-call counter, for work moved
/// into its own task (billing) so its calls still count.
/// (One future either way: an `async` block awaiting `work` in two arms
/// held it twice, and this one is copied whole as it is spawned.)
pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    match calls::current() {
        Some(counter) => Either::Left(calls::counted(counter, work)),
        None => Either::Right(work),
    }
}

/// Around each route, inside the idempotency layer (which calls it): runs
/// the request, then records it for its team.
pub async fn record(state: &AppState, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = now_ms();
    let tag = Tag::default();
    req.extensions_mut().insert(tag.clone());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let console = req.headers().contains_key("x-console");
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let counter = Arc::new(AtomicU32::new(0));
    let response = calls::counted(counter.clone(), next.run(req)).await;
    let Some((team, key_id)) = tag.0.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return response;
    };
    let credits = response
        .headers()
        .get(&CREDITS_USED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    state.requests.push(
        &team,
        RequestRecord {
            at,
            method,
            route,
            path,
            status: response.status().as_u16(),
            credits,
            latency_ms: started.elapsed().as_millis() as u64,
            upstream_calls: counter.load(Ordering::Relaxed),
            request_id,
            key_id,
            console,
        },
    );
    response
}
