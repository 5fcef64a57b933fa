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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::core::db::{Backend, Db};
use crate::core::ids::random_id;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::metering::credits::ReserveError;

/// Calls per transaction at most (6 parameters per ledger row stays far
/// below SQLite's limit on parameters).
const MAX_BATCH: usize = 256;

/// A reservation written to the database: its hold and the balance after it.
#[derive(Debug)]
pub struct Reserved {
    pub hold: String,
    pub balance: i64,
}

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

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Op>, seen: Seen) {
    let mut retry_keeps: Vec<String> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        batch.extend(retry_keeps.drain(..).map(Op::Keep));
        if let Some(keeps) = commit(&db, batch, &seen).await {
            // The transaction failed: its reservations were answered with the
            // error; the holds of calls that succeeded are tried again.
            retry_keeps = keeps;
        }
    }
}

/// One transaction for `batch`. On failure answers every reservation with the
/// error and hands back the keeps to try again.
async fn commit(db: &Db, batch: Vec<Op>, seen: &Seen) -> Option<Vec<String>> {
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
    let plan: Vec<(&str, i64, &'static str, Option<&str>)> = reserves
        .iter()
        .map(|(t, c, e, r, _)| (t.as_str(), *c, *e, r.as_deref()))
        .collect();
    let written = write(db, &plan, &keeps).await;
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

/// One call's rows: (team, cost, balance after, endpoint, request id, hold).
type CallRow<'a> = (&'a str, i64, i64, &'static str, Option<&'a str>, String);

/// Writes a batch: on PostgreSQL a batch of one team (the usual case) is
/// first tried as one statement ([`one_team_pg`]); everything else, and a
/// team that cannot pay for all its calls, goes through [`write_locked`].
async fn write(
    db: &Db,
    plan: &[(&str, i64, &'static str, Option<&str>)],
    keeps: &[String],
) -> Result<Written, sqlx::Error> {
    if plan.is_empty() && keeps.is_empty() {
        return Ok((Vec::new(), Vec::new())); // a batch of flushes alone
    }
    let one_team = plan.iter().all(|call| call.0 == plan[0].0);
    let written = if db.backend == Backend::Postgres && one_team {
        match one_team_pg(db, plan, keeps).await? {
            Some(written) => written,
            // Nothing was charged; the keeps are written already.
            None => write_locked(db, plan, &[]).await?,
        }
    } else {
        write_locked(db, plan, keeps).await?
    };
    if !plan.is_empty() {
        metrics::histogram!(telemetry::CREDIT_BATCH_CALLS).record(plan.len() as f64);
    }
    for ((team, cost, endpoint, _), outcome) in plan.iter().zip(&written.0) {
        if outcome.is_ok() {
            metrics::counter!(telemetry::CREDITS_SPENT, "team" => team.to_string(), "endpoint" => *endpoint)
                .increment(*cost as u64);
        }
    }
    Ok(written)
}

/// PostgreSQL, a batch whose calls are all one team's: ONE statement, in
/// its own implicit transaction (one round trip where [`write_locked`]
/// takes five: checkout ping, BEGIN, the locking read, the writes, COMMIT).
/// The team is debited for the whole batch only if it can pay for all of
/// it (`credits >= total`, re-checked by PostgreSQL after any row lock it
/// waited for, so instances cannot overspend); the ledger rows carry the
/// running balance, in call order. `None` when the team could not pay for
/// everything or does not exist: then nothing was charged (the kept holds
/// were deleted) and the caller decides call by call in [`write_locked`].
/// A single team means a single row lock, so no lock-order deadlock.
const ONE_TEAM_PG: &str = "WITH calls AS (SELECT * FROM json_to_recordset($1::json) AS c(n int, team text, \
       cost bigint, endpoint text, request_id text, hold text)), \
     need AS (SELECT team, SUM(cost)::bigint AS total FROM calls GROUP BY team), \
     debited AS (UPDATE teams SET credits = teams.credits - need.total FROM need \
       WHERE teams.id = need.team AND teams.credits >= need.total \
       RETURNING teams.id, teams.credits + need.total AS before), \
     charged AS (SELECT c.*, (d.before - SUM(c.cost) OVER (ORDER BY c.n))::bigint AS balance \
       FROM calls c JOIN debited d ON d.id = c.team), \
     ledger AS (INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
       SELECT team, -cost, balance, 'debit', endpoint, request_id, $2::bigint FROM charged ORDER BY n), \
     held AS (INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) \
       SELECT hold, team, cost, endpoint, request_id, $2::bigint FROM charged), \
     kept AS (DELETE FROM credit_holds WHERE id IN (SELECT json_array_elements_text($3::json))) \
     SELECT n, balance FROM charged ORDER BY n";

async fn one_team_pg(
    db: &Db,
    plan: &[(&str, i64, &'static str, Option<&str>)],
    keeps: &[String],
) -> Result<Option<Written>, sqlx::Error> {
    let holds: Vec<String> = plan.iter().map(|_| random_id("hold_", 20)).collect();
    let calls: Vec<Value> = plan
        .iter()
        .zip(&holds)
        .enumerate()
        .map(|(n, ((team, cost, endpoint, request_id), hold))| {
            json!({"n": n, "team": team, "cost": cost, "endpoint": endpoint,
                   "request_id": request_id, "hold": hold})
        })
        .collect();
    let charged = sqlx::query(ONE_TEAM_PG)
        .bind(Value::Array(calls).to_string())
        .bind(now_ms())
        .bind(serde_json::to_string(keeps).unwrap_or_default())
        .fetch_all(&db.writer)
        .await?;
    if charged.len() != plan.len() {
        return Ok(None);
    }
    let mut outcomes = Vec::with_capacity(plan.len());
    for (row, hold) in charged.iter().zip(holds) {
        outcomes.push(Ok(Reserved {
            hold,
            balance: row.get::<i64, _>(1),
        }));
    }
    let after = match (plan.first(), outcomes.last()) {
        (Some((team, ..)), Some(Ok(last))) => vec![((*team).to_owned(), last.balance)],
        _ => Vec::new(),
    };
    Ok(Some((outcomes, after)))
}

/// The batch's transaction: each reservation in order against its team's
/// balance (locked on PostgreSQL; SQLite has one writer), then the teams'
/// debits, the ledger rows, the holds, and the kept holds deleted.
async fn write_locked(
    db: &Db,
    plan: &[(&str, i64, &'static str, Option<&str>)],
    keeps: &[String],
) -> Result<Written, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    // Teams in a fixed order, so two instances' batches never deadlock.
    // (balance now, credits taken by this batch); `None`: no such team.
    let mut balances: BTreeMap<&str, Option<(i64, i64)>> = BTreeMap::new();
    for (team, ..) in plan {
        balances.insert(team, None);
    }
    // SQLite: teams already debited for their whole ask (see read_sqlite).
    let mut prepaid: Vec<&str> = Vec::new();
    match db.backend {
        Backend::Postgres => read_locked(&mut tx, &mut balances).await?,
        Backend::Sqlite => read_sqlite(&mut tx, plan, &mut balances, &mut prepaid).await?,
    }
    let mut outcomes = Vec::with_capacity(plan.len());
    let mut rows: Vec<CallRow> = Vec::new();
    for (team, cost, endpoint, request_id) in plan {
        let Some(Some((balance, taken))) = balances.get_mut(team) else {
            outcomes.push(Err(ReserveError::UnknownTeam));
            continue;
        };
        if *balance < *cost {
            outcomes.push(Err(ReserveError::Insufficient { balance: *balance }));
            continue;
        }
        *balance -= cost;
        *taken += cost;
        let hold = random_id("hold_", 20);
        rows.push((*team, *cost, *balance, *endpoint, *request_id, hold.clone()));
        outcomes.push(Ok(Reserved {
            hold,
            balance: *balance,
        }));
    }
    let debits: Vec<(&str, i64, i64)> = balances
        .iter()
        .filter_map(|(team, slot)| match slot {
            Some((balance, taken)) if *taken > 0 => Some((*team, *taken, *balance)),
            _ => None,
        })
        .collect();
    match db.backend {
        Backend::Postgres => apply_one_statement(&mut tx, &debits, &rows, keeps).await?,
        Backend::Sqlite => apply_sqlite(&mut tx, &debits, &prepaid, &rows, keeps).await?,
    }
    tx.commit().await?;
    let after = balances
        .into_iter()
        .filter_map(|(team, slot)| slot.map(|(balance, _)| (team.to_owned(), balance)))
        .collect();
    Ok((outcomes, after))
}

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// SQLite: each team's balance before the batch. The common case, a team
/// that can pay for every call it has in the batch, is one statement: the
/// whole ask debited at once (`prepaid`; its calls then all pass in order).
/// Otherwise (short, or no such team) the balance is read by a no-op UPDATE
/// and the calls are checked one by one. Either way the first statement
/// takes the write lock (as BEGIN IMMEDIATE would): a read snapshot cannot
/// be upgraded once another process wrote the file, while waiting for the
/// lock honours the busy timeout. Each statement is a round trip to sqlx's
/// connection thread, which is what a batch costs on SQLite.
async fn read_sqlite<'p>(
    tx: &mut Tx<'_>,
    plan: &[(&'p str, i64, &'static str, Option<&str>)],
    balances: &mut BTreeMap<&'p str, Option<(i64, i64)>>,
    prepaid: &mut Vec<&'p str>,
) -> Result<(), sqlx::Error> {
    for (team, slot) in balances.iter_mut() {
        let asked: i64 = plan.iter().filter(|c| c.0 == *team).map(|c| c.1).sum();
        let debited = sqlx::query(
            "UPDATE teams SET credits = credits - $1 WHERE id = $2 AND credits >= $1 RETURNING credits",
        )
        .bind(asked)
        .bind(*team)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = debited {
            *slot = Some((row.get::<i64, _>(0) + asked, 0));
            prepaid.push(team);
            continue;
        }
        let row = sqlx::query("UPDATE teams SET credits = credits WHERE id = $1 RETURNING credits")
            .bind(*team)
            .fetch_optional(&mut **tx)
            .await?;
        *slot = row.map(|r| (r.get::<i64, _>(0), 0));
    }
    Ok(())
}

/// PostgreSQL: every team of the batch read and row-locked in one statement
/// (its text never changes, so it stays prepared on each connection).
async fn read_locked(
    tx: &mut Tx<'_>,
    balances: &mut BTreeMap<&str, Option<(i64, i64)>>,
) -> Result<(), sqlx::Error> {
    let teams: Vec<&str> = balances.keys().copied().collect();
    let rows = sqlx::query(
        "SELECT id, credits FROM teams WHERE id IN (SELECT json_array_elements_text($1::json)) \
         ORDER BY id FOR UPDATE",
    )
    .bind(serde_json::to_string(&teams).unwrap_or_default())
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let id: String = row.get(0);
        if let Some(slot) = balances.get_mut(id.as_str()) {
            *slot = Some((row.get(1), 0));
        }
    }
    Ok(())
}

/// PostgreSQL: the teams' debits, the ledger rows, the holds and the kept
/// holds' deletion as ONE statement of data-modifying CTEs over the batch
/// passed as JSON: a batch costs four round trips (BEGIN, the locking read,
/// this, COMMIT) whatever its size, and the statement's text never changes
/// (prepared once per connection).
const APPLY_PG: &str = "WITH calls AS (SELECT * FROM json_to_recordset($1::json) AS c(n int, team text, \
       cost bigint, balance bigint, endpoint text, request_id text, hold text)), \
     debited AS (UPDATE teams SET credits = teams.credits - d.taken \
       FROM (SELECT team, SUM(cost)::bigint AS taken FROM calls GROUP BY team) AS d \
       WHERE teams.id = d.team RETURNING teams.id, teams.credits), \
     ledger AS (INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
       SELECT team, -cost, balance, 'debit', endpoint, request_id, $2::bigint FROM calls ORDER BY n), \
     held AS (INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) \
       SELECT hold, team, cost, endpoint, request_id, $2::bigint FROM calls), \
     kept AS (DELETE FROM credit_holds WHERE id IN (SELECT json_array_elements_text($3::json))) \
     SELECT id, credits FROM debited";

async fn apply_one_statement(
    tx: &mut Tx<'_>,
    debits: &[(&str, i64, i64)],
    rows: &[CallRow<'_>],
    keeps: &[String],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() && keeps.is_empty() {
        return Ok(());
    }
    // In the batch's order: the ledger's ids follow `n`, so each row's
    // balance_after is the running total.
    let calls: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(n, (team, cost, balance, endpoint, request_id, hold))| {
            json!({"n": n, "team": team, "cost": cost, "balance": balance,
                   "endpoint": endpoint, "request_id": request_id, "hold": hold})
        })
        .collect();
    let after = sqlx::query(APPLY_PG)
        .bind(Value::Array(calls).to_string())
        .bind(now_ms())
        .bind(serde_json::to_string(keeps).unwrap_or_default())
        .fetch_all(&mut **tx)
        .await?;
    for row in after {
        let (team, credits): (String, i64) = (row.get(0), row.get(1));
        let expected = debits.iter().find(|(t, ..)| *t == team).map(|d| d.2);
        if expected != Some(credits) {
            // Cannot happen under the row lock; nothing is written if it does.
            return Err(balance_moved(&team));
        }
    }
    Ok(())
}

fn balance_moved(team: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "team {team}'s balance changed during a credit batch"
    ))
}

/// SQLite (no data-modifying CTEs): one UPDATE per team not debited up front
/// by `read_sqlite`, then the ledger rows
/// and holds as multi-row inserts, then the kept holds deleted.
async fn apply_sqlite(
    tx: &mut Tx<'_>,
    debits: &[(&str, i64, i64)],
    prepaid: &[&str],
    rows: &[CallRow<'_>],
    keeps: &[String],
) -> Result<(), sqlx::Error> {
    for (team, taken, balance) in debits {
        if prepaid.contains(team) {
            continue; // debited for its whole ask already, which all passed
        }
        let after: i64 = sqlx::query(
            "UPDATE teams SET credits = credits - $1 WHERE id = $2 AND credits >= $1 RETURNING credits",
        )
        .bind(taken)
        .bind(*team)
        .fetch_one(&mut **tx)
        .await?
        .get(0);
        if after != *balance {
            // Another writer moved the balance under the batch: nothing is written.
            return Err(balance_moved(team));
        }
    }
    let now = now_ms();
    for chunk in rows.chunks(MAX_BATCH) {
        let mut ledger = String::from(
            "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) VALUES ",
        );
        let mut holds = String::from(
            "INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let (l, h) = (i * 6, i * 6);
            if i > 0 {
                ledger.push(',');
                holds.push(',');
            }
            ledger.push_str(&format!(
                "(${},${},${},'debit',${},${},${})",
                l + 1,
                l + 2,
                l + 3,
                l + 4,
                l + 5,
                l + 6
            ));
            holds.push_str(&format!(
                "(${},${},${},${},${},${})",
                h + 1,
                h + 2,
                h + 3,
                h + 4,
                h + 5,
                h + 6
            ));
        }
        let mut q = sqlx::query(&ledger);
        for (team, cost, balance, endpoint, request_id, _) in chunk {
            q = q
                .bind(*team)
                .bind(-cost)
                .bind(*balance)
                .bind(*endpoint)
                .bind(*request_id)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
        let mut q = sqlx::query(&holds);
        for (team, cost, _, endpoint, request_id, hold) in chunk {
            q = q
                .bind(hold.as_str())
                .bind(*team)
                .bind(*cost)
                .bind(*endpoint)
                .bind(*request_id)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in keeps.chunks(MAX_BATCH) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("DELETE FROM credit_holds WHERE id IN ({})", marks.join(","));
        let mut q = sqlx::query(&sql);
        for hold in chunk {
            q = q.bind(hold.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Each reservation's outcome, and each team's balance after the batch.
type Written = (Vec<Result<Reserved, ReserveError>>, Vec<(String, i64)>);

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
