//! Connected Fansly accounts: the rows a team owns and the live upstream
//! session each one speaks through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fansly_upstream::{FanslyClient, Session, UpstreamError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::Row;

use crate::db::{now_ms, Db};
use crate::error::ApiError;
use crate::ids::{new_account_id, ACCOUNT_PREFIX};

/// `authentication_progress` of an account whose session works.
pub const AUTHENTICATED: &str = "authenticated";

#[derive(Clone, Debug)]
pub struct AccountRow {
    pub id: String,
    pub team_id: String,
    pub display_name: String,
    pub fansly_id: String,
    pub fansly_username: String,
    pub auth_state: String,
    pub fansly_user_data: Option<Value>,
    pub created_at: i64,
}

/// An account ready for upstream calls.
#[derive(Clone)]
pub struct ConnectedAccount {
    pub id: String,
    pub fansly_id: String,
    pub session: Arc<Session>,
}

/// Keeps one [`Session`] per account so its `fansly-client-ts` clock stays
/// monotonic across requests; rebuilt when the stored token changes.
#[derive(Default)]
pub struct Sessions {
    by_account: Mutex<HashMap<String, Arc<Session>>>,
}

const COLUMNS: &str = "id, team_id, display_name, fansly_id, fansly_username, auth_state, \
                       fansly_user_data, created_at";

fn row_to_account(r: &sqlx::any::AnyRow) -> AccountRow {
    AccountRow {
        id: r.get(0),
        team_id: r.get(1),
        display_name: r.get(2),
        fansly_id: r.get(3),
        fansly_username: r.get(4),
        auth_state: r.get(5),
        fansly_user_data: r
            .get::<Option<String>, _>(6)
            .and_then(|s| serde_json::from_str(&s).ok()),
        created_at: r.get(7),
    }
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<AccountRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM fansly_accounts WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(row_to_account).collect())
}

impl Sessions {
    /// The team's account `account_id`, ready to call Fansly. Another team's
    /// account answers exactly like one that does not exist.
    pub async fn connected(
        &self,
        db: &Db,
        team_id: &str,
        account_id: &str,
    ) -> Result<ConnectedAccount, ApiError> {
        let not_found = || ApiError::NotFound(format!("Fansly account {account_id} not found"));
        if !account_id.starts_with(ACCOUNT_PREFIX) {
            return Err(not_found());
        }
        let row = sqlx::query(
            "SELECT fansly_id, auth_state, session_token, device_id FROM fansly_accounts \
             WHERE id = $1 AND team_id = $2",
        )
        .bind(account_id)
        .bind(team_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(not_found)?;
        let fansly_id: String = row.get(0);
        let state: String = row.get(1);
        let token: Option<String> = row.get(2);
        let device: Option<String> = row.get(3);
        let (Some(token), Some(device), AUTHENTICATED) = (token, device, state.as_str()) else {
            return Err(ApiError::Conflict(format!(
                "Fansly account {account_id} is not connected (state: {state}); reconnect it"
            )));
        };
        let session = self.session_for(account_id, token, device);
        Ok(ConnectedAccount {
            id: account_id.to_owned(),
            fansly_id,
            session,
        })
    }

    fn session_for(&self, account_id: &str, token: String, device: String) -> Arc<Session> {
        let mut map = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(account_id) {
            if s.token().expose_secret() == token && s.device_id() == device {
                return s.clone();
            }
        }
        let s = Arc::new(Session::new(SecretString::from(token), device));
        map.insert(account_id.to_owned(), s.clone());
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AddTokenError {
    #[error("Fansly refused the token: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("Fansly's account/me answer has no account id")]
    NoAccount,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Registers (or refreshes) an account from a pasted session token: fetches a
/// device id as the web app does, validates the token with `account/me`, and
/// stores the account for `team_id`. Until the login flow exists this is how
/// a real Fansly account is connected.
pub async fn add_token(
    db: &Db,
    fansly: &FanslyClient,
    team_id: &str,
    token: SecretString,
    display_name: Option<&str>,
) -> Result<AccountRow, AddTokenError> {
    let device_id = fansly.device_id().await?;
    let session = Session::new(token, device_id.clone());
    let me = fansly.account_me(&session).await?;
    let account = me.get("account").cloned().unwrap_or(Value::Null);
    let fansly_id = account
        .get("id")
        .and_then(Value::as_str)
        .ok_or(AddTokenError::NoAccount)?
        .to_owned();
    let username = account
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let display = display_name
        .map(str::to_owned)
        .or_else(|| {
            account
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| username.clone());
    let now = now_ms();
    // One row per (team, Fansly account): connecting again refreshes it.
    sqlx::query(
        "INSERT INTO fansly_accounts (id, team_id, display_name, fansly_id, fansly_username, \
           auth_state, session_token, device_id, fansly_user_data, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (team_id, fansly_id) DO UPDATE SET display_name = excluded.display_name, \
           fansly_username = excluded.fansly_username, auth_state = excluded.auth_state, \
           session_token = excluded.session_token, device_id = excluded.device_id, \
           fansly_user_data = excluded.fansly_user_data, updated_at = excluded.updated_at",
    )
    .bind(new_account_id())
    .bind(team_id)
    .bind(&display)
    .bind(&fansly_id)
    .bind(&username)
    .bind(AUTHENTICATED)
    .bind(session.token().expose_secret())
    .bind(&device_id)
    .bind(account.to_string())
    .bind(now)
    .execute(&db.writer)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM fansly_accounts WHERE team_id = $1 AND fansly_id = $2"
    ))
    .bind(team_id)
    .bind(&fansly_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(row_to_account(&row))
}
