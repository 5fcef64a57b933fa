//! Webhooks: the management API, signed durable delivery to a real
//! receiver, retries, disabling, redelivery, the delivery log, retention,
//! the SSRF guard, credits, and a gateway killed mid-delivery.
//!
//! Shared helpers live here; the tests by topic: `endpoints` (the management
//! API, the event catalog, the SSRF guard), `delivery` (signed delivery,
//! several instances, filtering, credits, the latency bench), `retries`
//! (retrying, Retry-After, disabling), `redelivery` (redelivery and
//! retention of the delivery log), `durability` (a gateway killed
//! mid-delivery).

use fansly_gateway::events::outbox::{event_id, NewEvent};
use fansly_gateway::webhooks::deliveries as deliver;
use serde_json::{json, Value};

use crate::helpers::{parked, spawn_app_with, Receiver, TestApp, TestTeam};

mod delivery;
pub(crate) mod durability;
mod endpoints;
mod redelivery;
mod retries;

const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";
const RECEIVED: &str = "fansly.messages.received";

/// An app whose webhooks may target loopback, with the delivery workers
/// parked: the test sends what is due with `app.run_pending_deliveries()`.
/// Retries are due at once (a zero schedule), so one run goes through them
/// all; tests of the schedule itself set their own.
async fn app_with(tweak: impl FnOnce(&mut fansly_gateway::Config)) -> TestApp {
    spawn_app_with(|c| {
        parked(c);
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_ms = vec![0, 0, 0, 0, 0];
        tweak(c);
    })
    .await
}

async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn data(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "{:?}", resp.url().path());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 0, "{body}");
    body["data"].clone()
}

/// Records an event the way the relay does.
async fn record(app: &TestApp, team: &TestTeam, name: &'static str, key: &str) -> String {
    let payload = json!({"id": key, "content": format!("message {key}")});
    record_payload(app, team, name, key, payload).await
}

/// [`record`] with a payload of the caller's (a chat's message carries its
/// `groupId` and numeric `id`, which give its delivery a chat order).
async fn record_payload(
    app: &TestApp,
    team: &TestTeam,
    name: &'static str,
    key: &str,
    payload: Value,
) -> String {
    app.state
        .events
        .record(NewEvent {
            team_id: team.id.clone(),
            account_id: team.account_id.clone(),
            name,
            dedup_key: key.to_owned(),
            payload,
        })
        .await
        .unwrap()
        .expect("a new event")
}

/// A receiver with an unsigned endpoint of `team` for received messages.
async fn hooked(app: &TestApp, team: &TestTeam) -> Receiver {
    let receiver = Receiver::start().await;
    app.create_webhook(team, &receiver.url, &[RECEIVED], None)
        .await;
    receiver
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    data(
        app.get(&format!("/api/webhooks/{hook}/deliveries?limit=100"))
            .await,
    )
    .await
    .as_array()
    .unwrap()
    .clone()
}

async fn webhook(app: &TestApp, hook: &str) -> Value {
    data(app.get(&format!("/api/webhooks/{hook}")).await).await
}

/// Waits until the team has `n` deliveries queued (events recorded by work
/// that answers before it records them, such as a login), woken by the
/// outbox itself; panics after 10 s.
async fn queued(app: &TestApp, n: i64) {
    let wake = app.state.events.recorded();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let count: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE team_id = $1",
            )
            .bind(&app.team.id)
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
            if count >= n {
                return;
            }
            notified.await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{n} deliveries were never queued");
}
