//! The cluster's shared Redis (config `redis_url`). One node runs without it;
//! with it, every instance reaches the same keys and channels under
//! `redis_prefix`, so several clusters or test runs can share one server.

use anyhow::Context;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a command may take before it counts as Redis being unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl Redis {
    /// Connects (and checks the server answers) once at startup; the
    /// connection manager reconnects by itself after a drop.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Redis> {
        let client = redis::Client::open(url).with_context(|| format!("redis_url {url:?}"))?;
        // Redis's default 500 ms response timeout fails calls on a merely
        // busy machine; the callers fall back to per-process counting on
        // errors, so a longer bound only decides how long one waits.
        let config = ConnectionManagerConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;
        let mut check = conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut check)
            .await
            .with_context(|| format!("PING to Redis at {url}"))?;
        Ok(Redis {
            client,
            conn,
            prefix: prefix.to_owned(),
        })
    }

    /// A multiplexed connection for commands (cheap to clone; share it).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The client, for what needs its own connection (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `<prefix>:<name>`: every key and channel goes through here.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
}

/// Takes lease KEYS[1] for ARGV[1] for ARGV[2] ms, or renews it when ARGV[1]
/// already holds it: 1 when ARGV[1] holds it now, 0 when someone else does.
/// One script, so a renewal cannot extend a lease that just passed to another.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Deletes lease KEYS[1] only while ARGV[1] holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

static LEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LEASE));
static RELEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RELEASE));

impl Redis {
    /// Takes (or, for its holder, renews) the lease `name` for `owner`,
    /// lapsing after `ttl` unless renewed: whether `owner` holds it now. A
    /// holder that dies (even by kill -9) stops renewing, so the lease
    /// passes on once `ttl` has run out.
    pub async fn lease(
        &self,
        name: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> redis::RedisResult<bool> {
        let held: i64 = LEASE_SCRIPT
            .key(self.key(name))
            .arg(owner)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease `name` back if `owner` still holds it.
    pub async fn release(&self, name: &str, owner: &str) -> redis::RedisResult<()> {
        let _: i64 = RELEASE_SCRIPT
            .key(self.key(name))
            .arg(owner)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Who holds the lease `name` now, if anyone.
    pub async fn holder(&self, name: &str) -> redis::RedisResult<Option<String>> {
        redis::cmd("GET")
            .arg(self.key(name))
            .query_async(&mut self.conn())
            .await
    }

    pub async fn publish(&self, channel: &str, message: &str) -> redis::RedisResult<()> {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.key(channel))
            .arg(message)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// A subscription to `channel` for as long as the stream is kept, one
    /// item per message: for a short wait on another instance (a re-login);
    /// long-lived listeners use [`Self::subscribe`].
    pub async fn listen(
        &self,
        channel: &str,
    ) -> redis::RedisResult<impl futures::Stream<Item = ()> + Unpin> {
        use futures::StreamExt;
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key(channel)).await?;
        Ok(pubsub.into_on_message().map(|_| ()))
    }

    /// Calls `on_message` with every message on `channel` until aborted,
    /// subscribing again after a lost connection. Messages sent while it was
    /// lost are gone, so `on_message(None)` says "you may have missed some".
    pub fn subscribe<F>(&self, channel: &str, on_message: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Option<String>) + Send + 'static,
    {
        use futures::StreamExt;
        let (client, channel) = (self.client.clone(), self.key(channel));
        tokio::spawn(async move {
            let mut failures: u32 = 0;
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                        Ok(()) => {
                            failures = 0;
                            on_message(None);
                            let mut messages = pubsub.on_message();
                            while let Some(m) = messages.next().await {
                                on_message(m.get_payload::<String>().ok());
                            }
                            tracing::warn!(%channel, "Redis subscription ended; subscribing again");
                        }
                        Err(e) => {
                            tracing::warn!(%channel, error = %e, "subscribing in Redis failed")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(%channel, error = %e, "connecting to Redis for pub/sub failed")
                    }
                }
                failures = failures.saturating_add(1);
                let wait = 50u64.saturating_mul(1 << failures.min(6));
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
        })
    }
}
