//! What the gap fill remembers per account (migration 0012): when its next
//! fill is due, the baseline it never fills from before, the high-water
//! mark per source (the newest Fansly id recorded) and, for things Fansly
//! announces no event for, the last value seen per item.

use std::collections::HashMap;

use sqlx::Row;

use crate::core::db::Db;

/// `fansly_accounts.auth_state` of an account with a live session (the
/// accounts layer sits above this one, so its constant is not importable).
const AUTHENTICATED: &str = "authenticated";

/// An authenticated account whose fill is due.
#[derive(Clone, Debug)]
pub struct DueAccount {
    pub account_id: String,
    pub team_id: String,
    pub fansly_id: String,
    /// Unix ms before which nothing is filled (when the gateway first saw
    /// the account).
    pub baseline_at: i64,
}

/// Says the account's socket (re)connected at `now`: a fill is due at once.
/// The first call for an account also sets its baseline.
pub async fn connected(db: &Db, account_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gap_fill_accounts (account_id, baseline_at, due_at) VALUES ($1, $2, $2) \
         ON CONFLICT (account_id) DO UPDATE SET due_at = excluded.due_at",
    )
    .bind(account_id)
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Authenticated accounts whose fill is due at `now`; an account seen for
/// the first time gets its baseline (`now`) and is due.
pub async fn due(db: &Db, now: i64) -> Result<Vec<DueAccount>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO gap_fill_accounts (account_id, baseline_at, due_at) \
         SELECT id, $1, $1 FROM fansly_accounts a WHERE a.auth_state = $2 \
           AND a.fansly_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM gap_fill_accounts g WHERE g.account_id = a.id) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(now)
    .bind(AUTHENTICATED)
    .execute(&db.writer)
    .await?;
    let rows = sqlx::query(
        "SELECT a.id, a.team_id, a.fansly_id, g.baseline_at FROM fansly_accounts a \
         JOIN gap_fill_accounts g ON g.account_id = a.id \
         WHERE a.auth_state = $1 AND a.fansly_id IS NOT NULL AND g.due_at <= $2 \
         ORDER BY g.due_at, a.id",
    )
    .bind(AUTHENTICATED)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| DueAccount {
            account_id: r.get(0),
            team_id: r.get(1),
            fansly_id: r.get(2),
            baseline_at: r.get(3),
        })
        .collect())
}

/// Claims the account's fill if it is due at `now`: its due time moves to
/// `until` (when the claim lapses, should its instance die mid-fill), so no
/// other task or instance of a cluster fills it meanwhile. `Some(until)`
/// (the claim, handed to [`finished`]) when this caller won it.
pub async fn claim(
    db: &Db,
    account_id: &str,
    now: i64,
    until: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let won = sqlx::query(
        "UPDATE gap_fill_accounts SET due_at = $3 WHERE account_id = $1 AND due_at <= $2",
    )
    .bind(account_id)
    .bind(now)
    .bind(until)
    .execute(&db.writer)
    .await?
    .rows_affected();
    Ok((won > 0).then_some(until))
}

/// Files a finished fill that held `claim` and started at `started`: the
/// next one is due at `next`, unless a reconnect made it due again
/// meanwhile (its due time is no longer the claim).
pub async fn finished(
    db: &Db,
    account_id: &str,
    claim: i64,
    started: i64,
    next: i64,
    filled: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE gap_fill_accounts SET \
           due_at = CASE WHEN due_at = $6 THEN $3 ELSE due_at END, \
           last_fill_at = $2, last_filled = $4, last_error = $5 \
         WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(started)
    .bind(next)
    .bind(filled)
    .bind(error)
    .bind(claim)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// The account's gap-fill row as JSON facts: `(baseline_at, due_at,
/// last_fill_at, last_filled, last_error)`.
pub async fn status(
    db: &Db,
    account_id: &str,
) -> Result<Option<(i64, i64, Option<i64>, i64, Option<String>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT baseline_at, due_at, last_fill_at, last_filled, last_error \
         FROM gap_fill_accounts WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))))
}

/// Moves the account's baseline (an operator, or a test standing in for an
/// account connected long ago).
pub async fn set_baseline(db: &Db, account_id: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE gap_fill_accounts SET baseline_at = $2 WHERE account_id = $1")
        .bind(account_id)
        .bind(at)
        .execute(&db.writer)
        .await?;
    Ok(())
}

/// The account's marks whose source starts with `prefix`, by source.
pub async fn marks(
    db: &Db,
    account_id: &str,
    prefix: &str,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT source, mark FROM gap_marks WHERE account_id = $1 AND source LIKE $2")
            .bind(account_id)
            .bind(format!("{prefix}%"))
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Raises the mark of `source` to `mark` (never lowers it: two fills that
/// overlap may finish in any order).
pub async fn advance(
    db: &Db,
    account_id: &str,
    source: &str,
    mark: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gap_marks (account_id, source, mark, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, source) DO UPDATE SET mark = excluded.mark, \
           updated_at = excluded.updated_at WHERE gap_marks.mark < excluded.mark",
    )
    .bind(account_id)
    .bind(source)
    .bind(mark)
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// The values last seen of `source`'s items, by item.
pub async fn snapshot(
    db: &Db,
    account_id: &str,
    source: &str,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT item, value FROM gap_snapshots WHERE account_id = $1 AND source = $2")
            .bind(account_id)
            .bind(source)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Remembers `value` as the last seen of `item`.
pub async fn remember(
    db: &Db,
    account_id: &str,
    source: &str,
    item: &str,
    value: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gap_snapshots (account_id, source, item, value, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, source, item) \
         DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(source)
    .bind(item)
    .bind(value)
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Forgets what was seen of `item` (it is gone, or its event is recorded).
pub async fn forget(
    db: &Db,
    account_id: &str,
    source: &str,
    item: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM gap_snapshots WHERE account_id = $1 AND source = $2 AND item = $3")
        .bind(account_id)
        .bind(source)
        .bind(item)
        .execute(&db.writer)
        .await?;
    Ok(())
}
