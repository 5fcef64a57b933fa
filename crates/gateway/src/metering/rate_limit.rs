//! Per-team request limits in fixed 60-second windows, counted in the
//! database so every gateway instance shares one count.

use serde_json::{json, Value};
use sqlx::Row;

use crate::core::db::Db;
use crate::core::telemetry;
use crate::core::time::now_ms;

/// Daily limits are gone at the vendor; the field stays `null` with this notice.
pub const RATE_LIMIT_NOTICE: &str = "We have decided to remove our daily rate limits. Please remove any references to these in your integrations.";

const WINDOW_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug)]
pub struct RateStatus {
    pub limit: i64,
    pub remaining: i64,
    /// Seconds until the current window ends.
    pub reset_secs: u64,
    pub exceeded: bool,
}

impl RateStatus {
    pub fn to_json(&self) -> Value {
        json!({
            "limit_minute": self.limit,
            "limit_day": null,
            "remaining_minute": self.remaining,
            "remaining_day": null,
            "notice": RATE_LIMIT_NOTICE,
        })
    }
}

/// Counts one request against the team's current window.
pub async fn hit(db: &Db, team_id: &str, limit: i64) -> Result<RateStatus, sqlx::Error> {
    let now = now_ms();
    let window_start = now - now.rem_euclid(WINDOW_MS);
    let hits: i64 = sqlx::query(
        "INSERT INTO rate_windows (team_id, window_start, hits) VALUES ($1, $2, 1) \
         ON CONFLICT (team_id, window_start) DO UPDATE SET hits = rate_windows.hits + 1 \
         RETURNING hits",
    )
    .bind(team_id)
    .bind(window_start)
    .fetch_one(&db.writer)
    .await?
    .get(0);
    if hits > limit {
        metrics::counter!(telemetry::RATE_LIMITED, "team" => team_id.to_owned()).increment(1);
    }
    let reset_ms = window_start + WINDOW_MS - now;
    Ok(RateStatus {
        limit,
        remaining: (limit - hits).max(0),
        reset_secs: (reset_ms as u64).div_ceil(1000).max(1),
        exceeded: hits > limit,
    })
}

/// Drops windows that can no longer be consulted.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
        .bind(now_ms() - 2 * WINDOW_MS)
        .execute(&db.writer)
        .await?;
    Ok(done.rows_affected())
}
