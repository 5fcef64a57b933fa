//! The process's one Prometheus recorder and the names of the metric families
//! the gateway records (the `metrics` facade macros are called where the
//! thing happens; `/metrics` renders what this recorder holds).
//!
//! One recorder per process, installed on first use: the `metrics` facade has
//! a single global recorder, so several in-process apps (the test suite)
//! share it; each test asserts on labels or deltas of its own.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests answered, by method, matched route template and status.
pub const HTTP_REQUESTS: &str = "fgw_http_requests_total";
/// Latency of those requests, seconds (histogram).
pub const HTTP_DURATION: &str = "fgw_http_request_duration_seconds";
/// Credits charged, by operation (ledger reason).
pub const CREDITS_SPENT: &str = "fgw_credits_spent_total";
/// Credits given back after a call that did not succeed, by operation.
pub const CREDITS_REFUNDED: &str = "fgw_credits_refunded_total";
/// Calls per credit transaction (group commit), histogram: how much the
/// batching saves, since each transaction costs the same whatever its size.
pub const CREDIT_BATCH_CALLS: &str = "fgw_credit_batch_calls";
/// Requests refused by the team's rate limit.
pub const RATE_LIMITED: &str = "fgw_rate_limit_refusals_total";
/// Re-logins of a Fansly account whose session expired, by outcome.
pub const RELOGINS: &str = "fgw_relogins_total";
/// Relay (realtime socket) connections currently open (gauge).
pub const RELAY_CONNECTED: &str = "fgw_relay_sockets_connected";
/// Relay socket connects, by outcome.
pub const RELAY_CONNECTS: &str = "fgw_relay_connects_total";
/// Relay frames the gateway could not map (`event="unknown"`); the events
/// it maps are counted once, as they are recorded ([`EVENTS_RECORDED`]).
pub const RELAY_EVENTS: &str = "fgw_relay_events_total";
/// Events recorded in the outbox, by event name.
pub const EVENTS_RECORDED: &str = "fgw_events_recorded_total";
/// Webhook delivery attempts, by outcome (`delivered`, `failed`).
pub const DELIVERY_ATTEMPTS: &str = "fgw_webhook_delivery_attempts_total";
/// Latency of a delivery attempt, seconds (histogram).
pub const DELIVERY_DURATION: &str = "fgw_webhook_delivery_duration_seconds";
/// Time from an event's recording to its first successful delivery, seconds.
pub const OUTBOX_LAG: &str = "fgw_outbox_lag_seconds";
/// Broadcast (mass message) recipients, by result (`sent`, `failed`).
pub const BROADCAST_RECIPIENTS: &str = "fgw_broadcast_recipients_total";
/// Broadcasts finished, by final status.
pub const BROADCASTS_FINISHED: &str = "fgw_broadcasts_finished_total";

/// Upstream families, recorded by the `fansly-upstream` crate (named here so
/// the README and dashboard have one list).
pub const UPSTREAM_REQUESTS: &str = "fansly_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "fansly_upstream_request_duration_seconds";
pub const UPSTREAM_THROTTLE_WAITS: &str = "fansly_upstream_throttle_waits_total";
pub const UPSTREAM_THROTTLE_WAIT: &str = "fansly_upstream_throttle_wait_seconds";
/// Protocol drift seen upstream, by route template and kind (`drift.rs`).
pub const UPSTREAM_DRIFT: &str = "fansly_gateway_upstream_drift_total";
/// Check key rotations adopted from the web app.
pub const UPSTREAM_CHECK_KEY_ROTATIONS: &str = "fansly_upstream_check_key_rotations_total";

/// Buckets for request-shaped latencies: 5 ms to 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Outbox lag runs longer (retries back off over minutes).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

const LAG_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed the first time this is called. When
/// another recorder was installed first (an embedding program's), the
/// gateway's numbers go there and `/metrics` renders an empty local one.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        } else {
            describe();
        }
        handle
    })
}

fn builder() -> PrometheusBuilder {
    let latency = [
        HTTP_DURATION,
        DELIVERY_DURATION,
        UPSTREAM_DURATION,
        UPSTREAM_THROTTLE_WAIT,
    ];
    let mut b = PrometheusBuilder::new();
    for name in latency {
        b = b
            .set_buckets_for_metric(Matcher::Full(name.into()), LATENCY_BUCKETS)
            .expect("static, non-empty buckets");
    }
    b.set_buckets_for_metric(Matcher::Full(OUTBOX_LAG.into()), LAG_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(CREDIT_BATCH_CALLS.into()), BATCH_BUCKETS)
        })
        .expect("static, non-empty buckets")
}

/// `# HELP` lines, so a scrape explains itself.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(CREDITS_SPENT, "Credits charged, by team and operation");
    describe_counter!(
        CREDITS_REFUNDED,
        "Credits refunded after a call that did not succeed, by team and operation"
    );
    describe_histogram!(
        CREDIT_BATCH_CALLS,
        "Calls reserved per credit transaction (group commit)"
    );
    describe_counter!(RATE_LIMITED, "Requests refused by the team's rate limit");
    describe_counter!(
        RELOGINS,
        "Re-logins after an expired Fansly session, by outcome"
    );
    describe_gauge!(
        RELAY_CONNECTED,
        "Relay sockets to Fansly currently connected"
    );
    describe_counter!(RELAY_CONNECTS, "Relay socket connects, by outcome");
    describe_counter!(
        RELAY_EVENTS,
        "Relay frames the gateway could not map (event=unknown)"
    );
    describe_counter!(
        EVENTS_RECORDED,
        "Events recorded in the outbox, by event name"
    );
    describe_counter!(DELIVERY_ATTEMPTS, "Webhook delivery attempts, by outcome");
    describe_histogram!(
        DELIVERY_DURATION,
        Unit::Seconds,
        "Webhook delivery attempt latency"
    );
    describe_histogram!(
        OUTBOX_LAG,
        Unit::Seconds,
        "Time from an event's recording to its first successful delivery"
    );
    describe_counter!(
        BROADCAST_RECIPIENTS,
        "Mass message recipients processed, by result"
    );
    describe_counter!(
        BROADCASTS_FINISHED,
        "Mass messages finished, by final status"
    );
    describe_counter!(
        UPSTREAM_REQUESTS,
        "Requests to Fansly, by method, route template and outcome"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Fansly request latency (retries and renewal included), by method and route template"
    );
    describe_counter!(
        UPSTREAM_THROTTLE_WAITS,
        "Fansly requests held or refused by an account's own request budget"
    );
    describe_histogram!(
        UPSTREAM_THROTTLE_WAIT,
        Unit::Seconds,
        "Time Fansly requests waited for the account's budget"
    );
    describe_counter!(
        UPSTREAM_DRIFT,
        "Answers and frames from Fansly that differ from what the gateway relies on, by route template and kind"
    );
    describe_counter!(
        UPSTREAM_CHECK_KEY_ROTATIONS,
        "Fansly check key rotations read from the web app and adopted without a restart"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_families_render_buckets() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(HTTP_DURATION, "route" => "/x").record(0.02);
            metrics::histogram!(OUTBOX_LAG).record(120.0);
        });
        let text = handle.render();
        let bucket = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit_once(' '))
                .map(|(_, v)| v.to_owned())
                .unwrap_or_else(|| panic!("no {prefix}… in {text}"))
        };
        // 20 ms lands in the 25 ms bucket, not the 10 ms one.
        assert_eq!(
            bucket(r#"fgw_http_request_duration_seconds_bucket{route="/x",le="0.01""#),
            "0"
        );
        assert_eq!(
            bucket(r#"fgw_http_request_duration_seconds_bucket{route="/x",le="0.025""#),
            "1"
        );
        // Two minutes of lag: past 60 s, within 300 s (buckets of its own).
        assert_eq!(bucket(r#"fgw_outbox_lag_seconds_bucket{le="60""#), "0");
        assert_eq!(bucket(r#"fgw_outbox_lag_seconds_bucket{le="300""#), "1");
    }
}
