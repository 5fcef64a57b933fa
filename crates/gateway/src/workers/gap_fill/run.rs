//! The gap fill worker: which accounts are due, one fill per account at a
//! time, what a fill found recorded oldest first through the outbox, the
//! marks moved on. [`run_due`] is the "run what is due now" entry point;
//! [`spawn`] polls it.
//!
//! Fansly's websocket does not replay what a closed socket missed, so after
//! every (re)connect (the relay calls [`RelayHooks::connected`]) and on a
//! slow sweep the fill asks the REST API what changed since the account's
//! marks, within the configured horizon, and records what the socket would
//! have delivered with the same dedup keys: an occurrence seen both ways is
//! one event.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use fansly_upstream::ids::snowflake_time_ms;
use serde_json::Value;

use crate::core::db::Db;
use crate::core::time::now_ms;
use crate::events::marks::{self, DueAccount};
use crate::events::outbox::NewEvent;
use crate::workers::gap_fill::fill::{id_of, Advance, Fill};
pub use crate::workers::gap_fill::fill::{Deps, Settings};
use crate::workers::gap_fill::{chats, fans, money, sweep};
use crate::workers::profiles::Profiles;

/// What the relay calls into: a (re)connect makes a fill due; a received
/// message gets its `senderData`.
#[derive(Clone)]
pub struct RelayHooks {
    pub db: Db,
    pub profiles: Profiles,
    /// When set (the gap fill's loop runs), a (re)connect fills the account
    /// at once, before the relay writes what the new connection brings.
    pub fill: Option<Deps>,
}

impl RelayHooks {
    /// The account's socket (re)connected: whatever it missed is filled
    /// next (by [`Self::fill_now`] when the relay's writer gets there, or
    /// by the loop's next run).
    pub async fn connected(&self, account_id: &str) {
        if let Err(e) = marks::connected(&self.db, account_id, now_ms()).await {
            tracing::warn!(account = account_id, error = %e, "gap fill: marking the account due failed");
        }
    }

    /// With `fill`, fills the account now (the relay's writer calls this
    /// after a (re)connect, before writing what the connection brings).
    /// An account never filled yet has nothing to fill (its baseline is
    /// its first connect): the loop's first run remembers what is there.
    pub async fn fill_now(&self, account_id: &str) {
        if let Some(deps) = &self.fill {
            match marks::status(&self.db, account_id).await {
                Ok(Some((_, _, Some(_), _, _))) => {}
                _ => return,
            }
            let report = run_account(deps, account_id).await;
            if !report.errors.is_empty() {
                tracing::debug!(account = account_id, errors = ?report.errors, "gap fill after a connect had errors");
            }
        }
    }

    /// Looks up, in one request, the senders of received messages whose
    /// profile is not cached yet (a burst from many fans).
    pub async fn prefetch<'a>(
        &self,
        team_id: &str,
        account_id: &str,
        events: impl Iterator<Item = (&'a str, &'a Value)>,
    ) {
        self.profiles.prefetch(team_id, account_id, events).await;
    }

    /// Adds `senderData` to a received message; answers when the event is
    /// to be recorded as having happened: a message at the time its id was
    /// minted (as the gap fill dates the messages it finds, so live and
    /// filled messages of a chat keep Fansly's order), anything else now.
    pub async fn enrich(
        &self,
        team_id: &str,
        account_id: &str,
        name: &str,
        payload: &mut Value,
    ) -> i64 {
        self.profiles
            .enrich(team_id, account_id, name, payload)
            .await;
        let now = now_ms();
        match name {
            "fansly.messages.received" | "fansly.messages.sent" => id_of(payload, "id")
                .map(snowflake_time_ms)
                // A clock ahead of ours (or a bogus id) never dates ahead.
                .filter(|at| *at > 0)
                .map_or(now, |at| at.min(now)),
            _ => now,
        }
    }
}

/// What one fill did.
#[derive(Debug, Default)]
pub struct Report {
    pub accounts: usize,
    pub recorded: usize,
    pub duplicates: usize,
    pub requests: u32,
    pub errors: Vec<String>,
}

/// How long a fill's claim on its account lasts: another instance takes a
/// fill over only after this (its claimant died mid-fill).
const CLAIM_MS: i64 = 5 * 60 * 1000;

/// One fill per account at a time in this process (the background poll and
/// a test's call may meet); across a cluster's instances the fill is
/// claimed in the database ([`marks::claim`]), so one instance fills each
/// due account.
static FILLING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn lock_for(account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    FILLING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(account_id.to_owned())
        .or_default()
        .clone()
}

/// Fills every account that is due now.
pub async fn run_due(deps: &Deps) -> Report {
    let mut report = Report::default();
    if !deps.settings.enabled {
        return report;
    }
    let due = match marks::due(&deps.db, now_ms()).await {
        Ok(d) => d,
        Err(e) => {
            report.errors.push(format!("reading due accounts: {e}"));
            return report;
        }
    };
    for account in due {
        fill_locked(deps, &account, &mut report).await;
    }
    report
}

/// Fills one account now if it is due (a (re)connect made it so). Returns
/// only once no fill of the account runs in this process: the lock is taken
/// before looking at what is due, because the loop may have claimed the
/// account the moment the connect made it due (then it is no longer due,
/// and the relay's writer must still wait for that fill to end before it
/// writes what the new connection brings).
pub async fn run_account(deps: &Deps, account_id: &str) -> Report {
    let mut report = Report::default();
    if !deps.settings.enabled {
        return report;
    }
    let lock = lock_for(account_id);
    let _held = lock.lock().await;
    match marks::due(&deps.db, now_ms()).await {
        Ok(due) => {
            if let Some(account) = due.into_iter().find(|a| a.account_id == account_id) {
                claim_and_fill(deps, &account, &mut report).await;
            }
        }
        Err(e) => report.errors.push(format!("reading due accounts: {e}")),
    }
    report
}

/// One fill of `account` under its lock, unless another task filled it
/// while this one waited.
async fn fill_locked(deps: &Deps, account: &DueAccount, report: &mut Report) {
    let lock = lock_for(&account.account_id);
    let _held = lock.lock().await;
    claim_and_fill(deps, account, report).await;
}

/// The fill itself, with the account's lock held by the caller.
async fn claim_and_fill(deps: &Deps, account: &DueAccount, report: &mut Report) {
    {
        // Another task or instance may have filled it, or be filling it.
        let now = now_ms();
        let claim = match marks::claim(&deps.db, &account.account_id, now, now + CLAIM_MS).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return,
            Err(e) => {
                report.errors.push(e.to_string());
                return;
            }
        };
        report.accounts += 1;
        fill_account(deps, account, claim, report).await;
    }
}

async fn fill_account(deps: &Deps, account: &DueAccount, claim: i64, report: &mut Report) {
    let started = now_ms();
    let session = match deps
        .sessions
        .connected(&account.team_id, &account.account_id)
        .await
    {
        Ok(c) => c.session,
        Err(e) => {
            report.errors.push(e.to_string());
            let retry = now_ms() + deps.settings.poll_every.as_millis() as i64 * 5;
            let _ = marks::finished(
                &deps.db,
                &account.account_id,
                claim,
                started,
                retry,
                0,
                Some(&e.to_string()),
            )
            .await;
            return;
        }
    };
    let horizon = deps.settings.horizon.as_millis() as i64;
    let mut fill = Fill::new(
        deps,
        account,
        session,
        account.baseline_at.max(started - horizon),
    );
    let mut found = Vec::new();
    let mut advances = Vec::new();
    let mut error: Option<String> = None;
    // Each source reports what it found even when it stops early; a source
    // that failed keeps its marks, so the next fill looks again.
    // Messages first (what integrators wait on), then money, fans, the
    // sweep's diffs: a spent allowance leaves the later ones for the next run.
    macro_rules! source {
        ($name:literal, $fill:expr) => {
            if let Err(e) = $fill(&mut fill, &mut found, &mut advances).await {
                error.get_or_insert(format!(concat!($name, ": {}"), e));
            }
        };
    }
    source!("chats", chats::fill);
    source!("transactions", money::transactions);
    source!("followers", fans::followers);
    source!("subscriptions", fans::subscriptions);
    source!("payouts", money::payouts);
    source!("sweep", sweep::fill);
    // Oldest first: the account's events keep the upstream order.
    found.sort_by_key(|f| (f.at, f.order));
    let mut recorded = 0;
    let mut failed = false;
    // The senders the profile cache lacks, looked up 50 to a request: one
    // lookup per fan would spend the account's Fansly budget that the
    // relay's own lookups wait on (the stall behind backdated events).
    deps.profiles
        .prefetch(
            &account.team_id,
            &account.account_id,
            found.iter().map(|f| (f.name, &f.payload)),
        )
        .await;
    let mut rows = Vec::with_capacity(found.len());
    for f in found {
        let mut payload = f.payload;
        deps.profiles
            .enrich(&account.team_id, &account.account_id, f.name, &mut payload)
            .await;
        let event = NewEvent {
            team_id: account.team_id.clone(),
            account_id: account.account_id.clone(),
            name: f.name,
            dedup_key: f.dedup_key,
            payload,
        };
        rows.push((event, f.at.min(now_ms())));
    }
    // In order, a few hundred per transaction.
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(200));
        let batch = std::mem::replace(&mut rows, rest);
        match deps.events.record_batch(&batch).await {
            Ok(answers) => {
                let new = answers.iter().flatten().count();
                recorded += new;
                report.recorded += new;
                report.duplicates += answers.len() - new;
            }
            Err(e) => {
                error.get_or_insert(format!("recording: {e}"));
                failed = true;
                break;
            }
        }
    }
    // Marks and snapshots move only once everything they cover is in the
    // outbox: a failed record is looked for again.
    if !failed {
        if let Err(e) = write_down(&deps.db, &account.account_id, advances).await {
            error.get_or_insert(format!("marks: {e}"));
        }
    }
    report.requests += fill.requests();
    if recorded > 0 {
        tracing::info!(account = %account.account_id, recorded, requests = fill.requests(), "gap fill recorded missed events");
    }
    // An unfinished fill (allowance spent, Fansly refused, throttled) stays
    // due soon; a complete one waits for the sweep or the next reconnect.
    let next = if error.is_some() {
        now_ms() + deps.settings.poll_every.as_millis() as i64 * 5
    } else {
        now_ms() + deps.settings.sweep_every.as_millis() as i64
    };
    if let Some(e) = &error {
        tracing::warn!(account = %account.account_id, error = %e, "gap fill incomplete");
        report.errors.push(e.clone());
    }
    if let Err(e) = marks::finished(
        &deps.db,
        &account.account_id,
        claim,
        started,
        next,
        recorded as i64,
        error.as_deref(),
    )
    .await
    {
        tracing::warn!(account = %account.account_id, error = %e, "gap fill: filing the run failed");
    }
}

/// Raises the marks and stores the snapshots a fill recorded the events of.
async fn write_down(db: &Db, account_id: &str, advances: Vec<Advance>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for a in advances {
        match a {
            Advance::Mark { source, mark } => {
                marks::advance(db, account_id, &source, mark, now).await?
            }
            Advance::Remember {
                source,
                item,
                value,
            } => marks::remember(db, account_id, source, &item, &value, now).await?,
            Advance::Forget { source, item } => {
                marks::forget(db, account_id, source, &item).await?
            }
        }
    }
    Ok(())
}

/// Polls [`run_due`] until aborted.
pub fn spawn(deps: Deps) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !deps.settings.enabled {
            return;
        }
        loop {
            let report = run_due(&deps).await;
            if !report.errors.is_empty() {
                tracing::debug!(errors = ?report.errors, "gap fill run had errors");
            }
            tokio::time::sleep(deps.settings.poll_every).await;
        }
    })
}
