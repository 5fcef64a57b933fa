//! What the client reports to the process's `metrics` recorder (a no-op when
//! the embedding program installed none): each Fansly request by method,
//! route template and outcome with its latency, and each wait or refusal by
//! an account's own request budget. The gateway's README lists the families.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::error::UpstreamError;

pub(crate) const REQUESTS: &str = "fansly_upstream_requests_total";
pub(crate) const DURATION: &str = "fansly_upstream_request_duration_seconds";
pub(crate) const THROTTLE_WAITS: &str = "fansly_upstream_throttle_waits_total";
pub(crate) const THROTTLE_WAIT: &str = "fansly_upstream_throttle_wait_seconds";

/// One finished request (its retries and session renewal included) of
/// `method` on `route` (a template), counted in that route's `metrics`
/// (`template::Template` keeps them).
pub(crate) fn request(
    method: &str,
    route: &str,
    metrics: &RouteMetrics,
    elapsed: Duration,
    result: &Result<Box<serde_json::value::RawValue>, UpstreamError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    metrics.record(route, method, outcome, elapsed);
}

/// One route's request counter and latency histogram, by method and
/// outcome, registered with the recorder on first use and kept: building
/// their keys on every call (the labels' strings, then the registry's
/// lookup) was ~8 allocations a call. The labels are as before. A handle
/// registered before a recorder was installed stays a no-op, so a program
/// installs its recorder before its first Fansly call (the gateway does at
/// start).
#[derive(Default)]
pub(crate) struct RouteMetrics(Mutex<Vec<Handles>>);

struct Handles {
    method: Box<str>,
    outcome: &'static str,
    /// Labelled by method and route only: the registry hands the entries of
    /// one method the same histogram.
    duration: Histogram,
    requests: Counter,
}

impl RouteMetrics {
    fn record(&self, route: &str, method: &str, outcome: &'static str, elapsed: Duration) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = match all
            .iter()
            .position(|h| h.outcome == outcome && *h.method == *method)
        {
            Some(at) => at,
            None => {
                all.push(Handles {
                    method: method.into(),
                    outcome,
                    duration: metrics::histogram!(DURATION, "method" => method.to_owned(), "route" => route.to_owned()),
                    requests: metrics::counter!(REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "outcome" => outcome),
                });
                all.len() - 1
            }
        };
        all[at].duration.record(elapsed.as_secs_f64());
        all[at].requests.increment(1);
    }
}

/// A short, fixed label per kind of failure (never the message: unbounded).
pub(crate) fn outcome(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Timeout(_) => "timeout",
        UpstreamError::Unreachable(_) => "unreachable",
        UpstreamError::Proxy { .. } => "proxy_error",
        UpstreamError::RateLimited { .. } => "rate_limited",
        UpstreamError::Throttled { .. } => "throttled",
        UpstreamError::Unauthorized { .. } => "unauthorized",
        UpstreamError::Rejected(_) => "rejected",
        UpstreamError::NeedsReconnect(_) => "needs_reconnect",
        UpstreamError::CoolingDown { .. } => "cooling_down",
        UpstreamError::Api { status, .. } if *status >= 500 => "server_error",
        UpstreamError::Api { .. } => "client_error",
        UpstreamError::Protocol(_) => "protocol_error",
    }
}

/// A request held by the account's budget for `wait`, or refused (`None`)
/// because the wait would pass the bound.
pub(crate) fn throttle(write: bool, wait: Option<Duration>) {
    let kind = if write { "write" } else { "read" };
    let result = if wait.is_some() { "waited" } else { "refused" };
    metrics::counter!(THROTTLE_WAITS, "kind" => kind, "result" => result).increment(1);
    if let Some(wait) = wait {
        metrics::histogram!(THROTTLE_WAIT, "kind" => kind).record(wait.as_secs_f64());
    }
}
