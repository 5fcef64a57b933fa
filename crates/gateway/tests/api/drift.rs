//! The protocol-drift guard end to end (issue 13): the sandbox is told to
//! drift (`/_sandbox/drift`) and the gateway notices — a rotated check key
//! is read from the sandbox's copy of the web app and adopted without a
//! restart; a dropped field and a gone route are counted per route, shown
//! on List Accounts and in `/metrics` — and `fansly-gateway conformance`
//! reports on HAR recordings of the gateway's own traffic, as recorded and
//! edited to differ.

use std::process::Command;
use std::time::Duration;

use fansly_gateway::workers::check_key::CheckKeyWatch;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn drift(app: &TestApp, body: Value) {
    let resp = app.sandbox_post("/_sandbox/drift", body).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
}

async fn metrics(app: &TestApp) -> String {
    app.http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The account's `upstream_drift` rows on List Accounts.
async fn account_drift(app: &TestApp) -> Vec<Value> {
    let list: Value = app.get("/api/fansly/accounts").await.json().await.unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == app.team.account_id.as_str())
        .unwrap();
    me["upstream_drift"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_rotated_check_key_is_read_from_the_web_app_without_a_restart() {
    let app = spawn_app().await;
    let pending = app.acct_path("earnings/pending");
    assert_eq!(app.get(&pending).await.status(), 200);
    let before = app.state.fansly.check_key();

    drift(&app, json!({"check_key": "qawsed-rftgyh-Ujik12"})).await;
    // The next call is refused for its digest, the key is derived again
    // from the sandbox's web app, and the call repeated.
    let resp = app.get(&pending).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(app.state.fansly.check_key(), "qawsed-rftgyh-Ujik12");
    assert_ne!(before, app.state.fansly.check_key());
    let rows = account_drift(&app).await;
    assert!(
        rows.iter().any(|r| r["kind"] == "check_key_rejected"
            && r["route"] == "/api/v1/account/wallets/earnings"),
        "{rows:?}"
    );
    let text = metrics(&app).await;
    assert!(
        text.contains("fansly_upstream_check_key_rotations_total"),
        "{text}"
    );

    // The scheduled read finds a later rotation before any refusal.
    let watch = CheckKeyWatch {
        fansly: app.state.fansly.clone(),
        every: Duration::from_secs(3600),
    };
    assert!(!watch.run_due().await, "unchanged: no rotation");
    drift(&app, json!({"check_key": "zxcvbn-asdfgh-Qwerty9"})).await;
    assert!(watch.run_due().await);
    assert_eq!(app.state.fansly.check_key(), "zxcvbn-asdfgh-Qwerty9");
    app.clear_upstream_requests().await;
    assert_eq!(app.get(&pending).await.status(), 200);
    assert_eq!(
        app.upstream_count("GET", "/api/v1/account/wallets/earnings")
            .await,
        1,
        "signed right the first time"
    );
}

#[tokio::test]
async fn a_dropped_field_and_a_gone_route_are_counted_and_shown() {
    let app = spawn_app().await;
    let fan = app.fan_id(2).await;
    drift(
        &app,
        json!({"path": "/api/v1/account", "drop_field": "username"}),
    )
    .await;
    drift(
        &app,
        json!({"path": "/api/v1/account/wallets/earnings", "gone": true}),
    )
    .await;

    let _ = app.create_chat(&fan).await; // reads GET /api/v1/account?ids=
    let gone = app.get(&app.acct_path("earnings/pending")).await;
    assert_eq!(gone.status(), 502);

    let rows = account_drift(&app).await;
    let has = |route: &str, kind: &str| {
        rows.iter()
            .any(|r| r["route"] == route && r["kind"] == kind && r["count"].as_u64() >= Some(1))
    };
    assert!(has("/api/v1/account", "missing_field"), "{rows:?}");
    assert!(rows.iter().any(|r| r["field"] == "[].username"), "{rows:?}");
    assert!(has("/api/v1/account/wallets/earnings", "gone"), "{rows:?}");

    let text = metrics(&app).await;
    for (route, kind) in [
        ("/api/v1/account", "missing_field"),
        ("/api/v1/account/wallets/earnings", "gone"),
    ] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("fansly_gateway_upstream_drift_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("kind=\"{kind}\""))
            })
            .unwrap_or_else(|| panic!("no drift sample for {route} {kind}:\n{text}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 1.0, "{line}");
    }

    // Drift ended: the route answers again.
    let resp = app
        .http
        .delete(format!("{}/_sandbox/drift", app.sandbox_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.get(&app.acct_path("earnings/pending")).await.status(),
        200
    );
}

/// Runs `fansly-gateway conformance` on `har`; its exit code and report.
fn conformance(har: &Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.har");
    std::fs::write(&file, har.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fansly-gateway"))
        .arg("conformance")
        .arg(&file)
        .env_remove("FANSLY_GATEWAY_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The entry of `method` on a URL containing `needle`.
fn entry_mut<'a>(har: &'a mut Value, method: &str, needle: &str) -> &'a mut Value {
    har["log"]["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| {
            e["request"]["method"] == method
                && e["request"]["url"].as_str().unwrap().contains(needle)
        })
        .unwrap_or_else(|| panic!("no {method} {needle} in the recording"))
}

#[tokio::test]
async fn conformance_reports_on_recorded_hars() {
    let app = spawn_app().await;
    let acct = app.team.account_id.clone();
    app.http
        .delete(format!("{}/_sandbox/har", app.sandbox_url))
        .send()
        .await
        .unwrap();
    // A few of the gateway's calls, recorded by the sandbox.
    let fan = app.fan_id(1).await;
    let chat: Value = app.create_chat(&fan).await.json().await.unwrap();
    let chat_id = chat["data"]["id"].as_str().unwrap().to_owned();
    let sent = app
        .http
        .post(format!(
            "{}/api/fansly/{acct}/chats/{chat_id}/messages",
            app.address
        ))
        .bearer_auth(&app.team.key)
        .json(&json!({"text": "recorded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    for path in [
        format!("/api/fansly/{acct}/chats/{chat_id}/messages"),
        format!("/api/fansly/{acct}/chats"),
        format!("/api/fansly/{acct}/top-supporters"),
        format!("/api/fansly/{acct}/vault/albums"),
    ] {
        assert_eq!(app.get(&path).await.status(), 200, "{path}");
    }
    let har = app.sandbox_get("/_sandbox/har").await;

    let (code, report) = conformance(&har);
    assert_eq!(code, 0, "{report}");
    for route in [
        "GET /api/v1/account: MATCHES",
        "POST /api/v1/group: MATCHES",
        "POST /api/v1/message: MATCHES",
        "GET /api/v1/message: MATCHES",
        "GET /api/v1/messaging/groups: MATCHES",
        "GET /api/v1/account/wallets/earnings/accounts: MATCHES",
        "GET /api/v1/vault/albumsnew: MATCHES",
    ] {
        assert!(report.contains(route), "{route} in\n{report}");
    }
    assert!(!report.contains("DIFFERS"), "{report}");

    // The same recording, edited as a web app that moved on would send it.
    let mut moved = har.clone();
    let send = entry_mut(&mut moved, "POST", "/api/v1/message?");
    let mut body: Value =
        serde_json::from_str(send["request"]["postData"]["text"].as_str().unwrap()).unwrap();
    body.as_object_mut().unwrap().remove("scheduledFor");
    body["clientNonce"] = json!("n1");
    send["request"]["postData"]["text"] = json!(body.to_string());
    let read = entry_mut(&mut moved, "GET", "/api/v1/message?");
    let url = read["request"]["url"]
        .as_str()
        .unwrap()
        .replace("limit=", "cursorLimit=");
    read["request"]["url"] = json!(url);
    let groups = entry_mut(&mut moved, "GET", "/api/v1/messaging/groups");
    groups["request"]["headers"]
        .as_array_mut()
        .unwrap()
        .retain(|h| h["name"] != "fansly-client-check");
    let (code, report) = conformance(&moved);
    assert_eq!(code, 1, "{report}");
    for needle in [
        "POST /api/v1/message: DIFFERS",
        "body key \"scheduledFor\": sent by the gateway, not by the web app",
        "body key \"clientNonce\": sent by the web app, not by the gateway",
        "query key \"cursorLimit\": sent by the web app, never by the gateway",
        "query key \"limit\": sent by the gateway, not by the web app",
        "header \"fansly-client-check\": sent by the gateway, not by the web app",
    ] {
        assert!(report.contains(needle), "{needle} in\n{report}");
    }

    // A recording of a drifted Fansly: the answer's shape differs.
    let other = app.fan_id(3).await;
    app.sandbox_post(
        "/_sandbox/drift",
        json!({"path": "/api/v1/account", "drop_field": "username"}),
    )
    .await;
    app.http
        .delete(format!("{}/_sandbox/har", app.sandbox_url))
        .send()
        .await
        .unwrap();
    let _ = app.create_chat(&other).await;
    let (code, report) = conformance(&app.sandbox_get("/_sandbox/har").await);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("answer field \"[].username\": missing_field"),
        "{report}"
    );

    let (code, _) = conformance(&json!({"not": "a har"}));
    assert_ne!(code, 0);
}
