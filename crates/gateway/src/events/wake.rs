//! Cluster mode: an event recorded on one instance wakes the delivery
//! workers of every instance, through Redis pub/sub on `events`, instead of
//! each waiting for its next poll. Recording wakes this instance's own
//! workers directly ([`Events::recorded`]); a publisher task passes that on
//! to the others (one message for any number of events recorded while it
//! was publishing), and a subscriber turns their messages into `others`.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::core::redis::Redis;
use crate::events::outbox::Events;

const CHANNEL: &str = "events";

/// Starts publishing this instance's recorded events (as `instance`) and
/// waking `others` when another instance recorded one; the two tasks.
pub fn start(
    redis: Redis,
    events: &Events,
    instance: String,
    others: Arc<Notify>,
) -> Vec<JoinHandle<()>> {
    let recorded = events.recorded();
    let me = instance.clone();
    let subscriber = redis.subscribe(CHANNEL, move |from| match from {
        Some(from) if from == me => {}
        // Another instance, or a lost connection (anything may have been missed).
        _ => others.notify_waiters(),
    });
    let publisher = tokio::spawn(async move {
        let mut pending = Box::pin(recorded.notified());
        pending.as_mut().enable();
        loop {
            pending.as_mut().await;
            // Registered again before publishing, so an event recorded
            // meanwhile is published too (after this one).
            pending = Box::pin(recorded.notified());
            pending.as_mut().enable();
            if let Err(e) = redis.publish(CHANNEL, &instance).await {
                tracing::warn!(error = %e, "publishing an event wake-up failed; the others find it at their next poll");
            }
        }
    });
    vec![subscriber, publisher]
}
