//! The relay's write path for one account: the socket's reader maps frames
//! and hands the events over without waiting; this writer records them in
//! arrival order, as many per transaction as have queued up meanwhile
//! (`Events::record_batch`), so a burst costs one commit per batch instead
//! of one per frame while the reader keeps reading (and pinging).
//!
//! A (re)connect is a marker in the same queue: what came before it is
//! written first, then the account's gap fill runs (when the gap fill is
//! on), and only then the frames of the new connection. So what the socket
//! missed is in the outbox before anything newer of the same chat, and the
//! delivery's per-chat order (`webhooks/claims.rs`) holds at the receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::events::outbox::{Events, NewEvent};
use crate::workers::gap_fill::run::RelayHooks;
use crate::workers::relay::outcome::Mapped;

/// Events one transaction takes at most.
const MAX_BATCH: usize = 500;
/// Frames (and reconnect markers) queued for the writer at most: past
/// this the socket's reader waits (backpressure) rather than memory
/// growing while the database is slow or a gap fill runs.
pub const QUEUE: usize = 4096;
/// Attempts at writing one batch before it is given up (and logged).
const RECORD_ATTEMPTS: u32 = 5;

/// What the writer counts, read by the relay status.
#[derive(Default)]
pub struct Written {
    pub events: AtomicU64,
    pub duplicates: AtomicU64,
    pub lost: AtomicU64,
}

enum Item {
    Events(Vec<Mapped>),
    Connected,
}

/// The sending side; the writer finishes what is queued and stops once
/// this is dropped.
pub struct Writer {
    tx: mpsc::Sender<Item>,
}

/// The account a writer records for.
#[derive(Clone)]
pub struct Target {
    pub team_id: String,
    pub account_id: String,
}

impl Writer {
    pub fn spawn(
        events: Events,
        hooks: RelayHooks,
        target: Target,
        written: Arc<Written>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(events, hooks, target, written, rx));
        Writer { tx }
    }

    /// The socket (re)connected: fill what it missed before what it brings.
    pub async fn connected(&self) {
        let _ = self.tx.send(Item::Connected).await;
    }

    /// Events of one frame, to be recorded after everything before them;
    /// waits while the queue is full.
    pub async fn push(&self, mapped: Vec<Mapped>) {
        if !mapped.is_empty() {
            let _ = self.tx.send(Item::Events(mapped)).await;
        }
    }
}

async fn run(
    events: Events,
    hooks: RelayHooks,
    target: Target,
    written: Arc<Written>,
    mut rx: mpsc::Receiver<Item>,
) {
    let mut batch: Vec<Mapped> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Events(v) => batch.extend(v),
                Item::Connected => {
                    write(&events, &hooks, &target, &written, &mut batch).await;
                    hooks.fill_now(&target.account_id).await;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write(&events, &hooks, &target, &written, &mut batch).await;
    }
}

async fn write(
    events: &Events,
    hooks: &RelayHooks,
    target: &Target,
    written: &Written,
    batch: &mut Vec<Mapped>,
) {
    if batch.is_empty() {
        return;
    }
    let mapped = std::mem::take(batch);
    // One profile lookup for every sender the cache lacks.
    hooks
        .prefetch(
            &target.team_id,
            &target.account_id,
            mapped.iter().map(|m| (m.name, &m.payload)),
        )
        .await;
    let mut rows = Vec::with_capacity(mapped.len());
    for mut m in mapped {
        let at = hooks
            .enrich(&target.team_id, &target.account_id, m.name, &mut m.payload)
            .await;
        rows.push((
            NewEvent {
                team_id: target.team_id.clone(),
                account_id: target.account_id.clone(),
                name: m.name,
                dedup_key: m.dedup_key,
                payload: m.payload,
            },
            at,
        ));
    }
    let mut attempt = 0;
    loop {
        match events.record_batch(&rows).await {
            Ok(answers) => {
                // Recorded events are counted once, by the outbox
                // (`EVENTS_RECORDED`); `RELAY_EVENTS` counts only the frames
                // the relay could not map.
                for answer in answers {
                    if answer.is_some() {
                        written.events.fetch_add(1, Ordering::Relaxed);
                    } else {
                        written.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
                return;
            }
            Err(e) if attempt + 1 < RECORD_ATTEMPTS => {
                attempt += 1;
                tracing::warn!(account = %target.account_id, error = %e, events = rows.len(), "relay: recording events failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Err(e) => {
                written.lost.fetch_add(rows.len() as u64, Ordering::Relaxed);
                tracing::error!(account = %target.account_id, events = rows.len(), error = %e,
                    "relay: events could not be recorded (the gap fill looks for missed messages again)");
                return;
            }
        }
    }
}
