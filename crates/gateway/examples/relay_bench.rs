//! Relay benchmark (a measurement, not a test): run by `bench/relay.sh`.
//!
//! The sandbox runs as a separate process (`SANDBOX_URL`), so this process
//! is the gateway alone: its RSS is the gateway's.
//!
//! (a) Latency: `MESSAGES` fan messages are sent to one connected creator,
//!     one after another; for each, the time from the frame's creation in
//!     the sandbox (the message's `createdAt`, ms precision) to the outbox
//!     row (`events.created_at`, ms) is taken. Same host, same clock.
//!     `PACE_MS` spaces the messages (0: back to back).
//! (b) Capacity: creators are added in steps (`STEPS`, cumulative, e.g.
//!     100,500,1000), each connected with `add_token`; once every relay is
//!     connected the RSS is read and the growth per account reported. A
//!     message to the last account checks events still flow.

use std::time::{Duration, Instant};

use fansly_gateway::config::Config;
use fansly_gateway::{tenancy, App};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Row;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sandbox = env_or("SANDBOX_URL", "http://127.0.0.1:18390");
    let messages: usize = env_or("MESSAGES", "1000").parse()?;
    // Pause between messages: 0 sends back to back (latency under load).
    let pace = Duration::from_millis(env_or("PACE_MS", "0").parse()?);
    let steps: Vec<usize> = env_or("STEPS", "100,500,1000")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let data = tempfile::tempdir()?;
    let mut config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: data.path().to_owned(),
        database_url: std::env::var("DATABASE_URL").ok(),
        master_keys: Some(fansly_gateway::crypto::Keyring::generate_entry()),
        ..Config::default()
    };
    config.upstream.api_base = sandbox.clone();
    config.upstream.media_base = sandbox.clone();
    config.upstream.ws_url = format!("{}/?v=3", sandbox.replacen("http", "ws", 1));
    config.relay.backoff_base_ms = 200;
    let app = App::build(config).await?;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let team = tenancy::create_team(&state.db, "bench", 1_000_000, None).await?;

    let creators: Value = http
        .get(format!("{sandbox}/_sandbox/creators"))
        .send()
        .await?
        .json()
        .await?;
    let first = creators[0].clone();
    let account = state
        .sessions
        .add_token(
            &team.id,
            SecretString::from(first["token"].as_str().unwrap_or_default().to_owned()),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    wait_connected(&state, std::slice::from_ref(&account.id)).await?;

    // (a) latency
    let started = Instant::now();
    for i in 0..messages {
        let fan = format!("fan{}", 1 + i % 200);
        let resp = http
            .post(format!("{sandbox}/_sandbox/events/message"))
            .json(&json!({"creator": first["username"], "fan": fan, "text": format!("bench {i}")}))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "sandbox answered {}", resp.status());
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    let sent_in = started.elapsed();
    let rows = loop {
        let rows = sqlx::query(
            "SELECT payload, created_at FROM events WHERE account_id = $1 AND name = 'fansly.messages.received'",
        )
        .bind(&account.id)
        .fetch_all(&state.db.pool)
        .await?;
        if rows.len() >= messages || started.elapsed() > Duration::from_secs(300) {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut latencies: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let payload: Value = serde_json::from_str(&r.get::<String, _>(0)).ok()?;
            let created = payload["createdAt"].as_f64()? * 1000.0;
            Some(r.get::<i64, _>(1) as f64 - created)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency: {} of {} messages relayed (sent in {:.1} s, {:.0}/s); frame → outbox row p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        rows.len(),
        messages,
        sent_in.as_secs_f64(),
        messages as f64 / sent_in.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );

    // (b) capacity
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = rss_kib();
    println!(
        "capacity: RSS with 1 relayed account {:.1} MiB",
        base as f64 / 1024.0
    );
    let mut ids = Vec::new();
    let mut made = 0;
    for &target in &steps {
        let add = target.saturating_sub(made);
        let new: Value = http
            .post(format!("{sandbox}/_sandbox/creators"))
            .json(&json!({"prefix": format!("bench{target}_"), "count": add}))
            .send()
            .await?
            .json()
            .await?;
        let tokens: Vec<String> = new
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["token"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let added_at = Instant::now();
        for chunk in tokens.chunks(16) {
            let adds = chunk.iter().map(|t| {
                state
                    .sessions
                    .add_token(&team.id, SecretString::from(t.clone()), None)
            });
            for r in futures::future::join_all(adds).await {
                ids.push(r.map_err(|e| anyhow::anyhow!("{e}"))?.id);
            }
        }
        made = target;
        wait_connected(&state, &ids).await?;
        let connect_time = added_at.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_kib();
        println!(
            "capacity: {} relayed accounts (+1) connected {:.1} s after adding; RSS {:.1} MiB, +{:.1} KiB per account over the 1-account baseline",
            ids.len(),
            connect_time.as_secs_f64(),
            rss as f64 / 1024.0,
            (rss.saturating_sub(base)) as f64 / ids.len() as f64
        );
    }
    if let (Some(last), Some(name)) = (ids.last(), steps.last()) {
        let started = Instant::now();
        let resp: Value = http
            .post(format!("{sandbox}/_sandbox/events/message"))
            .json(&json!({"creator": format!("bench{name}_{}", name - steps.iter().rev().nth(1).copied().unwrap_or(0)), "fan": "fan1", "text": "last"}))
            .send()
            .await?
            .json()
            .await?;
        loop {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM events WHERE account_id = $1")
                .bind(last)
                .fetch_one(&state.db.pool)
                .await?
                .get(0);
            if n > 0 {
                println!(
                    "capacity: the last account's message {} relayed in {:.0} ms (request included)",
                    resp["messageId"],
                    started.elapsed().as_secs_f64() * 1000.0
                );
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the last account's event never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

async fn wait_connected(state: &fansly_gateway::AppState, ids: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let up = ids
            .iter()
            .filter(|id| state.relays.status(id)["connected"] == true)
            .count();
        if up == ids.len() {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {up} of {} relays connected",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
