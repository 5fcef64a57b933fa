//! The mass-message fan-out worker: claims due broadcasts with a lease,
//! resolves their audience once, and sends one DM per recipient through the
//! account's throttle, recording each recipient before and after its send so
//! a restart resumes where it stopped. It decides; the records are
//! [`crate::broadcasts::store`]'s.

use std::collections::HashSet;
use std::time::Duration;

use fansly_upstream::{Audience, FanslyClient, NewMessage, UpstreamError};
use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};

use crate::accounts::sessions::{ConnectedAccount, Sessions};
use crate::accounts::throttle::patiently;
use crate::broadcasts::audience::resolve_audience;
use crate::broadcasts::due::Due;
use crate::broadcasts::store::{self, recipient, state, Broadcast, Pending, RECONCILE_WINDOW};
use crate::core::config::BroadcastSettings;
use crate::core::db::Db;
use crate::core::time::now_ms;

/// What the worker uses, handed over by `startup`.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub settings: BroadcastSettings,
    /// Woken by the API when it stores a broadcast.
    pub due: Due,
}

/// Why a broadcast could not go on.
pub enum Stop {
    /// Cancelled, or the lease went to another instance: just stop.
    Quietly,
    /// The broadcast fails as a whole (account unusable, audience gone).
    Fail(String),
    /// The database failed: leave the claim to expire, so this or another
    /// instance resumes the broadcast later.
    Later(String),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Later(format!("database: {e}"))
    }
}

/// Failures of the account rather than of one recipient.
pub fn account_failure(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::NeedsReconnect(_)
            | UpstreamError::Unauthorized { .. }
            | UpstreamError::Rejected(_)
    )
}

/// How a fan-out runs.
#[derive(Clone, Copy)]
struct Pass {
    /// When its remaining recipients are due only later: hold the claim and
    /// wait for them (the background worker), or give the claim back and
    /// return (a "run what is due now" pass).
    wait: bool,
    /// How far ahead of the real clock this pass reads "now" (ms; 0 but in
    /// tests of schedules and retries).
    ahead_ms: i64,
}

impl Pass {
    fn now(&self) -> i64 {
        now_ms() + self.ahead_ms
    }
}

// ---------------------------------------------------------------------------
// The background worker.
// ---------------------------------------------------------------------------

/// The fan-out worker of one gateway instance.
pub struct Worker {
    owner: String,
    task: JoinHandle<()>,
    db: Db,
}

impl Worker {
    /// Starts looking for due broadcasts every `broadcasts.poll_ms`, and
    /// whenever the API stores one ([`Deps::due`]).
    pub fn start(state: Deps) -> Worker {
        let owner = new_owner();
        let db = state.db.clone();
        let task = tokio::spawn(run(state, owner.clone()));
        Worker { owner, task, db }
    }

    /// Stops every delivery of this instance and gives its claims back, so
    /// the next instance resumes at once instead of after the lease.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        if let Err(e) = store::release(&self.db, &self.owner, None).await {
            tracing::warn!(error = %e, "releasing broadcast claims failed");
        }
    }
}

fn new_owner() -> String {
    crate::core::ids::random_id("worker_", 16)
}

async fn run(state: Deps, owner: String) {
    let poll = Duration::from_millis(state.settings.poll_ms.max(10));
    // Deliveries live in this set: aborting the worker aborts them all.
    let mut deliveries: JoinSet<()> = JoinSet::new();
    loop {
        while deliveries.try_join_next().is_some() {}
        match claim_due(&state, &owner, now_ms()).await {
            Ok(ids) => {
                for id in ids {
                    let (state, owner) = (state.clone(), owner.clone());
                    deliveries.spawn(async move {
                        let pass = Pass { wait: true, ahead_ms: 0 };
                        if let Err(e) = deliver(&state, &id, &owner, pass).await {
                            tracing::error!(broadcast = %id, error = %e, "broadcast delivery stopped");
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for due broadcasts failed"),
        }
        // The next look: after `poll`, or at once for a broadcast just stored.
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = state.due.woken() => {}
        }
    }
}

/// Claims the due broadcasts and runs each one's fan-out, one after the
/// other, until none is due now: a broadcast whose remaining recipients
/// are due only later is given back, to be claimed again when they are.
/// How many fan-outs ran. (The background worker claims the same way but
/// runs its fan-outs side by side and waits for later recipients.)
pub async fn run_due(state: &Deps) -> usize {
    run_due_ahead(state, Duration::ZERO).await
}

/// [`run_due`] with the clock read `ahead` of the real one: broadcasts and
/// recipient retries due by then run now, and claims that lapse by then
/// count as lapsed. For tests of schedules and retries; the worker passes
/// no offset.
pub async fn run_due_ahead(state: &Deps, ahead: Duration) -> usize {
    let owner = new_owner();
    let pass = Pass {
        wait: false,
        ahead_ms: ahead.as_millis() as i64,
    };
    // A broadcast given back with recipients due later is due again at
    // once: each runs once per pass.
    let mut ran: HashSet<String> = HashSet::new();
    loop {
        let ids = match claim_due(state, &owner, pass.now()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due broadcasts failed");
                break;
            }
        };
        let mut fresh = false;
        for id in ids {
            if !ran.insert(id.clone()) {
                if let Err(e) = store::release(&state.db, &owner, Some(&id)).await {
                    tracing::warn!(broadcast = %id, error = %e, "releasing a broadcast claim failed");
                }
                continue;
            }
            fresh = true;
            if let Err(e) = deliver(state, &id, &owner, pass).await {
                tracing::error!(broadcast = %id, error = %e, "broadcast delivery stopped");
            }
        }
        if !fresh {
            break;
        }
    }
    ran.len()
}

/// Claims every due broadcast nobody holds; the ids this instance won.
async fn claim_due(state: &Deps, owner: &str, now: i64) -> Result<Vec<String>, sqlx::Error> {
    store::claim_due(&state.db, owner, state.settings.lease_ms as i64, now).await
}

#[tracing::instrument(skip(state, owner, pass), fields(account))]
async fn deliver(state: &Deps, id: &str, owner: &str, pass: Pass) -> anyhow::Result<()> {
    let Some(b) = store::load(&state.db, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(());
    };
    tracing::Span::current().record("account", b.account_id.as_str());
    let outcome = match state.sessions.connected(&b.team_id, &b.account_id).await {
        Ok(account) => fan_out(state, &b, &account, owner, pass).await,
        Err(e) => Err(Stop::Fail(e.to_string())),
    };
    match outcome {
        Ok(()) | Err(Stop::Quietly) => Ok(()),
        Err(Stop::Later(why)) => {
            tracing::warn!(broadcast = %id, reason = %why, "broadcast paused until its claim expires");
            Ok(())
        }
        Err(Stop::Fail(why)) => {
            tracing::warn!(broadcast = %id, reason = %why, "broadcast failed");
            store::finish(&state.db, id, owner, state::FAILED, Some(&why)).await?;
            Ok(())
        }
    }
}

async fn fan_out(
    state: &Deps,
    b: &Broadcast,
    account: &ConnectedAccount,
    owner: &str,
    pass: Pass,
) -> Result<(), Stop> {
    let db = &state.db;
    let lease_ms = state.settings.lease_ms as i64;
    if b.total.is_none() {
        let fans = resolve_audience(&state.fansly, account, &b.spec)
            .await
            .map_err(Stop::Fail)?;
        if !store::record_audience(db, &b.id, owner, &fans).await? {
            return Err(Stop::Quietly);
        }
    }
    loop {
        if !store::renew(db, &b.id, owner, lease_ms).await? {
            return Err(Stop::Quietly);
        }
        let now = pass.now();
        let Some(p) = store::next_due(db, &b.id, now).await? else {
            match store::next_attempt_at(db, &b.id).await? {
                Some(_) if !pass.wait => {
                    store::release(db, owner, Some(&b.id)).await?;
                    return Ok(());
                }
                Some(at) => {
                    // Sleep in slices so the lease stays renewed.
                    let slice = (state.settings.lease_ms / 3).max(10) as i64;
                    let wait = (at - now).clamp(1, slice);
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    continue;
                }
                None => {
                    let row = store::load(db, &b.id)
                        .await
                        .map_err(|e| Stop::Later(e.to_string()))?;
                    let all_failed = row.as_ref().is_some_and(|r| r.sent == 0 && r.failed > 0);
                    let (end, why) = if all_failed {
                        (state::FAILED, Some("every recipient failed"))
                    } else {
                        (state::SENT, None)
                    };
                    store::finish(db, &b.id, owner, end, why).await?;
                    return Ok(());
                }
            }
        };
        send_one(state, b, account, &p).await?;
    }
}

/// One recipient: find-or-create the DM, grant the media for this fan,
/// send, record. Transient failures are retried later with backoff; a
/// recipient Fansly refuses is recorded as failed.
#[tracing::instrument(skip_all, fields(broadcast = %b.id, account = %account.id, fan = %p.fan, attempt = p.attempts + 1))]
async fn send_one(
    state: &Deps,
    b: &Broadcast,
    account: &ConnectedAccount,
    p: &Pending,
) -> Result<(), Stop> {
    let fansly = &state.fansly;
    let db = &state.db;
    // A send that was started may have landed: look before sending again.
    if p.state == recipient::SENDING {
        if let Some(group) = &p.group_id {
            let since = p.attempt_started_at.unwrap_or(0);
            match landed(fansly, account, group, &b.spec.text, since).await {
                Ok(Some(message_id)) => {
                    return Ok(store::record_sent(db, &b.id, &p.fan, &message_id).await?)
                }
                Ok(None) => {}
                // Not knowing is no reason to risk a second copy: look again
                // later. A reply that cannot be read (Protocol) is not
                // knowing either, though not transient.
                Err(e) if e.is_transient() || matches!(e, UpstreamError::Protocol(_)) => {
                    let wait = state.settings.retry_base_ms as i64;
                    return Ok(store::retry_later(db, &b.id, &p.fan, wait, &e.to_string()).await?);
                }
                Err(e) if account_failure(&e) => {
                    return Err(Stop::Fail(format!("account {}: {e}", account.id)))
                }
                // The DM cannot be read (gone): the send below finds out.
                Err(_) => {}
            }
        }
    }
    store::start_attempt(db, &b.id, &p.fan, now_ms()).await?;
    let attempt = p.attempts + 1;
    let group = match &p.group_id {
        Some(g) => Ok(g.clone()),
        None => create_group(fansly, account, &p.fan).await,
    };
    let group = match group {
        Ok(g) => {
            if p.group_id.is_none() {
                // A database failure here is the database's, not Fansly's:
                // the claim lapses and the recipient is taken up again.
                store::set_group(db, &b.id, &p.fan, &g).await?;
            }
            Ok(g)
        }
        Err(e) => Err(e),
    };
    let result = match group {
        Ok(group) => send(fansly, b, account, &p.fan, group).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(message_id) => Ok(store::record_sent(db, &b.id, &p.fan, &message_id).await?),
        Err(e) if account_failure(&e) => Err(Stop::Fail(format!("account {}: {e}", account.id))),
        Err(e) if e.is_transient() && attempt < i64::from(state.settings.max_attempts) => {
            let base = state.settings.retry_base_ms as i64;
            let wait = base.saturating_mul(1 << (attempt - 1).clamp(0, 16));
            let wait = match &e {
                UpstreamError::RateLimited {
                    retry_after: Some(after),
                } => wait.max(after.as_millis() as i64),
                _ => wait,
            };
            Ok(store::retry_later(db, &b.id, &p.fan, wait, &e.to_string()).await?)
        }
        Err(e) => Ok(store::record_failed(db, &b.id, &p.fan, &e.to_string()).await?),
    }
}

/// Finds or creates the DM with `fan`; its group id.
async fn create_group(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    fan: &str,
) -> Result<String, UpstreamError> {
    let g = patiently(|| fansly.create_group(&account.session, &account.fansly_id, fan)).await?;
    g.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            UpstreamError::Protocol("Fansly answered the DM creation without an id".into())
        })
}

/// Grants the media to `fan` and sends the message into `group`; its id.
async fn send(
    fansly: &FanslyClient,
    b: &Broadcast,
    account: &ConnectedAccount,
    fan: &str,
    group: String,
) -> Result<String, UpstreamError> {
    let media = b.spec.media();
    // One file is one accountMedia, several one bundle (attach.rs).
    let attachments = if media.is_empty() {
        Vec::new()
    } else {
        let gates = b.spec.gates();
        let audience = Audience::Dm {
            me: &account.fansly_id,
            fan,
        };
        patiently(|| fansly.attach_media(&account.session, &media, audience, &gates))
            .await?
            .into_iter()
            .collect()
    };
    let msg = NewMessage {
        group_id: group,
        content: b.spec.text.clone(),
        attachments,
        in_reply_to: None,
    };
    let sent = patiently(|| fansly.send_message(&account.session, &msg)).await?;
    sent.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| UpstreamError::Protocol("Fansly answered the message without an id".into()))
}

/// The id of a message this account sent to `group` at or after `since_ms`
/// with `text`, if Fansly has one (a send whose answer was lost).
async fn landed(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    group: &str,
    text: &str,
    since_ms: i64,
) -> Result<Option<String>, UpstreamError> {
    let page =
        patiently(|| fansly.messages(&account.session, group, None, RECONCILE_WINDOW)).await?;
    let found = page
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("senderId").and_then(Value::as_str) == Some(account.fansly_id.as_str())
                && m.get("content").and_then(Value::as_str) == Some(text)
                // Fansly's createdAt is in seconds.
                && m.get("createdAt").and_then(Value::as_f64).is_some_and(|s| {
                    (s * 1000.0) as i64 >= since_ms - 1000
                })
        })
        .and_then(|m| m.get("id").and_then(Value::as_str).map(str::to_owned));
    Ok(found)
}
