//! The durable outbox events are written to before any delivery is
//! attempted. Producers (the websocket relay, the account lifecycle) call
//! [`Events::record`]; delivery reads the outbox. Nothing is sent for an event
//! that is not in the database first, so a crash never loses one.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
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
        Ok(self.record_batch(&[(event, at)]).await?.pop().flatten())
    }

    /// Records events of one producer in order, in one transaction: one
    /// multi-row insert of the events (an occurrence already recorded, or
    /// twice in the batch, is skipped) and one of the deliveries the new
    /// ones owe. Answers, per event, its id when new. A burst on one
    /// account's socket then costs one commit per batch, not one per frame.
    pub async fn record_batch(
        &self,
        events: &[(NewEvent, i64)],
    ) -> Result<Vec<Option<String>>, sqlx::Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, Option<String>, bool)> = events
            .iter()
            .map(|(e, _)| {
                if event_type(e.name).is_none_or(|t| t.ephemeral) {
                    let id = format!("evt_{}", hex::encode(rand::random::<[u8; 20]>()));
                    (id, None, true)
                } else {
                    let key = e.dedup_key.clone();
                    (event_id(&e.account_id, &key), Some(key), false)
                }
            })
            .collect();
        let payloads: Vec<String> = events.iter().map(|(e, _)| e.payload.to_string()).collect();
        // The events and their deliveries commit together: no event is ever
        // recorded without the deliveries it owes, nor delivered unrecorded.
        let mut tx = self.db.writer.begin().await?;
        let mut inserted: HashSet<String> = HashSet::new();
        for (chunk, offset) in rows.chunks(CHUNK).zip((0..).step_by(CHUNK)) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 7;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO events (id, team_id, account_id, name, dedup_key, payload, created_at) \
                 VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (i, (id, key, _)) in chunk.iter().enumerate() {
                let (e, at) = &events[offset + i];
                q = q
                    .bind(id)
                    .bind(&e.team_id)
                    .bind(&e.account_id)
                    .bind(e.name)
                    .bind(key)
                    .bind(&payloads[offset + i])
                    .bind(*at);
            }
            for r in q.fetch_all(&mut *tx).await? {
                inserted.insert(r.get(0));
            }
        }
        // In the batch's order; an id twice in the batch counts once.
        let mut answers = Vec::with_capacity(events.len());
        let mut recorded = Vec::new();
        for (i, (id, _, ephemeral)) in rows.iter().enumerate() {
            if inserted.remove(id) {
                let (e, at) = &events[i];
                recorded.push(crate::webhooks::deliveries::Recorded {
                    id,
                    team_id: &e.team_id,
                    account_id: &e.account_id,
                    name: e.name,
                    payload: &e.payload,
                    ephemeral: *ephemeral,
                    at: *at,
                });
                answers.push(Some(id.clone()));
            } else {
                answers.push(None);
            }
        }
        if recorded.is_empty() {
            tx.rollback().await?;
            return Ok(answers);
        }
        crate::webhooks::deliveries::fan_out_many(&mut tx, &recorded).await?;
        tx.commit().await?;
        for r in &recorded {
            metrics::counter!(telemetry::EVENTS_RECORDED, "team" => r.team_id.to_owned(), "event" => events_name(r.name))
                .increment(1);
        }
        self.recorded.notify_waiters();
        Ok(answers)
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

/// Events per insert statement (7 parameters each, well under both
/// engines' limits).
const CHUNK: usize = 200;

/// The catalogue's `&'static` name (metrics labels need one).
fn events_name(name: &str) -> &'static str {
    event_type(name).map_or("unknown", |t| t.name)
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
