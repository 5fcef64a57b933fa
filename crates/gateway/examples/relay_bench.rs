//! Relay benchmark (a measurement, not a test): run by `bench/relay.sh`.
//!
//! The sandbox runs as a separate process (`SANDBOX_URL`), so this process
//! is the gateway alone: its RSS is the gateway's.
//!
//! (a) Latency: `MESSAGES` fan messages are sent to one connected creator,
//!     one after another; for each, the time from the frame's creation in
//!     the sandbox (the message's `createdAt`, ms precision) to the outbox
//!     row (`events.created_at`, ms) is taken. Same host, same clock.
//!     `RATE` (default 2000) sends them on a fixed schedule of that many
//!     per second (up to 64 requests in flight, so the driver's own round
//!     trips do not cap the rate); with `RATE=0`, one after another,
//!     `PACE_MS` apart (0: back to back).
//! (c) End to end, sandbox frame → webhook receiver: a receiver (an HTTP
//!     server in this process on 127.0.0.1) is registered through the real
//!     API (`POST /api/webhooks`, signed, `fansly.messages.received`), then
//!     `E2E_PACED` messages `E2E_PACE_MS` apart and a burst of `E2E_BURST`
//!     back to back go to the same creator. For each, the receiver's arrival
//!     time (µs) minus the message's `createdAt` (the sandbox builds the
//!     frame from it and sends it in the same call; ms precision, so figures
//!     read up to 1 ms high). The outbox row's time splits it into relay and
//!     delivery.
//! (b) Capacity: creators are added in steps (`STEPS`, cumulative, e.g.
//!     100,500,1000), each connected with `add_token`; once every relay is
//!     connected the RSS is read and the growth per account reported. A
//!     message to the last account checks events still flow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fansly_gateway::core::config::Config;
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
    let rate: u32 = env_or("RATE", "2000").parse()?;
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
        master_keys: Some(fansly_gateway::core::crypto::Keyring::generate_entry()),
        ..Config::default()
    };
    config.upstream.api_base = sandbox.clone();
    config.upstream.media_base = sandbox.clone();
    config.upstream.ws_url = format!("{}/?v=3", sandbox.replacen("http", "ws", 1));
    config.relay.backoff_base_ms = 200;
    // The receiver is on loopback.
    config.webhooks.allow_private_targets = true;
    // The account's Fansly budget (senderData lookups spend it); lifted
    // with THROTTLE=off to tell its waits from the gateway's own time.
    if std::env::var("THROTTLE").as_deref() == Ok("off") {
        config.upstream.throttle.reads_per_minute = 1_000_000;
        config.upstream.throttle.burst = 10_000;
        // And the per-route buckets (issue 13 row 8): `GET /api/v1/account`
        // alone allows 20/min, which stalled every run by ~2.8 s.
        config.upstream.throttle.route_reads_per_minute = 1_000_000;
        config.upstream.throttle.route_burst = 10_000;
    }
    if let Ok(ms) = std::env::var("WEBHOOK_POLL_MS") {
        config.webhooks.poll_interval_ms = ms.parse()?;
    }
    let app = App::build(config).await?;
    let api = format!("http://127.0.0.1:{}", app.port());
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

    // (a) latency. Events are dated at their upstream time (the gap fill
    // keeps chats in order that way), so `created_at` no longer says when a
    // row was written: a poller notes when the count of rows grows instead
    // (every millisecond; figures read up to ~1 ms high), and the k-th
    // message (the writer keeps their order) was written when the count
    // first reached k.
    let count_sql =
        "SELECT COUNT(*) FROM events WHERE account_id = $1 AND name = 'fansly.messages.received'";
    let base: i64 = sqlx::query_scalar(count_sql)
        .bind(&account.id)
        .fetch_one(&state.db.pool)
        .await?;
    let seen: Arc<Mutex<Vec<(i64, f64)>>> = Arc::default();
    let poller = {
        let (db, id, seen) = (state.db.clone(), account.id.clone(), seen.clone());
        let want = base + messages as i64;
        tokio::spawn(async move {
            let mut last = base;
            while last < want {
                if let Ok(n) = sqlx::query_scalar::<_, i64>(count_sql)
                    .bind(&id)
                    .fetch_one(&db.pool)
                    .await
                {
                    if n > last {
                        seen.lock().unwrap().push((n - base, unix_ms()));
                        last = n;
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let started = Instant::now();
    if rate > 0 {
        send_at_rate(&http, &sandbox, &first["username"], messages, rate).await?;
    } else {
        for i in 0..messages {
            send_message(&http, &sandbox, &first["username"], i).await?;
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
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
    let _ = tokio::time::timeout(Duration::from_secs(10), poller).await;
    let mut created: Vec<(u64, f64)> = rows
        .iter()
        .filter_map(|r| {
            let payload: Value = serde_json::from_str(&r.get::<String, _>(0)).ok()?;
            let id = payload["id"].as_str()?.parse().ok()?;
            Some((id, payload["createdAt"].as_f64()? * 1000.0))
        })
        .collect();
    created.sort_by_key(|(id, _)| *id);
    let seen = seen.lock().unwrap().clone();
    let mut latencies: Vec<f64> = created
        .iter()
        .enumerate()
        .filter_map(|(k, (_, at))| {
            let written = seen.iter().find(|(n, _)| *n > k as i64)?.1;
            Some(written - at)
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

    // (c) end to end
    let e2e_paced: usize = env_or("E2E_PACED", "300").parse()?;
    let e2e_pace = Duration::from_millis(env_or("E2E_PACE_MS", "10").parse()?);
    let e2e_burst: usize = env_or("E2E_BURST", "500").parse()?;
    if e2e_paced + e2e_burst > 0 {
        let arrivals = start_receiver().await?;
        let key = tenancy::create_key(&state.db, &team.id, "bench").await?;
        let resp = http
            .post(format!("{api}/api/webhooks"))
            .bearer_auth(&key.secret)
            .json(&json!({
                "endpoint_url": arrivals.url,
                "events": ["fansly.messages.received"],
                "account_scope": "global",
                "signing_secret": "relay-bench-signing-secret-0123456789abcdef",
                "enabled": true
            }))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status() == 200,
            "webhook not created: {}",
            resp.text().await?
        );
        for (label, n, pace) in [
            (
                format!("paced, one every {} ms", e2e_pace.as_millis()),
                e2e_paced,
                e2e_pace,
            ),
            ("burst, back to back".to_owned(), e2e_burst, Duration::ZERO),
        ] {
            if n > 0 {
                end_to_end(
                    &http,
                    &sandbox,
                    &state,
                    &first,
                    &account.id,
                    &arrivals,
                    &label,
                    n,
                    pace,
                )
                .await?;
            }
        }
    }

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

/// Message id → arrival (Unix ms, µs precision) of its delivery.
struct Arrivals {
    url: String,
    at: Arc<Mutex<HashMap<String, f64>>>,
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A receiver answering 200 at once; the clock is read before the body is
/// parsed, as soon as the whole request is in.
async fn start_receiver() -> anyhow::Result<Arrivals> {
    let at: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let shared = at.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let now = unix_ms();
            let at = shared.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    if let Some(id) = v["payload"]["id"].as_str() {
                        // The first delivery counts; a redelivery would not be news.
                        at.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(id.to_owned())
                            .or_insert(now);
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Arrivals { url, at })
}

/// Fan `fan{1 + i % 200}` writes message `i` to `creator`.
async fn send_message(
    http: &reqwest::Client,
    sandbox: &str,
    creator: &Value,
    i: usize,
) -> anyhow::Result<()> {
    let fan = format!("fan{}", 1 + i % 200);
    let resp = http
        .post(format!("{sandbox}/_sandbox/events/message"))
        .json(&json!({"creator": creator, "fan": fan, "text": format!("bench {i}")}))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "sandbox answered {}", resp.status());
    Ok(())
}

/// Sends `n` messages, message `i` due at `i / rate` s, with up to 64 in
/// flight: a late start does not slow the rest (the schedule catches up).
async fn send_at_rate(
    http: &reqwest::Client,
    sandbox: &str,
    creator: &Value,
    n: usize,
    rate: u32,
) -> anyhow::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let started = tokio::time::Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / f64::from(rate)))
            .await;
        let slot = slots.clone().acquire_owned().await?;
        let (http, sandbox, creator) = (http.clone(), sandbox.to_owned(), creator.clone());
        sends.spawn(async move {
            let sent = send_message(&http, &sandbox, &creator, i).await;
            drop(slot);
            sent
        });
    }
    while let Some(sent) = sends.join_next().await {
        sent??;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn end_to_end(
    http: &reqwest::Client,
    sandbox: &str,
    state: &fansly_gateway::AppState,
    creator: &Value,
    account: &str,
    arrivals: &Arrivals,
    label: &str,
    n: usize,
    pace: Duration,
) -> anyhow::Result<()> {
    // message id → createdAt (ms)
    let mut sent: HashMap<String, f64> = HashMap::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let fan = format!("fan{}", 1 + i % 200);
        let resp: Value = http
            .post(format!("{sandbox}/_sandbox/events/message"))
            .json(&json!({"creator": creator["username"], "fan": fan, "text": format!("e2e {i}")}))
            .send()
            .await?
            .json()
            .await?;
        let id = resp["messageId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("sandbox answered {resp}"))?;
        sent.insert(id.to_owned(), f64::NAN);
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    let sent_in = started.elapsed();
    loop {
        let got = {
            let at = arrivals.at.lock().unwrap_or_else(|p| p.into_inner());
            sent.keys().filter(|id| at.contains_key(*id)).count()
        };
        if got == n || started.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // createdAt (from the relayed payload) and the outbox row time, per id.
    let rows = sqlx::query(
        "SELECT payload, created_at FROM events WHERE account_id = $1 AND name = 'fansly.messages.received'",
    )
    .bind(account)
    .fetch_all(&state.db.pool)
    .await?;
    let mut outbox = HashMap::new();
    for r in &rows {
        let payload: Value = serde_json::from_str(&r.get::<String, _>(0))?;
        if let (Some(id), Some(created)) = (payload["id"].as_str(), payload["createdAt"].as_f64()) {
            if let Some(c) = sent.get_mut(id) {
                *c = created * 1000.0;
                outbox.insert(id.to_owned(), r.get::<i64, _>(1) as f64);
            }
        }
    }
    let at = arrivals
        .at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (mut total, mut relay, mut delivery) = (Vec::new(), Vec::new(), Vec::new());
    for (id, created) in &sent {
        if let (Some(arrived), Some(row)) = (at.get(id), outbox.get(id)) {
            total.push(arrived - created);
            relay.push(row - created);
            delivery.push(arrived - row);
        }
    }
    for v in [&mut total, &mut relay, &mut delivery] {
        v.sort_by(f64::total_cmp);
    }
    let line = |v: &[f64]| {
        format!(
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    println!(
        "end to end ({label}): {} of {n} delivered (sent in {:.1} s, {:.0}/s); frame → receiver {}",
        total.len(),
        sent_in.as_secs_f64(),
        n as f64 / sent_in.as_secs_f64(),
        line(&total)
    );
    println!("  of which frame → outbox row {}", line(&relay));
    println!("  and outbox row → receiver {}", line(&delivery));
    Ok(())
}
