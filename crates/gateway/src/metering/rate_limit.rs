//! Per-team request limits as GCRA (the generic cell rate algorithm): a
//! limit of N per minute lets a burst of N through, then one request every
//! 60/N seconds. Each team keeps one number, its "theoretical arrival time"
//! (TAT); a request passes when the TAT it would push forward stays within a
//! minute of now. Unlike the fixed window it replaced, a minute boundary
//! resets nothing: over any stretch of `t` seconds at most `N + N·t/60`
//! requests pass (the fixed window let 2N through in two seconds).
//!
//! On one node the TATs live in memory. With `redis_url` set they live in
//! Redis, updated by one Lua script (one round trip, atomic), so every
//! instance draws on the same budget. Times are each instance's clock in
//! microseconds; instances are expected to run NTP (a skew of milliseconds
//! moves a 60/N-second schedule by as much).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::core::db::Db;
use crate::core::redis::Redis;
use crate::core::telemetry;
use crate::core::time::now_ms;

/// Daily limits are gone at the vendor; the field stays `null` with this notice.
pub const RATE_LIMIT_NOTICE: &str = "We have decided to remove our daily rate limits. Please remove any references to these in your integrations.";

/// The period limits are expressed in, in microseconds.
const PERIOD_US: i64 = 60_000_000;

/// Memory entries beyond this make the limiter drop the idle ones.
const PRUNE_AT: usize = 10_000;

#[derive(Clone, Copy, Debug)]
pub struct RateStatus {
    pub limit: i64,
    pub remaining: i64,
    /// Exceeded: seconds until the next request would pass (`Retry-After`).
    /// Otherwise: seconds until the whole limit is available again.
    pub reset_secs: u64,
    pub exceeded: bool,
}

/// `_meta._rate_limits` (the daily fields stay, `null`, beside the notice).
impl serde::Serialize for RateStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("RateLimits", 5)?;
        m.serialize_field("limit_minute", &self.limit)?;
        m.serialize_field("limit_day", &None::<i64>)?;
        m.serialize_field("remaining_minute", &self.remaining)?;
        m.serialize_field("remaining_day", &None::<i64>)?;
        m.serialize_field("notice", RATE_LIMIT_NOTICE)?;
        m.end()
    }
}

impl RateStatus {
    /// The status of a request at `now` given the TAT it produced (`new_tat`,
    /// or the one it would have produced when refused).
    fn of(limit: i64, interval: i64, now: i64, new_tat: i64, passed: bool) -> RateStatus {
        let ahead = new_tat - now;
        if passed {
            RateStatus {
                limit,
                remaining: ((PERIOD_US - ahead) / interval).clamp(0, limit),
                reset_secs: secs(ahead),
                exceeded: false,
            }
        } else {
            RateStatus {
                limit,
                remaining: 0,
                reset_secs: secs(ahead - PERIOD_US),
                exceeded: true,
            }
        }
    }
}

fn secs(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1_000_000).max(1)
}

/// Microseconds between requests at `limit` per minute.
fn interval(limit: i64) -> i64 {
    (PERIOD_US / limit.max(1)).max(1)
}

/// One TAT per team: in the cluster's Redis when there is one, else (and
/// while Redis cannot be reached) in this process.
pub struct RateLimiter {
    local: Mutex<HashMap<String, i64>>,
    redis: Option<(Redis, redis::Script)>,
}

/// The atomic step in Redis: KEYS[1] the team's TAT; ARGV now, interval,
/// period (µs). Returns {passed, new TAT}. The key expires when its TAT is
/// in the past anyway (an idle team costs nothing).
const GCRA_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + interval
if new - now > period then
  return {0, new}
end
redis.call('SET', KEYS[1], new, 'PX', math.floor((new - now) / 1000) + 1)
return {1, new}
";

impl RateLimiter {
    pub fn memory() -> RateLimiter {
        RateLimiter {
            local: Mutex::new(HashMap::new()),
            redis: None,
        }
    }

    pub fn redis(redis: Redis) -> RateLimiter {
        RateLimiter {
            redis: Some((redis, redis::Script::new(GCRA_LUA))),
            ..RateLimiter::memory()
        }
    }

    /// Counts one request of `team_id` against its `limit` per minute.
    pub async fn hit(&self, team_id: &str, limit: i64) -> anyhow::Result<RateStatus> {
        self.hit_at(team_id, limit, now_ms() * 1000).await
    }

    /// [`Self::hit`] at `now` (µs since the epoch): tests drive time here.
    pub async fn hit_at(&self, team_id: &str, limit: i64, now: i64) -> anyhow::Result<RateStatus> {
        let interval = interval(limit);
        let shared = match &self.redis {
            Some((redis, script)) => {
                match Self::hit_redis(redis, script, team_id, now, interval).await {
                    Ok(hit) => Some(hit),
                    // A Redis outage or a slow answer must not fail the caller's
                    // request: this process counts alone until Redis answers
                    // again (the limit is then per instance, as the budgets are).
                    Err(e) => {
                        tracing::warn!(error = %e, "the shared rate limit cannot be reached; counting in this process");
                        None
                    }
                }
            }
            None => None,
        };
        let (passed, new_tat) = match shared {
            Some(hit) => hit,
            None => self.hit_local(team_id, now, interval),
        };
        if !passed {
            metrics::counter!(telemetry::RATE_LIMITED, "team" => team_id.to_owned()).increment(1);
        }
        Ok(RateStatus::of(limit, interval, now, new_tat, passed))
    }

    fn hit_local(&self, team_id: &str, now: i64, interval: i64) -> (bool, i64) {
        let mut tats = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if tats.len() >= PRUNE_AT {
            tats.retain(|_, tat| *tat > now);
        }
        let tat = tats.get(team_id).copied().unwrap_or(now).max(now);
        let new = tat + interval;
        let passed = new - now <= PERIOD_US;
        if passed {
            tats.insert(team_id.to_owned(), new);
        }
        (passed, new)
    }

    async fn hit_redis(
        redis: &Redis,
        script: &redis::Script,
        team_id: &str,
        now: i64,
        interval: i64,
    ) -> redis::RedisResult<(bool, i64)> {
        let mut conn = redis.conn();
        let (passed, new): (i64, i64) = script
            .key(redis.key(&format!("rate:{team_id}")))
            .arg(now)
            .arg(interval)
            .arg(PERIOD_US)
            .invoke_async(&mut conn)
            .await?;
        Ok((passed == 1, new))
    }
}

/// Drops the rows of the fixed-window limiter this one replaced (its table
/// stays until a migration removes it; nothing writes it any more).
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
        .bind(now_ms() - 2 * 60_000)
        .execute(&db.writer)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    /// Requests of one team at `at` (µs) that pass.
    async fn passed(l: &RateLimiter, limit: i64, at: i64, n: usize) -> usize {
        let mut ok = 0;
        for _ in 0..n {
            if !l.hit_at("team_a", limit, at).await.unwrap().exceeded {
                ok += 1;
            }
        }
        ok
    }

    #[tokio::test]
    async fn a_minute_boundary_resets_nothing() {
        let l = RateLimiter::memory();
        // 100 at 59.5 s into a minute, 100 more one second later (past the
        // boundary): the fixed window let all 200 through.
        let t = 10 * MINUTE + 59_500_000;
        assert_eq!(passed(&l, 100, t, 100).await, 100);
        let later = passed(&l, 100, t + 1_000_000, 100).await;
        assert_eq!(later, 1, "one second earns 100/60 requests: one whole one");
        // The refusal says when the next one passes (0.6 s per request).
        let refused = l.hit_at("team_a", 100, t + 1_000_000).await.unwrap();
        assert!(refused.exceeded && refused.remaining == 0);
        assert_eq!(refused.reset_secs, 1);
        // A minute of quiet gives the whole limit back, no more.
        assert_eq!(passed(&l, 100, t + 62 * 1_000_000, 150).await, 100);
    }

    #[tokio::test]
    async fn remaining_counts_down_and_teams_are_separate() {
        let l = RateLimiter::memory();
        let now = 5 * MINUTE;
        for remaining in [2, 1, 0] {
            let s = l.hit_at("team_a", 3, now).await.unwrap();
            assert!(!s.exceeded);
            assert_eq!(s.remaining, remaining);
        }
        let s = l.hit_at("team_a", 3, now).await.unwrap();
        assert!(s.exceeded);
        assert_eq!(s.reset_secs, 20, "one request per 20 s at 3/min");
        assert!(!l.hit_at("team_b", 3, now).await.unwrap().exceeded);
    }
}

#[cfg(test)]
mod redis_tests {
    use super::*;

    /// The Redis of the tests (the one CI and this machine run).
    async fn redis() -> Redis {
        let url = std::env::var("FANSLY_GATEWAY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
        Redis::connect(&url, &prefix)
            .await
            .expect("test Redis reachable")
    }

    #[tokio::test]
    async fn in_redis_a_minute_boundary_resets_nothing_and_instances_share_one_budget() {
        let redis = redis().await;
        // Two limiters on one Redis stand for two instances.
        let (one, two) = (RateLimiter::redis(redis.clone()), RateLimiter::redis(redis));
        let t = 20 * 60_000_000 + 59_500_000;
        let mut ok = 0;
        for i in 0..100 {
            let l = if i % 2 == 0 { &one } else { &two };
            ok += usize::from(!l.hit_at("team_r", 100, t).await.unwrap().exceeded);
        }
        assert_eq!(ok, 100);
        let mut later = 0;
        for i in 0..100 {
            let l = if i % 2 == 0 { &one } else { &two };
            later += usize::from(
                !l.hit_at("team_r", 100, t + 1_000_000)
                    .await
                    .unwrap()
                    .exceeded,
            );
        }
        assert_eq!(later, 1, "across the boundary only what one second earns");
        let refused = two.hit_at("team_r", 100, t + 1_000_000).await.unwrap();
        assert!(refused.exceeded);
        assert_eq!(refused.reset_secs, 1);
    }

    #[tokio::test]
    async fn a_redis_error_falls_back_to_counting_in_this_process() {
        let redis = redis().await;
        // The team's key holds a hash: the script's GET fails (WRONGTYPE),
        // as any Redis error would; the call is counted here instead of
        // failing the caller's request.
        let mut conn = redis.conn();
        let _: () = redis::cmd("HSET")
            .arg(redis.key("rate:team_w"))
            .arg("x")
            .arg("1")
            .query_async(&mut conn)
            .await
            .unwrap();
        let l = RateLimiter::redis(redis);
        let now = 30 * 60_000_000;
        for remaining in [1, 0] {
            let s = l.hit_at("team_w", 2, now).await.unwrap();
            assert!(!s.exceeded);
            assert_eq!(s.remaining, remaining);
        }
        assert!(
            l.hit_at("team_w", 2, now).await.unwrap().exceeded,
            "the local count still limits"
        );
    }
}
