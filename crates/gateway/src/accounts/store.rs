//! Connected accounts as stored: one `fansly_accounts` row per account of a
//! team, its login progress and the vendor's lifecycle event names.

use serde_json::Value;
use sqlx::Row;

use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::ids::ACCOUNT_PREFIX;

/// `authentication_progress` values. Documented in the README.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const LOGGING_IN: &str = "logging-in";
    pub const CHALLENGE_EMAIL: &str = "challenge-email";
    pub const CHALLENGE_AUTHENTICATOR: &str = "challenge-authenticator";
    /// A new device's e-mail check (issue 13, row 9): a code when
    /// `twofa_type` is set, else only the e-mail's link.
    pub const CHALLENGE_VERIFICATION: &str = "challenge-verification";
    pub const VERIFYING: &str = "verifying";
    pub const AUTHENTICATED: &str = "authenticated";
    pub const FAILED: &str = "failed";
    pub const NEEDS_RECONNECT: &str = "needs-reconnect";
}
pub use status::AUTHENTICATED;

pub const TABLE: &str = "fansly_accounts";

#[derive(Clone, Debug)]
pub struct AccountRow {
    pub id: String,
    pub team_id: String,
    pub display_name: String,
    pub fansly_id: Option<String>,
    pub fansly_username: Option<String>,
    pub login_name: Option<String>,
    pub auth_state: String,
    pub twofa_type: Option<i64>,
    pub masked_email: Option<String>,
    pub last_error: Option<String>,
    pub fansly_user_data: Option<Value>,
    pub has_password: bool,
    pub proxy_label: Option<String>,
    pub created_at: i64,
}

impl AccountRow {
    pub fn needs_code(&self) -> bool {
        match self.auth_state.as_str() {
            status::CHALLENGE_EMAIL | status::CHALLENGE_AUTHENTICATOR | status::VERIFYING => true,
            status::CHALLENGE_VERIFICATION => self.twofa_type.is_some(),
            _ => false,
        }
    }

    /// The account as List Accounts shows it (also the payload of the
    /// `fansly.accounts.*` lifecycle events).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "display_name": self.display_name,
            "fansly_id": self.fansly_id,
            "fansly_username": self.fansly_username,
            "is_authenticated": self.auth_state == AUTHENTICATED,
            "authentication_progress": self.auth_state,
            "needs_code": self.needs_code(),
            "last_error": self.last_error,
            "proxy": self.proxy_label,
            "fansly_user_data": self.fansly_user_data,
        })
    }
}

/// The lifecycle events (vendor names).
pub mod lifecycle {
    pub const CONNECTED: &str = "fansly.accounts.connected";
    pub const DISCONNECTED: &str = "fansly.accounts.disconnected";
    pub const AUTHENTICATION_FAILED: &str = "fansly.accounts.authentication_failed";
    pub const OTP_CODE_REQUIRED: &str = "fansly.accounts.otp_code_required";
}

pub const COLUMNS: &str =
    "id, team_id, display_name, fansly_id, fansly_username, login_name, auth_state, \
     twofa_type, masked_email, last_error, fansly_user_data, \
     CAST(CASE WHEN password IS NULL THEN 0 ELSE 1 END AS BIGINT), proxy_label, created_at";

pub fn row_to_account(r: &sqlx::any::AnyRow) -> AccountRow {
    AccountRow {
        id: r.get(0),
        team_id: r.get(1),
        display_name: r.get(2),
        fansly_id: r.get(3),
        fansly_username: r.get(4),
        login_name: r.get(5),
        auth_state: r.get(6),
        twofa_type: r.get(7),
        masked_email: r.get(8),
        last_error: r.get(9),
        fansly_user_data: r
            .get::<Option<String>, _>(10)
            .and_then(|s| serde_json::from_str(&s).ok()),
        has_password: r.get::<i64, _>(11) == 1,
        proxy_label: r.get(12),
        created_at: r.get(13),
    }
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<AccountRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(row_to_account).collect())
}

/// The team's account, or 404 (another team's account looks exactly like a
/// missing one).
pub async fn get(db: &Db, team_id: &str, account_id: &str) -> Result<AccountRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("Fansly account {account_id} not found"));
    if !account_id.starts_with(ACCOUNT_PREFIX) {
        return Err(not_found());
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE id = $1 AND team_id = $2"
    ))
    .bind(account_id)
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(not_found)?;
    Ok(row_to_account(&row))
}

/// The team's logins that are not connected: queued, running, waiting for
/// a code or failed (what Start Authentication caps per team).
pub async fn count_unconnected(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {TABLE} WHERE team_id = $1 AND auth_state NOT IN ($2, $3)"
    ))
    .bind(team_id)
    .bind(status::AUTHENTICATED)
    .bind(status::NEEDS_RECONNECT)
    .fetch_one(&db.pool)
    .await
}

/// Deletes failed logins that never connected (no Fansly id) and have not
/// changed since `before_ms`, with the credentials sealed in them.
pub async fn delete_failed_before(db: &Db, before_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "DELETE FROM {TABLE} WHERE auth_state = $1 AND fansly_id IS NULL AND updated_at < $2"
    ))
    .bind(status::FAILED)
    .bind(before_ms)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected())
}

/// Any team's account by id (background work that already holds the id).
pub async fn by_id(db: &Db, account_id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"))
        .bind(account_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(row_to_account))
}
