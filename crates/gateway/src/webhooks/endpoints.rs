//! Creating and changing webhook endpoints: what a client may set (events
//! from the catalogue, scope, URL through the SSRF guard, secret sealed at
//! rest), validated before anything is written.

use serde_json::json;

use crate::core::crypto::{aad, Keyring};
use crate::core::db::Db;
use crate::core::error::ApiError;
use crate::core::ids::ACCOUNT_PREFIX;
use crate::core::time::now_ms;
use crate::events::catalog::{event_type, CATALOG};
use crate::webhooks::deliveries;
use crate::webhooks::store::*;

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
    let url = crate::core::ssrf::check_url(raw, allow_private)
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
    let id = crate::core::ids::random_id(ID_PREFIX, 24);
    let sealed = match changes.secret.flatten() {
        Some(secret) => Some(seal(
            keyring.ok_or_else(crate::core::crypto::no_keyring)?,
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
            keyring.ok_or_else(crate::core::crypto::no_keyring)?,
            id,
            &secret,
        )),
    };
    let enabled = changes.enabled.unwrap_or(current.enabled);
    let now = now_ms();
    let mut tx = db.writer.begin().await?;
    if enabled != current.enabled {
        // Holding or releasing the endpoint's deliveries below: the turn
        // comes first, before this transaction locks any row.
        deliveries::take_parking_turn(&mut tx, db.backend).await?;
    }
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
        deliveries::hold(&mut tx, id).await?;
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

/// The event name of a test send (not in the catalog: no endpoint subscribes
/// to it; it only ever goes to the endpoint it was sent for).
pub const TEST_EVENT: &str = "webhook.test";

/// Queues one test delivery to the team's enabled endpoint `id` (409 when
/// disabled: nothing would send it): the envelope carries
/// `event: "webhook.test"`, an example `fansly.messages.received` payload and
/// no idempotency key. The delivery id.
pub async fn test_send(db: &Db, team_id: &str, id: &str) -> Result<String, ApiError> {
    let hook = get(db, team_id, id).await?;
    if !hook.enabled {
        return Err(ApiError::Conflict(format!(
            "webhook {id} is disabled; enable it before sending a test"
        )));
    }
    let account_id = hook
        .account_ids
        .first()
        .cloned()
        .unwrap_or_else(|| "fansly_acct_test".into());
    let payload =
        crate::webhooks::examples::payload("fansly.messages.received").unwrap_or_else(|| json!({}));
    let body = deliveries::envelope(TEST_EVENT, &account_id, &payload);
    let event_id = format!("test_{}", deliveries::new_delivery_id());
    let mut tx = db.writer.begin().await?;
    let delivery = deliveries::insert_delivery(
        &mut tx,
        &deliveries::NewDelivery {
            webhook_id: &hook.id,
            team_id,
            event_id: &event_id,
            event_name: TEST_EVENT,
            account_id: &account_id,
            body: &body,
            idempotency_key: None,
            redelivery_of: None,
            at: now_ms(),
            order: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;

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
