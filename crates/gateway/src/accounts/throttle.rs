//! An account's request budget towards Fansly: waiting out its throttle
//! (for background work, which has time, a refusal means "later", never a
//! failure), and in a cluster the budget itself, kept in Redis so every
//! instance calling Fansly for one account draws on the same bucket.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::Duration;

use fansly_upstream::{BucketRule, SharedBudget, UpstreamError};

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
/// step over several buckets (the account's and its route's), each a hash
/// `{tokens, at}`, on Redis's clock (one clock for every instance). KEYS the
/// buckets; ARGV[1] the max wait in µs, then per bucket its per-minute rate
/// and burst. Answers `{1, wait µs}` (a token is taken from every bucket:
/// go after the longest wait) or `{0, retry µs}` (refused, nothing taken).
/// Numbers are written with `string.format`: Lua's `tostring` keeps 14
/// digits, too few for µs since 1970. A key lapses once its bucket would be
/// full again, so idle accounts leave nothing behind.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local longest = 0
local seen = {}
for i = 1, #KEYS do
  local per_us = tonumber(ARGV[2 * i]) / 60000000
  local cap = tonumber(ARGV[2 * i + 1])
  local s = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(s[1]) or cap
  local at = tonumber(s[2]) or now
  if now > at then tokens = math.min(cap, tokens + (now - at) * per_us) end
  if tokens < 1 then longest = math.max(longest, (1 - tokens) / per_us) end
  seen[i] = {tokens - 1, per_us, cap}
end
if longest > max_wait then return {0, math.ceil(longest - max_wait)} end
for i = 1, #KEYS do
  local tokens, per_us, cap = seen[i][1], seen[i][2], seen[i][3]
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - tokens) / per_us / 1000) + 1000)
end
return {1, math.ceil(longest)}
";

static TAKE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE));

/// The accounts' budgets in the cluster's Redis (`budget:<account>:<kind>`,
/// `budget:<account>:route:<route>`).
pub struct RedisBudget(pub Redis);

impl SharedBudget for RedisBudget {
    fn take<'a>(
        &'a self,
        rules: &'a [BucketRule],
        max_wait: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Duration, UpstreamError>> + Send + 'a>> {
        Box::pin(async move {
            let mut invocation = TAKE_SCRIPT.prepare_invoke();
            invocation.arg(max_wait.as_micros() as u64);
            for rule in rules {
                invocation
                    .key(self.0.key(&format!("budget:{}", rule.name)))
                    .arg(rule.per_minute.max(1))
                    .arg(rule.burst.max(1));
            }
            let (taken, micros): (i64, i64) = invocation
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
