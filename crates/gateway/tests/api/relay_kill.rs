//! Issue 14's operator scenario, as separate processes: a standalone
//! sandbox (`fansly-gateway sandbox`), a gateway process (`serve`, pointed
//! at it) relaying one creator to a webhook receiver, and 300 fan messages
//! in three chats written while the gateway is killed with SIGKILL and
//! started again. Every message reaches the receiver under one idempotency
//! key, each chat's messages arrive in Fansly's order, and the time from
//! the restart to the last delivery and the Fansly requests spent meanwhile
//! are printed (BENCHMARKS.md; never asserted).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{process_database_url, process_team, verify_signatures, Receiver, SendJson};
use crate::webhooks::durability::{
    authenticate_over_http, free_port, global_webhook_over_http, sandbox_message_over_http,
    start_gateway_with, wait_healthy, Child,
};

const SECRET: &str = "whsec_kill_test_secret_0123456789";
const MESSAGES: usize = 300;
const FANS: [&str; 3] = ["fan11", "fan12", "fan13"];

fn start_sandbox(port: u16, dir: &std::path::Path) -> Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_fansly-gateway"))
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("FANSLY_GATEWAY_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    Child(child)
}

fn start_gateway(
    port: u16,
    dir: &std::path::Path,
    db_url: &str,
    sandbox: &str,
    master: &str,
) -> Child {
    start_gateway_with(
        port,
        dir,
        db_url,
        &["serve"],
        &[
            ("FANSLY_GATEWAY_UPSTREAM__API_BASE", sandbox.to_owned()),
            ("FANSLY_GATEWAY_UPSTREAM__MEDIA_BASE", sandbox.to_owned()),
            (
                "FANSLY_GATEWAY_UPSTREAM__WS_URL",
                format!("{}/?v=3", sandbox.replacen("http", "ws", 1)),
            ),
            ("FANSLY_GATEWAY_MASTER_KEYS", master.to_owned()),
            ("FANSLY_GATEWAY_RELAY__BACKOFF_BASE_MS", "100".into()),
            ("FANSLY_GATEWAY_RELAY__BACKOFF_CAP_MS", "500".into()),
            ("FANSLY_GATEWAY_RELAY__GAP_FILL_POLL_MS", "200".into()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_while_a_fan_writes_300_messages_delivers_each_once_in_chat_order() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let sandbox_port = free_port();
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let _sandbox = start_sandbox(sandbox_port, &dir.path().join("sandbox"));
    let mut creators = Value::Null;
    for _ in 0..300 {
        if let Ok(r) = http
            .get(format!("{sandbox}/_sandbox/creators"))
            .send()
            .await
        {
            if r.status() == 200 {
                creators = r.json().await.unwrap();
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let creator = creators[0].clone();
    assert!(
        creator["username"].is_string(),
        "the sandbox did not come up"
    );

    let db_url = process_database_url(dir.path()).await;
    let (_db, _team, key) = process_team(&db_url, "kill relay").await;
    let master = fansly_gateway::core::crypto::Keyring::generate_entry();
    let receiver = Receiver::start().await;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut gateway = start_gateway(port, dir.path(), &db_url, &sandbox, &master);
    wait_healthy(&http, &base).await;
    let account = authenticate_over_http(&http, &base, &key.secret, &creator).await;
    let received = "fansly.messages.received";
    global_webhook_over_http(&http, &base, &key.secret, &receiver.url, received, SECRET).await;

    let write = async |fan: &str, text: String| -> String {
        sandbox_message_over_http(&http, &sandbox, &creator, fan, text).await
    };
    // The relay is up once a first message comes through.
    let mut warm = 0;
    while receiver.requests().is_empty() {
        assert!(warm < 100, "the relay never delivered a first message");
        write("fan14", format!("warm-up {warm}")).await;
        warm += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // (Warm-ups written before the socket was up are older than the
    // account's baseline: never filled.)

    // 300 messages, 10 ms apart, three chats: the gateway is killed after
    // the first 100 and started again after the next 100.
    let mut sent: Vec<String> = Vec::new();
    let mut restarted_at = None;
    for i in 0..MESSAGES {
        if i == 100 {
            gateway.0.kill().expect("SIGKILL the gateway");
            gateway.0.wait().unwrap();
        }
        if i == 200 {
            http.delete(format!("{sandbox}/_sandbox/requests"))
                .send()
                .await
                .unwrap();
            gateway = start_gateway(port, dir.path(), &db_url, &sandbox, &master);
            restarted_at = Some(Instant::now());
        }
        sent.push(write(FANS[i % FANS.len()], format!("message {i}")).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restarted_at = restarted_at.unwrap();
    let wanted: HashSet<&String> = sent.iter().collect();
    let got = receiver
        .wait_until(Duration::from_secs(120), "all 300 messages", |r| {
            let ids: HashSet<String> = r
                .iter()
                .map(|r| {
                    r.json()["payload"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            wanted.iter().all(|w| ids.contains(*w))
        })
        .await;
    let last_delivery = got.iter().map(|r| r.arrived).max().unwrap();

    // Once per idempotency key: one key per message, a repeat (a delivery
    // in flight at the kill) only ever under the same key and body.
    let mut keys_of: HashMap<String, HashSet<String>> = HashMap::new();
    let mut order: HashMap<String, Vec<u64>> = HashMap::new();
    let mut seen = HashSet::new();
    for r in &got {
        verify_signatures(r, SECRET).unwrap();
        let body = r.json();
        let id = body["payload"]["id"].as_str().unwrap().to_owned();
        keys_of
            .entry(id.clone())
            .or_default()
            .insert(r.header("x-ofapi-idempotency-key").unwrap().to_owned());
        if seen.insert(id.clone()) && wanted.contains(&id) {
            order
                .entry(body["payload"]["groupId"].as_str().unwrap().to_owned())
                .or_default()
                .push(id.parse().unwrap());
        }
    }
    for id in &sent {
        assert_eq!(keys_of[id].len(), 1, "message {id} under several keys");
    }
    assert_eq!(order.values().map(Vec::len).sum::<usize>(), MESSAGES);
    assert_eq!(order.len(), FANS.len());
    for (chat, ids) in &order {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(
            ids, &sorted,
            "chat {chat}: messages out of order at the receiver"
        );
    }
    let of_ours = got
        .iter()
        .filter(|r| wanted.contains(&r.json()["payload"]["id"].as_str().unwrap().to_owned()))
        .count();
    let requests = http
        .get(format!("{sandbox}/_sandbox/requests"))
        .send_json()
        .await;
    let mut by_path: HashMap<String, usize> = HashMap::new();
    for r in requests.as_array().unwrap() {
        *by_path
            .entry(format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?")
            ))
            .or_default() += 1;
    }
    eprintln!(
        "{MESSAGES} messages, gateway killed after 100 and restarted after 200: all delivered, \
         {} requests for them ({} repeats under the same key); restart → last delivery {:?}; \
         Fansly requests after the restart: {} ({by_path:?}); account {account}",
        of_ours,
        of_ours - MESSAGES,
        last_delivery.duration_since(restarted_at),
        requests.as_array().unwrap().len(),
    );
    drop(gateway);
}
