//! Credit reservations by group commit: calls hand their reservation to one
//! committer task per instance, which writes every reservation waiting at
//! that moment in ONE transaction (the teams' balances, a ledger row per
//! call, a hold per call) and answers each call only once that transaction
//! is durable. While a transaction is in flight the next calls queue, so
//! under load one commit carries many calls and no call waits for a write
//! transaction of its own; alone, a call costs what it did before (one).
//!
//! Why group commit and not per-instance credit leases: a lease moves credits
//! out of the balance before they are spent, so the ledger would show lease
//! rows instead of calls, `_meta.balance` would not be the team's balance,
//! and with several instances a team near zero would be refused by one
//! instance while another sits on unspent lease. Group commit keeps the old
//! rules word for word (never negative, never spent twice, the ledger sums
//! to the balance, every charge is a ledger row before the call runs) and
//! only changes how many calls share a transaction.
//!
//! Settling: a call that succeeds keeps its charge; its hold is deleted in a
//! later batch (nothing waits for that). A call that fails is refunded at once
//! (its hold deleted with the refund, one transaction). A hold left by a
//! process that died is refunded by [`settle_orphans`] when an instance starts
//! and by housekeeping. Whoever deletes a hold settles it, so a call is
//! settled exactly once however these race.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::metering::credit_batch::{Call, Line, Reserved, MAX_BATCH};
use crate::metering::credits::ReserveError;

enum Op {
    Reserve {
        team: String,
        cost: i64,
        endpoint: &'static str,
        request_id: Option<String>,
        done: oneshot::Sender<Result<Reserved, ReserveError>>,
    },
    /// The call succeeded: its charge stands, its hold goes.
    Keep(String),
    /// Answered once everything queued before it is written (shutdown).
    Flush(oneshot::Sender<()>),
}

/// How long a balance this instance saw is good enough for an answer that
/// charged nothing (an error's `_meta`): as long as an API key is trusted.
const LAST_KNOWN_TTL: Duration = Duration::from_secs(1);

/// This instance's committer (cheap to clone).
#[derive(Clone)]
pub struct Committer {
    ops: mpsc::UnboundedSender<Op>,
    db: Db,
    seen: Seen,
    open: Arc<Open>,
}

/// Reservations handed out and not settled yet (neither kept nor refunded),
/// so a stopping instance can wait for its calls to finish and write their
/// keeps instead of leaving holds that a restart would refund.
#[derive(Default)]
struct Open {
    count: AtomicUsize,
    idle: Notify,
}

impl Open {
    fn settled(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// Each team's balance as this instance last wrote or read it, and when.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<String, (i64, Instant)>>>);

impl Seen {
    fn note(&self, team: &str, balance: i64) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(team) {
            Some(entry) => *entry = (balance, Instant::now()),
            None => {
                seen.insert(team.to_owned(), (balance, Instant::now()));
            }
        }
    }
}

impl Committer {
    /// Starts the committer task (it ends when the last handle is dropped).
    pub fn start(db: Db) -> Committer {
        let (ops, rx) = mpsc::unbounded_channel();
        let seen = Seen::default();
        tokio::spawn(run(db.clone(), rx, seen.clone()));
        Committer {
            ops,
            db,
            seen,
            open: Arc::default(),
        }
    }

    /// For a stopping instance: waits (at most `patience`) until every
    /// reservation handed out is settled, then until everything queued is
    /// written. Without this, the keeps of calls answered just before a stop
    /// would die in the queue and a restart would refund calls that were
    /// served. Returns how many reservations were still open (their holds
    /// stay and are refunded as orphans later).
    pub async fn drain(&self, patience: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Created before the check, so a settle in between still wakes it.
            let idle = self.open.idle.notified();
            if self.open.count.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let (done, written) = oneshot::channel();
        if self.ops.send(Op::Flush(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline + Duration::from_secs(5), written).await;
        }
        self.open.count.load(Ordering::Acquire)
    }

    /// The team's balance for an answer that charged nothing (an error's
    /// `_meta`): the one this instance last committed or refunded when that
    /// was within a second (other instances' calls, and grants, may have
    /// moved it since), else read from the database.
    pub async fn balance(&self, team: &str) -> Result<Option<i64>, sqlx::Error> {
        let known = self
            .seen
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(team)
            .filter(|(_, at)| at.elapsed() < LAST_KNOWN_TTL)
            .map(|(balance, _)| *balance);
        if known.is_some() {
            return Ok(known);
        }
        let balance = crate::metering::credits::balance(&self.db, team).await?;
        if let Some(balance) = balance {
            self.seen.note(team, balance);
        }
        Ok(balance)
    }

    /// Takes `cost` (> 0) credits of `team` for a call of `endpoint`; returns
    /// once the debit, its ledger row and the hold are committed.
    pub async fn reserve(
        &self,
        team: &str,
        cost: i64,
        endpoint: &'static str,
        request_id: Option<&str>,
    ) -> Result<Reserved, ReserveError> {
        let (done, answer) = oneshot::channel();
        self.ops
            .send(Op::Reserve {
                team: team.to_owned(),
                cost,
                endpoint,
                request_id: request_id.map(str::to_owned),
                done,
            })
            .map_err(|_| ReserveError::Batch("the credit committer has stopped".into()))?;
        let reserved = answer
            .await
            .map_err(|_| ReserveError::Batch("the credit committer has stopped".into()))??;
        self.open.count.fetch_add(1, Ordering::AcqRel);
        Ok(reserved)
    }

    /// The call behind `hold` succeeded: the charge stands. Written with a
    /// later batch; a crash before then refunds the call (never charges twice).
    pub fn keep(&self, hold: String) {
        let _ = self.ops.send(Op::Keep(hold));
        self.open.settled();
    }

    /// The call behind `hold` failed: gives its credits back (now, in one
    /// transaction with deleting the hold); the balance after, or `None` when
    /// the hold was already settled.
    pub async fn refund(&self, hold: &str) -> Result<Option<i64>, sqlx::Error> {
        let refunded = refund(&self.db, hold).await;
        self.open.settled();
        let (team, balance) = match refunded? {
            Some(refunded) => refunded,
            None => return Ok(None),
        };
        self.seen.note(&team, balance);
        Ok(Some(balance))
    }
}

/// Kept holds wait until this many have gathered before they ride along with
/// reservations: deleting a hold is bookkeeping no call waits for, and one
/// DELETE per batch was one more statement per commit. A batch without
/// reservations (the committer has nothing else to do), a flush, or
/// [`KEEPS_WAIT`] without anything else writes whatever is waiting.
const KEEPS_AT_ONCE: usize = 64;
/// The longest kept holds wait in memory when no other work comes: a crash
/// within it refunds those calls (answered ones included, as before their
/// keep was written), never charges twice.
const KEEPS_WAIT: Duration = Duration::from_millis(100);
/// Scheduler passes the committer gives calls on their way to it before it
/// writes, when the last batch had company: each commit costs the same
/// statements however many calls it carries, so a batch of eight instead of
/// five saves CPU per call. Two passes add microseconds, never a timer's
/// millisecond; alone, a call is written at once.
const LINGER_PASSES: usize = 2;

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Op>, seen: Seen) {
    let mut line = Line::default();
    let mut keeps: Vec<String> = Vec::new();
    let mut had_company = false;
    loop {
        let first = if keeps.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(KEEPS_WAIT, rx.recv()).await {
                Ok(op) => op,
                Err(_) => {
                    // Nothing else came: the waiting keeps are written alone.
                    write_keeps(&db, &mut line, &mut keeps, &seen).await;
                    continue;
                }
            }
        };
        let Some(first) = first else {
            // Every handle is gone: what is waiting is written before the
            // task ends (a stopping instance flushes first; this is the rest).
            write_keeps(&db, &mut line, &mut keeps, &seen).await;
            break;
        };
        let mut ops = vec![first];
        take_queued(&mut rx, &mut ops);
        if had_company {
            for _ in 0..LINGER_PASSES {
                let before = ops.len();
                tokio::task::yield_now().await;
                take_queued(&mut rx, &mut ops);
                if ops.len() == before {
                    break;
                }
            }
        }
        let mut batch = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Keep(hold) => keeps.push(hold),
                other => batch.push(other),
            }
        }
        let reserves = batch
            .iter()
            .filter(|op| matches!(op, Op::Reserve { .. }))
            .count();
        let flush = batch.iter().any(|op| matches!(op, Op::Flush(_)));
        if reserves == 0 || flush || keeps.len() >= KEEPS_AT_ONCE {
            batch.extend(keeps.drain(..).map(Op::Keep));
        }
        had_company = reserves > 1;
        if let Some(failed) = commit(&db, &mut line, batch, &seen).await {
            // The transaction failed: its reservations were answered with the
            // error; the holds of calls that succeeded are tried again.
            keeps.extend(failed);
        }
    }
}

/// Writes the kept holds waiting in `keeps` as a batch of their own; those
/// of a failed batch stay to be tried again.
async fn write_keeps(db: &Db, line: &mut Line, keeps: &mut Vec<String>, seen: &Seen) {
    if keeps.is_empty() {
        return;
    }
    let batch: Vec<Op> = keeps.drain(..).map(Op::Keep).collect();
    if let Some(failed) = commit(db, line, batch, seen).await {
        keeps.extend(failed);
    }
}

/// Moves what is queued now into `ops`, up to a batch.
fn take_queued(rx: &mut mpsc::UnboundedReceiver<Op>, ops: &mut Vec<Op>) {
    while ops.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
}

/// One transaction for `batch`. On failure answers every reservation with the
/// error and hands back the keeps to try again.
async fn commit(db: &Db, line: &mut Line, batch: Vec<Op>, seen: &Seen) -> Option<Vec<String>> {
    let mut reserves = Vec::new();
    let mut keeps = Vec::new();
    let mut flushes = Vec::new();
    for op in batch {
        match op {
            Op::Reserve {
                team,
                cost,
                endpoint,
                request_id,
                done,
            } => reserves.push((team, cost, endpoint, request_id, done)),
            Op::Keep(hold) => keeps.push(hold),
            Op::Flush(done) => flushes.push(done),
        }
    }
    let plan: Vec<Call> = reserves
        .iter()
        .map(|(t, c, e, r, _)| (t.as_str(), *c, *e, r.as_deref()))
        .collect();
    let written = line.write(db, &plan, &keeps).await;
    // A failed batch answers its flushes too: its keeps stay held and are
    // refunded as orphans later, which is all a stopping instance can do.
    for done in flushes {
        let _ = done.send(());
    }
    match written {
        Ok((outcomes, balances)) => {
            for (team, balance) in balances {
                seen.note(&team, balance);
            }
            for ((.., done), outcome) in reserves.into_iter().zip(outcomes) {
                let _ = done.send(outcome);
            }
            None
        }
        Err(e) => {
            tracing::error!(error = %e, calls = reserves.len(), "credit batch failed");
            for (.., done) in reserves {
                let _ = done.send(Err(ReserveError::Batch(e.to_string())));
            }
            Some(keeps)
        }
    }
}

/// Refunds the call behind `hold` if it is still unsettled: deletes the hold
/// and credits its cost back with a `refund` ledger row, in one transaction.
/// The balance after, or `None` when someone settled the hold first.
pub async fn refund_hold(db: &Db, hold: &str) -> Result<Option<i64>, sqlx::Error> {
    Ok(refund(db, hold).await?.map(|(_, balance)| balance))
}

/// [`refund_hold`], also naming the team.
async fn refund(db: &Db, hold: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    let row = sqlx::query(
        "DELETE FROM credit_holds WHERE id = $1 RETURNING team_id, cost, endpoint, request_id",
    )
    .bind(hold)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let (team, cost, endpoint, request_id): (String, i64, String, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let balance: i64 =
        sqlx::query("UPDATE teams SET credits = credits + $1 WHERE id = $2 RETURNING credits")
            .bind(cost)
            .bind(&team)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
    sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
         VALUES ($1, $2, $3, 'refund', $4, $5, $6)",
    )
    .bind(&team)
    .bind(cost)
    .bind(balance)
    .bind(&endpoint)
    .bind(&request_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!(telemetry::CREDITS_REFUNDED, "team" => team.clone(), "endpoint" => endpoint)
        .increment(cost.max(0) as u64);
    Ok(Some((team, balance)))
}

/// Refunds every hold created before `cutoff_ms`: calls whose process died
/// between reserving and settling. How many were refunded.
pub async fn settle_orphans(db: &Db, cutoff_ms: i64) -> Result<usize, sqlx::Error> {
    let holds: Vec<String> =
        sqlx::query_scalar("SELECT id FROM credit_holds WHERE created_at < $1 ORDER BY created_at")
            .bind(cutoff_ms)
            .fetch_all(&db.pool)
            .await?;
    let mut settled = 0;
    for hold in holds {
        if refund_hold(db, &hold).await?.is_some() {
            settled += 1;
        }
    }
    if settled > 0 {
        tracing::warn!(
            holds = settled,
            "refunded credit reservations left by a stopped process"
        );
    }
    Ok(settled)
}
