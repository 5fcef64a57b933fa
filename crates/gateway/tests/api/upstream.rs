//! Fansly misbehaving, as the sandbox simulates it, and what the gateway
//! sends Fansly.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_error, assert_error_naming, spawn_app, spawn_app_with, TestApp};

/// A gateway whose Fansly answers the next `times` Create Chat calls
/// (`POST /api/v1/group`) with 429 and `Retry-After: retry_after`, and a
/// fan to open the chat with.
async fn group_answering_429(retry_after: &str, times: u32) -> (TestApp, String) {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    app.inject(json!({"method": "POST", "path": "/api/v1/group", "status": 429, "retry_after": retry_after, "times": times}))
        .await;
    (app, fan)
}

/// How many requests reached Fansly's `POST /api/v1/group`.
async fn group_attempts(app: &TestApp) -> usize {
    app.upstream_requests()
        .await
        .iter()
        .filter(|r| r.path == "/api/v1/group")
        .count()
}

#[tokio::test]
async fn a_fansly_429_is_retried_then_succeeds() {
    let (app, fan) = group_answering_429("0", 1).await;
    app.clear_upstream_requests().await;
    assert_eq!(app.create_chat(&fan).await.status(), 200);
    let attempts = group_attempts(&app).await;
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn a_persistent_fansly_429_is_surfaced_after_bounded_retries() {
    let (app, fan) = group_answering_429("1", 100).await;
    let before = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    let resp = app.create_chat(&fan).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let msg = assert_error(resp, 429).await;
    assert!(
        msg.contains("Fansly") && msg.contains(&app.team.account_id),
        "{msg}"
    );
    let attempts = group_attempts(&app).await;
    assert_eq!(attempts, 3, "one try and max_retries (2) retries");
    assert_eq!(app.balance(&app.team.id).await, before, "refunded");
}

#[tokio::test]
async fn a_long_retry_after_is_not_waited_for() {
    let (app, fan) = group_answering_429("120", 5).await;
    let resp = app.create_chat(&fan).await;
    assert_eq!(resp.headers()["retry-after"], "120");
    assert_error(resp, 429).await;
}

#[tokio::test]
async fn a_stalled_fansly_becomes_504_within_the_timeout() {
    let app = spawn_app_with(|c| c.upstream.timeout_ms = 500).await;
    let fan = app.fan_id(1).await;
    let before = app.balance(&app.team.id).await;
    app.inject(json!({"method": "POST", "path": "/api/v1/group", "delay_ms": 10_000, "times": 1}))
        .await;
    let started = Instant::now();
    let resp = app.create_chat(&fan).await;
    let took = started.elapsed();
    assert_error_naming(resp, 504, "500 ms").await;
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(app.balance(&app.team.id).await, before, "refunded");
}

#[tokio::test]
async fn fansly_errors_are_502_with_fanslys_message() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    app.inject(json!({
        "method": "POST", "path": "/api/v1/group", "status": 500,
        "body": {"success": false, "error": {"code": 500, "details": "error getting group"}}
    }))
    .await;
    assert_error_naming(app.create_chat(&fan).await, 502, "error getting group").await;
}

#[tokio::test]
async fn a_refused_session_is_a_clear_4xx_naming_the_account() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    app.inject(json!({"path": "/api/v1/account", "status": 401, "times": 1}))
        .await;
    let msg = assert_error(app.create_chat(&fan).await, 409).await;
    assert!(
        msg.contains(&app.team.account_id) && msg.contains("reconnect"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_fansly_is_503() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    // A second gateway on the same database whose Fansly address refuses connections.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let mut config = app.state.config.clone();
    config.database_url = Some(config.database_url());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox.enabled = false;
    config.master_key_file = Some(config.data_dir.join("master.key"));
    config.upstream.api_base = format!("http://{dead_addr}");
    let cut_off = fansly_gateway::App::build(config).await.unwrap();
    let address = format!("http://{}", cut_off.address());
    tokio::spawn(cut_off.run_until_stopped());
    let before = app.balance(&app.team.id).await;
    let resp = app
        .http
        .post(format!(
            "{address}/api/fansly/{}/chats",
            app.team.account_id
        ))
        .bearer_auth(&app.team.key)
        .json(&json!({ "user_id": fan }))
        .send()
        .await
        .unwrap();
    assert_error_naming(resp, 503, "unreachable").await;
    assert_eq!(app.balance(&app.team.id).await, before, "refunded");
}

#[tokio::test]
async fn requests_carry_the_web_apps_headers() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    app.clear_upstream_requests().await;
    assert_eq!(app.create_chat(&fan).await.status(), 200);
    let log = app.upstream_requests().await;
    let create = log
        .iter()
        .find(|r| r.path == "/api/v1/group")
        .expect("POST /group seen");
    assert_eq!(create.method, "POST");
    assert_eq!(create.query.as_deref(), Some("ngsw-bypass=true"));
    let h = &create.headers;
    assert_eq!(h["authorization"], "[present]");
    assert_eq!(h["origin"], "https://fansly.com");
    assert_eq!(h["referer"], "https://fansly.com/");
    assert!(h["user-agent"].starts_with("Mozilla/5.0"));
    assert_eq!(h["accept"], "application/json, text/plain, */*");
    for name in [
        "fansly-client-id",
        "fansly-client-ts",
        "fansly-session-id",
        "fansly-client-check",
    ] {
        assert!(h.contains_key(name), "missing {name}");
    }
    let device = &h["fansly-client-id"];
    assert_eq!(
        h["fansly-client-check"],
        fansly_upstream::check::client_check(
            fansly_upstream::DEFAULT_CHECK_KEY,
            "/api/v1/group",
            device
        )
    );
    // In the order of the web app's (spec §2.1, a Firefox HAR; its
    // optional `dnt` and `sec-gpc` are not sent), whatever else the
    // connection adds (host, content-type, content-length).
    let web_app_order = [
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "referer",
        "fansly-client-id",
        "fansly-client-ts",
        "fansly-session-id",
        "fansly-client-check",
        "origin",
        "sec-fetch-dest",
        "sec-fetch-mode",
        "sec-fetch-site",
        "authorization",
    ];
    let sent: Vec<&str> = create
        .header_order
        .iter()
        .map(String::as_str)
        .filter(|name| web_app_order.contains(name))
        .collect();
    assert_eq!(sent, web_app_order);
    assert_eq!(h["accept-encoding"], "gzip, deflate, br, zstd");
    let ts: i64 = h["fansly-client-ts"].parse().unwrap();
    let now = fansly_gateway::core::time::now_ms();
    assert!((ts - now).abs() < 10_000);
    let lookup = log
        .iter()
        .find(|r| r.path == "/api/v1/account")
        .expect("lookup seen");
    assert!(lookup
        .query
        .as_deref()
        .unwrap()
        .ends_with("&ngsw-bypass=true"));
}

#[tokio::test]
async fn a_403_is_a_refusal_not_a_dead_session() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    app.inject(json!({
        "path": "/api/v1/account", "status": 403, "times": 1,
        "body": {"success": false, "error": {"code": 403, "details": "not allowed"}}
    }))
    .await;
    let msg = assert_error(app.create_chat(&fan).await, 403).await;
    assert!(
        msg.contains(&app.team.account_id) && msg.contains("not allowed"),
        "{msg}"
    );
    // No re-login was tried and the session still works.
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 0);
    assert_eq!(app.create_chat(&fan).await.status(), 200);
}
