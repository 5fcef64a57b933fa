//! One credit batch written to the database: the statements behind the
//! group commit (metering/group_commit.rs), per engine. On PostgreSQL a batch
//! of one team's calls is one statement; otherwise, and on SQLite, a
//! transaction checks each call in order against its team's balance.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection, Row};

use crate::core::db::{Backend, Db};
use crate::core::ids::random_id;
use crate::core::telemetry;
use crate::core::time::now_ms;
use crate::metering::credits::ReserveError;

/// Calls per transaction at most (6 parameters per ledger row stays far
/// below SQLite's limit on parameters).
pub const MAX_BATCH: usize = 256;

/// A reservation written to the database: its hold and the balance after it.
#[derive(Debug)]
pub struct Reserved {
    pub hold: String,
    pub balance: i64,
}

/// One reservation asked for: (team, cost, endpoint, request id).
pub type Call<'a> = (&'a str, i64, &'static str, Option<&'a str>);

/// One call's rows: (team, cost, balance after, endpoint, request id, hold).
type CallRow<'a> = (&'a str, i64, i64, &'static str, Option<&'a str>, String);

/// The connection a committer writes its batches on.
///
/// PostgreSQL: the committer's own, taken out of the pool once (and again
/// after a batch failed, in case the connection broke), so a batch costs
/// only its statements: a pooled checkout costs a ping when it is taken and
/// another when it is given back, each a round trip to the server and a
/// wake-up on both sides. PostgreSQL lets it write beside the pool. Only a
/// connection that sat idle past [`IDLE_PING`] is pinged before use (a
/// server restarted meanwhile must not fail a batch); under load batches
/// follow each other without one.
/// SQLite: the one writer connection, checked out per batch, since
/// everything else writes through it too (and it is a thread in this
/// process, so its ping finds nothing to test).
pub struct Line {
    own: Option<(AnyConnection, Instant)>,
    idle_ping: Duration,
    one_trip: u64,
}

impl Default for Line {
    fn default() -> Self {
        Line::pinging_after(IDLE_PING)
    }
}

/// How long the committer's own connection may sit unused before it is
/// pinged before the next batch.
const IDLE_PING: Duration = Duration::from_secs(1);

impl Line {
    /// A line whose own connection is pinged once it sat unused for
    /// `idle` (the default: [`IDLE_PING`]).
    pub fn pinging_after(idle: Duration) -> Line {
        Line {
            own: None,
            idle_ping: idle,
            one_trip: 0,
        }
    }

    /// Batches written in one statement so far (PostgreSQL; the rest were
    /// decided call by call, or held kept holds alone).
    pub fn one_trip_batches(&self) -> u64 {
        self.one_trip
    }

    /// Writes a batch: on PostgreSQL a batch of one team (the usual case)
    /// is first tried as one statement ([`one_team_pg`]); everything else,
    /// and a team that cannot pay for all its calls, goes through
    /// [`write_locked`].
    pub async fn write(
        &mut self,
        db: &Db,
        plan: &[Call<'_>],
        keeps: &[String],
    ) -> Result<Written, sqlx::Error> {
        if plan.is_empty() && keeps.is_empty() {
            return Ok((Vec::new(), Vec::new())); // a batch of flushes alone
        }
        let written = match db.backend {
            Backend::Postgres => {
                if let Some((conn, used)) = &mut self.own {
                    if used.elapsed() >= self.idle_ping && conn.ping().await.is_err() {
                        self.own = None;
                    }
                }
                let (conn, used) = match &mut self.own {
                    Some(own) => own,
                    None => self
                        .own
                        .insert((db.writer.acquire().await?.detach(), Instant::now())),
                };
                let written = write_pg(conn, plan, keeps, &mut self.one_trip).await;
                *used = Instant::now();
                if written.is_err() {
                    // Not reused: dropping it closes it; the next batch takes another.
                    self.own = None;
                }
                written?
            }
            Backend::Sqlite => {
                let mut conn = db.writer.acquire().await?;
                write_locked(&mut conn, Backend::Sqlite, plan, keeps).await?
            }
        };
        if !plan.is_empty() {
            metrics::histogram!(telemetry::CREDIT_BATCH_CALLS).record(plan.len() as f64);
        }
        // Counted per team and endpoint, not per call: a batch is usually one
        // team's calls of one or two endpoints.
        let mut spent: Vec<(&str, &'static str, u64)> = Vec::new();
        for ((team, cost, endpoint, _), outcome) in plan.iter().zip(&written.0) {
            if outcome.is_ok() {
                match spent.iter_mut().find(|s| s.0 == *team && s.1 == *endpoint) {
                    Some(s) => s.2 += *cost as u64,
                    None => spent.push((team, endpoint, *cost as u64)),
                }
            }
        }
        for (team, endpoint, cost) in spent {
            metrics::counter!(telemetry::CREDITS_SPENT, "team" => team.to_owned(), "endpoint" => endpoint)
                .increment(cost);
        }
        Ok(written)
    }
}

fn one_team(plan: &[Call<'_>]) -> bool {
    !plan.is_empty() && plan.iter().all(|call| call.0 == plan[0].0)
}

/// PostgreSQL: the kept holds, then the reservations (one statement for one
/// team that can pay for them all, counted in `one_trip`, else call by
/// call).
async fn write_pg(
    conn: &mut AnyConnection,
    plan: &[Call<'_>],
    keeps: &[String],
    one_trip: &mut u64,
) -> Result<Written, sqlx::Error> {
    delete_kept_pg(conn, keeps).await?;
    if plan.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    if one_team(plan) {
        if let Some(written) = one_team_pg(conn, plan).await? {
            *one_trip += 1;
            return Ok(written);
        }
        // Nothing was charged: decided call by call.
    }
    write_locked(conn, Backend::Postgres, plan, &[]).await
}

/// PostgreSQL, a batch whose calls are all one team's: ONE statement, in
/// its own implicit transaction (one round trip where [`write_locked`]
/// takes four: BEGIN, the locking read, the writes, COMMIT).
/// The team is debited for the whole batch only if it can pay for all of
/// it (`credits >= total`, re-checked by PostgreSQL after any row lock it
/// waited for, so instances cannot overspend); the ledger rows carry the
/// running balance, in call order. `None` when the team could not pay for
/// everything or does not exist: then nothing was charged and the caller
/// decides call by call in [`write_locked`].
/// A single team means a single row lock, so no lock-order deadlock.
/// The team is reached by its key (`$3`, with the batch's total, `$4`), so
/// the planner uses the primary key; a join against the batch's JSON was
/// planned as a scan of the table.
const ONE_TEAM_PG: &str = "WITH calls AS (SELECT * FROM json_to_recordset($1::json) AS c(n int, team text, \
       cost bigint, endpoint text, request_id text, hold text)), \
     debited AS (UPDATE teams SET credits = credits - $4 WHERE id = $3 AND credits >= $4 \
       RETURNING id, credits + $4 AS before), \
     charged AS (SELECT c.*, (d.before - SUM(c.cost) OVER (ORDER BY c.n))::bigint AS balance \
       FROM calls c JOIN debited d ON d.id = c.team), \
     ledger AS (INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
       SELECT team, -cost, balance, 'debit', endpoint, request_id, $2::bigint FROM charged ORDER BY n), \
     held AS (INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) \
       SELECT hold, team, cost, endpoint, request_id, $2::bigint FROM charged) \
     SELECT n, balance FROM charged ORDER BY n";

async fn one_team_pg(
    conn: &mut AnyConnection,
    plan: &[Call<'_>],
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
    let team = plan.first().map_or("", |call| call.0);
    let total: i64 = plan.iter().map(|call| call.1).sum();
    let charged = sqlx::query(ONE_TEAM_PG)
        .bind(Value::Array(calls).to_string())
        .bind(now_ms())
        .bind(team)
        .bind(total)
        .fetch_all(&mut *conn)
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

/// PostgreSQL: the holds of calls that kept their charge, deleted in their
/// own statement, before the batch's reservations (a failure of either
/// hands the keeps back to be tried again; deleting a hold twice is a
/// no-op). Not a prepared statement: planned afresh each time. A cached
/// plan was made while `credit_holds` was a page or two, and it went on
/// scanning the whole table for the kept holds as the table grew to hundreds
/// of pages of dead rows (a hold goes in and out per call) between autovacuum
/// runs: ~370 whole-table scans a second under load. This small statement
/// is cheap to plan, and with the table's real size before it the planner
/// looks the holds up by key. Keeps gather (`group_commit.rs`), so it runs
/// for one batch in several.
async fn delete_kept_pg(conn: &mut AnyConnection, keeps: &[String]) -> Result<(), sqlx::Error> {
    if keeps.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM credit_holds WHERE id = ANY (ARRAY(SELECT json_array_elements_text($1::json)))",
    )
    .persistent(false)
    .bind(serde_json::to_string(keeps).unwrap_or_default())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The batch's transaction: each reservation in order against its team's
/// balance (locked on PostgreSQL; SQLite has one writer), then the teams'
/// debits, the ledger rows, the holds, and (SQLite) the kept holds deleted.
async fn write_locked(
    conn: &mut AnyConnection,
    backend: Backend,
    plan: &[Call<'_>],
    keeps: &[String],
) -> Result<Written, sqlx::Error> {
    let mut tx = conn.begin().await?;
    // Teams in a fixed order, so two instances' batches never deadlock.
    // (balance now, credits taken by this batch); `None`: no such team.
    let mut balances: BTreeMap<&str, Option<(i64, i64)>> = BTreeMap::new();
    for (team, ..) in plan {
        balances.insert(team, None);
    }
    // SQLite: teams already debited for their whole ask (see read_sqlite).
    let mut prepaid: Vec<&str> = Vec::new();
    match backend {
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
    match backend {
        // (PostgreSQL's kept holds were deleted before, by `delete_kept_pg`.)
        Backend::Postgres => apply_one_statement(&mut tx, &debits, &rows).await?,
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
    plan: &[Call<'p>],
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
        "SELECT id, credits FROM teams \
         WHERE id = ANY (ARRAY(SELECT json_array_elements_text($1::json))) ORDER BY id FOR UPDATE",
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

/// PostgreSQL: the teams' debits, the ledger rows and the holds as ONE
/// statement of data-modifying CTEs over the batch
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
       SELECT hold, team, cost, endpoint, request_id, $2::bigint FROM calls) \
     SELECT id, credits FROM debited";

async fn apply_one_statement(
    tx: &mut Tx<'_>,
    debits: &[(&str, i64, i64)],
    rows: &[CallRow<'_>],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
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
/// by `read_sqlite`, then the ledger rows and holds as multi-row inserts and
/// the kept holds deleted, in one query.
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
    // The ledger rows, the holds and the kept holds' deletion as ONE
    // multi-statement query: sqlx runs every statement of it in one trip to
    // the connection's thread, where three queries were three trips and as
    // many thread switches per batch. `$n` numbers the arguments across the
    // statements, so a call binds its six values once and both its ledger
    // row and its hold use them; `$1` is the time. The kept holds travel as
    // one JSON array, however many have gathered.
    if rows.is_empty() && keeps.is_empty() {
        return Ok(());
    }
    // The n-th argument of call `i`: team, cost, balance after, endpoint,
    // request id, hold.
    let arg = |i: usize, n: usize| 2 + 6 * i + n;
    let mut sql = String::with_capacity(160 * rows.len() + 96);
    if !rows.is_empty() {
        sql.push_str(
            "INSERT INTO credit_ledger (team_id, delta, balance_after, endpoint, request_id, created_at, reason) VALUES ",
        );
        for i in 0..rows.len() {
            let sep = if i > 0 { "," } else { "" };
            let (team, cost, balance) = (arg(i, 0), arg(i, 1), arg(i, 2));
            let (endpoint, request) = (arg(i, 3), arg(i, 4));
            sql.push_str(&format!(
                "{sep}(${team},-${cost},${balance},${endpoint},${request},$1,'debit')"
            ));
        }
        sql.push_str(
            "; INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) VALUES ",
        );
        for i in 0..rows.len() {
            let sep = if i > 0 { "," } else { "" };
            let (team, cost, endpoint, request, hold) =
                (arg(i, 0), arg(i, 1), arg(i, 3), arg(i, 4), arg(i, 5));
            sql.push_str(&format!(
                "{sep}(${hold},${team},${cost},${endpoint},${request},$1)"
            ));
        }
        sql.push(';');
    }
    if !keeps.is_empty() {
        sql.push_str(&format!(
            " DELETE FROM credit_holds WHERE id IN (SELECT value FROM json_each(${}));",
            arg(rows.len(), 0)
        ));
    }
    let mut q = sqlx::query(&sql).bind(now_ms());
    for (team, cost, balance, endpoint, request_id, hold) in rows {
        q = q
            .bind(*team)
            .bind(*cost)
            .bind(*balance)
            .bind(*endpoint)
            .bind(*request_id)
            .bind(hold.as_str());
    }
    if !keeps.is_empty() {
        q = q.bind(serde_json::to_string(keeps).unwrap_or_default());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Each reservation's outcome, and each team's balance after the batch.
pub type Written = (Vec<Result<Reserved, ReserveError>>, Vec<(String, i64)>);
