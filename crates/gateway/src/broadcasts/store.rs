//! Mass messages (broadcasts): stored, scheduled and fanned out by the
//! gateway itself, one DM per recipient through the account's throttle.
//!
//! Why not Fansly's own `POST /message/broadcast` (spec §6.5): its body and
//! answer are INFERRED, and a single upstream call gives no per-recipient
//! record, so restart safety, exactly-once delivery, progress, edit and
//! cancel could not be guaranteed. The price is N upstream writes (two per
//! recipient, three with media) paced by the throttle instead of one.
//!
//! Life of a broadcast: `scheduled` → (claimed when due) `sending` → `sent`
//! | `failed`, or `cancelled` from either of the first two. A claim is a
//! lease (`lease_owner`, `lease_until`) taken by one conditional UPDATE, so
//! two instances never work on the same broadcast and a crashed instance's
//! claim is taken over once it expires. The audience is resolved once, at
//! the first claim, and written as recipient rows in one transaction; each
//! recipient is then marked before its send and recorded right after, so a
//! restart resumes where it stopped. A recipient left mid-send (`sending`)
//! is first looked for in its DM before anything is sent again.

use std::collections::BTreeMap;

use fansly_upstream::ids::snowflake_at;
use fansly_upstream::{Gate, GatedMedia};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::time::now_ms;

/// Broadcast states, as the API reports them.
pub mod state {
    pub const SCHEDULED: &str = "scheduled";
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const CANCELLED: &str = "cancelled";
    pub const FAILED: &str = "failed";
}

/// Recipient states.
pub mod recipient {
    pub const PENDING: &str = "pending";
    /// A send was started and may have landed.
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

/// Largest page Fansly serves from list items and subscribers.
pub const PAGE: u32 = 100;
/// Bounds the audience walk (100 000 members per list or tier).
pub const MAX_PAGES: u32 = 1_000;
/// Messages of a DM read back to find a send that may have landed.
pub const RECONCILE_WINDOW: u32 = 10;

/// What a broadcast sends and to whom, as the client gave it (handles and
/// ids), plus the vault media the handles resolved to.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub text: String,
    pub media_files: Vec<String>,
    pub previews: BTreeMap<String, String>,
    pub require_purchase: bool,
    pub require_subscription: bool,
    pub require_follow: bool,
    pub price: Option<i64>,
    pub list_ids: Vec<String>,
    pub exclude_list_ids: Vec<String>,
    pub tier_ids: Vec<String>,
    pub user_ids: Vec<String>,
    /// The Fansly broadcast audience group the lists and tier came from.
    pub group_id: Option<String>,
    /// Vault media ids, in `media_files` order.
    pub vault_media: Vec<String>,
    /// Vault media id of each file's preview, in `media_files` order.
    pub vault_previews: Vec<Option<String>>,
}

impl Spec {
    /// The gates of the media. The vendor documents that media sent without
    /// any gate is subscription-gated (Send Mass Message's note), so that is
    /// the default here.
    pub fn gates(&self) -> Vec<Gate> {
        let mut gates = Vec::new();
        if self.require_purchase {
            if let Some(price) = self.price {
                gates.push(Gate::Purchase(price));
            }
        }
        if self.require_subscription {
            gates.push(Gate::Subscribers);
        }
        if self.require_follow {
            gates.push(Gate::Followers);
        }
        if gates.is_empty() && !self.vault_media.is_empty() {
            gates.push(Gate::Subscribers);
        }
        gates
    }

    pub fn media(&self) -> Vec<GatedMedia> {
        self.vault_media
            .iter()
            .enumerate()
            .map(|(i, m)| GatedMedia {
                media_id: m.clone(),
                preview_id: self.vault_previews.get(i).cloned().flatten(),
            })
            .collect()
    }
}

/// One stored broadcast.
#[derive(Clone, Debug)]
pub struct Broadcast {
    pub id: String,
    pub team_id: String,
    pub account_id: String,
    pub state: String,
    pub spec: Spec,
    pub scheduled_for: Option<i64>,
    pub total: Option<i64>,
    pub sent: i64,
    pub failed: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

pub const COLUMNS: &str =
    "id, team_id, account_id, state, spec, scheduled_for, total, sent, failed, \
     last_error, created_at, updated_at, started_at, finished_at";

pub fn from_row(r: &sqlx::any::AnyRow) -> Result<Broadcast, ApiError> {
    let spec: String = r.get(4);
    let spec = serde_json::from_str(&spec)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored broadcast spec: {e}")))?;
    Ok(Broadcast {
        id: r.get(0),
        team_id: r.get(1),
        account_id: r.get(2),
        state: r.get(3),
        spec,
        scheduled_for: r.get(5),
        total: r.get(6),
        sent: r.get(7),
        failed: r.get(8),
        last_error: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
        started_at: r.get(12),
        finished_at: r.get(13),
    })
}

impl Broadcast {
    /// The API's view (our shape: the vendor's is unknown).
    pub fn to_json(&self) -> Value {
        let s = &self.spec;
        let pending = self.total.map(|t| (t - self.sent - self.failed).max(0));
        json!({
            "id": self.id,
            "accountId": self.account_id,
            "state": self.state,
            "text": s.text,
            "mediaFiles": s.media_files,
            "previews": s.previews,
            "requirePurchase": s.require_purchase,
            "requireSubscription": s.require_subscription,
            "requireFollow": s.require_follow,
            "price": s.price,
            "listIds": s.list_ids,
            "excludeListIds": s.exclude_list_ids,
            "tierIds": s.tier_ids,
            "userIds": s.user_ids,
            "groupId": s.group_id,
            "scheduledFor": self.scheduled_for,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "pending": pending,
            "lastError": self.last_error,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        })
    }
}

/// A new broadcast id shaped like Fansly's: a snowflake on Fansly's epoch
/// with random low bits.
fn new_id(now: i64) -> String {
    snowflake_at(now, rand::thread_rng().gen::<u64>()).to_string()
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("broadcast {id} not found"))
}

/// Stores a broadcast, due at `scheduled_for` or now.
pub async fn create(
    db: &Db,
    team_id: &str,
    account_id: &str,
    spec: &Spec,
    scheduled_for: Option<i64>,
) -> Result<Broadcast, ApiError> {
    let now = now_ms();
    let id = new_id(now);
    let spec_json = serde_json::to_string(spec).map_err(|e| ApiError::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO broadcasts (id, team_id, account_id, state, spec, scheduled_for, due_at, \
           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(account_id)
    .bind(state::SCHEDULED)
    .bind(spec_json)
    .bind(scheduled_for)
    .bind(scheduled_for.unwrap_or(now))
    .bind(now)
    .execute(&db.writer)
    .await?;
    get(db, team_id, account_id, &id).await
}

/// The team's broadcast `id` of `account_id`; another team's or account's is
/// a 404 like a missing one.
pub async fn get(
    db: &Db,
    team_id: &str,
    account_id: &str,
    id: &str,
) -> Result<Broadcast, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM broadcasts WHERE id = $1 AND team_id = $2 AND account_id = $3"
    ))
    .bind(id)
    .bind(team_id)
    .bind(account_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| not_found(id))?;
    from_row(&row)
}

/// Broadcasts still to send or being sent, soonest first.
pub async fn pending(db: &Db, team_id: &str, account_id: &str) -> Result<Vec<Broadcast>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM broadcasts WHERE team_id = $1 AND account_id = $2 \
         AND state IN ('scheduled', 'sending') ORDER BY due_at, id"
    ))
    .bind(team_id)
    .bind(account_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Up to `limit` recipients that failed, with why.
pub async fn failures(db: &Db, id: &str, limit: i64) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "SELECT fan_id, error, attempts FROM broadcast_recipients \
         WHERE broadcast_id = $1 AND state = 'failed' ORDER BY fan_id LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "userId": r.get::<String, _>(0),
                "error": r.get::<Option<String>, _>(1),
                "attempts": r.get::<i64, _>(2),
            })
        })
        .collect())
}

/// Replaces the content, audience or schedule of a broadcast that has not
/// started (409 once it has: the claim and this update are both conditional
/// on `scheduled`, so they cannot both win).
pub async fn update(
    db: &Db,
    current: &Broadcast,
    spec: &Spec,
    scheduled_for: Option<i64>,
) -> Result<Broadcast, ApiError> {
    let now = now_ms();
    let spec_json = serde_json::to_string(spec).map_err(|e| ApiError::Internal(e.into()))?;
    let done = sqlx::query(
        "UPDATE broadcasts SET spec = $1, scheduled_for = $2, due_at = $3, updated_at = $4 \
         WHERE id = $5 AND team_id = $6 AND state = 'scheduled'",
    )
    .bind(spec_json)
    .bind(scheduled_for)
    .bind(scheduled_for.unwrap_or(now))
    .bind(now)
    .bind(&current.id)
    .bind(&current.team_id)
    .execute(&db.writer)
    .await?
    .rows_affected();
    let after = get(db, &current.team_id, &current.account_id, &current.id).await?;
    if done == 0 {
        return Err(not_editable(&after));
    }
    Ok(after)
}

pub fn not_editable(b: &Broadcast) -> ApiError {
    ApiError::Conflict(format!(
        "broadcast {} is {}; only a scheduled broadcast can be edited",
        b.id, b.state
    ))
}

/// Cancels a broadcast that is scheduled (nothing is sent) or sending (the
/// worker stops before its next recipient). 409 once it has ended.
pub async fn cancel(db: &Db, current: &Broadcast) -> Result<Broadcast, ApiError> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE broadcasts SET state = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE id = $2 AND team_id = $3 AND state IN ('scheduled', 'sending')",
    )
    .bind(now)
    .bind(&current.id)
    .bind(&current.team_id)
    .execute(&db.writer)
    .await?
    .rows_affected();
    let after = get(db, &current.team_id, &current.account_id, &current.id).await?;
    if done == 0 {
        return Err(ApiError::Conflict(format!(
            "broadcast {} is already {}; only a scheduled or sending broadcast can be cancelled",
            after.id, after.state
        )));
    }
    Ok(after)
}

// ---------------------------------------------------------------------------
// The fan-out's records: claims (leases) on broadcasts, and recipients.
// The worker (`workers::broadcasts`) decides; these read and write.
// ---------------------------------------------------------------------------

/// Claims every broadcast due at `now` that nobody holds, for `lease_ms`;
/// the ids `owner` won (at most 20 per call).
pub async fn claim_due(
    db: &Db,
    owner: &str,
    lease_ms: i64,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
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
    let mut won = Vec::new();
    for id in due {
        let claimed = sqlx::query(
            "UPDATE broadcasts SET state = 'sending', lease_owner = $1, lease_until = $2, \
               started_at = COALESCE(started_at, $3), updated_at = $3 \
             WHERE id = $4 AND state IN ('scheduled', 'sending') AND due_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(owner)
        .bind(now + lease_ms)
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

/// Extends `owner`'s lease on `id`; false when the broadcast was cancelled,
/// deleted, or taken over (then its holder must stop).
pub async fn renew(db: &Db, id: &str, owner: &str, lease_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE broadcasts SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'sending'",
    )
    .bind(now_ms() + lease_ms)
    .bind(id)
    .bind(owner)
    .execute(&db.writer)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Gives back `owner`'s claims (all of them, or only the one on `id`), so
/// the next claimer takes them at once instead of after the lease.
pub async fn release(db: &Db, owner: &str, id: Option<&str>) -> Result<(), sqlx::Error> {
    let query = match id {
        Some(id) => sqlx::query(
            "UPDATE broadcasts SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1 AND id = $2",
        )
        .bind(owner)
        .bind(id),
        None => sqlx::query(
            "UPDATE broadcasts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner),
    };
    query.execute(&db.writer).await?;
    Ok(())
}

/// Ends a broadcast `owner` holds, in state `end`.
pub async fn finish(
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
    Ok(())
}

/// A broadcast by id, whatever its team.
pub async fn load(db: &Db, id: &str) -> Result<Option<Broadcast>, ApiError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes the recipients and the total in one transaction, once: only the
/// lease holder of a broadcast without a total may (false otherwise).
pub async fn record_audience(
    db: &Db,
    id: &str,
    owner: &str,
    fans: &[String],
) -> Result<bool, sqlx::Error> {
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
        return Ok(false);
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
    Ok(true)
}

/// A recipient still to be sent.
pub struct Pending {
    pub fan: String,
    pub state: String,
    pub attempts: i64,
    pub group_id: Option<String>,
    pub attempt_started_at: Option<i64>,
}

/// The next recipient due at `now`, by fan id.
pub async fn next_due(db: &Db, id: &str, now: i64) -> Result<Option<Pending>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT fan_id, state, attempts, group_id, attempt_started_at FROM broadcast_recipients \
         WHERE broadcast_id = $1 AND state IN ('pending', 'sending') AND next_attempt_at <= $2 \
         ORDER BY fan_id LIMIT 1",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| Pending {
        fan: r.get(0),
        state: r.get(1),
        attempts: r.get(2),
        group_id: r.get(3),
        attempt_started_at: r.get(4),
    }))
}

/// When the earliest unsettled recipient is due; `None` when all are settled.
pub async fn next_attempt_at(db: &Db, id: &str) -> Result<Option<i64>, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT MIN(next_attempt_at) FROM broadcast_recipients \
         WHERE broadcast_id = $1 AND state IN ('pending', 'sending')",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await?
    .get(0))
}

/// Marks the recipient as being sent (one more attempt, started at `now`).
pub async fn start_attempt(db: &Db, id: &str, fan: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1, \
           attempt_started_at = $1, updated_at = $1 WHERE broadcast_id = $2 AND fan_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(fan)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Remembers the recipient's DM group.
pub async fn set_group(db: &Db, id: &str, fan: &str, group: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE broadcast_recipients SET group_id = $1 WHERE broadcast_id = $2 AND fan_id = $3",
    )
    .bind(group)
    .bind(id)
    .bind(fan)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Leaves the recipient for another attempt in `wait_ms`, noting why.
pub async fn retry_later(
    db: &Db,
    id: &str,
    fan: &str,
    wait_ms: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE broadcast_recipients SET next_attempt_at = $1, error = $2, updated_at = $3 \
         WHERE broadcast_id = $4 AND fan_id = $5",
    )
    .bind(now + wait_ms)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(fan)
    .execute(&db.writer)
    .await?;
    Ok(())
}

pub async fn record_sent(
    db: &Db,
    id: &str,
    fan: &str,
    message_id: &str,
) -> Result<(), sqlx::Error> {
    settle(db, id, fan, recipient::SENT, Some(message_id), None).await
}

pub async fn record_failed(db: &Db, id: &str, fan: &str, error: &str) -> Result<(), sqlx::Error> {
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
) -> Result<(), sqlx::Error> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_without_gates_is_for_subscribers() {
        let mut s = Spec {
            vault_media: vec!["1".into()],
            vault_previews: vec![None],
            ..Spec::default()
        };
        assert_eq!(s.gates(), vec![Gate::Subscribers]);
        s.require_purchase = true;
        s.price = Some(5000);
        assert_eq!(s.gates(), vec![Gate::Purchase(5000)]);
        let text_only = Spec::default();
        assert!(text_only.gates().is_empty());
    }

    #[test]
    fn ids_look_like_fansly_snowflakes() {
        let id = new_id(1_800_000_000_000);
        assert!(fansly_upstream::ids::is_snowflake(&id), "{id}");
        let ms = fansly_upstream::ids::snowflake_time_ms(id.parse().unwrap());
        assert_eq!(ms, 1_800_000_000_000);
    }
}
