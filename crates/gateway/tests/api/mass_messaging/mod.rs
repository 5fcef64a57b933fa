//! Mass Messaging: broadcasts stored and fanned out by the gateway.
//!
//! Shared helpers live here; the tests by topic: `recipients` (who gets a
//! broadcast and what they get), `lifecycle` (scheduling, editing,
//! cancelling, surviving a restart, resuming), `contract` (bad input and the
//! OpenAPI document).

use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::helpers::{parked, spawn_app_with, strings, TestApp};

mod contract;
mod lifecycle;
mod recipients;

/// An app whose broadcast worker is parked: tests run it.
async fn app() -> TestApp {
    spawn_app_with(parked).await
}

fn path(app: &TestApp) -> String {
    app.acct_path("mass-messaging")
}

async fn send(app: &TestApp, body: Value) -> reqwest::Response {
    app.post(&path(app), &body).await
}

/// Sends and expects a 200; the broadcast.
async fn accepted(app: &TestApp, body: Value) -> Value {
    let resp = send(app, body).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["data"].clone()
}

async fn show(app: &TestApp, id: &str) -> Value {
    let resp = app.get(&format!("{}/{id}", path(app))).await;
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["data"].clone()
}

async fn pending_ids(app: &TestApp) -> Vec<String> {
    let body = app.get_ok(&path(app)).await;
    strings(&body["data"], "id")
}

/// Runs the broadcasts due now (the app's workers are parked) and returns
/// broadcast `id`, which must have ended.
async fn run_until_ended(app: &TestApp, id: &str) -> Value {
    app.run_pending_broadcasts().await;
    let b = show(app, id).await;
    assert!(
        matches!(b["state"].as_str(), Some("sent" | "failed" | "cancelled")),
        "broadcast {id} did not end: {b}"
    );
    b
}

/// The messages the default creator sent with `text`, as the sandbox holds them.
async fn delivered(app: &TestApp, text: &str) -> Vec<Value> {
    delivered_from(&app.sandbox_url, text).await
}

/// Recipient id → number of messages they got.
fn per_recipient(messages: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        *out.entry(m["recipientId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

async fn bulk_fans(app: &TestApp, prefix: &str, count: u32) -> Vec<String> {
    let resp = app
        .sandbox_post("/_sandbox/fans", json!({"prefix": prefix, "count": count}))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect()
}

/// A list with `members`, built through the gateway's list endpoints.
async fn list_of(app: &TestApp, label: &str, members: &[String]) -> String {
    let acct = &app.team.account_id;
    let list = app
        .post_ok(
            &format!("/api/fansly/{acct}/lists"),
            &json!({ "label": label }),
        )
        .await;
    let id = list["data"]["id"].as_str().unwrap().to_owned();
    for chunk in members.chunks(100) {
        app.post_ok(
            &format!("/api/fansly/{acct}/lists/{id}/items"),
            &json!({ "user_ids": chunk }),
        )
        .await;
    }
    id
}

/// The messages sandbox creator 0 sent with `text`, from the sandbox at `url`.
async fn delivered_from(url: &str, text: &str) -> Vec<Value> {
    let all: Value = reqwest::get(format!("{url}/_sandbox/messages?from=sandbox_creator"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"] == text)
        .cloned()
        .collect()
}
