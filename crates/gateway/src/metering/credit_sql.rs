//! The statements of one credit batch, per engine (what `credit_batch.rs`'s
//! `Line` writes): a batch of one team's calls that it can pay for is one
//! trip to the database (on PostgreSQL one statement, on SQLite one query
//! of four statements); otherwise a transaction checks each call in order
//! against its team's balance.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::OnceLock;

use sqlx::{AnyConnection, Connection, Row};

use crate::core::db::Backend;
use crate::core::time::now_ms;
use crate::metering::credits::ReserveError;

/// A reservation written to the database: its debit's ledger id (what the
/// call settles) and the balance after it.
#[derive(Debug)]
pub struct Reserved {
    pub debit: i64,
    pub balance: i64,
}

/// Calls per transaction at most: SQLite's batch binds 4 parameters a call
/// (far below its limit on parameters) and keeps one text per 16 calls.
pub const MAX_BATCH: usize = 256;

/// One reservation asked for: (team, cost, endpoint, request id).
pub type Call<'a> = (&'a str, i64, &'static str, Option<&'a str>);

/// One call's ledger row: (team, cost, balance after, endpoint, request id).
pub(crate) type CallRow<'a> = (&'a str, i64, i64, &'static str, Option<&'a str>);

/// The connection a statement runs on.
pub(crate) enum Conn<'l> {
    Own(&'l mut AnyConnection),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Conn<'_> {
    pub(crate) fn as_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Own(conn) => conn,
            Conn::Pooled(conn) => conn,
        }
    }
}

fn one_team(plan: &[Call<'_>]) -> bool {
    !plan.is_empty() && plan.iter().all(|call| call.0 == plan[0].0)
}

/// PostgreSQL: one statement for one team that can pay for all its calls
/// (counted in `one_trip`), else call by call.
pub(crate) async fn write_pg(
    conn: &mut AnyConnection,
    run: i64,
    plan: &[Call<'_>],
    one_trip: &mut bool,
) -> Result<Written, sqlx::Error> {
    if one_team(plan) {
        if let Some(written) = one_team_pg(conn, run, plan).await? {
            *one_trip = true;
            return Ok(written);
        }
        // Nothing was charged: decided call by call.
    }
    write_locked(conn, Backend::Postgres, run, plan).await
}

/// PostgreSQL, a batch whose calls are all one team's: ONE statement, in
/// its own implicit transaction (one round trip where [`write_locked`]
/// takes four: BEGIN, the locking read, the writes, COMMIT).
/// The team is debited for the whole batch only if it can pay for all of
/// it (`credits >= total`, re-checked by PostgreSQL after any row lock it
/// waited for, so instances cannot overspend); the ledger rows carry the
/// running balance, in call order, and their ids come back in that order
/// (ids are drawn as the rows are inserted, `ORDER BY n`). No rows when
/// the team could not pay for everything or does not exist: then nothing
/// was charged and the caller decides call by call in [`write_locked`].
/// A single team means a single row lock, so no lock-order deadlock.
/// The team is reached by its key (`$3`, with the batch's total, `$4`), so
/// the planner uses the primary key; a join against the batch's JSON was
/// planned as a scan of the table.
const ONE_TEAM_PG: &str = "WITH calls AS (SELECT * FROM json_to_recordset($1::json) AS c(n int, \
       cost bigint, endpoint text, request_id text)), \
     debited AS (UPDATE teams SET credits = credits - $4 WHERE id = $3 AND credits >= $4 \
       RETURNING credits + $4 AS before), \
     charged AS (SELECT c.*, (d.before - SUM(c.cost) OVER (ORDER BY c.n))::bigint AS balance \
       FROM calls c CROSS JOIN debited d), \
     ledger AS (INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, \
       created_at, run_id) \
       SELECT $3, -cost, balance, 'debit', endpoint, request_id, $2::bigint, $5::bigint \
       FROM charged ORDER BY n RETURNING id) \
     SELECT l.id, d.before FROM ledger l CROSS JOIN debited d ORDER BY l.id";

/// One call as the batch statements read it (`json_to_recordset`).
#[derive(serde::Serialize)]
struct CallJson<'a> {
    n: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<&'a str>,
    cost: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    balance: Option<i64>,
    endpoint: &'a str,
    request_id: Option<&'a str>,
}

async fn one_team_pg(
    conn: &mut AnyConnection,
    run: i64,
    plan: &[Call<'_>],
) -> Result<Option<Written>, sqlx::Error> {
    let calls: Vec<CallJson> = plan
        .iter()
        .enumerate()
        .map(|(n, (_, cost, endpoint, request_id))| CallJson {
            n,
            team: None,
            cost: *cost,
            balance: None,
            endpoint,
            request_id: *request_id,
        })
        .collect();
    let team = plan.first().map_or("", |call| call.0);
    let total: i64 = plan.iter().map(|call| call.1).sum();
    let debits = one_trip(conn, &calls, team, total, run).await?;
    if debits.len() != plan.len() {
        return Ok(None);
    }
    // Each call's balance after it: the balance before the batch less the
    // calls up to it, as its ledger row says.
    let mut balance = debits.first().map_or(0, |(_, before)| *before);
    let mut outcomes = Vec::with_capacity(plan.len());
    for ((_, cost, ..), (debit, _)) in plan.iter().zip(debits) {
        balance -= cost;
        outcomes.push(Ok(Reserved { debit, balance }));
    }
    Ok(Some((outcomes, vec![(team.to_owned(), balance)])))
}

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// Runs [`ONE_TEAM_PG`] over the calls as JSON (`$1`), the time (`$2`),
/// the team (`$3`), the batch's total (`$4`) and the run (`$5`): two
/// numbers a row.
async fn one_trip(
    conn: &mut AnyConnection,
    calls: &impl serde::Serialize,
    team: &str,
    total: i64,
    run: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(ONE_TEAM_PG)
        .bind(serde_json::to_string(calls).unwrap_or_default())
        .bind(now_ms())
        .bind(team)
        .bind(total)
        .bind(run)
        .fetch_all(conn)
        .await
}

/// SQLite, a batch whose calls are all one team's: the whole transaction as
/// ONE query of five statements ([`one_team_sqlite_text`]), so one trip to
/// sqlx's connection thread where [`write_locked`] takes four (BEGIN, the
/// debit, the ledger rows, COMMIT), each a hand-off between threads and the
/// largest part of a batch's cost. The team is debited for the whole batch
/// only if it can pay for all of it; the ledger rows are inserted only if
/// that debit happened (`changes()`: the rows the UPDATE just changed), in
/// call order (`ORDER BY c.column1`, the call's place), each with the
/// running balance: the balance after the batch plus what the calls after
/// it cost (`later`).
///
/// The calls are bound as rows of a `VALUES` list, four parameters each
/// (cost, later, endpoint, request id), not as one JSON text: read through
/// `json_each` and four `json_extract`s a row, SQLite parsed each call's
/// object four times over, ~14,000 instructions a call, more than the
/// inserts (BENCHMARKS.md, fifteenth round). The list is padded with NULL
/// rows to a multiple of [`ROWS_STEP`], so a few texts, written once per
/// process ([`one_team_sqlite_text`]), serve every batch size and stay
/// prepared in sqlx's statement cache.
///
/// Its parameters are anonymous (`?`), bound in the order they appear: sqlx
/// resolves a numbered one (`$3`) by asking SQLite its name, a scan of the
/// statement's whole parameter list, so a batch's ~130 parameters cost
/// ~8,500 steps of that scan (`sqlite3_bind_parameter_name` was 15 % of the
/// SQLite thread's own time, BENCHMARKS.md, sixteenth round); an anonymous
/// one is simply the next argument. The team is therefore bound four times.
///
/// Its one row: the last ledger id written, how many rows the INSERT wrote
/// (none: nothing was charged, and the caller decides call by call in
/// [`write_locked`]) and the balance after. The ledger rows themselves are
/// not returned: each would be one more message from sqlx's connection
/// thread, often one more wake-up of the committer (a batch of 17 calls
/// sent 21 messages; now 6). Their ids are the last one and those before
/// it: one statement under the write lock into an AUTOINCREMENT table takes
/// consecutive ids, in the order it inserts.
fn one_team_sqlite_text(calls: usize) -> &'static str {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        (1..=MAX_BATCH.div_ceil(ROWS_STEP))
            .map(|steps| write_one_team_sqlite(steps * ROWS_STEP))
            .collect()
    });
    &texts[calls.max(1).div_ceil(ROWS_STEP) - 1]
}

/// The text of [`one_team_sqlite_text`] with `rows` rows in its `VALUES`.
fn write_one_team_sqlite(rows: usize) -> String {
    // Parameters, in order: the total, the team, the total; the team, the
    // team, the time, the run; each row's four; the team.
    let mut text = String::from(
        "BEGIN IMMEDIATE; \
         UPDATE teams SET credits = credits - ? WHERE id = ? AND credits >= ?; \
         INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, \
           request_id, created_at, run_id) \
           SELECT ?, -c.column2, (SELECT credits FROM teams WHERE id = ?) + c.column3, \
             'debit', c.column4, c.column5, ?, ? \
           FROM (VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        // The place is a literal: the text is the same for every batch of
        // this padded size. Each row's parameters: cost, later, endpoint,
        // request id.
        let _ = write!(text, "({row}, ?, ?, ?, ?)");
    }
    text.push_str(
        ") AS c WHERE changes() = 1 AND c.column2 IS NOT NULL ORDER BY c.column1; \
         SELECT last_insert_rowid(), changes(), (SELECT credits FROM teams WHERE id = ?); \
         COMMIT",
    );
    text
}

/// The `VALUES` list's length is a multiple of this: `MAX_BATCH /
/// ROWS_STEP` texts (16, ~70 KB together), each fewer than this many NULL
/// rows longer than its batch.
const ROWS_STEP: usize = 16;

/// SQLite: one query for one team that can pay for all its calls, else
/// call by call. A statement that fails can leave the query's transaction
/// open (its debit applied): the connection is closed, which rolls it
/// back, rather than handed to the next writer. (A rollback here would
/// need telling its own failures apart by their text; a failed batch is
/// rare enough to pay for a new connection.)
pub(crate) async fn write_sqlite(
    conn: &mut Conn<'_>,
    run: i64,
    plan: &[Call<'_>],
    one_trip: &mut bool,
) -> Result<Written, sqlx::Error> {
    // (More than MAX_BATCH calls has no prepared text: call by call.)
    if one_team(plan) && plan.len() <= MAX_BATCH {
        match one_team_sqlite(conn.as_mut(), run, plan).await {
            Ok(Some(written)) => {
                *one_trip = true;
                return Ok(written);
            }
            Ok(None) => {} // nothing was charged: decided call by call
            Err(e) => {
                if let Conn::Pooled(pooled) = conn {
                    pooled.close_on_drop();
                }
                return Err(e);
            }
        }
    }
    write_locked(conn.as_mut(), Backend::Sqlite, run, plan).await
}

async fn one_team_sqlite(
    conn: &mut AnyConnection,
    run: i64,
    plan: &[Call<'_>],
) -> Result<Option<Written>, sqlx::Error> {
    let team = plan[0].0;
    let total: i64 = plan.iter().map(|call| call.1).sum();
    let rows = plan.len().div_ceil(ROWS_STEP) * ROWS_STEP;
    // In the order of the text's anonymous parameters.
    let mut query = sqlx::query_as(one_team_sqlite_text(plan.len()))
        .bind(total)
        .bind(team)
        .bind(total)
        .bind(team)
        .bind(team)
        .bind(now_ms())
        .bind(run);
    let mut later = total;
    for (_, cost, endpoint, request_id) in plan {
        later -= cost;
        query = query
            .bind(*cost)
            .bind(later)
            .bind(*endpoint)
            .bind(*request_id);
    }
    for _ in plan.len()..rows {
        query = query
            .bind(None::<i64>)
            .bind(None::<i64>)
            .bind(None::<&str>)
            .bind(None::<&str>);
    }
    let query = query.bind(team);
    let written: Vec<(i64, i64, Option<i64>)> = query.fetch_all(conn).await?;
    let (last, n, after) = match written[..] {
        [(_, 0, _)] => return Ok(None),
        [(last, n, Some(after))] if n == plan.len() as i64 => (last, n, after),
        // Cannot happen: the rows are inserted all or none, and committed.
        _ => {
            return Err(sqlx::Error::Protocol(format!(
                "a credit batch of {} calls answered {written:?} (last id, rows, balance)",
                plan.len()
            )))
        }
    };
    // Each call's balance after it: the balance before the batch less the
    // calls up to it, as its ledger row says.
    let mut balance = after + total;
    let outcomes = plan
        .iter()
        .zip(last - n + 1..)
        .map(|((_, cost, ..), debit)| {
            balance -= cost;
            Ok(Reserved { debit, balance })
        })
        .collect();
    Ok(Some((outcomes, vec![(team.to_owned(), after)])))
}

/// The batch's transaction: each reservation in order against its team's
/// balance (locked on PostgreSQL; SQLite has one writer), then the teams'
/// debits and the ledger rows, whose ids come back in call order.
async fn write_locked(
    conn: &mut AnyConnection,
    backend: Backend,
    run: i64,
    plan: &[Call<'_>],
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
    // Outcomes with the debit's id still to come (0), and the rows to write.
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
        rows.push((*team, *cost, *balance, *endpoint, *request_id));
        outcomes.push(Ok(Reserved {
            debit: 0,
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
    let ids = match backend {
        Backend::Postgres => apply_one_statement(&mut tx, run, &debits, &rows).await?,
        Backend::Sqlite => apply_sqlite(&mut tx, run, &debits, &prepaid, &rows).await?,
    };
    if ids.len() != rows.len() {
        // Cannot happen: every row inserted returns its id. Nothing is written.
        return Err(sqlx::Error::Protocol(format!(
            "a credit batch wrote {} ledger rows for {} calls",
            ids.len(),
            rows.len()
        )));
    }
    tx.commit().await?;
    let mut ids = ids.into_iter();
    for reserved in outcomes.iter_mut().flatten() {
        reserved.debit = ids.next().unwrap_or_default();
    }
    let after = balances
        .into_iter()
        .filter_map(|(team, slot)| slot.map(|(balance, _)| (team.to_owned(), balance)))
        .collect();
    Ok((outcomes, after))
}

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

/// PostgreSQL: the teams' debits and the ledger rows as ONE statement of
/// data-modifying CTEs over the batch passed as JSON: a batch costs four
/// round trips (BEGIN, the locking read, this, COMMIT) whatever its size,
/// and the statement's text never changes (prepared once per connection).
/// Rows with a team are the teams' balances after; rows without, the new
/// ledger ids.
const APPLY_PG: &str = "WITH calls AS (SELECT * FROM json_to_recordset($1::json) AS c(n int, team text, \
       cost bigint, balance bigint, endpoint text, request_id text)), \
     debited AS (UPDATE teams SET credits = teams.credits - d.taken \
       FROM (SELECT team, SUM(cost)::bigint AS taken FROM calls GROUP BY team) AS d \
       WHERE teams.id = d.team RETURNING teams.id, teams.credits), \
     ledger AS (INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, \
       created_at, run_id) \
       SELECT team, -cost, balance, 'debit', endpoint, request_id, $2::bigint, $3::bigint \
       FROM calls ORDER BY n RETURNING id) \
     SELECT id, credits FROM debited UNION ALL SELECT NULL, id FROM ledger";

async fn apply_one_statement(
    tx: &mut Tx<'_>,
    run: i64,
    debits: &[(&str, i64, i64)],
    rows: &[CallRow<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // In the batch's order: the ledger's ids follow `n`, so each row's
    // balance_after is the running total.
    let calls: Vec<CallJson> = rows
        .iter()
        .enumerate()
        .map(
            |(n, (team, cost, balance, endpoint, request_id))| CallJson {
                n,
                team: Some(team),
                cost: *cost,
                balance: Some(*balance),
                endpoint,
                request_id: *request_id,
            },
        )
        .collect();
    let answer: Vec<(Option<String>, i64)> = sqlx::query_as(APPLY_PG)
        .bind(serde_json::to_string(&calls).unwrap_or_default())
        .bind(now_ms())
        .bind(run)
        .fetch_all(&mut **tx)
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for (team, value) in answer {
        let Some(team) = team else {
            ids.push(value);
            continue;
        };
        let expected = debits.iter().find(|(t, ..)| *t == team).map(|d| d.2);
        if expected != Some(value) {
            // Cannot happen under the row lock; nothing is written if it does.
            return Err(balance_moved(&team));
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn balance_moved(team: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "team {team}'s balance changed during a credit batch"
    ))
}

/// SQLite (no data-modifying CTEs): one UPDATE per team not debited up front
/// by `read_sqlite`, then the ledger rows as one multi-row insert; their
/// ids, in call order (the table's ids only grow: AUTOINCREMENT).
async fn apply_sqlite(
    tx: &mut Tx<'_>,
    run: i64,
    debits: &[(&str, i64, i64)],
    prepaid: &[&str],
    rows: &[CallRow<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
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
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // `$1` is the time, `$2` the run; call `i` binds its five values once.
    let arg = |i: usize, n: usize| 3 + 5 * i + n;
    let mut sql = String::with_capacity(48 * rows.len() + 160);
    sql.push_str(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, endpoint, request_id, created_at, reason, run_id) VALUES ",
    );
    for i in 0..rows.len() {
        let sep = if i > 0 { "," } else { "" };
        let (team, cost, balance) = (arg(i, 0), arg(i, 1), arg(i, 2));
        let (endpoint, request) = (arg(i, 3), arg(i, 4));
        sql.push_str(&format!(
            "{sep}(${team},-${cost},${balance},${endpoint},${request},$1,'debit',$2)"
        ));
    }
    sql.push_str(" RETURNING id");
    let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(now_ms()).bind(run);
    for (team, cost, balance, endpoint, request_id) in rows {
        q = q
            .bind(*team)
            .bind(*cost)
            .bind(*balance)
            .bind(*endpoint)
            .bind(*request_id);
    }
    let mut ids = q.fetch_all(&mut **tx).await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Each reservation's outcome, and each team's balance after the batch.
pub type Written = (Vec<Result<Reserved, ReserveError>>, Vec<(String, i64)>);
