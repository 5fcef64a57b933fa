//! The cluster's shared Redis (config `redis_url`). One node runs without it;
//! with it, every instance reaches the same keys and channels under
//! `redis_prefix`, so several clusters or test runs can share one server.

use anyhow::Context;
use redis::aio::ConnectionManager;

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
        let conn = ConnectionManager::new(client.clone())
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
