//! Webhook endpoints of a team: what they receive (event filter, account
//! scope), where (URL, checked against the SSRF guard), how it is signed,
//! and the deliveries the outbox makes for them.
//!
//! An event becomes one delivery row per matching enabled endpoint in the
//! same transaction that records the event ([`fan_out`]); `deliver` sends
//! them.

pub mod deliver;
pub mod examples;

use serde_json::{json, Value};
use sqlx::Row;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::crypto::{aad, Keyring};
use crate::db::{now_ms, Db};
use crate::error::ApiError;
use crate::events::{event_type, CATALOG};
use crate::ids::ACCOUNT_PREFIX;

const TABLE: &str = "webhooks";
pub const ID_PREFIX: &str = "wh_";
/// Shortest accepted signing secret (vendor SDK: at least 32 characters).
pub const MIN_SECRET: usize = 32;
const MAX_SECRET: usize = 512;
const MAX_URL: usize = 2048;

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

/// Unix ms as RFC 3339 (UTC).
pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

const COLUMNS: &str = "id, team_id, url, events, account_scope, account_ids, signing_secret, \
     enabled, disabled_reason, failing_since, created_at, updated_at";

fn row_to_webhook(r: &sqlx::any::AnyRow) -> Webhook {
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

/// The columns a request may set, validated. `None` leaves a column as is
/// (on update); `secret: Some(None)` removes the secret.
#[derive(Debug, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub account_scope: Option<String>,
    pub account_ids: Option<Vec<String>>,
    pub secret: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(msg.into())
}

/// A catalog event name from what a client sent: `fansly.*` names, or the
/// unprefixed form some catalogs showed (`messages.received`).
pub fn normalise_event(raw: &str) -> Option<&'static str> {
    let raw = raw.trim();
    event_type(raw)
        .or_else(|| event_type(&format!("fansly.{raw}")))
        .map(|t| t.name)
}

/// `events`: at least one known name, each once, in the order given.
pub fn validate_events(raw: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for e in raw {
        let name = normalise_event(e).ok_or_else(|| {
            invalid(format!(
                "events: unknown event type {e:?}; GET /api/webhooks/events lists the {} fansly.* types",
                CATALOG.len()
            ))
        })?;
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    if out.is_empty() {
        return Err(invalid("events must name at least one event type"));
    }
    Ok(out)
}

pub fn validate_scope(raw: &str) -> Result<String, ApiError> {
    let scope = raw.trim().to_ascii_lowercase();
    if SCOPES.contains(&scope.as_str()) {
        Ok(scope)
    } else {
        Err(invalid(format!(
            "account_scope must be one of global, inclusive, exclusive, got {raw:?}"
        )))
    }
}

pub fn validate_secret(raw: &str) -> Result<String, ApiError> {
    let n = raw.chars().count();
    if n < MIN_SECRET {
        return Err(invalid(format!(
            "signing_secret must be at least {MIN_SECRET} characters (got {n}); use a long random string"
        )));
    }
    if n > MAX_SECRET || raw.chars().any(char::is_control) {
        return Err(invalid(format!(
            "signing_secret must be at most {MAX_SECRET} printable characters"
        )));
    }
    Ok(raw.to_owned())
}

/// `endpoint_url`: an http(s) URL whose host is an allowed address.
pub async fn validate_url(raw: &str, allow_private: bool) -> Result<String, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL {
        return Err(invalid(format!(
            "endpoint_url must be an http or https URL of at most {MAX_URL} characters"
        )));
    }
    let url = crate::ssrf::check_url(raw, allow_private)
        .await
        .map_err(|why| invalid(format!("endpoint_url: {why}")))?;
    Ok(url.to_string())
}

/// Checks that the scope and its account list agree and that every listed
/// account is the team's.
async fn check_accounts(
    db: &Db,
    team_id: &str,
    scope: &str,
    ids: &[String],
) -> Result<(), ApiError> {
    if scope == "global" {
        if !ids.is_empty() {
            return Err(invalid(
                "account_ids must be empty when account_scope is global",
            ));
        }
        return Ok(());
    }
    if ids.is_empty() {
        return Err(invalid(format!(
            "account_ids is required when account_scope is {scope}: list fansly_acct_ ids"
        )));
    }
    for id in ids {
        let known = id.starts_with(ACCOUNT_PREFIX)
            && sqlx::query("SELECT 1 FROM fansly_accounts WHERE id = $1 AND team_id = $2")
                .bind(id)
                .bind(team_id)
                .fetch_optional(&db.pool)
                .await?
                .is_some();
        if !known {
            return Err(invalid(format!(
                "account_ids: {id:?} is not a Fansly account of this team"
            )));
        }
    }
    Ok(())
}

fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.into_iter().map(|i| i.trim().to_owned()) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn seal(keyring: &Keyring, id: &str, secret: &str) -> String {
    keyring.seal(&aad(TABLE, id, "signing_secret"), secret)
}

pub fn open_secret(keyring: &Keyring, hook: &Webhook) -> anyhow::Result<Option<String>> {
    use secrecy::ExposeSecret;
    hook.sealed_secret
        .as_deref()
        .map(|sealed| {
            keyring
                .open(&aad(TABLE, &hook.id, "signing_secret"), sealed)
                .map(|s| s.expose_secret().to_owned())
        })
        .transpose()
}

/// Creates an endpoint from validated `changes` (URL, events and scope
/// required). Endpoints are created disabled unless `enabled` says
/// otherwise, as the vendor's example answers `enabled: false` to a create.
pub async fn create(
    db: &Db,
    keyring: Option<&Keyring>,
    team_id: &str,
    changes: Changes,
) -> Result<Webhook, ApiError> {
    let url = changes
        .url
        .ok_or_else(|| invalid("endpoint_url is required"))?;
    let events = changes
        .events
        .ok_or_else(|| invalid("events is required: a list of fansly.* event types"))?;
    let scope = changes
        .account_scope
        .ok_or_else(|| invalid("account_scope is required: global, inclusive or exclusive"))?;
    let ids = dedup(changes.account_ids.unwrap_or_default());
    check_accounts(db, team_id, &scope, &ids).await?;
    let id = crate::ids::random_id(ID_PREFIX, 24);
    let sealed = match changes.secret.flatten() {
        Some(secret) => Some(seal(
            keyring.ok_or_else(crate::accounts::no_keyring)?,
            &id,
            &secret,
        )),
        None => None,
    };
    let now = now_ms();
    sqlx::query(&format!(
        "INSERT INTO {TABLE} (id, team_id, url, events, account_scope, account_ids, signing_secret, \
           enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
    ))
    .bind(&id)
    .bind(team_id)
    .bind(&url)
    .bind(json!(events).to_string())
    .bind(&scope)
    .bind(json!(ids).to_string())
    .bind(sealed)
    .bind(i64::from(changes.enabled.unwrap_or(false)))
    .bind(now)
    .execute(&db.writer)
    .await?;
    get(db, team_id, &id).await
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(row_to_webhook).collect())
}

/// The team's endpoint, or 404 (another team's looks exactly like a missing one).
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

/// Applies validated `changes`. Enabling clears the reason it was disabled
/// and its failure run, and makes its held deliveries due at once.
pub async fn update(
    db: &Db,
    keyring: Option<&Keyring>,
    team_id: &str,
    id: &str,
    changes: Changes,
) -> Result<Webhook, ApiError> {
    let current = get(db, team_id, id).await?;
    let scope = changes
        .account_scope
        .unwrap_or_else(|| current.account_scope.clone());
    let ids = match changes.account_ids {
        Some(ids) => dedup(ids),
        // Switching to global drops the list instead of refusing the change.
        None if scope == "global" => Vec::new(),
        None => current.account_ids.clone(),
    };
    check_accounts(db, team_id, &scope, &ids).await?;
    let sealed = match changes.secret {
        None => current.sealed_secret.clone(),
        Some(None) => None,
        Some(Some(secret)) => Some(seal(
            keyring.ok_or_else(crate::accounts::no_keyring)?,
            id,
            &secret,
        )),
    };
    let enabled = changes.enabled.unwrap_or(current.enabled);
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    sqlx::query(&format!(
        "UPDATE {TABLE} SET url = $1, events = $2, account_scope = $3, account_ids = $4, \
           signing_secret = $5, enabled = $6, updated_at = $7, \
           disabled_reason = CASE WHEN $6 = 1 THEN NULL ELSE disabled_reason END, \
           failing_since = CASE WHEN $6 = 1 AND enabled = 0 THEN NULL ELSE failing_since END \
         WHERE id = $8 AND team_id = $9"
    ))
    .bind(changes.url.unwrap_or_else(|| current.url.clone()))
    .bind(json!(changes.events.unwrap_or_else(|| current.events.clone())).to_string())
    .bind(&scope)
    .bind(json!(ids).to_string())
    .bind(sealed)
    .bind(i64::from(enabled))
    .bind(now)
    .bind(id)
    .bind(team_id)
    .execute(&mut *tx)
    .await?;
    if !enabled && current.enabled {
        deliver::hold(&mut tx, id).await?;
    }
    if enabled && !current.enabled {
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $1 \
             WHERE webhook_id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(db, team_id, id).await
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
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {TABLE} WHERE team_id = $1 AND enabled = 1"
    ))
    .bind(event.team_id)
    .fetch_all(&mut **tx)
    .await?;
    let hooks: Vec<Webhook> = rows
        .iter()
        .map(row_to_webhook)
        .filter(|w| w.matches(event.name, event.account_id))
        .collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let body = envelope(event.name, event.account_id, event.payload);
    let key = (!event.ephemeral).then_some(event.id);
    for hook in &hooks {
        deliver::insert_delivery(
            tx,
            &deliver::NewDelivery {
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

    #[test]
    fn event_names_are_normalised() {
        assert_eq!(
            normalise_event("messages.received"),
            Some("fansly.messages.received")
        );
        assert_eq!(
            normalise_event("fansly.tips.received"),
            Some("fansly.tips.received")
        );
        assert_eq!(normalise_event("onlyfans.messages.received"), None);
        assert!(validate_events(&[]).is_err());
        assert_eq!(
            validate_events(&["messages.sent".into(), "fansly.messages.sent".into()]).unwrap(),
            vec!["fansly.messages.sent"]
        );
    }
}
