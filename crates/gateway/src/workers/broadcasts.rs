//! The mass-message fan-out worker: claims due broadcasts with a lease,
//! resolves their audience once, and sends one DM per recipient through the
//! account's throttle, recording each recipient before and after its send so
//! a restart resumes where it stopped.

use std::time::Duration;

use fansly_upstream::{Audience, FanslyClient, NewMessage, UpstreamError};
use serde_json::Value;
use sqlx::Row;
use tokio::task::{JoinHandle, JoinSet};

use crate::accounts::sessions::ConnectedAccount;
use crate::accounts::sessions::Sessions;
use crate::broadcasts::audience::{account_failure, passing, patiently, resolve_audience, Stop};
use crate::broadcasts::store::{from_row, recipient, state, Broadcast, COLUMNS, RECONCILE_WINDOW};
use crate::core::config::BroadcastSettings;
use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::telemetry;
use crate::core::time::now_ms;

/// What the worker uses, handed over by `startup`.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub settings: BroadcastSettings,
}

// ---------------------------------------------------------------------------
// The worker.
// ---------------------------------------------------------------------------

/// The fan-out worker of one gateway instance.
pub struct Worker {
    owner: String,
    task: JoinHandle<()>,
    db: Db,
}

impl Worker {
    /// Starts looking for due broadcasts every `broadcasts.poll_ms`.
    pub fn start(state: Deps) -> Worker {
        let owner = crate::core::ids::random_id("worker_", 16);
        let db = state.db.clone();
        let task = tokio::spawn(run(state, owner.clone()));
        Worker { owner, task, db }
    }

    /// Stops every delivery of this instance and gives its claims back, so
    /// the next instance resumes at once instead of after the lease.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        if let Err(e) = sqlx::query(
            "UPDATE broadcasts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(&self.owner)
        .execute(&self.db.writer)
        .await
        {
            tracing::warn!(error = %e, "releasing broadcast claims failed");
        }
    }
}

async fn run(state: Deps, owner: String) {
    let poll = Duration::from_millis(state.settings.poll_ms.max(10));
    // Deliveries live in this set: aborting the worker aborts them all.
    let mut deliveries: JoinSet<()> = JoinSet::new();
    loop {
        while deliveries.try_join_next().is_some() {}
        match claim_due(&state, &owner).await {
            Ok(ids) => {
                for id in ids {
                    let (state, owner) = (state.clone(), owner.clone());
                    deliveries.spawn(async move {
                        if let Err(e) = deliver(&state, &id, &owner).await {
                            tracing::error!(broadcast = %id, error = %e, "broadcast delivery stopped");
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for due broadcasts failed"),
        }
        tokio::time::sleep(poll).await;
    }
}

/// Claims every due broadcast nobody holds; the ids this instance won.
async fn claim_due(state: &Deps, owner: &str) -> Result<Vec<String>, sqlx::Error> {
    let now = now_ms();
    let db = &state.db;
    let due: Vec<String> = sqlx::query(
        "SELECT id FROM broadcasts WHERE state IN ('scheduled', 'sending') AND due_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY due_at LIMIT 20",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let lease = state.settings.lease_ms as i64;
    let mut won = Vec::new();
    for id in due {
        let claimed = sqlx::query(
            "UPDATE broadcasts SET state = 'sending', lease_owner = $1, lease_until = $2, \
               started_at = COALESCE(started_at, $3), updated_at = $3 \
             WHERE id = $4 AND state IN ('scheduled', 'sending') AND due_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(owner)
        .bind(now + lease)
        .bind(now)
        .bind(&id)
        .execute(&db.writer)
        .await?
        .rows_affected();
        if claimed == 1 {
            won.push(id);
        }
    }
    Ok(won)
}

/// Extends this instance's lease; false when the broadcast was cancelled,
/// deleted, or taken over (then this instance must stop).
async fn renew(state: &Deps, id: &str, owner: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE broadcasts SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'sending'",
    )
    .bind(now + state.settings.lease_ms as i64)
    .bind(id)
    .bind(owner)
    .execute(&state.db.writer)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Ends a broadcast this instance holds.
async fn finish(
    db: &Db,
    id: &str,
    owner: &str,
    end: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE broadcasts SET state = $1, last_error = COALESCE($2, last_error), finished_at = $3, \
           updated_at = $3, lease_owner = NULL, lease_until = NULL \
         WHERE id = $4 AND lease_owner = $5 AND state = 'sending'",
    )
    .bind(end)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(&db.writer)
    .await?;
    metrics::counter!(telemetry::BROADCASTS_FINISHED, "state" => end.to_owned()).increment(1);
    Ok(())
}

async fn load(db: &Db, id: &str) -> Result<Option<Broadcast>, ApiError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

async fn deliver(state: &Deps, id: &str, owner: &str) -> anyhow::Result<()> {
    let Some(b) = load(&state.db, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(());
    };
    let outcome = match state.sessions.connected(&b.team_id, &b.account_id).await {
        Ok(account) => fan_out(state, &b, &account, owner).await,
        Err(e) => Err(Stop::Fail(e.to_string())),
    };
    match outcome {
        Ok(()) | Err(Stop::Quietly) => Ok(()),
        Err(Stop::Later(why)) => {
            tracing::warn!(broadcast = %id, reason = %why, "broadcast paused until its claim expires");
            Ok(())
        }
        Err(Stop::Fail(why)) => {
            tracing::warn!(broadcast = %id, reason = %why, "broadcast failed");
            finish(&state.db, id, owner, state::FAILED, Some(&why)).await?;
            Ok(())
        }
    }
}

struct Pending {
    fan: String,
    state: String,
    attempts: i64,
    group_id: Option<String>,
    attempt_started_at: Option<i64>,
}

async fn fan_out(
    state: &Deps,
    b: &Broadcast,
    account: &ConnectedAccount,
    owner: &str,
) -> Result<(), Stop> {
    let db = &state.db;
    if b.total.is_none() {
        let fans = resolve_audience(&state.fansly, account, &b.spec).await?;
        record_audience(db, &b.id, owner, &fans).await?;
    }
    let settings = &state.settings;
    loop {
        if !renew(state, &b.id, owner).await? {
            return Err(Stop::Quietly);
        }
        let now = now_ms();
        let next = sqlx::query(
            "SELECT fan_id, state, attempts, group_id, attempt_started_at FROM broadcast_recipients \
             WHERE broadcast_id = $1 AND state IN ('pending', 'sending') AND next_attempt_at <= $2 \
             ORDER BY fan_id LIMIT 1",
        )
        .bind(&b.id)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
        let Some(r) = next else {
            let later: Option<i64> = sqlx::query(
                "SELECT MIN(next_attempt_at) FROM broadcast_recipients \
                 WHERE broadcast_id = $1 AND state IN ('pending', 'sending')",
            )
            .bind(&b.id)
            .fetch_one(&db.pool)
            .await?
            .get(0);
            match later {
                Some(at) => {
                    // Sleep in slices so the lease stays renewed.
                    let slice = (settings.lease_ms / 3).max(10) as i64;
                    let wait = (at - now).clamp(1, slice);
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    continue;
                }
                None => {
                    let row = load(db, &b.id)
                        .await
                        .map_err(|e| Stop::Later(e.to_string()))?;
                    let all_failed = row.as_ref().is_some_and(|r| r.sent == 0 && r.failed > 0);
                    let (end, why) = if all_failed {
                        (state::FAILED, Some("every recipient failed"))
                    } else {
                        (state::SENT, None)
                    };
                    finish(db, &b.id, owner, end, why).await?;
                    return Ok(());
                }
            }
        };
        let p = Pending {
            fan: r.get(0),
            state: r.get(1),
            attempts: r.get(2),
            group_id: r.get(3),
            attempt_started_at: r.get(4),
        };
        send_one(state, b, account, &p).await?;
    }
}

/// Writes the recipients and the total in one transaction, once: only the
/// lease holder of a broadcast without a total may.
async fn record_audience(db: &Db, id: &str, owner: &str, fans: &[String]) -> Result<(), Stop> {
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    let mine = sqlx::query(
        "UPDATE broadcasts SET total = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND state = 'sending' AND total IS NULL",
    )
    .bind(fans.len() as i64)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if mine != 1 {
        tx.rollback().await?;
        return Err(Stop::Quietly);
    }
    for fan in fans {
        sqlx::query(
            "INSERT INTO broadcast_recipients (broadcast_id, fan_id, state, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (broadcast_id, fan_id) DO NOTHING",
        )
        .bind(id)
        .bind(fan)
        .bind(recipient::PENDING)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One recipient: find-or-create the DM, grant the media for this fan,
/// send, record. Passing failures are retried later with backoff; a
/// recipient Fansly refuses is recorded as failed.
async fn send_one(
    state: &Deps,
    b: &Broadcast,
    account: &ConnectedAccount,
    p: &Pending,
) -> Result<(), Stop> {
    let fansly = &state.fansly;
    let db = &state.db;
    // A send that was started may have landed: look before sending again.
    if p.state == recipient::SENDING {
        if let Some(group) = &p.group_id {
            let since = p.attempt_started_at.unwrap_or(0);
            match landed(fansly, account, group, &b.spec.text, since).await {
                Ok(Some(message_id)) => return record_sent(db, &b.id, &p.fan, &message_id).await,
                Ok(None) => {}
                // Not knowing is no reason to risk a second copy: look again later.
                Err(e) if passing(&e) => {
                    let wait = state.settings.retry_base_ms as i64;
                    return retry_later(db, &b.id, &p.fan, wait, &e).await;
                }
                Err(e) if account_failure(&e) => {
                    return Err(Stop::Fail(format!("account {}: {e}", account.id)))
                }
                // The DM cannot be read (gone): the send below finds out.
                Err(_) => {}
            }
        }
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1, \
           attempt_started_at = $1, updated_at = $1 WHERE broadcast_id = $2 AND fan_id = $3",
    )
    .bind(now)
    .bind(&b.id)
    .bind(&p.fan)
    .execute(&db.writer)
    .await?;
    let attempt = p.attempts + 1;
    let result = async {
        let group = match &p.group_id {
            Some(g) => g.clone(),
            None => {
                let g = patiently(|| fansly.create_group(&account.session, &account.fansly_id, &p.fan))
                    .await?;
                let g = g
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("Fansly answered the DM creation without an id".into())
                    })?;
                sqlx::query(
                    "UPDATE broadcast_recipients SET group_id = $1 WHERE broadcast_id = $2 AND fan_id = $3",
                )
                .bind(&g)
                .bind(&b.id)
                .bind(&p.fan)
                .execute(&db.writer)
                .await
                .map_err(|e| UpstreamError::Protocol(format!("database: {e}")))?;
                g
            }
        };
        let media = b.spec.media();
        // One file is one accountMedia, several one bundle (attach.rs).
        let attachments = if media.is_empty() {
            Vec::new()
        } else {
            let gates = b.spec.gates();
            let audience = Audience::Dm {
                me: &account.fansly_id,
                fan: &p.fan,
            };
            patiently(|| fansly.attach_media(&account.session, &media, audience, &gates))
                .await?
                .into_iter()
                .collect()
        };
        let msg = NewMessage {
            group_id: group,
            content: b.spec.text.clone(),
            attachments,
            in_reply_to: None,
        };
        let sent = patiently(|| fansly.send_message(&account.session, &msg)).await?;
        sent.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Protocol("Fansly answered the message without an id".into()))
    }
    .await;
    match result {
        Ok(message_id) => record_sent(db, &b.id, &p.fan, &message_id).await,
        Err(e) if account_failure(&e) => Err(Stop::Fail(format!("account {}: {e}", account.id))),
        Err(e) if passing(&e) && attempt < i64::from(state.settings.max_attempts) => {
            let base = state.settings.retry_base_ms as i64;
            let wait = base.saturating_mul(1 << (attempt - 1).clamp(0, 16));
            let wait = match &e {
                UpstreamError::RateLimited {
                    retry_after: Some(after),
                } => wait.max(after.as_millis() as i64),
                _ => wait,
            };
            retry_later(db, &b.id, &p.fan, wait, &e).await
        }
        Err(e) => record_failed(db, &b.id, &p.fan, &e.to_string()).await,
    }
}

/// Leaves the recipient for another attempt in `wait_ms`, noting why.
async fn retry_later(
    db: &Db,
    id: &str,
    fan: &str,
    wait_ms: i64,
    e: &UpstreamError,
) -> Result<(), Stop> {
    let now = now_ms();
    sqlx::query(
        "UPDATE broadcast_recipients SET next_attempt_at = $1, error = $2, updated_at = $3 \
         WHERE broadcast_id = $4 AND fan_id = $5",
    )
    .bind(now + wait_ms)
    .bind(e.to_string())
    .bind(now)
    .bind(id)
    .bind(fan)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// The id of a message this account sent to `group` at or after `since_ms`
/// with `text`, if Fansly has one (a send whose answer was lost).
async fn landed(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    group: &str,
    text: &str,
    since_ms: i64,
) -> Result<Option<String>, UpstreamError> {
    let page =
        patiently(|| fansly.messages(&account.session, group, None, RECONCILE_WINDOW)).await?;
    let found = page
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("senderId").and_then(Value::as_str) == Some(account.fansly_id.as_str())
                && m.get("content").and_then(Value::as_str) == Some(text)
                // Fansly's createdAt is in seconds.
                && m.get("createdAt").and_then(Value::as_f64).is_some_and(|s| {
                    (s * 1000.0) as i64 >= since_ms - 1000
                })
        })
        .and_then(|m| m.get("id").and_then(Value::as_str).map(str::to_owned));
    Ok(found)
}

async fn record_sent(db: &Db, id: &str, fan: &str, message_id: &str) -> Result<(), Stop> {
    settle(db, id, fan, recipient::SENT, Some(message_id), None).await
}

async fn record_failed(db: &Db, id: &str, fan: &str, error: &str) -> Result<(), Stop> {
    settle(db, id, fan, recipient::FAILED, None, Some(error)).await
}

/// The recipient's outcome and the broadcast's counter, in one transaction;
/// a recipient already settled is never counted twice.
async fn settle(
    db: &Db,
    id: &str,
    fan: &str,
    outcome: &str,
    message_id: Option<&str>,
    error: Option<&str>,
) -> Result<(), Stop> {
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    let changed = sqlx::query(
        "UPDATE broadcast_recipients SET state = $1, message_id = $2, error = $3, updated_at = $4 \
         WHERE broadcast_id = $5 AND fan_id = $6 AND state IN ('pending', 'sending')",
    )
    .bind(outcome)
    .bind(message_id)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(fan)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 1 {
        let counter = if outcome == recipient::SENT {
            "UPDATE broadcasts SET sent = sent + 1, updated_at = $1 WHERE id = $2"
        } else {
            "UPDATE broadcasts SET failed = failed + 1, updated_at = $1 WHERE id = $2"
        };
        sqlx::query(counter)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if changed == 1 {
        let result = if outcome == recipient::SENT {
            "sent"
        } else {
            "failed"
        };
        metrics::counter!(telemetry::BROADCAST_RECIPIENTS, "result" => result).increment(1);
    }
    Ok(())
}
