//! Cluster mode under test: `spawn_cluster` starts several gateways in this
//! process, on port 0, sharing one PostgreSQL database, one Redis (under a
//! prefix of their own) and one sandbox, as instances of one deployment do.
//! Each node is a [`Life`]: `stop` ends it gracefully, `kill` as kill -9 would
//! (sockets cut, nothing handed back).

use fansly_gateway::core::config::Config;
use fansly_gateway::core::redis::Redis;

use super::app::{new_pg_database, spawn_app_on, test_database_url, Life};

pub const TEST_REDIS_ENV: &str = "FANSLY_GATEWAY_TEST_REDIS_URL";
/// Where cluster tests find PostgreSQL when the suite itself runs on SQLite
/// (cluster mode needs a database every instance reaches).
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct Cluster {
    pub nodes: Vec<Life>,
    /// The cluster's Redis, under its prefix, to look at leases and channels.
    pub redis: Redis,
    /// Kept for as long as the nodes call it.
    _sandbox: fansly_sandbox::Sandbox,
    _data_dir: tempfile::TempDir,
}

/// The test Redis (`FANSLY_GATEWAY_TEST_REDIS_URL`, else the local one).
pub fn test_redis_url() -> String {
    std::env::var(TEST_REDIS_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A fresh PostgreSQL database for a cluster: the suite's own server when it
/// runs on PostgreSQL, else the local one (cluster mode needs a database
/// every instance reaches, which SQLite is not).
pub async fn cluster_database_url() -> String {
    match test_database_url().await {
        Some(url) => url,
        None => new_pg_database(DEFAULT_PG).await,
    }
}

/// `n` gateways in cluster mode: one fresh PostgreSQL database (the suite's
/// own when it runs on PostgreSQL, else a new one on the local server), a
/// unique Redis prefix, one sandbox. The first node creates the default team
/// (1000 credits, sandbox creator 0), which every node's `team` is.
/// `tweak(i, config)` adjusts node `i`'s config.
pub async fn spawn_cluster(n: usize, tweak: impl Fn(usize, &mut Config)) -> Cluster {
    assert!(n >= 1);
    let database_url = cluster_database_url().await;
    let prefix = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
    let redis_url = test_redis_url();
    let redis = Redis::connect(&redis_url, &prefix)
        .await
        .expect("the test Redis is reachable");
    let sandbox = fansly_sandbox::Sandbox::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Life> = Vec::with_capacity(n);
    for i in 0..n {
        let team = nodes.first().map(|first| first.app.team.clone());
        let life = spawn_app_on(
            &sandbox,
            data_dir.path(),
            Some(database_url.clone()),
            team,
            |c| {
                c.redis_url = Some(redis_url.clone());
                c.redis_prefix = prefix.clone();
                c.upstream.ws_url = sandbox.ws_url();
                c.relay.backoff_base_ms = 50;
                c.relay.backoff_cap_ms = 500;
                c.relay.gap_fill_poll_ms = 100;
                tweak(i, c);
            },
        )
        .await;
        nodes.push(life);
    }
    Cluster {
        nodes,
        redis,
        _sandbox: sandbox,
        _data_dir: data_dir,
    }
}

impl Cluster {
    /// Open sockets per sandbox creator account id (the sandbox's own count).
    pub async fn sockets(&self, creator_account_id: &str) -> u64 {
        let conns = self.nodes[0]
            .app
            .sandbox_get("/_sandbox/ws/connections")
            .await;
        conns["accounts"][creator_account_id].as_u64().unwrap_or(0)
    }

    /// Waits until every node listens for the others' event wake-ups.
    pub async fn wait_subscribed(&self) {
        let channel = self.redis.key("events");
        for _ in 0..400 {
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut self.redis.conn())
                .await
                .unwrap();
            if counts.first().map(|(_, n)| *n as usize) >= Some(self.nodes.len()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("not every node subscribed to {channel}");
    }
}
