//! Webhook deliveries as stored: one row per event and endpoint, written with
//! the event (with the chat order it keeps), the retry schedule, endpoints
//! disabled and their deliveries held, listed and redelivered through the
//! API, pruned. Claiming and settling, in batches, is `claims.rs`.
//!
//! Durability rests on the database alone: a delivery row exists before
//! anything is sent, a claim is a conditional UPDATE that takes a lease, and
//! a worker that dies holding one simply lets it run out, after which any
//! worker of any instance takes the row again.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use sqlx::Row;

use crate::core::db::{Backend, Db};
use crate::core::error::ApiError;
use crate::core::time::iso;
use crate::core::time::now_ms;
use crate::metering::credits;
use crate::webhooks::store::{self, Webhook};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

pub const USER_AGENT: &str = "OnlyFansAPI.com/Webhook-Client";
/// Delivered events per charge of `credits_per_100_events`.
pub const BLOCK: i64 = 100;
/// The ledger's name for webhook charges.
pub const LEDGER_ENDPOINT: &str = crate::metering::prices::WEBHOOK_DELIVERY_BLOCK.name;
/// `next_attempt_at` of the deliveries of a disabled endpoint: never due,
/// so the claim's index range never reaches them; enabling the endpoint
/// makes them due at once.
pub const HELD: i64 = 1 << 60;
/// Kept of a receiver's answer.
pub const EXCERPT_BYTES: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

pub struct NewDelivery<'a> {
    pub webhook_id: &'a str,
    pub team_id: &'a str,
    pub event_id: &'a str,
    pub event_name: &'a str,
    pub account_id: &'a str,
    pub body: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub redelivery_of: Option<&'a str>,
    pub at: i64,
    /// The chat whose order the delivery keeps, and its place in it
    /// (`webhooks/claims.rs`).
    pub order: Option<(String, i64)>,
}

pub fn new_delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Writes a pending delivery due at once; its id.
pub async fn insert_delivery(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &NewDelivery<'_>,
) -> Result<String, sqlx::Error> {
    let id = new_delivery_id();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, team_id, event_id, event_name, account_id, \
           body, idempotency_key, redelivery_of, status, attempts, next_attempt_at, locked_until, \
           created_at, updated_at, order_key, order_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 0, $11, $11, $12, $13)",
    )
    .bind(&id)
    .bind(d.webhook_id)
    .bind(d.team_id)
    .bind(d.event_id)
    .bind(d.event_name)
    .bind(d.account_id)
    .bind(d.body)
    .bind(d.idempotency_key)
    .bind(d.redelivery_of)
    .bind(PENDING)
    .bind(d.at)
    .bind(d.order.as_ref().map(|(k, _)| k.as_str()))
    .bind(d.order.as_ref().map(|(_, n)| *n))
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
pub fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let wait = if let Ok(secs) = raw.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc2822)
            .ok()?;
        let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64 - now_ms();
        Duration::from_millis(ms.max(0) as u64)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The wait before attempt `failed_attempt + 1`, or `None` when the
/// schedule is exhausted: the step, jittered to between half and all of it
/// (so retries from a burst spread out and never come early by more than
/// half), but never before the receiver's `Retry-After`.
pub fn next_wait(
    schedule: &[u64],
    failed_attempt: i64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let step = *schedule.get(usize::try_from(failed_attempt - 1).ok()?)?;
    let jittered = if step < 2 {
        step
    } else {
        rand::thread_rng().gen_range(step / 2..=step)
    };
    let wait = Duration::from_millis(jittered);
    Some(retry_after.map_or(wait, |r| r.max(wait)))
}

/// Disables the endpoint and parks its pending deliveries at [`HELD`], out
/// of the claim's range, until it is enabled again.
pub(crate) async fn disable(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hook_id: &str,
    why: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    tracing::warn!(webhook = hook_id, reason = why, "webhook endpoint disabled");
    sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(why)
    .bind(now)
    .bind(hook_id)
    .execute(&mut **tx)
    .await?;
    hold(tx, hook_id).await
}

/// Parks an endpoint's pending deliveries (see [`HELD`]). The transaction
/// took its parking turn first ([`take_parking_turn`]).
pub async fn hold(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hook_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 \
         WHERE webhook_id = $2 AND status = 'pending'",
    )
    .bind(HELD)
    .bind(hook_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Defers the due deliveries of teams that cannot pay for a block by
/// `recheck`. The claim would skip them anyway; parking them keeps a large
/// unpaid backlog out of every claim's scan. Returns how many were parked.
/// `now` is the clock (unix ms). A grant ends the wait early ([`grant`]).
pub async fn park_unpaid(
    db: &Db,
    block_cost: i64,
    recheck: Duration,
    now: i64,
) -> Result<u64, sqlx::Error> {
    if block_cost <= 0 {
        return Ok(0);
    }
    let mut tx = parking_turn(db).await?;
    let parked = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, parked = 1 \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND locked_until <= $2 \
           AND team_id IN (SELECT id FROM teams WHERE credits < $3)",
    )
    .bind(now + recheck.as_millis() as i64)
    .bind(now)
    .bind(block_cost)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(parked)
}

/// The advisory lock that statements moving many deliveries of a team or
/// an endpoint in or out of the schedule take turns on (PostgreSQL; any
/// constant the gateway uses for nothing else).
const PARKING_LOCK: i64 = 0x0f_a5_9a_4c;

/// Takes the turn of a transaction that parks, unparks, holds or releases
/// deliveries in bulk, as its first statement: a transaction that already
/// holds row locks and then waits for the turn can close a cycle with the
/// holder of the turn waiting on those rows. Each such statement locks its
/// rows in the order of its own plan, and on PostgreSQL two of them
/// deadlocked when they met (the parker and a grant's unpark: the grant
/// failed after its credits were committed). Taking turns also closes a
/// race: the statement after the lock reads the teams afresh, so a parker
/// that waited for an unpark sees the grant and parks nothing, and a parker
/// that went first has its rows unparked by the grant after it. The claim
/// never waits on these rows (it skips locked ones), so it needs no turn.
/// SQLite runs one writer at a time anyway.
pub(crate) async fn take_parking_turn(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(PARKING_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A write transaction with its parking turn taken.
pub(crate) async fn parking_turn(
    db: &Db,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    take_parking_turn(&mut tx, db.backend).await?;
    Ok(tx)
}

/// Grants `amount` credits to the team (a ledger row, as
/// [`credits::grant`]) and makes its deliveries parked for want of credits
/// due at once: a team that tops up sees its webhooks resume at the
/// workers' next look, not after the unpaid recheck. The balance after.
pub async fn grant(db: &Db, team_id: &str, amount: i64, reason: &str) -> anyhow::Result<i64> {
    let balance = credits::grant(db, team_id, amount, reason).await?;
    // After the grant's commit, in the parker's turn (see `parking_turn`).
    let mut tx = parking_turn(db).await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, parked = 0 \
         WHERE team_id = $2 AND parked = 1 AND status = 'pending'",
    )
    .bind(now_ms())
    .bind(team_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(balance)
}

/// Queues a verbatim copy of delivery `delivery_id` of the team's webhook:
/// same body and idempotency key, sent to the endpoint's current URL with
/// its current secret and `X-OFAPI-Redelivery-Of`.
pub async fn redeliver(
    db: &Db,
    team_id: &str,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<String, ApiError> {
    let hook = store::get(db, team_id, webhook_id).await?;
    let row = sqlx::query(
        "SELECT event_id, event_name, account_id, body, idempotency_key FROM webhook_deliveries \
         WHERE id = $1 AND webhook_id = $2",
    )
    .bind(delivery_id)
    .bind(webhook_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "delivery {delivery_id} of webhook {webhook_id} not found"
        ))
    })?;
    if !hook.enabled {
        return Err(ApiError::Conflict(format!(
            "webhook {webhook_id} is disabled; enable it (PUT enabled: true) before redelivering"
        )));
    }
    let (event_id, event_name, account_id, body, key): (
        String,
        String,
        String,
        String,
        Option<String>,
    ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let mut tx = db.writer.begin().await?;
    let id = insert_delivery(
        &mut tx,
        &NewDelivery {
            webhook_id,
            team_id,
            event_id: &event_id,
            event_name: &event_name,
            account_id: &account_id,
            body: &body,
            idempotency_key: key.as_deref(),
            redelivery_of: Some(delivery_id),
            at: now_ms(),
            // Asked for by hand: sent when asked, whatever the chat's order.
            order: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// One page of the webhook's deliveries, newest first, each with its attempts.
pub async fn list(
    db: &Db,
    webhook_id: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<Value>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, event_id, event_name, account_id, body, idempotency_key, redelivery_of, status, \
           attempts, next_attempt_at, last_error, delivered_at, created_at \
         FROM webhook_deliveries WHERE webhook_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(webhook_id)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.get(0);
        out.push(delivery_json(db, webhook_id, &id, &r).await?);
    }
    Ok(out)
}

pub async fn get(
    db: &Db,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<Option<Value>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, event_id, event_name, account_id, body, idempotency_key, redelivery_of, status, \
           attempts, next_attempt_at, last_error, delivered_at, created_at \
         FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2",
    )
    .bind(webhook_id)
    .bind(delivery_id)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => Ok(Some(delivery_json(db, webhook_id, delivery_id, &r).await?)),
        None => Ok(None),
    }
}

async fn delivery_json(
    db: &Db,
    webhook_id: &str,
    id: &str,
    r: &sqlx::any::AnyRow,
) -> Result<Value, sqlx::Error> {
    let attempts = sqlx::query(
        "SELECT attempt, url, started_at, status_code, latency_ms, response_excerpt, error \
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let attempts: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.get::<i64, _>(0),
                "url": a.get::<String, _>(1),
                "started_at": iso(a.get(2)),
                "status_code": a.get::<Option<i64>, _>(3),
                "latency_ms": a.get::<i64, _>(4),
                "response_excerpt": a.get::<Option<String>, _>(5),
                "error": a.get::<Option<String>, _>(6),
            })
        })
        .collect();
    let status: String = r.get(7);
    let body: String = r.get(4);
    Ok(json!({
        "id": id,
        "delivery_uuid": id,
        "webhook_id": webhook_id,
        "event_id": r.get::<String, _>(1),
        "event": r.get::<String, _>(2),
        "account_id": r.get::<String, _>(3),
        "idempotency_key": r.get::<Option<String>, _>(5),
        "redelivery_of": r.get::<Option<String>, _>(6),
        "status": status,
        "attempt_count": attempts.len(),
        "next_attempt_at": (status == PENDING && r.get::<i64, _>(9) < HELD).then(|| iso(r.get(9))),
        "held": status == PENDING && r.get::<i64, _>(9) >= HELD,
        "last_error": r.get::<Option<String>, _>(10),
        "delivered_at": r.get::<Option<i64>, _>(11).map(iso),
        "created_at": iso(r.get(12)),
        "request_body": serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        "attempts": attempts,
    }))
}

/// Drops deliveries (with their attempts) and events older than the
/// retention. A delivery still pending then was held that long (endpoint
/// disabled or team out of credits): the schedule itself ends within a day.
/// `now` is the clock (unix ms).
pub async fn prune(db: &Db, retention: Duration, now: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now - retention.as_millis() as i64;
    let mut tx = db.writer.begin().await?;
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
           (SELECT id FROM webhook_deliveries WHERE created_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    let deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE created_at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS \
           (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deliveries)
}

/// The request body every delivery of an event carries, byte for byte:
/// the vendor's envelope `{event, account_id, payload}`.
pub fn envelope(name: &str, account_id: &str, payload: &Value) -> String {
    json!({"event": name, "account_id": account_id, "payload": payload}).to_string()
}

/// A just-recorded event, as fan-out needs it.
pub struct Recorded<'a> {
    pub id: &'a str,
    pub team_id: &'a str,
    pub account_id: &'a str,
    pub name: &'a str,
    pub payload: &'a Value,
    pub ephemeral: bool,
    pub at: i64,
}

/// One delivery [`fan_out_many`] writes: the event, the endpoint's id, the
/// body (shared by the event's deliveries) and the chat order it keeps.
type DeliveryRow<'e, 'r> = (
    &'e Recorded<'r>,
    &'e str,
    std::sync::Arc<String>,
    Option<(String, i64)>,
);

/// [`fan_out`] for many events at once: the endpoints read once per team,
/// the deliveries written with multi-row inserts, in the events' order.
pub async fn fan_out_many(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[Recorded<'_>],
) -> Result<usize, sqlx::Error> {
    let mut hooks_of: std::collections::HashMap<&str, Vec<Webhook>> = Default::default();
    for e in events {
        if !hooks_of.contains_key(e.team_id) {
            hooks_of.insert(e.team_id, store::enabled(tx, e.team_id).await?);
        }
    }
    // (event, endpoint id, body, chat order) of each delivery to write.
    let mut rows: Vec<DeliveryRow> = Vec::new();
    for e in events {
        let hooks: Vec<&Webhook> = hooks_of[e.team_id]
            .iter()
            .filter(|w| w.matches(e.name, e.account_id))
            .collect();
        if hooks.is_empty() {
            continue;
        }
        let body = std::sync::Arc::new(envelope(e.name, e.account_id, e.payload));
        let order = chat_order(e.name, e.payload);
        for hook in hooks {
            rows.push((e, &hook.id, body.clone(), order.clone()));
        }
    }
    const COLUMNS: usize = 12;
    for chunk in rows.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = |k: usize| format!("${}", i * COLUMNS + k);
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, '{PENDING}', 0, {}, 0, {}, {}, {}, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6),
                    p(7),
                    p(8),
                    p(9),
                    p(10),
                    p(10),
                    p(10),
                    p(11),
                    p(12)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, webhook_id, team_id, event_id, event_name, \
               account_id, body, idempotency_key, redelivery_of, status, attempts, next_attempt_at, \
               locked_until, created_at, updated_at, order_key, order_seq) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (e, hook_id, body, order) in chunk {
            q = q
                .bind(new_delivery_id())
                .bind(*hook_id)
                .bind(e.team_id)
                .bind(e.id)
                .bind(e.name)
                .bind(e.account_id)
                .bind(body.as_str())
                .bind((!e.ephemeral).then_some(e.id))
                .bind(None::<String>)
                .bind(e.at)
                .bind(order.as_ref().map(|(k, _)| k.clone()))
                .bind(order.as_ref().map(|(_, n)| *n));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(rows.len())
}

/// The order a delivery keeps: a message sent or received is delivered
/// after every earlier message (by Fansly id) of its chat. Other events
/// keep no order (a deletion or a reaction names an older message; its
/// place is when it happened, which the message id does not say).
pub fn chat_order(name: &str, payload: &Value) -> Option<(String, i64)> {
    if !matches!(name, "fansly.messages.received" | "fansly.messages.sent") {
        return None;
    }
    let text = |k: &str| match payload.get(k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let seq: i64 = text("id")?.parse().ok()?;
    Some((format!("chat:{}", text("groupId")?), seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_retry_after() {
        let schedule = [1_000, 10_000];
        for _ in 0..50 {
            let w = next_wait(&schedule, 1, None).unwrap();
            assert!((500..=1_000).contains(&(w.as_millis() as u64)), "{w:?}");
        }
        let w = next_wait(&schedule, 2, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(w, Duration::from_secs(60));
        assert!(next_wait(&schedule, 3, None).is_none());
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
