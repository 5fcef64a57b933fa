//! Credits. Every change of a team's balance is one conditional update plus
//! its ledger row, in one transaction: two concurrent calls can never spend
//! the same credit, and the ledger always sums to the balance. Calls reserve
//! through the group commit (metering/group_commit.rs), many per transaction.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("insufficient credits: balance {balance}")]
    Insufficient { balance: i64 },
    #[error("unknown team")]
    UnknownTeam,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The group commit carrying the reservation failed (metering/group_commit.rs).
    #[error("credit batch failed: {0}")]
    Batch(String),
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub delta: i64,
    pub balance_after: i64,
    pub reason: String,
    pub endpoint: Option<String>,
    pub request_id: Option<String>,
    pub created_at: i64,
}

/// Takes `cost` credits inside the caller's transaction, so the charge
/// commits or rolls back with the work it pays for; `None` (and nothing
/// written) when the balance is short.
pub async fn debit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
    cost: i64,
    endpoint: &str,
    request_id: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE teams SET credits = credits - $1 WHERE id = $2 AND credits >= $1 RETURNING credits",
    )
    .bind(cost)
    .bind(team_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let balance: i64 = row.get(0);
    spent(team_id, endpoint, cost);
    append(
        tx,
        team_id,
        -cost,
        balance,
        "debit",
        Some(endpoint),
        request_id,
    )
    .await?;
    Ok(Some(balance))
}

/// Counts a debit in `/metrics` (a debit inside a transaction that later rolls
/// back is counted too; the ledger is the record, this is the trend).
fn spent(team_id: &str, endpoint: &str, cost: i64) {
    metrics::counter!(telemetry::CREDITS_SPENT, "team" => team_id.to_owned(), "endpoint" => endpoint.to_owned())
        .increment(cost.max(0) as u64);
}

/// Adds credits (operator grants); the new balance.
pub async fn grant(db: &Db, team_id: &str, amount: i64, reason: &str) -> anyhow::Result<i64> {
    anyhow::ensure!(amount > 0, "a grant must be positive");
    anyhow::ensure!(balance(db, team_id).await?.is_some(), "no team {team_id}");
    Ok(credit(db, team_id, amount, reason, None, None).await?)
}

async fn credit(
    db: &Db,
    team_id: &str,
    amount: i64,
    reason: &str,
    endpoint: Option<&str>,
    request_id: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    let balance: i64 =
        sqlx::query("UPDATE teams SET credits = credits + $1 WHERE id = $2 RETURNING credits")
            .bind(amount)
            .bind(team_id)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
    append(
        &mut tx, team_id, amount, balance, reason, endpoint, request_id,
    )
    .await?;
    tx.commit().await?;
    Ok(balance)
}

async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    team_id: &str,
    delta: i64,
    balance_after: i64,
    reason: &str,
    endpoint: Option<&str>,
    request_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(team_id)
    .bind(delta)
    .bind(balance_after)
    .bind(reason)
    .bind(endpoint)
    .bind(request_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn balance(db: &Db, team_id: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT credits FROM teams WHERE id = $1")
        .bind(team_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The newest `limit` ledger rows of a team, newest first.
pub async fn ledger(db: &Db, team_id: &str, limit: i64) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    ledger_page(db, team_id, None, limit).await
}

/// A page of the team's ledger, newest first: rows with an id below
/// `before_id` (all when `None`).
pub async fn ledger_page(
    db: &Db,
    team_id: &str,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, delta, balance_after, reason, endpoint, request_id, created_at \
         FROM credit_ledger WHERE team_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(team_id)
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerEntry {
            id: r.get(0),
            delta: r.get(1),
            balance_after: r.get(2),
            reason: r.get(3),
            endpoint: r.get(4),
            request_id: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// Credits spent (debits net of refunds) per UTC day since `since_ms`:
/// `(day start in Unix ms, credits)`, oldest first, days without spend left out.
pub async fn spent_per_day(
    db: &Db,
    team_id: &str,
    since_ms: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let sql = "SELECT created_at / 86400000 AS day, CAST(SUM(-delta) AS BIGINT) \
         FROM credit_ledger WHERE team_id = $1 AND created_at >= $2 \
           AND reason IN ('debit', 'refund') \
         GROUP BY created_at / 86400000 ORDER BY day";
    spending(db, team_id, since_ms, sql, |r: AnyRow| {
        (r.get::<i64, _>(0) * 86_400_000, r.get(1))
    })
    .await
}

/// Credits spent per ledger endpoint since `since_ms`, with the number of
/// charges: `(endpoint, credits, charges)`, most spent first.
pub async fn spent_per_endpoint(
    db: &Db,
    team_id: &str,
    since_ms: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let sql = "SELECT endpoint, CAST(SUM(-delta) AS BIGINT) AS spent, \
           CAST(SUM(CASE WHEN reason = 'debit' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM credit_ledger WHERE team_id = $1 AND created_at >= $2 \
           AND reason IN ('debit', 'refund') AND endpoint IS NOT NULL \
         GROUP BY endpoint ORDER BY spent DESC, endpoint";
    spending(db, team_id, since_ms, sql, |r: AnyRow| {
        (r.get(0), r.get(1), r.get(2))
    })
    .await
}

/// The rows of a spending query (`$1` the team, `$2` the start), each read
/// by `row`.
async fn spending<T>(
    db: &Db,
    team_id: &str,
    since_ms: i64,
    sql: &str,
    row: impl Fn(AnyRow) -> T,
) -> Result<Vec<T>, sqlx::Error> {
    let query = sqlx::query(sql).bind(team_id).bind(since_ms);
    Ok(query
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(row)
        .collect())
}
