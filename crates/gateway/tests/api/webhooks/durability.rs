//! A real gateway process killed mid-delivery loses no event: the child
//! process helpers and the test.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::{event_id, NewEvent, RECEIVED, SECRET};
use crate::helpers::{process_database_url, process_team, verify_signatures, Receiver};

/// A free TCP port on loopback (bound, then released for the child).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Child(pub(crate) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        // Only the process this test started, by its pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(port: u16, dir: &std::path::Path, db_url: &str) -> Child {
    start_gateway_with(port, dir, db_url, &["serve", "--sandbox"], &[])
}

/// The gateway binary as a child process on `port`, with `args` and the
/// webhook settings of these tests plus `env`.
pub(crate) fn start_gateway_with(
    port: u16,
    dir: &std::path::Path,
    db_url: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_fansly-gateway"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("FANSLY_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("FANSLY_GATEWAY_DATA_DIR", dir)
        .env("FANSLY_GATEWAY_DATABASE_URL", db_url)
        .env("FANSLY_GATEWAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env(
            "FANSLY_GATEWAY_WEBHOOKS__RETRY_SCHEDULE_MS",
            "[100,200,400,800,1600]",
        )
        .env("FANSLY_GATEWAY_WEBHOOKS__TIMEOUT_MS", "2000")
        .env("FANSLY_GATEWAY_WEBHOOKS__LEASE_MS", "3000")
        .env("FANSLY_GATEWAY_WEBHOOKS__POLL_INTERVAL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the gateway binary starts");
    Child(child)
}

pub(crate) async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway at {base} did not come up");
}

/// Connects sandbox `creator` through the gateway process at `base` with
/// the team key `key`; the new account's id.
pub(crate) async fn authenticate_over_http(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    creator: &Value,
) -> String {
    let resp = http
        .post(format!("{base}/api/fansly/authenticate"))
        .bearer_auth(key)
        .json(&json!({"username": creator["username"], "password": creator["password"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    resp.json::<Value>().await.unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Subscribes `receiver_url` to `event` of every account of the team of
/// `key`, signed with `secret`, through the gateway process at `base`.
pub(crate) async fn global_webhook_over_http(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    receiver_url: &str,
    event: &str,
    secret: &str,
) {
    let resp = http
        .post(format!("{base}/api/webhooks"))
        .bearer_auth(key)
        .json(&json!({
            "endpoint_url": receiver_url,
            "events": [event],
            "account_scope": "global",
            "signing_secret": secret,
            "enabled": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// `fan` writes `text` to sandbox `creator` through the sandbox at
/// `sandbox_url`; the message's id.
pub(crate) async fn sandbox_message_over_http(
    http: &reqwest::Client,
    sandbox_url: &str,
    creator: &Value,
    fan: &str,
    text: String,
) -> String {
    let resp = http
        .post(format!("{sandbox_url}/_sandbox/events/message"))
        .json(&json!({"creator": creator["username"], "fan": fan, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_delivery_loses_no_event() {
    const EVENTS: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let db_url = process_database_url(dir.path()).await;
    let (db, team, key) = process_team(&db_url, "kill test").await;
    let receiver = Receiver::start().await;
    // Slow enough that the kill lands with most events still queued.
    receiver.set_delay(Duration::from_millis(10));

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = start_gateway(port, dir.path(), &db_url);
    wait_healthy(&http, &base).await;
    global_webhook_over_http(&http, &base, &key.secret, &receiver.url, RECEIVED, SECRET).await;
    // Stopped while the events are queued, so all 1,000 wait in the outbox.
    child.0.kill().expect("stop the gateway");
    child.0.wait().unwrap();

    // The relay's side: 1,000 events into the shared database.
    let account = "fansly_acct_killtest000001";
    let events = fansly_gateway::events::outbox::Events::new(db.clone());
    let mut expected = HashSet::new();
    for n in 0..EVENTS {
        let id = events
            .record(NewEvent {
                team_id: team.id.clone(),
                account_id: account.into(),
                name: RECEIVED,
                dedup_key: format!("5.1:{n}"),
                payload: json!({"id": n.to_string(), "content": format!("message {n}")}),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id, event_id(account, &format!("5.1:{n}")));
        expected.insert(id);
    }
    assert!(receiver.requests().is_empty());
    let mut child = start_gateway(port, dir.path(), &db_url);
    receiver
        .wait_until(Duration::from_secs(60), "the first deliveries", |r| {
            r.len() >= 100
        })
        .await;
    child.0.kill().expect("SIGKILL the gateway");
    child.0.wait().unwrap();
    let distinct_at_kill: HashSet<String> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.header("x-ofapi-idempotency-key").map(str::to_owned))
        .collect();
    assert!(
        distinct_at_kill.len() < EVENTS,
        "the kill should land mid-delivery ({} delivered)",
        distinct_at_kill.len()
    );

    let restarted_at = std::time::Instant::now();
    let _restarted = start_gateway(port, dir.path(), &db_url);
    wait_healthy(&http, &base).await;
    let got = receiver
        .wait_until(Duration::from_secs(180), "every event", |r| {
            let keys: HashSet<&str> = r
                .iter()
                .filter_map(|r| r.header("x-ofapi-idempotency-key"))
                .collect();
            keys.len() >= EVENTS
        })
        .await;

    // Every event at least once; any duplicate with the same key, body and id.
    let mut by_key: HashMap<String, Vec<&crate::helpers::Received>> = HashMap::new();
    for r in &got {
        verify_signatures(r, SECRET).unwrap();
        let key = r.header("x-ofapi-idempotency-key").unwrap().to_owned();
        assert_eq!(r.header("webhook-id"), Some(key.as_str()));
        by_key.entry(key).or_default().push(r);
    }
    let keys: HashSet<String> = by_key.keys().cloned().collect();
    assert_eq!(keys, expected);
    let mut by_payload: HashMap<String, HashSet<String>> = HashMap::new();
    for (key, copies) in &by_key {
        for r in copies {
            assert_eq!(r.body, copies[0].body);
            by_payload
                .entry(r.json()["payload"]["id"].as_str().unwrap().to_owned())
                .or_default()
                .insert(key.clone());
        }
    }
    assert_eq!(by_payload.len(), EVENTS);
    assert!(by_payload.values().all(|keys| keys.len() == 1));
    let duplicates = got.len() - EVENTS;
    // Informational only (timings are never asserted).
    eprintln!(
        "killed after {} distinct deliveries; {} requests in all, {duplicates} duplicates; \
         the restarted gateway finished the rest in {:?} (start-up and lease wait included)",
        distinct_at_kill.len(),
        got.len(),
        restarted_at.elapsed()
    );
}
