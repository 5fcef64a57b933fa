//! Data exports as stored: the `data_exports` row (request, status,
//! progress, credits, lease) and its result rows, with every SQL statement
//! the exports use.

use serde_json::{json, Value};
use sqlx::Row;

use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::time::{iso, now_ms};

/// `status` values, as the vendor names them.
pub mod status {
    /// Created with `auto_start: false`; waits for `POST …/start`.
    pub const PENDING: &str = "pending";
    pub const QUEUED: &str = "queued";
    pub const PROCESSING: &str = "processing";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
}

/// The one export type of the vendor's that concerns Fansly.
pub const CHAT_MESSAGES: &str = "fansly_chat_messages";

/// Columns of a CSV download, in order (also the keys of each JSON line).
pub const COLUMNS: [&str; 9] = [
    "account_id",
    "chat_id",
    "partner_id",
    "partner_username",
    "message_id",
    "sender_id",
    "created_at",
    "content",
    "attachment_count",
];

pub const CREDIT_NOTE: &str =
    "1 credit per started 1,000 exported messages, charged while the export runs; creating, listing and downloading are free";

/// Export `options`: `maxMessages` (required), `maxChats`, `chatIds`.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub max_messages: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chats: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct Export {
    pub id: String,
    pub team_id: String,
    pub export_type: String,
    pub account_ids: Vec<String>,
    pub file_type: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub options: Options,
    pub status: String,
    pub chats_total: i64,
    pub chats_done: i64,
    pub rows_processed: i64,
    pub credits_charged: i64,
    pub failed_reason: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub expires_at: Option<i64>,
}

const SELECT: &str = "SELECT id, team_id, export_type, account_ids, file_type, start_ms, end_ms, \
     options, status, chats_total, chats_done, rows_processed, credits_charged, failed_reason, \
     created_at, started_at, completed_at, failed_at, expires_at FROM data_exports";

fn from_row(r: &sqlx::any::AnyRow) -> Export {
    let accounts: String = r.get(3);
    let options: String = r.get(7);
    Export {
        id: r.get(0),
        team_id: r.get(1),
        export_type: r.get(2),
        account_ids: serde_json::from_str(&accounts).unwrap_or_default(),
        file_type: r.get(4),
        start_ms: r.get(5),
        end_ms: r.get(6),
        options: serde_json::from_str(&options).unwrap_or(Options {
            max_messages: 0,
            max_chats: None,
            chat_ids: None,
        }),
        status: r.get(8),
        chats_total: r.get(9),
        chats_done: r.get(10),
        rows_processed: r.get(11),
        credits_charged: r.get(12),
        failed_reason: r.get(13),
        created_at: r.get(14),
        started_at: r.get(15),
        completed_at: r.get(16),
        failed_at: r.get(17),
        expires_at: r.get(18),
    }
}

impl Export {
    /// Done as a percentage: chats finished, or messages against
    /// `maxMessages` when that is nearer.
    pub fn progress(&self) -> i64 {
        match self.status.as_str() {
            status::COMPLETED => 100,
            status::PENDING | status::QUEUED => 0,
            _ => {
                let by_chats = if self.chats_total > 0 {
                    self.chats_done * 100 / self.chats_total
                } else {
                    0
                };
                let by_rows = self.rows_processed * 100 / self.options.max_messages.max(1);
                by_chats.max(by_rows).min(99)
            }
        }
    }

    /// The vendor's export object (Retrieve Export's fields).
    pub fn to_json(&self, accounts: &[(String, String)], public_url: &str) -> Value {
        let when = |ms: Option<i64>| ms.map(iso);
        let done = self.status == status::COMPLETED;
        json!({
            "id": self.id,
            "type": self.export_type,
            "status": self.status,
            "file_type": self.file_type,
            "start_date": iso(self.start_ms),
            "end_date": iso(self.end_ms),
            "options": self.options,
            "accounts": accounts.iter().map(|(id, name)| json!({"id": id, "display_name": name})).collect::<Vec<_>>(),
            "requires_scraping": true,
            "credit_calculation_note": CREDIT_NOTE,
            "credit_cost": self.credits_charged,
            "export_columns": COLUMNS,
            "progress_percentage": self.progress(),
            "rows_processed": self.rows_processed,
            "total_rows": if done { Some(self.rows_processed) } else { None },
            "chats_processed": self.chats_done,
            "chats_total": self.chats_total,
            "failed_downloads": 0,
            "failed_reason": self.failed_reason,
            "created_at": iso(self.created_at),
            "started_at": when(self.started_at),
            "completed_at": when(self.completed_at),
            "failed_at": when(self.failed_at),
            "expires_at": when(self.expires_at),
            "download_url": done.then(|| format!("{public_url}/api/data-exports/{}/download", self.id)),
        })
    }
}

pub struct NewExport<'a> {
    pub id: &'a str,
    pub team_id: &'a str,
    pub account_ids: &'a [String],
    pub file_type: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub options: &'a Options,
    pub auto_start: bool,
}

pub async fn insert(db: &Db, new: &NewExport<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO data_exports (id, team_id, export_type, account_ids, file_type, start_ms, \
           end_ms, options, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(new.id)
    .bind(new.team_id)
    .bind(CHAT_MESSAGES)
    .bind(serde_json::to_string(new.account_ids).unwrap_or_default())
    .bind(new.file_type)
    .bind(new.start_ms)
    .bind(new.end_ms)
    .bind(serde_json::to_string(new.options).unwrap_or_default())
    .bind(if new.auto_start {
        status::QUEUED
    } else {
        status::PENDING
    })
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Exports of the team that are pending, queued or running.
pub async fn count_active(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM data_exports WHERE team_id = $1 AND status IN ($2, $3, $4)",
    )
    .bind(team_id)
    .bind(status::PENDING)
    .bind(status::QUEUED)
    .bind(status::PROCESSING)
    .fetch_one(&db.pool)
    .await
}

/// The team's export, or 404 (another team's looks like a missing one).
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Export, ApiError> {
    sqlx::query(&format!("{SELECT} WHERE id = $1 AND team_id = $2"))
        .bind(id)
        .bind(team_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| from_row(&r))
        .ok_or_else(|| ApiError::NotFound(format!("data export {id} not found")))
}

/// The team's exports, newest first.
pub async fn list(
    db: &Db,
    team_id: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<Export>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE team_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(team_id)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Moves the export from one of `from` to `queued` (start, retry); false
/// when it was in none of them.
pub async fn requeue(db: &Db, team_id: &str, id: &str, from: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE data_exports SET status = $1, failed_reason = NULL, failed_at = NULL, \
           expires_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $2 \
         WHERE id = $3 AND team_id = $4 AND status = $5",
    )
    .bind(status::QUEUED)
    .bind(now_ms())
    .bind(id)
    .bind(team_id)
    .bind(from)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the export and its rows (a running one stops at its next page).
pub async fn delete(db: &Db, team_id: &str, id: &str) -> Result<(), ApiError> {
    get(db, team_id, id).await?;
    sqlx::query("DELETE FROM data_export_rows WHERE export_id = $1")
        .bind(id)
        .execute(&db.writer)
        .await?;
    sqlx::query("DELETE FROM data_exports WHERE id = $1 AND team_id = $2")
        .bind(id)
        .bind(team_id)
        .execute(&db.writer)
        .await?;
    Ok(())
}

/// Claims one export that is queued, or running under a lapsed lease (its
/// instance stopped), for `owner` until `lease_ms` from now.
pub async fn claim_next(
    db: &Db,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<Export>, sqlx::Error> {
    let now = now_ms();
    let candidates: Vec<String> = sqlx::query(
        "SELECT id FROM data_exports WHERE status = $1 \
            OR (status = $2 AND (lease_until IS NULL OR lease_until < $3)) \
         ORDER BY created_at LIMIT 10",
    )
    .bind(status::QUEUED)
    .bind(status::PROCESSING)
    .bind(now)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    for id in candidates {
        let won = sqlx::query(
            "UPDATE data_exports SET status = $1, lease_owner = $2, lease_until = $3, \
               started_at = $4, chats_total = 0, chats_done = 0, rows_processed = 0, updated_at = $4 \
             WHERE id = $5 AND (status = $6 OR (status = $1 AND (lease_until IS NULL OR lease_until < $4)))",
        )
        .bind(status::PROCESSING)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(&id)
        .bind(status::QUEUED)
        .execute(&db.writer)
        .await?
        .rows_affected()
            == 1;
        if won {
            // A run taken over starts again from the first chat.
            sqlx::query("DELETE FROM data_export_rows WHERE export_id = $1")
                .bind(&id)
                .execute(&db.writer)
                .await?;
            return sqlx::query(&format!("{SELECT} WHERE id = $1"))
                .bind(&id)
                .fetch_optional(&db.pool)
                .await
                .map(|r| r.map(|r| from_row(&r)));
        }
    }
    Ok(None)
}

/// What became of a batch of rows.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    Kept,
    /// The export is no longer this owner's (deleted, taken over).
    Lost,
    /// The team cannot pay for these rows; nothing was written.
    OutOfCredits,
}

/// Progress of a run, written with each batch.
pub struct Progress {
    pub chats_total: i64,
    pub chats_done: i64,
    pub rows_processed: i64,
}

/// Appends result rows, records progress, extends the lease and takes the
/// credits `charge` for them, all in one transaction: rows are never kept
/// unpaid, nor paid for unkept.
pub async fn append(
    db: &Db,
    export: &Export,
    owner: &str,
    lease_ms: i64,
    rows: &[(i64, String)],
    progress: &Progress,
    charge: i64,
) -> Result<Appended, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    let now = now_ms();
    let held = sqlx::query(
        "UPDATE data_exports SET lease_until = $1, chats_total = $2, chats_done = $3, \
           rows_processed = $4, credits_charged = credits_charged + $5, updated_at = $6 \
         WHERE id = $7 AND lease_owner = $8 AND status = $9",
    )
    .bind(now + lease_ms)
    .bind(progress.chats_total)
    .bind(progress.chats_done)
    .bind(progress.rows_processed)
    .bind(charge)
    .bind(now)
    .bind(&export.id)
    .bind(owner)
    .bind(status::PROCESSING)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !held {
        return Ok(Appended::Lost);
    }
    if charge > 0
        && crate::metering::credits::debit_in(
            &mut tx,
            &export.team_id,
            charge,
            "data_exports.messages",
            Some(&export.id),
        )
        .await?
        .is_none()
    {
        tx.rollback().await?;
        return Ok(Appended::OutOfCredits);
    }
    for (seq, line) in rows {
        sqlx::query("INSERT INTO data_export_rows (export_id, seq, line) VALUES ($1, $2, $3)")
            .bind(&export.id)
            .bind(seq)
            .bind(line)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Appended::Kept)
}

/// Ends the run as `completed` or `failed` (with `reason`); it expires
/// `retention_ms` later.
pub async fn finish(
    db: &Db,
    id: &str,
    owner: &str,
    failed: Option<&str>,
    retention_ms: i64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let (state, completed_at, failed_at) = match failed {
        None => (status::COMPLETED, Some(now), None),
        Some(_) => (status::FAILED, None, Some(now)),
    };
    sqlx::query(
        "UPDATE data_exports SET status = $1, failed_reason = $2, completed_at = $3, failed_at = $4, \
           expires_at = $5, lease_owner = NULL, lease_until = NULL, updated_at = $6 \
         WHERE id = $7 AND lease_owner = $8",
    )
    .bind(state)
    .bind(failed)
    .bind(completed_at)
    .bind(failed_at)
    .bind(now + retention_ms)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Gives a claim back (the instance is stopping).
pub async fn release(db: &Db, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE data_exports SET lease_until = NULL WHERE lease_owner = $1 AND status = $2",
    )
    .bind(owner)
    .bind(status::PROCESSING)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Up to `limit` result rows after `after_seq`, in export order.
pub async fn rows_after(
    db: &Db,
    id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, line FROM data_export_rows WHERE export_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Deletes exports (and their rows) past `expires_at`; how many.
pub async fn delete_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM data_export_rows WHERE export_id IN \
           (SELECT id FROM data_exports WHERE expires_at IS NOT NULL AND expires_at < $1)",
    )
    .bind(now)
    .execute(&db.writer)
    .await?;
    let done =
        sqlx::query("DELETE FROM data_exports WHERE expires_at IS NOT NULL AND expires_at < $1")
            .bind(now)
            .execute(&db.writer)
            .await?;
    Ok(done.rows_affected())
}
