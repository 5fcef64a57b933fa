//! Vault albums: list and create, and the 4xx for bad input.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn albums(app: &TestApp) -> Vec<Value> {
    let resp = app
        .get(&format!("/api/fansly/{}/vault/albums", app.team.account_id))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 1);
    body["data"].as_array().unwrap().clone()
}

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/fansly/{}/vault/albums", app.team.account_id),
        Some(&app.team.key),
        Some(&body),
    )
    .await
}

#[tokio::test]
async fn albums_are_created_and_listed_in_order() {
    let app = spawn_app().await;
    assert!(albums(&app).await.is_empty());
    let resp = create(&app, json!({"title": " Beach set ", "description": "June"})).await;
    assert_eq!(resp.status(), 200);
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["data"]["title"], "Beach set");
    assert_eq!(first["data"]["description"], "June");
    let resp = create(&app, json!({})).await;
    assert_eq!(resp.status(), 200, "title and description are optional");
    let second: Value = resp.json().await.unwrap();

    let listed = albums(&app).await;
    let ids: Vec<&Value> = listed.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&first["data"]["id"], &second["data"]["id"]]);
    assert_eq!(listed[1]["title"], "");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/vault/albums").await,
        2,
        "one Fansly call per album"
    );
}

#[tokio::test]
async fn bad_album_input_is_refused_before_fansly_or_billing() {
    let app = spawn_app().await;
    let balance = app.balance(&app.team.id).await;
    for (body, field) in [
        (json!({"title": "t".repeat(101)}), "title"),
        (json!({"description": "d".repeat(1001)}), "description"),
        (json!({"title": 5}), "title"),
        (json!({"name": "x"}), "name"),
    ] {
        let msg = assert_error(create(&app, body.clone()).await, 422).await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_eq!(app.upstream_count("POST", "/api/v1/vault/albums").await, 0);
    assert!(albums(&app).await.is_empty());
}

#[tokio::test]
async fn content_routes_are_in_openapi() {
    let app = spawn_app().await;
    let doc: Value = app
        .request(Method::GET, "/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    for (path, methods) in [
        ("/api/fansly/{fanslyAccount}/walls", &["get", "post"][..]),
        ("/api/fansly/{fanslyAccount}/posts", &["get", "post"]),
        ("/api/fansly/{fanslyAccount}/vault/albums", &["get", "post"]),
        ("/api/fansly/{fanslyAccount}/stories", &["post"]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from /openapi.json"
            );
        }
    }
}
