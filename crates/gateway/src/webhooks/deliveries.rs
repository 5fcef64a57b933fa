//! Webhook deliveries as stored: one row per event and endpoint, written with
//! the event; claimed with a lease, settled after each attempt (delivered,
//! retry at the next jittered step, or given up), metered per block of
//! delivered events, listed and redelivered through the API, pruned.
//!
//! Durability rests on the database alone: a delivery row exists before
//! anything is sent, a claim is a conditional UPDATE that takes a lease, and
//! a worker that dies holding one simply lets it run out, after which any
//! worker of any instance takes the row again.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use sqlx::Row;

use crate::core::config::WebhookSettings;
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
           created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 0, $11, $11)",
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
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// A delivery a worker holds the lease of.
#[derive(Debug)]
pub struct Claimed {
    pub id: String,
    pub webhook_id: String,
    pub team_id: String,
    pub event_id: String,
    pub body: String,
    pub idempotency_key: Option<String>,
    pub redelivery_of: Option<String>,
    /// This attempt's number, from 1.
    pub attempt: i64,
    pub lease: String,
}

/// Takes the most overdue delivery that may be sent at `now` (unix ms; the
/// workers pass the clock): its endpoint is enabled, and its team can pay
/// for a block of deliveries (a team short of credits has its deliveries
/// wait, not dropped). On PostgreSQL concurrent claimers skip each other's
/// candidate rows; SQLite has one writer anyway.
pub async fn claim(
    db: &Db,
    lease_for: Duration,
    block_cost: i64,
    now: i64,
) -> Result<Option<Claimed>, sqlx::Error> {
    let lease = uuid::Uuid::new_v4().simple().to_string();
    let skip_locked = match db.backend {
        Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET locked_until = $1, lease = $2, attempts = attempts + 1, \
           updated_at = $3 \
         WHERE id = (SELECT d.id FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id \
             JOIN teams t ON t.id = d.team_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 AND d.locked_until <= $3 \
               AND w.enabled = 1 AND t.credits >= $4 \
             ORDER BY d.next_attempt_at LIMIT 1{skip_locked}) \
           AND status = 'pending' AND locked_until <= $3 \
         RETURNING id, webhook_id, team_id, event_id, body, idempotency_key, redelivery_of, attempts"
    ))
    .bind(now + lease_for.as_millis() as i64)
    .bind(&lease)
    .bind(now)
    .bind(block_cost.max(0))
    .fetch_optional(&db.writer)
    .await?;
    Ok(row.map(|r| Claimed {
        id: r.get(0),
        webhook_id: r.get(1),
        team_id: r.get(2),
        event_id: r.get(3),
        body: r.get(4),
        idempotency_key: r.get(5),
        redelivery_of: r.get(6),
        attempt: r.get(7),
        lease,
    }))
}

/// How one attempt went.
#[derive(Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
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

/// Writes the attempt and settles the delivery. A worker whose lease ran
/// out (another took the row over) records its attempt but leaves the row
/// to the new holder.
pub async fn settle(
    db: &Db,
    settings: &WebhookSettings,
    hook: &Webhook,
    d: &Claimed,
    started_at: i64,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, url, started_at, status_code, \
           latency_ms, response_excerpt, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&d.id)
    .bind(d.attempt)
    .bind(&hook.url)
    .bind(started_at)
    .bind(outcome.status.map(i64::from))
    .bind(outcome.latency_ms)
    .bind(&outcome.excerpt)
    .bind(&outcome.error)
    .execute(&mut *tx)
    .await?;

    if outcome.succeeded() {
        let still_ours = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, delivered_at = $2, locked_until = 0, \
               lease = NULL, last_error = NULL, updated_at = $2 WHERE id = $3 AND lease = $4",
        )
        .bind(DELIVERED)
        .bind(now)
        .bind(&d.id)
        .bind(&d.lease)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        sqlx::query(
            "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(&hook.id)
        .execute(&mut *tx)
        .await?;
        if still_ours {
            meter(&mut tx, &d.team_id, &d.id, settings.credits_per_100_events).await?;
        }
        return tx.commit().await;
    }

    let error = outcome.error.clone().unwrap_or_else(|| "failed".into());
    if outcome.status == Some(410) {
        // Gone: stop sending there. The delivery stays pending and goes out
        // if the endpoint is enabled again.
        let why = format!(
            "the endpoint answered 410 Gone at {}; enable it again once it accepts events",
            iso(now)
        );
        release(&mut tx, d, now, &error).await?;
        disable(&mut tx, &hook.id, &why, now).await?;
        return tx.commit().await;
    }
    let failing_since: Option<i64> = sqlx::query(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 \
         RETURNING failing_since",
    )
    .bind(started_at)
    .bind(&hook.id)
    .fetch_optional(&mut *tx)
    .await?
    .and_then(|r| r.get(0));
    match next_wait(&settings.retry_schedule_ms, d.attempt, outcome.retry_after) {
        Some(wait) => {
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1, locked_until = 0, lease = NULL, \
                   last_error = $2, updated_at = $3 WHERE id = $4 AND lease = $5",
            )
            .bind(now + wait.as_millis() as i64)
            .bind(&error)
            .bind(now)
            .bind(&d.id)
            .bind(&d.lease)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, locked_until = 0, lease = NULL, \
                   last_error = $2, updated_at = $3 WHERE id = $4 AND lease = $5",
            )
            .bind(FAILED)
            .bind(format!("gave up after {} attempts: {error}", d.attempt))
            .bind(now)
            .bind(&d.id)
            .bind(&d.lease)
            .execute(&mut *tx)
            .await?;
        }
    }
    if let Some(since) = failing_since {
        if now - since >= settings.disable_after_ms as i64 {
            let why = format!(
                "every delivery failed from {} to {} (last: {error}); enable it again once it accepts events",
                iso(since),
                iso(now)
            );
            disable(&mut tx, &hook.id, &why, now).await?;
        }
    }
    tx.commit().await
}

/// Disables the endpoint and parks its pending deliveries at [`HELD`], out
/// of the claim's range, until it is enabled again.
async fn disable(
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

/// Parks an endpoint's pending deliveries (see [`HELD`]).
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
/// `now` is the clock (unix ms).
pub async fn park_unpaid(
    db: &Db,
    block_cost: i64,
    recheck: Duration,
    now: i64,
) -> Result<u64, sqlx::Error> {
    if block_cost <= 0 {
        return Ok(0);
    }
    let parked = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND locked_until <= $2 \
           AND team_id IN (SELECT id FROM teams WHERE credits < $3)",
    )
    .bind(now + recheck.as_millis() as i64)
    .bind(now)
    .bind(block_cost)
    .execute(&db.writer)
    .await?
    .rows_affected();
    Ok(parked)
}

/// Gives the row back without using up its place in the schedule.
async fn release(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &Claimed,
    now: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET locked_until = 0, lease = NULL, next_attempt_at = $1, \
           last_error = $2, updated_at = $1 WHERE id = $3 AND lease = $4",
    )
    .bind(now)
    .bind(error)
    .bind(&d.id)
    .bind(&d.lease)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts a delivered event and charges a block of credits for every
/// [`BLOCK`] counted. A charge the balance cannot cover stays owed (the
/// counter stays at or above the block) and is taken with a later delivery;
/// meanwhile the claim holds the team's deliveries back.
async fn meter(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
    delivery_id: &str,
    block_cost: i64,
) -> Result<(), sqlx::Error> {
    let mut unbilled: i64 = sqlx::query(
        "INSERT INTO webhook_meter (team_id, unbilled) VALUES ($1, 1) \
         ON CONFLICT (team_id) DO UPDATE SET unbilled = webhook_meter.unbilled + 1 \
         RETURNING unbilled",
    )
    .bind(team_id)
    .fetch_one(&mut **tx)
    .await?
    .get(0);
    while unbilled >= BLOCK {
        if block_cost > 0
            && credits::debit_in(tx, team_id, block_cost, LEDGER_ENDPOINT, Some(delivery_id))
                .await?
                .is_none()
        {
            break;
        }
        unbilled = sqlx::query(
            "UPDATE webhook_meter SET unbilled = unbilled - $1 WHERE team_id = $2 RETURNING unbilled",
        )
        .bind(BLOCK)
        .bind(team_id)
        .fetch_one(&mut **tx)
        .await?
        .get(0);
    }
    Ok(())
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

/// Writes one pending delivery per enabled endpoint of the team that wants
/// the event, inside the transaction recording it. Returns how many.
pub async fn fan_out(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    event: &Recorded<'_>,
) -> Result<usize, sqlx::Error> {
    let hooks: Vec<Webhook> = store::enabled(tx, event.team_id)
        .await?
        .into_iter()
        .filter(|w| w.matches(event.name, event.account_id))
        .collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let body = envelope(event.name, event.account_id, event.payload);
    let key = (!event.ephemeral).then_some(event.id);
    for hook in &hooks {
        insert_delivery(
            tx,
            &NewDelivery {
                webhook_id: &hook.id,
                team_id: event.team_id,
                event_id: event.id,
                event_name: event.name,
                account_id: event.account_id,
                body: &body,
                idempotency_key: key,
                redelivery_of: None,
                at: event.at,
            },
        )
        .await?;
    }
    Ok(hooks.len())
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
