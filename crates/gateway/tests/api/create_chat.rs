//! Create Chat: the documented shape, the same chat on a repeat, one chat under concurrent creates.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_error_naming, assert_same_shape, spawn_app};

#[tokio::test]
async fn creates_a_chat_with_the_documented_shape() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    let resp = app.create_chat(&fan).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "1");
    let body: Value = resp.json().await.unwrap();

    let example: Value =
        serde_json::from_str(include_str!("fixtures/create_chat_200.json")).unwrap();
    assert_same_shape(&example, &body, "$");

    let chat = &body["data"];
    assert_eq!(chat["type"], 1);
    assert_eq!(chat["users"][1]["userId"], Value::String(fan.clone()));
    assert_eq!(chat["users"][0]["permissionFlags"], 65535);
    assert_eq!(
        body["_meta"]["_cache"]["note"],
        "Cache disabled for this endpoint"
    );
    assert_eq!(body["_meta"]["_credits"]["note"], "Always");
    assert_eq!(body["_meta"]["_rate_limits"]["limit_minute"], 5000);
}

#[tokio::test]
async fn creating_again_returns_the_same_chat() {
    let app = spawn_app().await;
    let fan = app.fan_id(2).await;
    let first: Value = app.create_chat(&fan).await.json().await.unwrap();
    let again: Value = app.create_chat(&fan).await.json().await.unwrap();
    assert_eq!(first["data"]["id"], again["data"]["id"]);
    assert!(first["data"]["id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    // Upstream holds exactly one DM group with that fan.
    let other = app.fan_id(3).await;
    let third: Value = app.create_chat(&other).await.json().await.unwrap();
    assert_ne!(third["data"]["id"], first["data"]["id"]);
}

#[tokio::test]
async fn concurrent_creates_for_one_fan_yield_one_chat() {
    let app = spawn_app().await;
    let fan = app.fan_id(4).await;
    let responses = join_all((0..20).map(|_| app.create_chat(&fan))).await;
    let mut ids = std::collections::HashSet::new();
    for resp in responses {
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        ids.insert(body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn unknown_user_is_404_and_costs_nothing() {
    let app = spawn_app().await;
    let before = app.balance(&app.team.id).await;
    assert_error_naming(
        app.create_chat("123456789012345678").await,
        404,
        "123456789012345678",
    )
    .await;
    assert_eq!(app.balance(&app.team.id).await, before);
}

#[tokio::test]
async fn chat_with_oneself_is_422() {
    let app = spawn_app().await;
    let accounts = app.get_json("/api/fansly/accounts").await;
    let me = accounts[0]["fansly_id"].as_str().unwrap().to_owned();
    assert_error_naming(app.create_chat(&me).await, 422, "user_id").await;
}

#[tokio::test]
async fn malformed_bodies_get_clear_4xx_naming_the_problem() {
    let app = spawn_app().await;
    let path = app.acct_path("chats");
    let cases: Vec<(Option<&str>, &[u8], u16, &str)> = vec![
        (Some("application/json"), b"{}", 422, "user_id"),
        (
            Some("application/json"),
            br#"{"user_id": 42}"#,
            422,
            "user_id",
        ),
        (
            Some("application/json"),
            br#"{"user_id": null}"#,
            422,
            "user_id",
        ),
        (
            Some("application/json"),
            br#"{"user_id": "fan1"}"#,
            422,
            "user_id",
        ),
        (
            Some("application/json"),
            br#"{"user_id": ""}"#,
            422,
            "user_id",
        ),
        (
            Some("application/json"),
            br#"["user_id"]"#,
            422,
            "JSON object",
        ),
        (Some("application/json"), b"", 422, "empty"),
        (
            Some("application/json"),
            br#"{"user_id": "1""#,
            400,
            "not valid JSON",
        ),
        (
            Some("application/json"),
            br#"{"user_id": "1"} trailing"#,
            400,
            "not valid JSON",
        ),
        (
            Some("text/plain"),
            br#"{"user_id": "1"}"#,
            415,
            "application/json",
        ),
        (None, br#"{"user_id": "1"}"#, 415, "application/json"),
    ];
    for (ct, body, status, needle) in cases {
        let resp = app.post_raw(&path, ct, body.to_vec()).await;
        let msg = assert_error(resp, status).await;
        assert!(
            msg.contains(needle),
            "{:?} → {msg:?} should mention {needle:?}",
            String::from_utf8_lossy(body)
        );
    }
    // None of these reached Fansly or cost anything.
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app_small_body().await;
    let path = app.acct_path("chats");
    let body = json!({"user_id": "1", "pad": "x".repeat(4096)}).to_string();
    assert_error_naming(
        app.post_raw(&path, Some("application/json"), body.into_bytes())
            .await,
        413,
        "1024",
    )
    .await;
}

async fn spawn_app_small_body() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|c| c.max_body_bytes = 1024).await
}
