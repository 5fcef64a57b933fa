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

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use fansly_upstream::ids::snowflake_at;
use fansly_upstream::{
    Audience, FanslyClient, Gate, GatedMedia, NewMessage, Page, SubscriberStatus, UpstreamError,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use tokio::task::{JoinHandle, JoinSet};

use crate::accounts::ConnectedAccount;
use crate::app::AppState;
use crate::db::{now_ms, Db};
use crate::error::ApiError;

/// Broadcast states, as the API reports them.
pub mod state {
    pub const SCHEDULED: &str = "scheduled";
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const CANCELLED: &str = "cancelled";
    pub const FAILED: &str = "failed";
}

/// Recipient states.
mod recipient {
    pub const PENDING: &str = "pending";
    /// A send was started and may have landed.
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

/// Largest page Fansly serves from list items and subscribers.
const PAGE: u32 = 100;
/// Bounds the audience walk (100 000 members per list or tier).
const MAX_PAGES: u32 = 1_000;
/// Messages of a DM read back to find a send that may have landed.
const RECONCILE_WINDOW: u32 = 10;

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

    fn media(&self) -> Vec<GatedMedia> {
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

const COLUMNS: &str = "id, team_id, account_id, state, spec, scheduled_for, total, sent, failed, \
     last_error, created_at, updated_at, started_at, finished_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Broadcast, ApiError> {
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
// Audience: checked when a broadcast is accepted, resolved when it fires.
// ---------------------------------------------------------------------------

/// Checks that every list, tier and user the audience names exists for this
/// creator: 404 naming the field and id otherwise.
pub async fn check_audience(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    spec: &Spec,
) -> Result<(), ApiError> {
    let up = |e| ApiError::upstream(&account.id, e);
    if !spec.list_ids.is_empty() || !spec.exclude_list_ids.is_empty() {
        let lists = fansly.lists(&account.session).await.map_err(up)?;
        let known = ids_of(&lists, None);
        for (field, ids) in [
            ("listIds", &spec.list_ids),
            ("excludeListIds", &spec.exclude_list_ids),
        ] {
            if let Some(id) = ids.iter().find(|id| !known.contains(*id)) {
                return Err(ApiError::NotFound(format!("{field}: list {id} not found")));
            }
        }
    }
    if !spec.tier_ids.is_empty() {
        let tiers = fansly
            .subscription_tiers(&account.session)
            .await
            .map_err(up)?;
        let known = ids_of(&tiers, None);
        if let Some(id) = spec.tier_ids.iter().find(|id| !known.contains(*id)) {
            return Err(ApiError::NotFound(format!(
                "tierIds: subscription tier {id} not found"
            )));
        }
    }
    for chunk in spec.user_ids.chunks(100) {
        let found = fansly
            .accounts_by_ids(&account.session, chunk)
            .await
            .map_err(up)?;
        let known = ids_of(&found, None);
        if let Some(id) = chunk.iter().find(|id| !known.contains(*id)) {
            return Err(ApiError::NotFound(format!(
                "userIds: Fansly user {id} not found"
            )));
        }
    }
    Ok(())
}

/// Adds the lists and tier of Fansly broadcast audience group `group_id`
/// (type 3) to `spec`: 404 when Fansly does not know it, 422 when it is
/// another kind of group.
pub async fn add_audience_group(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    group_id: &str,
    spec: &mut Spec,
) -> Result<(), ApiError> {
    let audience = fansly
        .broadcast_audience(&account.session, group_id)
        .await
        .map_err(|e| match &e {
            UpstreamError::Api { status: 404, .. } => {
                ApiError::NotFound(format!("groupId: broadcast group {group_id} not found"))
            }
            UpstreamError::Api {
                status: 500,
                details,
                ..
            } if details.starts_with("error getting group") => {
                ApiError::NotFound(format!("groupId: broadcast group {group_id} not found"))
            }
            _ => ApiError::upstream(&account.id, e),
        })?
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "groupId: {group_id} is not a broadcast audience group (type 3)"
            ))
        })?;
    let merge = |into: &mut Vec<String>, from: Vec<String>| {
        for id in from {
            if !into.contains(&id) {
                into.push(id);
            }
        }
    };
    merge(&mut spec.list_ids, audience.include_lists);
    merge(&mut spec.exclude_list_ids, audience.exclude_lists);
    merge(&mut spec.tier_ids, audience.tier_ids);
    Ok(())
}

/// The `id`s of the objects in the array at `key` (or `value` itself).
fn ids_of(value: &Value, key: Option<&str>) -> BTreeSet<String> {
    key.map_or(Some(value), |k| value.get(k))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Why a broadcast could not go on.
enum Stop {
    /// Cancelled, or the lease went to another instance: just stop.
    Quietly,
    /// The broadcast fails as a whole (account unusable, audience gone).
    Fail(String),
    /// The database failed: leave the claim to expire, so this or another
    /// instance resumes the broadcast later.
    Later(String),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Later(format!("database: {e}"))
    }
}

/// Runs `call` until the account's throttle lets it through: a throttle
/// refusal means "wait", never a failure (the broadcast has time).
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, UpstreamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    loop {
        match call().await {
            Err(UpstreamError::Throttled { retry_after }) => {
                tokio::time::sleep(retry_after.max(Duration::from_millis(10))).await
            }
            other => return other,
        }
    }
}

/// Failures that may pass: worth another attempt later.
fn passing(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Timeout(_)
        | UpstreamError::Unreachable(_)
        | UpstreamError::RateLimited { .. }
        | UpstreamError::Throttled { .. }
        | UpstreamError::CoolingDown { .. }
        | UpstreamError::Proxy { .. }
        | UpstreamError::Protocol(_) => true,
        UpstreamError::Api { status, .. } => *status >= 500 || *status == 418 || *status == 429,
        _ => false,
    }
}

/// Failures of the account rather than of one recipient.
fn account_failure(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::NeedsReconnect(_)
            | UpstreamError::Unauthorized { .. }
            | UpstreamError::Rejected(_)
    )
}

/// Every fan the audience names at this moment, sorted and once each:
/// members of the included lists, active subscribers of the tiers and the
/// named users, minus members of the excluded lists and the creator.
async fn resolve_audience(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    spec: &Spec,
) -> Result<Vec<String>, Stop> {
    let fail = |what: String| move |e: UpstreamError| Stop::Fail(format!("{what}: {e}"));
    let mut fans: BTreeSet<String> = spec.user_ids.iter().cloned().collect();
    let list_members = |list_id: String| async move {
        let mut members = Vec::new();
        for n in 0..MAX_PAGES {
            let page = Page {
                limit: PAGE,
                offset: n * PAGE,
            };
            let items = patiently(|| fansly.list_items(&account.session, &list_id, &page))
                .await
                .map_err(|e| match e {
                    UpstreamError::Api { status: 404, .. } => {
                        Stop::Fail(format!("list {list_id} no longer exists"))
                    }
                    e => fail(format!("reading list {list_id}"))(e),
                })?;
            let rows = items.as_array().cloned().unwrap_or_default();
            members.extend(
                rows.iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned)),
            );
            if rows.len() < PAGE as usize {
                break;
            }
        }
        Ok::<_, Stop>(members)
    };
    for list in &spec.list_ids {
        fans.extend(list_members(list.clone()).await?);
    }
    for tier in &spec.tier_ids {
        for n in 0..MAX_PAGES {
            let page = Page {
                limit: PAGE,
                offset: n * PAGE,
            };
            let subs = patiently(|| {
                fansly.subscribers(
                    &account.session,
                    SubscriberStatus::Active,
                    Some(tier),
                    "",
                    &page,
                )
            })
            .await
            .map_err(fail(format!("reading the subscribers of tier {tier}")))?;
            let rows = subs
                .get("subscriptions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            fans.extend(rows.iter().filter_map(|s| {
                s.get("subscriberId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }));
            if rows.len() < PAGE as usize {
                break;
            }
        }
    }
    for list in &spec.exclude_list_ids {
        for member in list_members(list.clone()).await? {
            fans.remove(&member);
        }
    }
    fans.remove(&account.fansly_id);
    Ok(fans.into_iter().collect())
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
    pub fn start(state: AppState) -> Worker {
        let owner = crate::ids::random_id("worker_", 16);
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

async fn run(state: AppState, owner: String) {
    let poll = Duration::from_millis(state.config.broadcasts.poll_ms.max(10));
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
async fn claim_due(state: &AppState, owner: &str) -> Result<Vec<String>, sqlx::Error> {
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
    let lease = state.config.broadcasts.lease_ms as i64;
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
async fn renew(state: &AppState, id: &str, owner: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE broadcasts SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'sending'",
    )
    .bind(now + state.config.broadcasts.lease_ms as i64)
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
    Ok(())
}

async fn load(db: &Db, id: &str) -> Result<Option<Broadcast>, ApiError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

async fn deliver(state: &AppState, id: &str, owner: &str) -> anyhow::Result<()> {
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
    state: &AppState,
    b: &Broadcast,
    account: &ConnectedAccount,
    owner: &str,
) -> Result<(), Stop> {
    let db = &state.db;
    if b.total.is_none() {
        let fans = resolve_audience(&state.fansly, account, &b.spec).await?;
        record_audience(db, &b.id, owner, &fans).await?;
    }
    let settings = &state.config.broadcasts;
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
    state: &AppState,
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
                    let wait = state.config.broadcasts.retry_base_ms as i64;
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
        Err(e) if passing(&e) && attempt < i64::from(state.config.broadcasts.max_attempts) => {
            let base = state.config.broadcasts.retry_base_ms as i64;
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
