//! The websocket relay: one Fansly event socket per authenticated account,
//! its frames mapped to the vendor's `fansly.*` events and written to the
//! outbox ([`crate::events`]).
//!
//! The manager reconciles the running sockets with the accounts table at
//! start, whenever [`Sessions`] says an account changed, and every
//! [`RECONCILE_EVERY`] as a safety net: authenticated accounts get a socket,
//! others lose theirs. A socket that drops is reopened with exponential
//! backoff and full jitter (the web app's 1.5 s doubling to 15 s by
//! default), without limit while the account stays connected; before each
//! opening a device id older than `relay.device_id_refresh_ms` is fetched
//! again. A socket whose token Fansly refuses (`t:0 {code:401}`) renews
//! the session through the same re-login the REST client uses (one per
//! account at a time); when that needs the owner, the account becomes
//! needs-reconnect and its socket stops.
//!
//! In a cluster each socket is also held through a lease
//! ([`crate::workers::relay::lease`]): an instance opens an account's socket
//! only while it holds the lease, renews it at each pass (every third of the
//! lease), and stops the socket the moment it no longer holds it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fansly_upstream::ws::{self, Frame, WsConfig, WsError};
use fansly_upstream::{drift, UpstreamError};
use rand::Rng;
use serde_json::{json, Value};
use sqlx::Row;
use tokio::task::JoinHandle;

use crate::accounts::sessions::Sessions;
use crate::accounts::store::AUTHENTICATED;
use crate::core::config::Config;
use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::events::outbox::Events;
use crate::workers::gap_fill::run::RelayHooks;
use crate::workers::relay::lease::SocketLeases;
use crate::workers::relay::mapping::{self, Outcome};
use crate::workers::relay::writer::{Target, Writer, Written};

const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// Counters of one account's relay, readable while it runs.
#[derive(Default)]
pub struct Counters {
    connected: AtomicBool,
    /// Unix ms of the current connection; 0 when disconnected.
    since: AtomicI64,
    connections: AtomicU64,
    /// Recorded, duplicates and lost: counted by the account's writer.
    written: Arc<Written>,
    ignored: AtomicU64,
    unknown: AtomicU64,
    malformed: AtomicU64,
    rate_limited: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The data behind `mutex`, also after a relay task panicked holding it.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Counters {
    fn error(&self, e: impl ToString) {
        *locked(&self.last_error) = Some(e.to_string());
    }

    /// The `relay` object of an account (README "Relay status").
    pub fn json(&self, running: bool) -> Value {
        let since = self.since.load(Ordering::Relaxed);
        json!({
            "running": running,
            "connected": self.connected.load(Ordering::Relaxed),
            "connected_since": (since > 0).then_some(since),
            "reconnects": self.connections.load(Ordering::Relaxed).saturating_sub(1),
            "events_relayed": self.written.events.load(Ordering::Relaxed),
            "duplicates": self.written.duplicates.load(Ordering::Relaxed),
            "ignored_frames": self.ignored.load(Ordering::Relaxed),
            "unknown_frames": self.unknown.load(Ordering::Relaxed),
            "malformed_frames": self.malformed.load(Ordering::Relaxed),
            "lost_events": self.written.lost.load(Ordering::Relaxed),
            "rate_limited": self.rate_limited.load(Ordering::Relaxed),
            "last_error": locked(&self.last_error).clone(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct RelayConfig {
    pub enabled: bool,
    pub ws: WsConfig,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A device id older than this is fetched again before a socket opens.
    pub device_refresh: Duration,
}

impl RelayConfig {
    pub fn from_config(c: &Config) -> anyhow::Result<RelayConfig> {
        let r = &c.relay;
        Ok(RelayConfig {
            enabled: r.enabled,
            ws: WsConfig {
                url: c
                    .upstream
                    .ws_url
                    .parse()
                    .map_err(|e| anyhow::anyhow!("upstream.ws_url {:?}: {e}", c.upstream.ws_url))?,
                user_agent: c.upstream.user_agent.clone(),
                ping_min: Duration::from_millis(r.ping_min_ms),
                ping_max: Duration::from_millis(r.ping_max_ms.max(r.ping_min_ms)),
                connect_timeout: Duration::from_millis(r.connect_timeout_ms),
            },
            backoff_base: Duration::from_millis(r.backoff_base_ms.max(1)),
            backoff_cap: Duration::from_millis(r.backoff_cap_ms.max(r.backoff_base_ms)),
            device_refresh: Duration::from_millis(r.device_id_refresh_ms),
        })
    }
}

#[derive(Clone)]
pub struct Relays(Arc<Inner>);

/// A relay task and its counters.
type Running = (JoinHandle<()>, Arc<Counters>);

pub struct Inner {
    cfg: RelayConfig,
    db: Db,
    sessions: Sessions,
    events: Events,
    /// Gap fill after each (re)connect, `senderData` on received messages.
    hooks: RelayHooks,
    running: Mutex<HashMap<String, Running>>,
    /// Cluster mode: the socket leases; `None` on a single node.
    leases: Option<SocketLeases>,
    /// One reconciling pass at a time (the loop and `run_due` may overlap,
    /// and a pass must not start a second socket for an account).
    pass: tokio::sync::Mutex<()>,
    /// Set by `stop_all`: no pass starts a socket after it.
    stopped: AtomicBool,
    /// Counters outlive a stopped relay, so its status stays readable.
    counters: Mutex<HashMap<String, Arc<Counters>>>,
}

struct Account {
    id: String,
    team_id: String,
    fansly_id: String,
}

impl Relays {
    pub fn new(
        cfg: RelayConfig,
        db: Db,
        sessions: Sessions,
        events: Events,
        hooks: RelayHooks,
        leases: Option<SocketLeases>,
    ) -> Relays {
        Relays(Arc::new(Inner {
            cfg,
            db,
            sessions,
            events,
            hooks,
            running: Mutex::default(),
            leases,
            pass: tokio::sync::Mutex::new(()),
            stopped: AtomicBool::new(false),
            counters: Mutex::default(),
        }))
    }

    /// The relay status of `account_id`.
    pub fn status(&self, account_id: &str) -> Value {
        let running = self.runs_here(account_id);
        let counters = locked(&self.0.counters).get(account_id).cloned();
        match counters {
            Some(c) => c.json(running),
            None => Counters::default().json(false),
        }
    }

    /// Whether this instance runs the account's socket task now.
    fn runs_here(&self, account_id: &str) -> bool {
        locked(&self.0.running)
            .get(account_id)
            .is_some_and(|(task, _)| !task.is_finished())
    }

    /// The relay status of each of `accounts`, in order: in a cluster, an
    /// account whose socket another instance holds gets the status that
    /// instance published at its last pass.
    pub async fn statuses(&self, accounts: &[&str]) -> Vec<Value> {
        let Some(leases) = &self.0.leases else {
            return accounts.iter().map(|a| self.status(a)).collect();
        };
        let elsewhere: Vec<&str> = accounts
            .iter()
            .copied()
            .filter(|a| !self.runs_here(a))
            .collect();
        let mut published = leases.statuses(&elsewhere).await;
        accounts
            .iter()
            .map(|a| {
                published
                    .remove(*a)
                    .unwrap_or_else(|| self.status_in_cluster(a, leases))
            })
            .collect()
    }

    /// This instance's status of the account, naming this instance when it
    /// holds the socket.
    fn status_in_cluster(&self, account_id: &str, leases: &SocketLeases) -> Value {
        let mut status = self.status(account_id);
        if self.runs_here(account_id) {
            status["instance"] = json!(leases.owner());
        }
        status
    }

    /// Publishes the status of every socket this instance holds (cluster).
    async fn publish_statuses(&self) {
        let Some(leases) = &self.0.leases else {
            return;
        };
        let ids: Vec<String> = locked(&self.0.running).keys().cloned().collect();
        let statuses: Vec<(String, Value)> = ids
            .into_iter()
            .map(|id| (id.clone(), self.status_in_cluster(&id, leases)))
            .collect();
        leases.publish_statuses(&statuses).await;
    }

    /// How many accounts have a relay task.
    pub fn running(&self) -> usize {
        locked(&self.0.running).len()
    }

    /// Keeps the sockets in line with the accounts until aborted.
    pub async fn run(self) {
        if !self.0.cfg.enabled {
            return;
        }
        let changes = self.0.sessions.changes();
        // A cluster's leases are renewed at each pass.
        let every = match &self.0.leases {
            Some(leases) => leases.renew_every().min(RECONCILE_EVERY),
            None => RECONCILE_EVERY,
        };
        loop {
            self.run_due().await;
            tokio::select! {
                _ = changes.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// One reconciling pass now (what the loop runs on each change and
    /// tick): sockets started and stopped to match the accounts and, in a
    /// cluster, the leases renewed, lapsed ones taken over, lost ones let go.
    pub async fn run_due(&self) {
        if let Err(e) = self.reconcile().await {
            tracing::warn!(error = %e, "relay: reading connected accounts failed");
        }
        self.publish_statuses().await;
    }

    /// The instance holding the account's socket in a cluster (`None` on
    /// a single node, or when nobody holds it).
    pub async fn holder(&self, account_id: &str) -> Option<String> {
        self.0.leases.as_ref()?.holder(account_id).await
    }

    /// This instance's name in the socket leases (`None` on a single node).
    pub fn instance(&self) -> Option<&str> {
        self.0.leases.as_ref().map(SocketLeases::owner)
    }

    #[tracing::instrument(skip_all)]
    async fn reconcile(&self) -> Result<(), sqlx::Error> {
        let _pass = self.0.pass.lock().await;
        if self.0.stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        let rows = match sqlx::query(
            "SELECT id, team_id, fansly_id FROM fansly_accounts \
             WHERE auth_state = $1 AND fansly_id IS NOT NULL",
        )
        .bind(AUTHENTICATED)
        .fetch_all(&self.0.db.pool)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                // The database is away, the leases must not lapse under
                // running sockets (another instance would open a second):
                // renew them, and stop those that cannot be held.
                self.renew_running().await;
                return Err(e);
            }
        };
        let wanted: Vec<Account> = rows
            .iter()
            .map(|r| Account {
                id: r.get(0),
                team_id: r.get(1),
                fansly_id: r.get(2),
            })
            .collect();
        let ids: HashSet<&str> = wanted.iter().map(|a| a.id.as_str()).collect();
        let mut unwanted = Vec::new();
        self.retain(|id, task| {
            let keep = ids.contains(id) && !task.is_finished();
            if !keep && !ids.contains(id) {
                unwanted.push(id.to_owned());
            }
            keep
        });
        let mut held = HashSet::new();
        if let Some(leases) = &self.0.leases {
            for id in unwanted {
                leases.release(&id).await;
            }
            for account in &wanted {
                if leases.hold(&account.id).await {
                    held.insert(account.id.clone());
                }
            }
            // Another instance holds these now (ours lapsed): theirs alone.
            self.retain(|id, _| held.contains(id));
        }
        let mut running = locked(&self.0.running);
        if self.0.stopped.load(Ordering::Relaxed) {
            // `stop_all` ran during this pass: it starts nothing more.
            return Ok(());
        }
        for account in wanted {
            if running.contains_key(&account.id)
                || (self.0.leases.is_some() && !held.contains(&account.id))
            {
                continue;
            }
            let counters = locked(&self.0.counters)
                .entry(account.id.clone())
                .or_default()
                .clone();
            let id = account.id.clone();
            let task = tokio::spawn(relay_account(self.0.clone(), account, counters.clone()));
            running.insert(id, (task, counters));
        }
        Ok(())
    }

    /// Renews the lease of every running socket; stops those lost.
    async fn renew_running(&self) {
        let Some(leases) = &self.0.leases else {
            return;
        };
        let ids: Vec<String> = locked(&self.0.running).keys().cloned().collect();
        let mut held = HashSet::new();
        for id in ids {
            if leases.hold(&id).await {
                held.insert(id);
            }
        }
        self.retain(|id, _| held.contains(id));
    }

    /// Stops the sockets `keep` says no to (`keep(account, task)`).
    fn retain(&self, mut keep: impl FnMut(&str, &JoinHandle<()>) -> bool) {
        let mut running = locked(&self.0.running);
        running.retain(|id, (task, counters)| {
            let kept = keep(id, task);
            if !kept {
                task.abort();
                socket_closed(counters);
                counters.since.store(0, Ordering::Relaxed);
                tracing::info!(account = %id, "relay stopped");
            }
            kept
        });
    }

    /// Stops every socket for good, leaving the cluster's leases to lapse
    /// (what a crash leaves behind); the ids of the stopped accounts.
    pub fn stop_all(&self) -> Vec<String> {
        self.0.stopped.store(true, Ordering::Relaxed);
        let mut running = locked(&self.0.running);
        running
            .drain()
            .map(|(id, (task, counters))| {
                socket_closed(&counters);
                task.abort();
                id
            })
            .collect()
    }

    /// Stops every socket at shutdown and hands its lease back, so another
    /// instance takes the accounts over at its next pass.
    pub async fn shutdown(&self) {
        let stopped = self.stop_all();
        // After any pass under way: it may have just renewed a lease.
        let _pass = self.0.pass.lock().await;
        if let Some(leases) = &self.0.leases {
            for id in stopped {
                leases.release(&id).await;
            }
        }
    }
}

/// Full jitter: a uniform wait in `0..=min(cap, base · 2^attempt)`.
fn backoff(cfg: &RelayConfig, attempt: u32) -> Duration {
    let ceiling = cfg
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(cfg.backoff_cap);
    Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64))
}

/// The wait after a `t:0 {code:429}`: half of `base · 2^streak` (capped)
/// for certain, the other half jittered. Unlike [`backoff`] it is never near
/// zero, so a socket rate limited right after each handshake cannot spin.
fn rate_limit_backoff(cfg: &RelayConfig, streak: u32) -> Duration {
    let ceiling = cfg
        .backoff_base
        .saturating_mul(2u32.saturating_pow(streak.min(20)))
        .min(cfg.backoff_cap);
    let half = ceiling / 2;
    half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis() as u64))
}

/// One account's socket, reopened until the task is aborted or the account
/// can no longer be connected without its owner.
#[tracing::instrument(skip_all, fields(account = %account.id))]
async fn relay_account(inner: Arc<Inner>, account: Account, counters: Arc<Counters>) {
    let mut attempt: u32 = 0;
    // Consecutive 429s. A successful handshake resets `attempt`, but Fansly
    // may rate limit every new socket at once; this only resets once a
    // connection has carried a frame.
    let mut rate_limited: u32 = 0;
    // Frames are written by the account's writer, in order, in batches; it
    // outlives this task only to finish what is queued.
    let writer = Writer::spawn(
        inner.events.clone(),
        inner.hooks.clone(),
        Target {
            team_id: account.team_id.clone(),
            account_id: account.id.clone(),
        },
        counters.written.clone(),
    );
    loop {
        // The web app's device id is a few hours old at most (row 12); a
        // failed refresh keeps the old one rather than the socket closed.
        if let Err(e) = inner
            .sessions
            .refresh_device_id(&account.id, inner.cfg.device_refresh)
            .await
        {
            tracing::warn!(account = %account.id, error = %e, "device id not refreshed");
        }
        let connected = match inner
            .sessions
            .connected(&account.team_id, &account.id)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                // Disconnected or no longer authenticated: the manager stops us.
                counters.error(&e);
                inner.sessions.changed();
                tokio::time::sleep(backoff(&inner.cfg, attempt)).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let ended = match ws::connect(&inner.cfg.ws, &connected.session).await {
            Ok(mut conn) => {
                attempt = 0;
                // Whatever the socket missed while closed is filled now.
                inner.hooks.connected(&account.id).await;
                // Before what this connection brings is written.
                writer.connected().await;
                counters.connections.fetch_add(1, Ordering::Relaxed);
                if !counters.connected.swap(true, Ordering::Relaxed) {
                    metrics::gauge!(telemetry::RELAY_CONNECTED).increment(1.0);
                }
                counters.since.store(now_ms(), Ordering::Relaxed);
                tracing::info!(account = %account.id, "relay connected");
                let ended = loop {
                    match conn.next().await {
                        Ok(Ok(frames)) => {
                            rate_limited = 0;
                            for frame in frames {
                                handle(&inner, &account, &counters, &writer, frame).await;
                            }
                        }
                        Ok(Err(e)) => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                            if e.is_binary() {
                                ws_drift(&inner, &account, drift::kind::BINARY_FRAME, None);
                            }
                            tracing::debug!(account = %account.id, error = %e, "relay: malformed frame");
                        }
                        Err(e) => break e,
                    }
                };
                socket_closed(&counters);
                counters.since.store(0, Ordering::Relaxed);
                conn.close().await;
                ended
            }
            Err(e) => e,
        };
        counters.error(&ended);
        tracing::info!(account = %account.id, error = %ended, "relay disconnected");
        match ended {
            WsError::Unauthorized => {
                let Some(renewer) = connected.session.renewer() else {
                    tokio::time::sleep(backoff(&inner.cfg, attempt)).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                };
                match renewer.renew(&connected.session).await {
                    // Reconnect at once with the renewed token.
                    Ok(_) => {}
                    Err(UpstreamError::NeedsReconnect(why)) => {
                        counters.error(&why);
                        tracing::warn!(account = %account.id, %why, "relay stopped: the account needs reconnecting");
                        inner.sessions.changed();
                        return;
                    }
                    Err(UpstreamError::CoolingDown { retry_after, .. }) => {
                        tokio::time::sleep(retry_after).await;
                    }
                    Err(e) if e.is_transient() => {
                        counters.error(&e);
                        tokio::time::sleep(backoff(&inner.cfg, attempt)).await;
                        attempt = attempt.saturating_add(1);
                    }
                    // Repeating the same re-login cannot help: stop, and
                    // let the manager look at the account again.
                    Err(e) => {
                        counters.error(&e);
                        tracing::warn!(account = %account.id, error = %e, "relay stopped: the re-login failed");
                        inner.sessions.changed();
                        return;
                    }
                }
            }
            // The token is good: no re-login, only a longer wait each time.
            WsError::RateLimited => {
                rate_limited = rate_limited.saturating_add(1);
                counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(rate_limit_backoff(&inner.cfg, rate_limited)).await;
            }
            _ => {
                tokio::time::sleep(backoff(&inner.cfg, attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// A frame the client does not know, counted as protocol drift on the
/// socket's route (`/?v=3`) and shown on the account.
fn ws_drift(inner: &Inner, account: &Account, kind: &'static str, what: Option<&str>) {
    inner
        .sessions
        .fansly
        .drift()
        .record(Some(&account.id), "/?v=3", kind, what);
}

/// Maps one frame and hands its events to the writer, waiting while the
/// writer's queue is full (so a writer that cannot keep up slows the
/// reading of the socket instead of growing memory without bound).
async fn handle(
    inner: &Inner,
    account: &Account,
    counters: &Counters,
    writer: &Writer,
    frame: Frame,
) {
    let event = match frame {
        Frame::Service(e) => e,
        Frame::Unknown { t, .. } => {
            counters.unknown.fetch_add(1, Ordering::Relaxed);
            relay_event(&account.team_id, "unknown");
            ws_drift(
                inner,
                account,
                drift::kind::UNKNOWN_FRAME,
                Some(&format!("t={t}")),
            );
            tracing::debug!(account = %account.id, t, "relay: unknown frame type");
            return;
        }
        // A repeated session answer or an error code outside the handshake
        // (the connection reports refusals itself).
        _ => {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mapped = match mapping::map(&event, &account.fansly_id) {
        Outcome::Events(v) => v,
        Outcome::Ignored => {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Outcome::Unknown => {
            counters.unknown.fetch_add(1, Ordering::Relaxed);
            relay_event(&account.team_id, "unknown");
            let what = format!("service={} type={}", event.service_id, event.event_type);
            ws_drift(inner, account, drift::kind::UNKNOWN_FRAME, Some(&what));
            tracing::debug!(
                account = %account.id,
                service = event.service_id,
                kind = event.event_type,
                "relay: unknown service event"
            );
            return;
        }
        Outcome::Malformed(why) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(account = %account.id, %why, "relay: malformed service event");
            return;
        }
    };
    writer.push(mapped).await;
}

/// The socket is no longer connected: the gauge of open sockets drops by one,
/// once, whether the loop saw it end or the task was stopped.
fn socket_closed(counters: &Counters) {
    if counters.connected.swap(false, Ordering::Relaxed) {
        metrics::gauge!(telemetry::RELAY_CONNECTED).decrement(1.0);
    }
}

fn relay_event(team_id: &str, name: &'static str) {
    metrics::counter!(telemetry::RELAY_EVENTS, "team" => team_id.to_owned(), "event" => name)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base_ms: u64, cap_ms: u64) -> RelayConfig {
        RelayConfig {
            enabled: true,
            ws: WsConfig::default(),
            backoff_base: Duration::from_millis(base_ms),
            backoff_cap: Duration::from_millis(cap_ms),
            device_refresh: Duration::ZERO,
        }
    }

    #[test]
    fn reconnect_waits_are_jittered_and_never_above_the_cap() {
        let c = cfg(1_500, 15_000);
        let waits: Vec<u64> = (0..400)
            .map(|_| backoff(&c, 30).as_millis() as u64)
            .collect();
        assert!(waits.iter().all(|w| *w <= 15_000));
        let distinct: HashSet<u64> = waits.iter().copied().collect();
        assert!(distinct.len() > 100, "full jitter spreads the waits");
        assert!((0..400).all(|_| backoff(&c, 0) <= Duration::from_millis(1_500)));
    }

    #[test]
    fn a_rate_limit_wait_is_at_least_half_its_ceiling_and_doubles_to_the_cap() {
        let c = cfg(100, 1_000);
        for (streak, ceiling) in [(1, 200), (2, 400), (3, 800), (4, 1_000), (30, 1_000)] {
            for _ in 0..200 {
                let w = rate_limit_backoff(&c, streak).as_millis() as u64;
                assert!(
                    (ceiling / 2..=ceiling).contains(&w),
                    "streak {streak}: {w} ms"
                );
            }
        }
    }
}
