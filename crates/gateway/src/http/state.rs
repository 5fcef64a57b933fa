//! What every handler shares: configuration, the database, the Fansly
//! client, the accounts' sessions, the event outbox and the relay.

use std::sync::Arc;

use fansly_upstream::FanslyClient;

use crate::accounts::sessions::Sessions;
use crate::broadcasts::due::Due;
use crate::core::config::Config;
use crate::core::db::Db;
use crate::core::redis::Redis;
use crate::events::outbox::Events;
use crate::metering::callers::Callers;
use crate::metering::group_commit::Committer;
use crate::metering::rate_limit::RateLimiter;
use crate::metering::requests::RequestLog;
use crate::workers::relay::supervisor::Relays;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// Base of absolute URLs the API hands out (`_pagination.next_page`,
    /// polling URLs): `public_url` when configured, else the bound address.
    pub public_url: String,
    pub db: Db,
    /// The cluster's Redis (`redis_url`); `None` on a single node.
    pub redis: Option<Redis>,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub events: Events,
    /// The websocket relay (one Fansly event socket per connected account).
    pub relays: Relays,
    /// The operator token's SHA-256 (`operator_token`), hashed once.
    pub operator: Option<[u8; 32]>,
    /// API keys served from memory (revalidated after `key_cache_ms`).
    pub callers: Callers,
    /// Credit reservations, many calls per transaction.
    pub credits: Committer,
    /// Team rate limits (in memory, or in Redis on a cluster).
    pub limiter: RateLimiter,
    /// The recent requests of each team (the console's Requests page).
    pub requests: RequestLog,
    /// Wakes the fan-out worker for a broadcast just stored.
    pub broadcasts_due: Due,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
