//! What an operator watches: the per-request span every log line of a
//! request is written in (request id, route template, account, team), the
//! request counters and latency histogram, and `GET /metrics` (Prometheus
//! text, behind the operator token when one is configured).

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{Counter, Histogram};
use tracing::field::Empty;
use tracing::Instrument;

use crate::core::error::ApiError;
use crate::core::telemetry;
use crate::http::extract::bearer;
use crate::http::operator;
use crate::http::state::AppState;

/// The route label of a request no route matched (raw paths would make the
/// label set unbounded).
pub const UNMATCHED: &str = "unmatched";

/// Runs the request inside a `request` span naming its id, method, route
/// template and (from the path) the Fansly account; the API key's team is
/// recorded on it once authenticated. Counts the answer by route template
/// and status, and its latency.
///
/// Added with `Router::layer`, which wraps each route (and the fallback), so
/// the matched path and the path parameters are already known here.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let method = req.method().clone();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (mut parts, body) = req.into_parts();
    let account = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "fanslyAccount")
                .map(|(_, value)| value.to_owned())
        });
    let req = Request::from_parts(parts, body);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        account = account.as_deref().unwrap_or(""),
        team = Empty,
    );
    let response = next.run(req).instrument(span).await;
    ROUTE_METRICS.count(&method, route, response.status().as_u16(), started);
    response
}

/// Each route's request counters and latency histogram, registered once per
/// method, route and status. Building the metrics key of each request (its
/// label strings, then the registry's lookup) was ~5 % of a request's
/// allocations (BENCHMARKS.md, thirteenth round). The label set is the same
/// as before: route templates (or [`UNMATCHED`]), methods and statuses.
#[derive(Default)]
struct RouteMetrics(RwLock<HashMap<String, Vec<Handles>>>);

/// One method and status of a route. Its histogram is the route's and
/// method's (the registry hands the same one to each status).
struct Handles {
    method: Method,
    status: u16,
    duration: Histogram,
    requests: Counter,
}

static ROUTE_METRICS: LazyLock<RouteMetrics> = LazyLock::new(RouteMetrics::default);

impl RouteMetrics {
    fn count(&self, method: &Method, route: &str, status: u16, started: Instant) {
        let took = started.elapsed().as_secs_f64();
        let record = |handles: &[Handles]| {
            let h = handles
                .iter()
                .find(|h| h.status == status && h.method == *method)?;
            h.duration.record(took);
            h.requests.increment(1);
            Some(())
        };
        let known = self.0.read().unwrap_or_else(|e| e.into_inner());
        if known
            .get(route)
            .and_then(|handles| record(handles))
            .is_some()
        {
            return;
        }
        drop(known);
        let mut known = self.0.write().unwrap_or_else(|e| e.into_inner());
        let handles = known.entry(route.to_owned()).or_default();
        if record(handles).is_none() {
            let (m, r) = (method.as_str().to_owned(), route.to_owned());
            handles.push(Handles {
                method: method.clone(),
                status,
                duration: metrics::histogram!(telemetry::HTTP_DURATION,
                    "method" => m.clone(), "route" => r.clone()),
                requests: metrics::counter!(telemetry::HTTP_REQUESTS,
                    "method" => m, "route" => r, "status" => status.to_string()),
            });
            record(handles);
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics_text))
}

/// Prometheus text format. With `operator_token` set, only
/// `Authorization: Bearer <operator token>` may read it (the numbers name
/// teams and routes); without one it is open, as a scrape target usually is
/// on a private network.
async fn metrics_text(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // With an operator token configured, only the operator may read the
    // numbers (they name teams and routes); the same rule as the console's.
    let configured = state
        .config
        .operator_token
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty());
    if configured && !operator::is_operator(&state, bearer(&headers).unwrap_or_default()) {
        return ApiError::Unauthorized(
            "Unauthorized: /metrics needs 'Authorization: Bearer <operator_token>'".into(),
        )
        .into_response();
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        telemetry::handle().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A log line written by a handler names the request id, the route
    /// template, the path's account and the team recorded after the key check
    /// (as `Authed` does), in the JSON log format.
    #[tokio::test]
    async fn a_handlers_log_line_carries_request_id_route_account_and_team() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = Router::new()
            .route(
                "/api/fansly/{fanslyAccount}/things",
                get(|| async {
                    tracing::Span::current().record("team", "team_abc");
                    tracing::info!("handled");
                    "ok"
                }),
            )
            .layer(axum::middleware::from_fn(track));
        let req = Request::builder()
            .uri("/api/fansly/acc_42/things")
            .header("x-request-id", "rid-7")
            .body(Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = out.lines().find(|l| l.contains("handled")).expect(&out);
        for field in [
            r#""request_id":"rid-7""#,
            r#""route":"/api/fansly/{fanslyAccount}/things""#,
            r#""account":"acc_42""#,
            r#""team":"team_abc""#,
        ] {
            assert!(line.contains(field), "{field} missing from {line}");
        }
    }
}
