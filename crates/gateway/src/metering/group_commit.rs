//! Credit reservations by group commit: calls hand their reservation to one
//! committer task per instance, which writes every reservation waiting at
//! that moment in ONE transaction (the teams' balances and a ledger row per
//! call) and answers each call only once that transaction is durable. While
//! a transaction is in flight the next calls queue, so under load one commit
//! carries many calls and no call waits for a write transaction of its own;
//! alone, a call costs what it did before (one).
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
//! Settling, without a write per call: a call that succeeds keeps its charge
//! and nothing is written for it; a call that fails is refunded at once (a
//! `refund` ledger row naming its debit, at most one per debit, with the
//! balance, in one transaction). Each committer is a *run* (one per process
//! start): its debits carry the run's id, and every `HEARTBEAT` (within
//! `MARK_WAIT` once something changed; both in credit_marks.rs) it writes
//! its row: its last debit and the debits still open (every other one up to
//! the last is settled).
//! A long call (an upload) is one open debit, not a limit on the others. A
//! run whose heartbeat stopped for `credit_run_timeout_ms` died; at start
//! and in housekeeping `settle_orphans` (`credit_runs.rs`) refunds the
//! debits its row reports open and those after its last reported one,
//! unless refunded already — the calls it had not settled, and those
//! settled in its last `MARK_WAIT` (refunded, never charged twice) — and
//! removes the run.
//! This replaced a hold row written and deleted again per call, a third of
//! PostgreSQL's work per call (BENCHMARKS.md, eighth and ninth rounds).
//!
//! Reads wait for company: a read runs beside its reservation (it waits
//! for Fansly meanwhile), so the committer may hold its debit up to
//! [`PATIENCE`] for more calls to share the transaction, and writes it as
//! soon as a call that waits for its debit arrives, or a read whose Fansly
//! answer came first hurries it. Under load that tripled the calls per
//! transaction (BENCHMARKS.md, thirteenth round).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use crate::core::db::Db;
use crate::metering::credit_batch::{Call, Line, Reserved, MAX_BATCH};
use crate::metering::credit_marks::{beat, find_lost, Marks, Unsure};
use crate::metering::credit_runs::refund_debit;
use crate::metering::credits::ReserveError;

enum Op {
    Reserve {
        team: String,
        cost: i64,
        endpoint: &'static str,
        request_id: Option<String>,
        pace: Pace,
        done: oneshot::Sender<Result<Reserved, ReserveError>>,
    },
    /// A call whose work ran beside its reservation finished that work
    /// first and now waits for the reservation: what is held goes now.
    Hurry,
    /// The call behind this debit settled: it kept its charge, or its
    /// refund is written.
    Settled(i64),
    /// A refund that could not be written: the committer tries again with
    /// its next heartbeat (the debit stays unsettled meanwhile).
    Refund(i64),
    /// A stopping instance: answered once everything queued before it is
    /// written, the run's mark with it; the run's row goes when nothing is
    /// unsettled.
    Retire(oneshot::Sender<()>),
}

/// How long a balance this instance saw is good enough for an answer that
/// charged nothing (an error's `_meta`): as long as an API key is trusted.
const LAST_KNOWN_TTL: Duration = Duration::from_secs(1);

/// When a reservation's debit must be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Its call waits for it before it runs: written at once.
    Now,
    /// Its call (a read) runs meanwhile: it may wait up to [`PATIENCE`]
    /// for company, or until the call hurries it ([`Committer::hurry`]).
    Beside,
}

/// This instance's committer (cheap to clone).
#[derive(Clone)]
pub struct Committer {
    ops: mpsc::UnboundedSender<Op>,
    db: Db,
    seen: Seen,
    open: Arc<Open>,
    /// Credit transactions written so far.
    transactions: Arc<AtomicU64>,
    run: i64,
    task: tokio::task::AbortHandle,
}

/// Reservations handed out and not settled yet (neither kept nor refunded),
/// so a stopping instance can wait for its calls to finish instead of
/// leaving them for a settler to refund as if they had never been served.
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
    /// The team's balance as last seen, if within [`LAST_KNOWN_TTL`].
    fn fresh(&self, team: &str) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(team)
            .filter(|(_, at)| at.elapsed() < LAST_KNOWN_TTL)
            .map(|(balance, _)| *balance)
    }

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
    /// Starts the committer task, a new run (it ends when the last handle
    /// is dropped).
    pub fn start(db: Db) -> Committer {
        Committer::start_with_patience(db, PATIENCE)
    }

    /// [`Self::start`] holding reservations made beside their calls for up
    /// to `patience` (tests give an hour, to see what a hurry does).
    pub fn start_with_patience(db: Db, patience: Duration) -> Committer {
        let (ops, rx) = mpsc::unbounded_channel();
        let seen = Seen::default();
        let line = Line::default();
        let run = line.run();
        let transactions = Arc::new(AtomicU64::new(0));
        let written = transactions.clone();
        let committer = run_committer(db.clone(), rx, seen.clone(), line, patience, written);
        let task = tokio::spawn(committer);
        Committer {
            ops,
            db,
            seen,
            open: Arc::default(),
            transactions,
            run,
            task: task.abort_handle(),
        }
    }

    /// Stops the committer as a crash would: nothing more is written (no
    /// mark, no heartbeat), so its run is settled as a dead one. For tests
    /// of what a killed instance leaves; a stopping instance drains.
    pub fn halt(&self) {
        self.task.abort();
    }

    /// How many credit transactions this committer has written: calls per
    /// transaction is what group commit is for.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// This committer's run: the id its debits carry.
    pub fn run_id(&self) -> i64 {
        self.run
    }

    /// For a stopping instance: waits (at most `patience`) until every
    /// reservation handed out is settled, then until everything queued is
    /// written and the run is retired. Without this, calls answered just
    /// before a stop would be refunded by a settler as if never served.
    /// Returns how many reservations were still open (a settler refunds
    /// them once the run's heartbeat is old enough).
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
        if self.ops.send(Op::Retire(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline + Duration::from_secs(5), written).await;
        }
        self.open.count.load(Ordering::Acquire)
    }

    /// Whether the balance this instance last committed or refunded for
    /// `team`, within a second, covers `cost`: a read may then run beside
    /// its reservation. Unknown (a team's first call, or none for a second)
    /// is no: its call waits for the reservation, so a team that cannot pay
    /// gets its 402 without a call to Fansly.
    pub fn likely_covers(&self, team: &str, cost: i64) -> bool {
        self.seen.fresh(team).is_some_and(|balance| balance >= cost)
    }

    /// The team's balance for an answer that charged nothing (an error's
    /// `_meta`): the one this instance last committed or refunded when that
    /// was within a second (other instances' calls, and grants, may have
    /// moved it since), else read from the database.
    pub async fn balance(&self, team: &str) -> Result<Option<i64>, sqlx::Error> {
        if let Some(known) = self.seen.fresh(team) {
            return Ok(Some(known));
        }
        let balance = crate::metering::credits::balance(&self.db, team).await?;
        if let Some(balance) = balance {
            self.seen.note(team, balance);
        }
        Ok(balance)
    }

    /// Takes `cost` (> 0) credits of `team` for a call of `endpoint`; returns
    /// once the debit and its ledger row are committed.
    pub async fn reserve(
        &self,
        team: &str,
        cost: i64,
        endpoint: &'static str,
        request_id: Option<&str>,
    ) -> Result<Reserved, ReserveError> {
        self.reserve_paced(team, cost, endpoint, request_id, Pace::Now)
            .await
    }

    /// A call reserved with [`Pace::Beside`] finished its work and now
    /// waits for its reservation: the committer writes what it holds now.
    pub fn hurry(&self) {
        let _ = self.ops.send(Op::Hurry);
    }

    /// [`Self::reserve`] at `pace`: [`Pace::Beside`] for a call that runs
    /// meanwhile, whose debit the committer may hold for company.
    pub async fn reserve_paced(
        &self,
        team: &str,
        cost: i64,
        endpoint: &'static str,
        request_id: Option<&str>,
        pace: Pace,
    ) -> Result<Reserved, ReserveError> {
        let (done, answer) = oneshot::channel();
        self.ops
            .send(Op::Reserve {
                team: team.to_owned(),
                cost,
                endpoint,
                request_id: request_id.map(str::to_owned),
                pace,
                done,
            })
            .map_err(|_| ReserveError::Batch("the credit committer has stopped".into()))?;
        let awaited = Awaited {
            answer: Some(answer),
            ops: &self.ops,
        };
        let reserved = awaited
            .outcome()
            .await
            .ok_or_else(|| ReserveError::Batch("the credit committer has stopped".into()))??;
        self.open.count.fetch_add(1, Ordering::AcqRel);
        Ok(reserved)
    }

    /// The call behind `debit` succeeded: the charge stands. Nothing is
    /// written for it; the run's next mark covers it.
    pub fn keep(&self, debit: i64) {
        let _ = self.ops.send(Op::Settled(debit));
        self.open.settled();
    }

    /// The call behind `debit` failed: gives its credits back now (a refund
    /// row naming the debit, in one transaction with the balance); the
    /// balance after, or `None` when the debit was refunded already. When
    /// the refund cannot be written the committer tries again later.
    pub async fn refund(&self, debit: i64) -> Result<Option<i64>, sqlx::Error> {
        let refunded = refund_debit(&self.db, debit).await;
        // The committer hears of it before a stopping instance can see the
        // call settled, so the run's last mark includes it.
        let _ = self.ops.send(match &refunded {
            Ok(_) => Op::Settled(debit),
            Err(_) => Op::Refund(debit),
        });
        self.open.settled();
        let Some((team, balance)) = refunded? else {
            return Ok(None);
        };
        self.seen.note(&team, balance);
        Ok(Some(balance))
    }
}

/// A reservation's answer on its way to a caller. If the caller stops
/// waiting (its future dropped, e.g. a client that hung up on a handler
/// awaiting its reservation), a debit that arrived or arrives is refunded:
/// its call never runs.
struct Awaited<'c> {
    answer: Option<oneshot::Receiver<Result<Reserved, ReserveError>>>,
    ops: &'c mpsc::UnboundedSender<Op>,
}

impl Awaited<'_> {
    /// The committer's answer; `None` when it stopped.
    async fn outcome(mut self) -> Option<Result<Reserved, ReserveError>> {
        let answer = self.answer.as_mut()?.await.ok();
        self.answer = None; // received: the caller settles it
        answer
    }
}

impl Drop for Awaited<'_> {
    fn drop(&mut self) {
        if let Some(mut answer) = self.answer.take() {
            answer.close();
            if let Ok(Ok(reserved)) = answer.try_recv() {
                let _ = self.ops.send(Op::Refund(reserved.debit));
            }
        }
    }
}

/// Scheduler passes the committer gives calls on their way to it before it
/// writes, when the last batch had company: each commit costs the same
/// statements however many calls it carries, so a batch of eight instead of
/// five saves CPU per call. Two passes add microseconds, never a timer's
/// millisecond; alone, a call is written at once.
const LINGER_PASSES: usize = 2;
/// How long the committer may hold reservations made beside their calls
/// (reads, [`Pace::Beside`]) for more to share their
/// transaction. Such a call waits for Fansly meanwhile, which takes tens of
/// milliseconds (a few under load even from the local sandbox), so holding
/// them costs it nothing, while each commit saved is the writer's whole
/// per-transaction cost (BENCHMARKS.md, thirteenth round). A call whose
/// Fansly answer comes first hurries its reservation; a call that waits for
/// its debit (a write, a team whose balance is unknown) is never held.
pub const PATIENCE: Duration = Duration::from_millis(2);

async fn run_committer(
    db: Db,
    mut rx: mpsc::UnboundedReceiver<Op>,
    seen: Seen,
    mut line: Line,
    patience: Duration,
    transactions: Arc<AtomicU64>,
) {
    let mut marks = Marks::default();
    let mut had_company = false;
    loop {
        let first = match marks.due(&line) {
            None => rx.recv().await,
            Some(due) => match tokio::time::timeout_at(due, rx.recv()).await {
                Ok(op) => op,
                Err(_) => {
                    beat(&db, &mut line, &mut marks).await;
                    continue;
                }
            },
        };
        let Some(first) = first else {
            // Every handle is gone. Nothing more is written: a stopping
            // instance drained first (retiring the run); anything else that
            // ends this way left its run to a settler, as a crash does.
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
        wait_for_company(&mut rx, &mut ops, patience).await;
        let mut reserves = Vec::new();
        let mut retiring = Vec::new();
        for op in ops {
            match op {
                Op::Reserve {
                    team,
                    cost,
                    endpoint,
                    request_id,
                    pace: _,
                    done,
                } => reserves.push((team, cost, endpoint, request_id, done)),
                Op::Hurry => {} // the batch is being written
                Op::Settled(debit) => {
                    marks.dirty |= marks.open.remove(&debit);
                }
                Op::Refund(debit) => marks.refunds.push(debit),
                Op::Retire(done) => retiring.push(done),
            }
        }
        had_company = reserves.len() > 1;
        commit(&db, &mut line, reserves, &seen, &mut marks, &transactions).await;
        if retiring.is_empty() {
            if marks
                .due(&line)
                .is_some_and(|due| due <= tokio::time::Instant::now())
            {
                beat(&db, &mut line, &mut marks).await;
            }
            continue;
        }
        // The row written (refunds and lost debits settled first); with
        // nothing unsettled the run's row goes: nothing is left to settle.
        if line.floor().is_some() {
            beat(&db, &mut line, &mut marks).await;
            let settled =
                marks.open.is_empty() && marks.refunds.is_empty() && marks.unsure.is_none();
            if settled {
                if let Err(e) = line.retire(&db).await {
                    tracing::warn!(error = %e, "could not retire the credit run; a settler will");
                }
            }
        }
        for done in retiring {
            let _ = done.send(());
        }
    }
}

/// While every reservation in `ops` was made beside its call (and there is
/// one), takes what arrives for up to `patience`: the batch goes once a
/// reservation that waits for its debit, a hurry or a stop arrives, or it is
/// full.
async fn wait_for_company(
    rx: &mut mpsc::UnboundedReceiver<Op>,
    ops: &mut Vec<Op>,
    patience: Duration,
) {
    let mut holding = false;
    let mut seen = 0;
    let until = tokio::time::Instant::now() + patience;
    loop {
        for op in &ops[seen..] {
            match op {
                Op::Reserve {
                    pace: Pace::Beside, ..
                } => holding = true,
                Op::Reserve {
                    pace: Pace::Now, ..
                }
                | Op::Hurry
                | Op::Retire(_) => return,
                Op::Settled(_) | Op::Refund(_) => {}
            }
        }
        seen = ops.len();
        if !holding || ops.len() >= MAX_BATCH {
            return;
        }
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(op)) => {
                ops.push(op);
                take_queued(rx, ops);
            }
            // Time is up, or every handle is gone (the held calls are
            // written; the loop ends at its next receive).
            Ok(None) | Err(_) => return,
        }
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

type Ask = (
    String,
    i64,
    &'static str,
    Option<String>,
    oneshot::Sender<Result<Reserved, ReserveError>>,
);

/// One transaction for the reservations in `reserves`; each is answered
/// with its outcome (the error, when the transaction failed). A debit whose
/// caller is gone is refunded: its call never runs.
async fn commit(
    db: &Db,
    line: &mut Line,
    reserves: Vec<Ask>,
    seen: &Seen,
    marks: &mut Marks,
    transactions: &AtomicU64,
) {
    if reserves.is_empty() {
        return;
    }
    let plan: Vec<Call> = reserves
        .iter()
        .map(|(t, c, e, r, _)| (t.as_str(), *c, *e, r.as_deref()))
        .collect();
    match line.write(db, &plan).await {
        Ok((outcomes, balances)) => {
            transactions.fetch_add(1, Ordering::Relaxed);
            // The run's row was written with its first batch: a heartbeat.
            marks.beat_at.get_or_insert_with(tokio::time::Instant::now);
            for (team, balance) in balances {
                seen.note(&team, balance);
            }
            for ((.., done), outcome) in reserves.into_iter().zip(outcomes) {
                if let Ok(reserved) = &outcome {
                    marks.open.insert(reserved.debit);
                    marks.last_debit = marks.last_debit.max(reserved.debit);
                    marks.dirty = true;
                    if let Some(unsure) = &mut marks.unsure {
                        unsure.known.insert(reserved.debit);
                    }
                }
                if let Err(Ok(unwanted)) = done.send(outcome) {
                    marks.refunds.push(unwanted.debit);
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, calls = reserves.len(), "credit batch failed");
            for (.., done) in reserves {
                let _ = done.send(Err(ReserveError::Batch(e.to_string())));
            }
            if marks.unsure.is_none() {
                let now = tokio::time::Instant::now();
                marks.unsure = Some(Unsure {
                    after: marks.last_debit,
                    known: BTreeSet::new(),
                    since: now,
                    next_look: now,
                });
            }
            find_lost(db, line.run(), marks).await;
        }
    }
}
