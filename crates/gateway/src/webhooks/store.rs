//! Webhook endpoints as stored: one row per endpoint of a team, with what it
//! receives (event filter, account scope), where, and its sealed secret.

use serde_json::{json, Value};
use sqlx::Row;

use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::time::iso;

pub const TABLE: &str = "webhooks";
pub const ID_PREFIX: &str = "wh_";
/// Shortest accepted signing secret (vendor SDK: at least 32 characters).
pub const MIN_SECRET: usize = 32;
pub const MAX_SECRET: usize = 512;
pub const MAX_URL: usize = 2048;

pub const SCOPES: &[&str] = &["global", "inclusive", "exclusive"];

/// One webhook endpoint as stored (the secret stays sealed).
#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub team_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub account_scope: String,
    pub account_ids: Vec<String>,
    pub sealed_secret: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Webhook {
    /// Whether an event of `name` on `account_id` goes to this endpoint.
    pub fn matches(&self, name: &str, account_id: &str) -> bool {
        let listed = self.account_ids.iter().any(|a| a == account_id);
        self.events.iter().any(|e| e == name)
            && match self.account_scope.as_str() {
                "global" => true,
                "inclusive" => listed,
                "exclusive" => !listed,
                _ => false,
            }
    }

    /// The item the API answers: the vendor's fields (`url`, `events`,
    /// `has_signing_secret`, `enabled`, `account_scope`, `account_ids`,
    /// `created_at`) and ours (`endpoint_url` alias, why it was disabled).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "endpoint_url": self.url,
            "events": self.events,
            "has_signing_secret": self.sealed_secret.is_some(),
            "enabled": self.enabled,
            "account_scope": self.account_scope,
            "account_ids": self.account_ids,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since.map(iso),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        })
    }
}

pub const COLUMNS: &str = "id, team_id, url, events, account_scope, account_ids, signing_secret, \
     enabled, disabled_reason, failing_since, created_at, updated_at";

pub fn row_to_webhook(r: &sqlx::any::AnyRow) -> Webhook {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    Webhook {
        id: r.get(0),
        team_id: r.get(1),
        url: r.get(2),
        events: list(r.get(3)),
        account_scope: r.get(4),
        account_ids: list(r.get(5)),
        sealed_secret: r.get(6),
        enabled: r.get::<i64, _>(7) != 0,
        disabled_reason: r.get(8),
        failing_since: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
    }
}

/// One page of the webhook's deliveries, newest first, each with its attempts.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(row_to_webhook).collect())
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Webhook, ApiError> {
    find(db, id)
        .await?
        .filter(|w| w.team_id == team_id)
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id} not found")))
}

pub async fn find(db: &Db, id: &str) -> Result<Option<Webhook>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(row_to_webhook))
}

/// The team's enabled endpoints, read inside the transaction recording an
/// event (fan-out).
pub async fn enabled(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE team_id = $1 AND enabled = 1"
    ))
    .bind(team_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(row_to_webhook).collect())
}

/// Deletes the endpoint with its deliveries and their attempts.
pub async fn delete(db: &Db, team_id: &str, id: &str) -> Result<(), ApiError> {
    get(db, team_id, id).await?;
    sqlx::query(&format!(
        "DELETE FROM {TABLE} WHERE id = $1 AND team_id = $2"
    ))
    .bind(id)
    .bind(team_id)
    .execute(&db.writer)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(scope: &str, ids: &[&str]) -> Webhook {
        Webhook {
            id: "wh_x".into(),
            team_id: "t".into(),
            url: "https://example.com".into(),
            events: vec!["fansly.messages.received".into()],
            account_scope: scope.into(),
            account_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            sealed_secret: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn scope_and_filter_decide_who_gets_an_event() {
        let m = "fansly.messages.received";
        assert!(hook("global", &[]).matches(m, "fansly_acct_a"));
        assert!(!hook("global", &[]).matches("fansly.tips.received", "fansly_acct_a"));
        assert!(hook("inclusive", &["fansly_acct_a"]).matches(m, "fansly_acct_a"));
        assert!(!hook("inclusive", &["fansly_acct_a"]).matches(m, "fansly_acct_b"));
        assert!(!hook("exclusive", &["fansly_acct_a"]).matches(m, "fansly_acct_a"));
        assert!(hook("exclusive", &["fansly_acct_a"]).matches(m, "fansly_acct_b"));
    }
}
