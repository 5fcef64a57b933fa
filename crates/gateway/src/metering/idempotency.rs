//! Idempotency keys as stored: one row per (team, key) holding the first
//! answer to a write, so a repeat is answered from here without a second
//! Fansly call or charge. The HTTP side (`http/idempotency.rs`) decides when
//! to claim, complete or release; this file owns the SQL.
//!
//! Claiming is a conditional `INSERT … ON CONFLICT DO NOTHING` on the
//! primary key: across any number of instances exactly one attempt gets the
//! row. A row left `running` by an instance that died is taken over once its
//! `locked_until` has passed, by a conditional `UPDATE` that also only one
//! attempt can win.

use sqlx::Row;

use crate::core::db::Db;
use crate::core::ids::random_id;
use crate::core::time::now_ms;

/// How long a stored answer is replayed (IETF draft / Stripe: 24 h).
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a `running` row is honoured before a retry may take it over.
/// Longer than any single call runs (upstream timeouts and retries are
/// seconds; uploads stream at most a few minutes), short enough that a
/// crash does not block a key for long.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// A stored answer, replayed as it was first sent.
#[derive(Clone, Debug)]
pub struct Stored {
    pub status: u16,
    /// `(name, value)` pairs of the headers worth replaying (content type,
    /// metering headers).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// This attempt holds the key: run the request, then `complete` or
    /// `release` with this lease.
    Acquired { lease: String },
    /// The first attempt finished: answer this.
    Replay(Stored),
    /// The first attempt is still running (its lease has not lapsed).
    InProgress,
    /// The key was used with another request (method, path or body).
    Mismatch,
}

/// Claims `key` for `team` with the request's `fingerprint`.
pub async fn claim(
    db: &Db,
    team: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, sqlx::Error> {
    let lease = random_id("idem_", 16);
    // Two rounds at most: an expired row is deleted, then the insert is tried again.
    for _ in 0..2 {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys \
             (team_id, idem_key, fingerprint, state, lease, locked_until, created_at, expires_at) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) \
             ON CONFLICT (team_id, idem_key) DO NOTHING",
        )
        .bind(team)
        .bind(key)
        .bind(fingerprint)
        .bind(&lease)
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(now + RETENTION_MS)
        .execute(&db.writer)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Acquired { lease });
        }
        let Some(row) = sqlx::query(
            "SELECT fingerprint, state, locked_until, status, headers, body, expires_at \
             FROM idempotency_keys WHERE team_id = $1 AND idem_key = $2",
        )
        .bind(team)
        .bind(key)
        .fetch_optional(&db.writer)
        .await?
        else {
            // Released or pruned between the insert and the read: try again.
            continue;
        };
        let expires_at: i64 = row.get(6);
        if expires_at <= now {
            // Past retention, the key is free again (as if never used).
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE team_id = $1 AND idem_key = $2 AND expires_at <= $3",
            )
            .bind(team)
            .bind(key)
            .bind(now)
            .execute(&db.writer)
            .await?;
            continue;
        }
        let stored_fingerprint: String = row.get(0);
        if stored_fingerprint != fingerprint {
            return Ok(Claim::Mismatch);
        }
        let state: String = row.get(1);
        if state == "done" {
            let headers: Option<String> = row.get(4);
            return Ok(Claim::Replay(Stored {
                status: u16::try_from(row.get::<Option<i64>, _>(3).unwrap_or(200)).unwrap_or(200),
                headers: headers
                    .and_then(|h| serde_json::from_str(&h).ok())
                    .unwrap_or_default(),
                body: row.get::<Option<String>, _>(5).unwrap_or_default(),
            }));
        }
        let locked_until: i64 = row.get(2);
        if locked_until > now {
            return Ok(Claim::InProgress);
        }
        // The attempt holding it died: take it over, unless another retry
        // did so first.
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET lease = $1, locked_until = $2 \
             WHERE team_id = $3 AND idem_key = $4 AND state = 'running' AND locked_until <= $5",
        )
        .bind(&lease)
        .bind(now + LEASE_MS)
        .bind(team)
        .bind(key)
        .bind(now)
        .execute(&db.writer)
        .await?;
        return Ok(if taken.rows_affected() == 1 {
            Claim::Acquired { lease }
        } else {
            Claim::InProgress
        });
    }
    Ok(Claim::InProgress)
}

/// Stores the answer of the attempt holding `lease`. False when the lease
/// was lost (the row was taken over after it lapsed): nothing is written.
pub async fn complete(
    db: &Db,
    team: &str,
    key: &str,
    lease: &str,
    answer: &Stored,
) -> Result<bool, sqlx::Error> {
    let headers = serde_json::to_string(&answer.headers).unwrap_or_else(|_| "[]".into());
    let done = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3 \
         WHERE team_id = $4 AND idem_key = $5 AND lease = $6 AND state = 'running'",
    )
    .bind(i64::from(answer.status))
    .bind(headers)
    .bind(&answer.body)
    .bind(team)
    .bind(key)
    .bind(lease)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Frees the key held by `lease` (the attempt ended in an answer that is not
/// kept, e.g. a 5xx), so a retry runs the request again.
pub async fn release(db: &Db, team: &str, key: &str, lease: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys \
         WHERE team_id = $1 AND idem_key = $2 AND lease = $3 AND state = 'running'",
    )
    .bind(team)
    .bind(key)
    .bind(lease)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Deletes keys past retention; returns how many (housekeeping).
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(&db.writer)
        .await?;
    Ok(done.rows_affected())
}
