//! Socket takeover across real processes: three `serve` processes in
//! cluster mode on one PostgreSQL database and one Redis, one sandbox (in
//! this process, over real sockets). The process holding the account's
//! Fansly socket is killed with SIGKILL (no lease handed back, no socket
//! closed politely); another takes the socket over within 15 s, the sandbox
//! then sees exactly one socket for the account, and every message a fan
//! wrote before, during and after the kill is recorded exactly once
//! (what no socket heard is found by the taker's gap fill).

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;

use crate::helpers::{cluster_database_url, process_team, test_redis_url, SendJson};
use crate::webhooks::durability::{
    authenticate_over_http, free_port, sandbox_message_over_http, start_gateway_with, wait_healthy,
    Child,
};

/// The relay lease of these processes: short, so the takeover (a lease's
/// lapse plus a reconcile tick) stays well inside the 15 s asked for.
const LEASE_MS: u64 = 3_000;
const TAKEOVER: Duration = Duration::from_secs(15);

struct Node {
    base: String,
    process: Child,
}

fn start_node(
    db_url: &str,
    dir: &std::path::Path,
    sandbox: &fansly_sandbox::Sandbox,
    master: &str,
    prefix: &str,
) -> Node {
    let port = free_port();
    let api = sandbox.url();
    let process = start_gateway_with(
        port,
        dir,
        db_url,
        &["serve"],
        &[
            ("FANSLY_GATEWAY_UPSTREAM__API_BASE", api.clone()),
            ("FANSLY_GATEWAY_UPSTREAM__MEDIA_BASE", api),
            ("FANSLY_GATEWAY_UPSTREAM__WS_URL", sandbox.ws_url()),
            ("FANSLY_GATEWAY_MASTER_KEYS", master.to_owned()),
            ("FANSLY_GATEWAY_REDIS_URL", test_redis_url()),
            ("FANSLY_GATEWAY_REDIS_PREFIX", prefix.to_owned()),
            ("FANSLY_GATEWAY_DATABASE_MAX_CONNECTIONS", "4".into()),
            ("FANSLY_GATEWAY_RELAY__LEASE_MS", LEASE_MS.to_string()),
            ("FANSLY_GATEWAY_RELAY__BACKOFF_BASE_MS", "100".into()),
            ("FANSLY_GATEWAY_RELAY__BACKOFF_CAP_MS", "500".into()),
            ("FANSLY_GATEWAY_RELAY__GAP_FILL_POLL_MS", "200".into()),
        ],
    );
    Node {
        base: format!("http://127.0.0.1:{port}"),
        process,
    }
}

/// Whether the node's relay has the account's socket connected (its own view).
async fn connected(http: &reqwest::Client, node: &Node, key: &str, account: &str) -> bool {
    let Ok(resp) = http
        .get(format!("{}/api/fansly/accounts", node.base))
        .bearer_auth(key)
        .send()
        .await
    else {
        return false;
    };
    let list: Value = resp.json().await.unwrap_or(Value::Null);
    list.as_array()
        .into_iter()
        .flatten()
        .any(|a| a["id"] == account && a["relay"]["connected"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_hand_the_socket_over_within_15_s_when_its_owner_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let sandbox = fansly_sandbox::Sandbox::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    let sandbox_url = sandbox.url();
    let creators: Value = http
        .get(format!("{sandbox_url}/_sandbox/creators"))
        .send_json()
        .await;
    let creator = creators[0].clone();
    let creator_account = creator["account_id"].as_str().unwrap().to_owned();

    let db_url = cluster_database_url().await;
    let (db, _team, key) = process_team(&db_url, "takeover").await;
    let key = key.secret;
    let master = fansly_gateway::core::crypto::Keyring::generate_entry();
    let prefix = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
    let mut nodes: Vec<Node> = (0..3)
        .map(|_| start_node(&db_url, dir.path(), &sandbox, &master, &prefix))
        .collect();
    for node in &nodes {
        wait_healthy(&http, &node.base).await;
    }
    let account = authenticate_over_http(&http, &nodes[0].base, &key, &creator).await;

    // Which of `nodes` holds the account's socket (exactly one must).
    let owner_among = async |nodes: &[Node]| {
        owner_of(
            &http,
            nodes,
            &key,
            &account,
            &sandbox_url,
            &creator_account,
            TAKEOVER,
        )
        .await
    };
    // The account's socket comes up on exactly one process.
    let owner = owner_among(&nodes).await;

    let write = async |text: String| -> String {
        sandbox_message_over_http(&http, &sandbox_url, &creator, "fan11", text).await
    };
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(write(format!("before the kill {i}")).await);
    }
    wait_recorded(&db, &account, &sent).await;

    // SIGKILL the owner: its lease stays in Redis until it lapses.
    let mut dead = nodes.remove(owner);
    dead.process.0.kill().expect("SIGKILL the owner");
    dead.process.0.wait().unwrap();
    let killed = Instant::now();
    for i in 0..10 {
        sent.push(write(format!("while the owner is dead {i}")).await);
    }
    let taker = owner_among(&nodes).await;
    let took = killed.elapsed();
    assert!(took < TAKEOVER, "taken over after {took:?}");
    for i in 0..10 {
        sent.push(write(format!("after the takeover {i}")).await);
    }
    // Each message once: heard live, or found by the taker's gap fill.
    wait_recorded(&db, &account, &sent).await;
    for id in &sent {
        assert_eq!(events_of(&db, &account, id).await, 1, "message {id}");
    }
    // Still one socket, on the taker.
    assert_eq!(sockets(&http, &sandbox_url, &creator_account).await, 1);
    assert!(connected(&http, &nodes[taker], &key, &account).await);
    eprintln!("socket taken over {took:?} after the owner's SIGKILL (lease {LEASE_MS} ms)");
    drop(nodes);
    drop(dead);
}

/// The sandbox's count of open sockets of the creator.
async fn sockets(http: &reqwest::Client, sandbox_url: &str, creator_account: &str) -> u64 {
    let conns: Value = http
        .get(format!("{sandbox_url}/_sandbox/ws/connections"))
        .send_json()
        .await;
    conns["accounts"][creator_account].as_u64().unwrap_or(0)
}

/// The one node whose relay has the account's socket, once the sandbox sees
/// exactly one socket and exactly one node says it holds it (within `limit`).
async fn owner_of(
    http: &reqwest::Client,
    nodes: &[Node],
    key: &str,
    account: &str,
    sandbox_url: &str,
    creator_account: &str,
    limit: Duration,
) -> usize {
    let started = Instant::now();
    loop {
        let mut on = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if connected(http, node, key, account).await {
                on.push(i);
            }
        }
        if on.len() == 1 && sockets(http, sandbox_url, creator_account).await == 1 {
            return on[0];
        }
        assert!(
            started.elapsed() < limit,
            "no single owner within {limit:?} (connected on {on:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows of `fansly.messages.received` for message `id`.
async fn events_of(db: &fansly_gateway::core::db::Db, account: &str, id: &str) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) FROM events WHERE account_id = $1 AND name = 'fansly.messages.received' \
         AND payload LIKE $2",
    )
    .bind(account)
    .bind(format!("%{id}%"))
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .get(0)
}

/// Waits (up to 30 s) until every message in `ids` is recorded.
async fn wait_recorded(db: &fansly_gateway::core::db::Db, account: &str, ids: &[String]) {
    let started = Instant::now();
    for id in ids {
        while events_of(db, account, id).await == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "message {id} never recorded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
