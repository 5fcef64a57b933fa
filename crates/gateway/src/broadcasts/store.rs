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
