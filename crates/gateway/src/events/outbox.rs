//! The durable outbox events are written to before any delivery is
//! attempted. Producers (the websocket relay, the account lifecycle) call
//! [`Events::record`]; delivery reads the outbox. Nothing is sent for an event
//! that is not in the database first, so a crash never loses one.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::events::catalog::event_type;

/// An event to record. `dedup_key` identifies the upstream occurrence within
/// the account (e.g. `5.1:<messageId>`); the same key recorded twice is one
/// event. Ephemeral event types ignore it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub team_id: String,
    /// The gateway's account id (`fansly_acct_…`).
    pub account_id: String,
    pub name: &'static str,
    pub dedup_key: String,
    /// Fansly-native payload, as the vendor delivers it.
    pub payload: Value,
}

/// Handle to the outbox, shared by producers and the delivery workers.
#[derive(Clone)]
pub struct Events {
    db: Db,
    recorded: Arc<Notify>,
}

impl Events {
    pub fn new(db: Db) -> Events {
        Events {
            db,
            recorded: Arc::new(Notify::new()),
        }
    }

    /// Writes the event to the outbox, with one pending delivery for each
    /// enabled webhook endpoint that wants it, in one transaction. Returns
    /// its id when it is new, `None` when the same upstream event was
    /// already recorded for the account (nothing is delivered twice then).
    pub async fn record(&self, event: NewEvent) -> Result<Option<String>, sqlx::Error> {
        self.record_at(event, now_ms()).await
    }

    /// [`Self::record`] for an occurrence that happened at `at` (Unix ms),
    /// not now: the gap fill records what it finds late at the time Fansly
    /// says it happened, so the outbox and the deliveries (claimed oldest
    /// `next_attempt_at` first) keep the upstream order.
    pub async fn record_at(&self, event: NewEvent, at: i64) -> Result<Option<String>, sqlx::Error> {
        let ephemeral = event_type(event.name).is_none_or(|t| t.ephemeral);
        let (id, dedup_key) = if ephemeral {
            (
                format!("evt_{}", hex::encode(rand::random::<[u8; 20]>())),
                None,
            )
        } else {
            (
                event_id(&event.account_id, &event.dedup_key),
                Some(event.dedup_key),
            )
        };
        let now = at;
        // The event and its deliveries commit together: no event is ever
        // recorded without the deliveries it owes, nor delivered unrecorded.
        let mut tx = self.db.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO events (id, team_id, account_id, name, dedup_key, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&event.team_id)
        .bind(&event.account_id)
        .bind(event.name)
        .bind(dedup_key)
        .bind(event.payload.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        crate::webhooks::deliveries::fan_out(
            &mut tx,
            &crate::webhooks::deliveries::Recorded {
                id: &id,
                team_id: &event.team_id,
                account_id: &event.account_id,
                name: event.name,
                payload: &event.payload,
                ephemeral,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        metrics::counter!(telemetry::EVENTS_RECORDED, "team" => event.team_id.clone(), "event" => event.name)
            .increment(1);
        self.recorded.notify_waiters();
        Ok(Some(id))
    }

    /// Woken after each newly recorded event, so a worker in this process
    /// need not wait for its next poll.
    pub fn recorded(&self) -> Arc<Notify> {
        self.recorded.clone()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// `evt_` + 40 hex digits (the shape receivers have seen from the vendor),
/// stable for one upstream occurrence on one account.
pub fn event_id(account_id: &str, dedup_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(account_id.as_bytes())
        .chain_update([0u8])
        .chain_update(dedup_key.as_bytes())
        .finalize();
    format!("evt_{}", &hex::encode(digest)[..40])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_per_account_and_key() {
        let a = event_id("fansly_acct_a", "5.1:1");
        assert_eq!(a, event_id("fansly_acct_a", "5.1:1"));
        assert_ne!(a, event_id("fansly_acct_b", "5.1:1"));
        assert_ne!(a, event_id("fansly_acct_a", "5.1:2"));
        assert_eq!(a.len(), 44);
    }
}
