//! Claiming and settling webhook deliveries in batches (issue 12): one
//! statement claims up to a batch of due rows under one lease, and one
//! transaction records every attempt of the batch and settles each row —
//! delivered (and metered), retry at the next jittered step, given up, or
//! released untried. A backlog then costs two transactions per batch
//! instead of two per delivery.
//!
//! Per-chat order: a delivery of a message carries its chat (`order_key`)
//! and its Fansly id (`order_seq`). A row is claimable only when no earlier
//! pending row of the same endpoint and chat is leased, or due later than
//! it; with the claim sorted by `(next_attempt_at, order_seq)` the rows of a
//! chat in one batch are then always the chat's oldest pending ones, and the
//! sender sends them one after another (see `workers/webhook_delivery.rs`).
//! On PostgreSQL the claims of all instances take turns on an advisory lock,
//! so two claims never see the same chat's rows half-leased.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Row;

use crate::core::config::WebhookSettings;
use crate::core::db::{Backend, Db};
use crate::core::time::{iso, now_ms};
use crate::metering::credits;
use crate::webhooks::deliveries::{self, next_wait, BLOCK, DELIVERED, FAILED, LEDGER_ENDPOINT};
use crate::webhooks::store::Webhook;

/// Rows one claim takes at most.
pub const BATCH: i64 = 128;
/// The advisory lock PostgreSQL claims take turns on (any constant the
/// gateway uses for nothing else).
const CLAIM_LOCK: i64 = 0x0f_a5_1e_de;

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
    /// When the delivery was created: the event's recording, for a first delivery.
    pub created_at: i64,
    /// The chat whose order this delivery keeps (`None`: no order).
    pub order_key: Option<String>,
    pub order_seq: Option<i64>,
}

/// Takes up to `limit` of the most overdue deliveries that may be sent at
/// `now` (unix ms; the workers pass the clock): the endpoint is enabled,
/// the team can pay for a block (a team short of credits has its deliveries
/// wait, not dropped), and no earlier delivery of the same chat is in
/// flight or waiting for a retry. The candidates are read in the order of
/// the `webhook_deliveries_claim` index (migration 0018), so the per-chat
/// check runs for the rows up to the limit, not for a whole backlog.
pub async fn claim(
    db: &Db,
    lease_for: Duration,
    block_cost: i64,
    now: i64,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let lease = uuid::Uuid::new_v4().simple().to_string();
    let skip_locked = match db.backend {
        Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = db.writer.begin().await?;
    if db.backend == Backend::Postgres {
        // Claims take turns (SQLite has one writer anyway): a claim sees
        // the leases of the one before it, so a chat's rows are never split
        // between two batches sent at the same time.
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    // The pick is a MATERIALIZED CTE, run once: as a plain `IN (SELECT …
    // LIMIT … FOR UPDATE SKIP LOCKED)` PostgreSQL may plan a nested loop
    // that runs the subquery again per candidate row, each run skipping the
    // rows this statement just leased and locking the next ones, so one
    // claim took a whole backlog (1,626 rows of 2,000 in 562 ms, the other
    // claims waiting on the lock) instead of `limit`.
    let rows = sqlx::query(&format!(
        "WITH picked AS MATERIALIZED (SELECT d.id FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id \
             JOIN teams t ON t.id = d.team_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 AND d.locked_until <= $3 \
               AND w.enabled = 1 AND t.credits >= $4 \
               AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                 WHERE e.webhook_id = d.webhook_id AND e.order_key IS NOT NULL \
                   AND e.order_key = d.order_key AND e.status = 'pending' \
                   AND e.order_seq < d.order_seq \
                   AND (e.locked_until > $3 OR e.next_attempt_at > d.next_attempt_at))) \
             ORDER BY d.next_attempt_at, d.order_seq LIMIT $5{skip_locked}) \
         UPDATE webhook_deliveries SET locked_until = $1, lease = $2, attempts = attempts + 1, \
           updated_at = $3, parked = 0 \
         WHERE id IN (SELECT id FROM picked) AND status = 'pending' AND locked_until <= $3 \
         RETURNING id, webhook_id, team_id, event_id, body, idempotency_key, redelivery_of, attempts, \
           created_at, order_key, order_seq"
    ))
    .bind(now + lease_for.as_millis() as i64)
    .bind(&lease)
    .bind(now)
    .bind(block_cost.max(0))
    .bind(limit.max(1))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut claimed: Vec<Claimed> = rows
        .iter()
        .map(|r| Claimed {
            id: r.get(0),
            webhook_id: r.get(1),
            team_id: r.get(2),
            event_id: r.get(3),
            body: r.get(4),
            idempotency_key: r.get(5),
            redelivery_of: r.get(6),
            attempt: r.get(7),
            lease: lease.clone(),
            created_at: r.get(8),
            order_key: r.get(9),
            order_seq: r.get(10),
        })
        .collect();
    // RETURNING has no order: the claim's own.
    claimed.sort_by_key(|c| (c.created_at, c.order_seq));
    Ok(claimed)
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

/// One attempt to settle: the delivery, its endpoint as sent to, when it
/// started and how it went.
pub struct Attempt<'a> {
    pub d: &'a Claimed,
    pub hook: &'a Webhook,
    pub started_at: i64,
    pub outcome: Outcome,
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records the attempts of one claim and settles their rows, and gives the
/// `released` rows (claimed but not tried, to keep a chat's order) back
/// without using up an attempt, in one transaction. A row whose lease ran
/// out (another worker took it over) gets its attempt recorded but is left
/// to the new holder.
pub async fn settle(
    db: &Db,
    settings: &WebhookSettings,
    attempts: &[Attempt<'_>],
    released: &[&Claimed],
) -> Result<(), sqlx::Error> {
    if attempts.is_empty() && released.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    for chunk in attempts.chunks(64) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(1 + i * 8, 8)))
            .collect();
        let sql = format!(
            "INSERT INTO webhook_attempts (delivery_id, attempt, url, started_at, status_code, \
               latency_ms, response_excerpt, error) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(&a.d.id)
                .bind(a.d.attempt)
                .bind(&a.hook.url)
                .bind(a.started_at)
                .bind(a.outcome.status.map(i64::from))
                .bind(a.outcome.latency_ms)
                .bind(&a.outcome.excerpt)
                .bind(&a.outcome.error);
        }
        q.execute(&mut *tx).await?;
    }

    let delivered: Vec<&Attempt> = attempts.iter().filter(|a| a.outcome.succeeded()).collect();
    for chunk in delivered.chunks(256) {
        let sql = format!(
            "UPDATE webhook_deliveries SET status = $1, delivered_at = $2, locked_until = 0, \
               lease = NULL, last_error = NULL, updated_at = $2 \
             WHERE lease = $3 AND id IN ({}) RETURNING id, team_id",
            placeholders(4, chunk.len())
        );
        let mut q = sqlx::query(&sql)
            .bind(DELIVERED)
            .bind(now)
            .bind(&chunk[0].d.lease);
        for a in chunk {
            q = q.bind(&a.d.id);
        }
        // Only rows still ours are metered.
        let mut by_team: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for r in q.fetch_all(&mut *tx).await? {
            let entry = by_team.entry(r.get(1)).or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = r.get(0);
        }
        let mut hooks: Vec<&str> = chunk.iter().map(|a| a.hook.id.as_str()).collect();
        hooks.sort_unstable();
        hooks.dedup();
        let sql = format!(
            "UPDATE webhooks SET failing_since = NULL \
             WHERE failing_since IS NOT NULL AND id IN ({})",
            placeholders(1, hooks.len())
        );
        let mut q = sqlx::query(&sql);
        for h in &hooks {
            q = q.bind(*h);
        }
        q.execute(&mut *tx).await?;
        for (team, (count, last)) in by_team {
            meter(
                &mut tx,
                &team,
                &last,
                count,
                settings.credits_per_100_events,
            )
            .await?;
        }
    }

    // Endpoints to disable, each once, after every row is settled (so the
    // hold parks every row of theirs, none rescheduled after it).
    let mut disabling: Vec<(&str, String)> = Vec::new();
    for a in attempts.iter().filter(|a| !a.outcome.succeeded()) {
        if let Some(why) = settle_failed(&mut tx, settings, a, now).await? {
            if !disabling.iter().any(|(id, _)| *id == a.hook.id) {
                disabling.push((&a.hook.id, why));
            }
        }
    }

    for chunk in released.chunks(256) {
        let sql = format!(
            "UPDATE webhook_deliveries SET locked_until = 0, lease = NULL, \
               attempts = attempts - 1, updated_at = $1 \
             WHERE lease = $2 AND id IN ({})",
            placeholders(3, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(now).bind(&chunk[0].lease);
        for d in chunk {
            q = q.bind(&d.id);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    // Each endpoint to disable in a transaction of its own, once every row
    // of the batch is settled, with the parking turn taken before any row
    // lock (see `deliveries::take_parking_turn`). A row another worker
    // claims in between fails once more at most; the hold parks it after.
    for (hook, why) in disabling {
        let mut tx = deliveries::parking_turn(db).await?;
        deliveries::disable(&mut tx, hook, &why, now).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Settles one failed attempt: 410 Gone disables the endpoint (the row
/// waits for it, untouched in the schedule); anything else is retried at
/// the next step or given up, and an endpoint failing for
/// `disable_after_ms` is disabled. Answers why the endpoint is to be
/// disabled, which the caller does once per endpoint.
async fn settle_failed(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    settings: &WebhookSettings,
    a: &Attempt<'_>,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let (d, hook, outcome) = (a.d, a.hook, &a.outcome);
    let error = outcome.error.clone().unwrap_or_else(|| "failed".into());
    if outcome.status == Some(410) {
        let why = format!(
            "the endpoint answered 410 Gone at {}; enable it again once it accepts events",
            iso(now)
        );
        sqlx::query(
            "UPDATE webhook_deliveries SET locked_until = 0, lease = NULL, next_attempt_at = $1, \
               last_error = $2, updated_at = $1 WHERE id = $3 AND lease = $4",
        )
        .bind(now)
        .bind(&error)
        .bind(&d.id)
        .bind(&d.lease)
        .execute(&mut **tx)
        .await?;
        return Ok(Some(why));
    }
    let failing_since: Option<i64> = sqlx::query(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 \
         RETURNING failing_since",
    )
    .bind(a.started_at)
    .bind(&hook.id)
    .fetch_optional(&mut **tx)
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
            .execute(&mut **tx)
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
            .execute(&mut **tx)
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
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Counts `count` delivered events and charges a block of credits for every
/// [`BLOCK`] counted. A charge the balance cannot cover stays owed (the
/// counter stays at or above the block) and is taken with a later delivery;
/// meanwhile the claim holds the team's deliveries back.
async fn meter(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
    delivery_id: &str,
    count: i64,
    block_cost: i64,
) -> Result<(), sqlx::Error> {
    let mut unbilled: i64 = sqlx::query(
        "INSERT INTO webhook_meter (team_id, unbilled) VALUES ($1, $2) \
         ON CONFLICT (team_id) DO UPDATE SET unbilled = webhook_meter.unbilled + excluded.unbilled \
         RETURNING unbilled",
    )
    .bind(team_id)
    .bind(count)
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
