//! What a credit run leaves behind, settled: the refund of one debit
//! (exactly once, whoever asks), the settling of runs that died (their open
//! debits and those after their last report, refunded), and the count of
//! what is still unsettled. The committer that writes runs is
//! `group_commit.rs`; why runs exist, its module comment.

use sqlx::Row;

use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;

/// Refunds the call behind `debit` if it has no refund yet: credits its
/// cost back with a `refund` ledger row naming it, in one transaction (the
/// unique `refund_of` makes a second refund, racing or later, a no-op).
/// The team and its balance after, or `None` when it was refunded already.
pub async fn refund_debit(db: &Db, debit: i64) -> Result<Option<(String, i64)>, sqlx::Error> {
    let mut tx = db.writer.begin().await?;
    // The team's row first: it takes the write lock (SQLite) or the row
    // lock (PostgreSQL) before anything is read, so racing refunders of
    // one debit queue here and the later one finds the earlier's row.
    let credited = sqlx::query(
        "UPDATE teams SET credits = credits + \
           (SELECT -delta FROM credit_ledger WHERE id = $1 AND reason = 'debit') \
         WHERE id = (SELECT team_id FROM credit_ledger WHERE id = $1 AND reason = 'debit') \
         RETURNING id, credits",
    )
    .bind(debit)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = credited else {
        tx.rollback().await?;
        return Ok(None);
    };
    let (team, balance): (String, i64) = (row.get(0), row.get(1));
    let (cost, endpoint, request_id): (i64, Option<String>, Option<String>) =
        sqlx::query_as("SELECT -delta, endpoint, request_id FROM credit_ledger WHERE id = $1")
            .bind(debit)
            .fetch_one(&mut *tx)
            .await?;
    let written = sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at, refund_of) \
         VALUES ($1, $2, $3, 'refund', $4, $5, $6, $7) \
         ON CONFLICT (refund_of) WHERE refund_of IS NOT NULL DO NOTHING",
    )
    .bind(&team)
    .bind(cost)
    .bind(balance)
    .bind(&endpoint)
    .bind(&request_id)
    .bind(now_ms())
    .bind(debit)
    .execute(&mut *tx)
    .await?;
    if written.rows_affected() == 0 {
        // Refunded already: the credit given back above is taken back.
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    metrics::counter!(telemetry::CREDITS_REFUNDED, "team" => team.clone(), "endpoint" => endpoint.unwrap_or_default())
        .increment(cost.max(0) as u64);
    Ok(Some((team, balance)))
}

/// Refunds what dead runs left unsettled: every run (but `mine`) whose
/// heartbeat is older than `dead_before_ms` has the debits its row reports
/// open, and those after its last reported debit, refunded unless they were
/// already; then the run is removed. How many were refunded.
///
/// A run that was only silent that long (cut off from the database) is
/// taken for dead too: its calls then in flight are refunded (never charged
/// twice), and its next heartbeat writes its row again.
pub async fn settle_orphans(
    db: &Db,
    dead_before_ms: i64,
    mine: Option<i64>,
) -> Result<usize, sqlx::Error> {
    let runs: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT id, last_debit, open_debits, heartbeat_at FROM credit_runs \
         WHERE heartbeat_at < $1 ORDER BY id",
    )
    .bind(dead_before_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut settled = 0;
    for (run, last_debit, open, heartbeat_at) in runs {
        if Some(run) == mine {
            continue;
        }
        let debits = unsettled_of(db, run, last_debit, &open).await?;
        for debit in debits {
            if refund_debit(db, debit).await?.is_some() {
                settled += 1;
            }
        }
        // Only as it was read: a run that wrote its row since is alive, and
        // one whose settling failed half-way is found again next time.
        sqlx::query("DELETE FROM credit_runs WHERE id = $1 AND heartbeat_at = $2")
            .bind(run)
            .bind(heartbeat_at)
            .execute(&db.writer)
            .await?;
    }
    if settled > 0 {
        tracing::warn!(
            reservations = settled,
            "refunded credit reservations left by a stopped process"
        );
    }
    Ok(settled)
}

/// Reservations written and not settled yet, on every run (what
/// [`settle_orphans`] would refund if those runs died now).
pub async fn unsettled(db: &Db) -> Result<usize, sqlx::Error> {
    let runs: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, last_debit, open_debits FROM credit_runs")
            .fetch_all(&db.pool)
            .await?;
    let mut count = 0;
    for (run, last_debit, open) in runs {
        count += unsettled_of(db, run, last_debit, &open).await?.len();
    }
    Ok(count)
}

/// A run's debits without a refund among those its row reports open
/// (`open`, its JSON list) and those after its last reported debit. The
/// latter are read from there by the ledger's key: every run's rows since,
/// done once per dead run.
async fn unsettled_of(
    db: &Db,
    run: i64,
    last_debit: i64,
    open: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let open: Vec<i64> = serde_json::from_str(open).unwrap_or_else(|e| {
        tracing::error!(run, error = %e, "a credit run's open debits are unreadable");
        Vec::new()
    });
    const NOT_REFUNDED: &str =
        "l.reason = 'debit' AND NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.refund_of = l.id)";
    let mut debits = Vec::new();
    // In chunks: SQLite takes at most 32,766 parameters per statement.
    for chunk in open.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT l.id FROM credit_ledger l WHERE l.id IN ({}) AND {NOT_REFUNDED} ORDER BY l.id",
            list.join(", ")
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for debit in chunk {
            query = query.bind(*debit);
        }
        debits.extend(query.fetch_all(&db.pool).await?);
    }
    let after: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT l.id FROM credit_ledger l WHERE l.id > $1 AND l.run_id = $2 AND {NOT_REFUNDED} \
         ORDER BY l.id"
    ))
    .bind(last_debit)
    .bind(run)
    .fetch_all(&db.pool)
    .await?;
    debits.extend(after);
    Ok(debits)
}
