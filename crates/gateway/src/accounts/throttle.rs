//! An account's request budget towards Fansly: waiting out its throttle
//! (for background work, which has time, a refusal means "later", never a
//! failure), and in a cluster the budget itself, kept in Redis so every
//! instance calling Fansly for one account draws on the same bucket.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::Duration;

use fansly_upstream::{SharedBudget, UpstreamError};

use crate::core::redis::Redis;

/// Runs `call` until the account's throttle lets it through; any other
/// answer (success or failure) is returned as it is.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, UpstreamError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    loop {
        match call().await {
            Err(UpstreamError::Throttled { retry_after }) => {
                tokio::time::sleep(retry_after.max(Duration::from_millis(10))).await
            }
            other => return other,
        }
    }
}

/// The in-process bucket's rules (fansly_upstream's `Bucket`) as one atomic
/// step on a hash `{tokens, at}`, on Redis's clock (one clock for every
/// instance). KEYS[1] the bucket; ARGV: per minute, burst, max wait in µs.
/// Answers `{1, wait µs}` (the token is taken: go after the wait) or
/// `{0, retry µs}` (refused, nothing taken). Numbers are written with
/// `string.format`: Lua's `tostring` keeps 14 digits, too few for µs since
/// 1970. The key lapses once the bucket
/// would be full again, so idle accounts leave nothing behind.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_us = tonumber(ARGV[1]) / 60000000
local cap = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(s[1]) or cap
local at = tonumber(s[2]) or now
if now > at then tokens = math.min(cap, tokens + (now - at) * per_us) end
local wait = 0
if tokens < 1 then wait = (1 - tokens) / per_us end
if wait > max_wait then return {0, math.ceil(wait - max_wait)} end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / per_us / 1000) + 1000)
return {1, math.ceil(wait)}
";

static TAKE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE));

/// The accounts' budgets in the cluster's Redis (`budget:<account>:<kind>`).
pub struct RedisBudget(pub Redis);

impl SharedBudget for RedisBudget {
    fn take<'a>(
        &'a self,
        bucket: &'a str,
        per_minute: u32,
        burst: u32,
        max_wait: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Duration, UpstreamError>> + Send + 'a>> {
        Box::pin(async move {
            let (taken, micros): (i64, i64) = TAKE_SCRIPT
                .key(self.0.key(&format!("budget:{bucket}")))
                .arg(per_minute.max(1))
                .arg(burst.max(1))
                .arg(max_wait.as_micros() as u64)
                .invoke_async(&mut self.0.conn())
                .await
                .map_err(|e| UpstreamError::Unreachable(format!("Redis: {e}")))?;
            let micros = Duration::from_micros(micros.max(0) as u64);
            if taken == 1 {
                Ok(micros)
            } else {
                Err(UpstreamError::Throttled {
                    retry_after: micros,
                })
            }
        })
    }
}
