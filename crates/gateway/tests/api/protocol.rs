//! Speaking Fansly as its web app does (issue 13): every upload in the "All"
//! album, earnings windows split when Fansly's 100-row page comes back full,
//! per-route request budgets on both sides (the sandbox answering 429 with
//! `Retry-After` as Fansly does, the gateway honouring it), the
//! browser's encodings on every request (answers compressed and decoded),
//! and the websocket's cookie set with a device id kept fresh.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{assert_error, eventually, spawn_app, spawn_app_with, TestApp};
use crate::media::upload_file;

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..2048u32).map(|i| (i * 31 % 251) as u8));
    b
}

#[tokio::test]
async fn every_upload_joins_the_all_album_and_only_those_are_in_the_vault() {
    let app = spawn_app().await;
    let (status, body) = upload_file(&app, &app.team, png(), "a.png", false).await;
    assert_eq!(status, 200, "{body}");
    let media_id = body["media_id"].as_str().unwrap().to_owned();

    // The add went to the album Fansly marks type 38000, with this media.
    let har = app.sandbox_get("/_sandbox/har").await;
    let adds: Vec<Value> = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["request"]["method"] == "POST"
                && e["request"]["url"]
                    .as_str()
                    .unwrap()
                    .contains("/api/v1/vault/albums/media?")
        })
        .map(|e| serde_json::from_str(e["request"]["postData"]["text"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0]["mediaIds"], json!([media_id]));
    let albums: Value = app
        .get(&app.acct_path("vault/albums"))
        .await
        .json()
        .await
        .unwrap();
    let all = albums["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == 38000)
        .expect("an All album");
    assert_eq!(adds[0]["albumId"], all["id"]);

    let vault: Value = app
        .get(&app.acct_path("vault/media"))
        .await
        .json()
        .await
        .unwrap();
    assert!(vault.to_string().contains(&media_id), "{vault}");

    // The sandbox follows Fansly: when the add fails, the upload fails and
    // the media is not in the vault.
    app.inject(json!({"method": "POST", "path": "/api/v1/vault/albums/media", "status": 500}))
        .await;
    let (status, body) = upload_file(&app, &app.team, png(), "b.png", false).await;
    assert_eq!(status, 502, "{body}");
    let after: Value = app
        .get(&app.acct_path("vault/media"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["data"]["albumMedia"].as_array().map(Vec::len),
        vault["data"]["albumMedia"].as_array().map(Vec::len),
        "an upload outside the All album is not in the vault"
    );
}

#[tokio::test]
async fn an_earnings_window_over_100_fans_comes_back_whole() {
    let app = spawn_app().await;
    let made = app
        .sandbox_post(
            "/_sandbox/fans",
            json!({"prefix": "tipper", "count": 130, "tip_mills": 1000, "tip_days": 3}),
        )
        .await;
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.unwrap();
    let tippers: HashSet<String> = made["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tippers.len(), 130);
    app.clear_upstream_requests().await;

    let acct = &app.team.account_id;
    let pages = app
        .all_pages(&format!("/api/fansly/{acct}/top-supporters?limit=100"), 10)
        .await;
    let ranked: Vec<String> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .map(|r| r["accountId"].as_str().unwrap().to_owned())
        .collect();
    let seen: HashSet<&String> = ranked.iter().collect();
    assert_eq!(seen.len(), ranked.len(), "no fan twice");
    let missing: Vec<&String> = tippers.iter().filter(|t| !seen.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "{} tippers lost: {missing:?}",
        missing.len()
    );

    // Asked with limit=100; the full first page was asked again by day.
    let asks: Vec<String> = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.path == "/api/v1/account/wallets/earnings/accounts")
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert!(asks.iter().all(|q| q.contains("limit=100")), "{asks:?}");
    assert!(asks.len() > pages.len(), "split into days: {asks:?}");
}

#[tokio::test]
async fn the_sandbox_answers_429_per_route_and_the_gateway_waits_it_out() {
    let app = spawn_app().await;
    let resp = app
        .sandbox_post(
            "/_sandbox/rate-limit",
            json!({"per_minute": 60, "burst": 2}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.clear_upstream_requests().await;
    let path = app.acct_path("earnings/pending");
    for _ in 0..3 {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }
    let state = app.sandbox_get("/_sandbox/rate-limit").await;
    assert_eq!(state["limited"], 1, "{state}");
    let tries: Vec<i64> = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.path == "/api/v1/account/wallets/earnings")
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(tries.len(), 4, "three calls and one retry");
    assert!(
        tries[3] - tries[2] >= 900,
        "the retry waited for Retry-After (1 s): {tries:?}"
    );
    // Another route has its own bucket.
    let other = app.get(&app.acct_path("earnings/wallets")).await;
    assert_ne!(other.status(), 429);
    assert_eq!(app.sandbox_get("/_sandbox/rate-limit").await["limited"], 1);
}

#[tokio::test]
async fn the_gateway_keeps_its_own_per_route_budget() {
    let app = spawn_app_with(|c| {
        c.upstream.throttle.route_reads_per_minute = 1;
        c.upstream.throttle.route_burst = 1;
        c.upstream.throttle.max_wait_ms = 0;
    })
    .await;
    let acct = app.team.account_id.clone();
    assert_eq!(
        app.get(&format!("/api/fansly/{acct}/earnings/pending"))
            .await
            .status(),
        200
    );
    app.clear_upstream_requests().await;
    let refused = app
        .get(&format!("/api/fansly/{acct}/earnings/pending"))
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429).await;
    assert_eq!(
        app.upstream_count("GET", "/api/v1/account/wallets/earnings")
            .await,
        0,
        "refused before Fansly"
    );
    // A different read route still has its slot.
    assert_eq!(
        app.get(&format!("/api/fansly/{acct}/earnings/wallets"))
            .await
            .status(),
        200
    );
}

/// The sandbox compresses every answer whose request asks (its own test,
/// `answers_are_compressed_when_asked`, checks the bytes on the wire), so a
/// right answer here means the gateway asked for Firefox's encodings and
/// decoded the one chosen.
#[tokio::test]
async fn requests_carry_the_browsers_encodings_and_a_current_user_agent() {
    let app = spawn_app().await;
    app.clear_upstream_requests().await;
    let body = app.get_ok(&app.acct_path("earnings/pending")).await;
    assert!(!body["data"].is_null(), "decoded: {body}");
    let reqs = app.upstream_requests().await;
    let r = reqs
        .iter()
        .find(|r| r.path == "/api/v1/account/wallets/earnings")
        .unwrap();
    let enc = &r.headers["accept-encoding"];
    assert_eq!(enc, "gzip, deflate, br, zstd");
    let ua = &r.headers["user-agent"];
    assert!(!ua.contains("Firefox/133"), "{ua}");
    assert_eq!(ua, fansly_upstream::DEFAULT_USER_AGENT);
}

/// The cookie header of a socket handshake that carried `device`.
async fn handshake_with(app: &TestApp, device: &str) -> String {
    let wanted = format!("f-d={device}");
    eventually("a handshake with the device id", async || {
        let seen = app.sandbox_get("/_sandbox/ws/connections").await;
        seen["upgrades"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["cookie"].as_str())
            .find(|c| c.ends_with(&wanted))
            .map(str::to_owned)
    })
    .await
}

/// Row 12 of issue 13: a password login keeps the `f-s-c` cookie Fansly set
/// and the socket sends the web app's cookie set; a device id older than
/// `relay.device_id_refresh_ms` is fetched again before the socket reopens,
/// and REST and the socket carry the new one.
#[tokio::test]
async fn the_socket_sends_the_login_cookie_and_a_refreshed_device_id() {
    let app = spawn_app_with(|c| {
        c.relay.backoff_base_ms = 50;
        c.relay.backoff_cap_ms = 500;
    })
    .await;
    let creator = app.creator(1).await;
    let id = app
        .authenticate(
            &app.team,
            json!({"username": creator["username"], "password": creator["password"]}),
        )
        .await;
    assert_eq!(
        app.settled_status(&app.team, &id).await["status"],
        "authenticated"
    );
    app.state.relays.run_due().await;
    app.wait_connected(&id, 0).await;
    let row = sqlx::query("SELECT device_id, session_cookie FROM fansly_accounts WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    let first_device: String = row.get(0);
    let sealed_cookie: String = row.get(1);
    assert!(
        !sealed_cookie.contains("f-s-c"),
        "the cookie is stored sealed"
    );
    let cookie = handshake_with(&app, &first_device).await;
    assert!(cookie.starts_with("f-s-c="), "{cookie}");

    // Not yet stale: nothing is fetched.
    let day = Duration::from_secs(86_400);
    let fetched = app.upstream_count("GET", "/api/v1/device/id").await;
    assert!(!app
        .state
        .sessions
        .refresh_device_id(&id, day)
        .await
        .unwrap());
    assert_eq!(
        app.upstream_count("GET", "/api/v1/device/id").await,
        fetched
    );
    // Stale: a new id, used by REST at once and by the next socket.
    assert!(app
        .state
        .sessions
        .refresh_device_id(&id, Duration::ZERO)
        .await
        .unwrap());
    assert_eq!(
        app.upstream_count("GET", "/api/v1/device/id").await,
        fetched + 1
    );
    let device: String = sqlx::query("SELECT device_id FROM fansly_accounts WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db().pool)
        .await
        .unwrap()
        .get(0);
    assert_ne!(device, first_device);
    app.clear_upstream_requests().await;
    assert_eq!(
        app.get(&format!("/api/fansly/{id}/users/fan1"))
            .await
            .status(),
        200
    );
    let sent = app.upstream_requests().await;
    assert!(sent.iter().all(|r| r.headers["fansly-client-id"] == device));
    app.sandbox_post("/_sandbox/ws/drop", json!({"creator": creator["username"]}))
        .await;
    let cookie = handshake_with(&app, &device).await;
    assert!(cookie.starts_with("f-s-c="), "{cookie}");
}
