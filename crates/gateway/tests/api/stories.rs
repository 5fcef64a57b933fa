//! Stories: one uploaded (or vault) media item, gated or free; bad input.

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};
use crate::media::{png, upload_file};

async fn add(app: &TestApp, body: Value) -> reqwest::Response {
    app.post(&app.acct_path("stories"), &body).await
}

#[tokio::test]
async fn a_story_of_an_uploaded_handle_or_a_vault_id() {
    let app = spawn_app().await;
    let (status, upload) = upload_file(&app, &app.team, png(64, 64, 2_000), "s.png", false).await;
    assert_eq!(status, 200, "{upload}");
    let handle = upload["prefixed_id"].as_str().unwrap();
    let media_id = upload["media_id"].as_str().unwrap();

    let resp = add(
        &app,
        json!({"mediaFiles": [handle], "requirePurchase": true, "price": 3000}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let story: Value = resp.json().await.unwrap();
    assert_eq!(story["_meta"]["_credits"]["used"], 1);
    let media = &story["data"]["accountMedia"];
    assert_eq!(media["mediaId"], media_id, "{story}");
    assert_eq!(story["data"]["contentId"], media["id"]);
    let gates = media["permissions"]["permissionFlags"].as_array().unwrap();
    assert_eq!(gates.len(), 1);
    assert_eq!(gates[0]["flags"], 1);
    assert_eq!(gates[0]["price"], 3000);

    // Fansly's own vault id works too; free when ungated.
    let resp = add(&app, json!({"mediaFiles": [media_id]})).await;
    assert_eq!(resp.status(), 200);
    let free: Value = resp.json().await.unwrap();
    assert_eq!(free["data"]["accountMedia"]["mediaId"], media_id);
    assert_eq!(
        free["data"]["accountMedia"]["permissions"]["permissionFlags"],
        json!([])
    );
    assert_eq!(app.upstream_count("POST", "/api/v1/mediastories").await, 2);
}

#[tokio::test]
async fn bad_story_input_is_refused_before_fansly_or_billing() {
    let app = spawn_app().await;
    let other = app.new_team(100, 1).await;
    let (_, foreign) = upload_file(&app, &other, png(8, 8, 500), "f.png", false).await;
    let (_, mine) = upload_file(&app, &app.team, png(8, 8, 500), "m.png", false).await;
    let mine = mine["prefixed_id"].as_str().unwrap();
    let balance = app.balance(&app.team.id).await;
    for (body, status, field) in [
        (json!({"mediaFiles": []}), 422, "mediaFiles"),
        (json!({"mediaFiles": [mine, mine]}), 422, "mediaFiles"),
        (json!({"mediaFiles": ["nope"]}), 422, "mediaFiles"),
        (
            json!({"mediaFiles": [foreign["prefixed_id"]]}),
            404,
            "mediaFiles",
        ),
        (
            json!({"mediaFiles": [mine], "requirePurchase": true, "price": 10}),
            422,
            "price",
        ),
        (
            json!({"mediaFiles": [mine], "requirePurchase": true}),
            422,
            "price",
        ),
        (
            json!({"mediaFiles": [mine], "audiences": []}),
            422,
            "audiences",
        ),
        (json!({}), 422, "mediaFiles"),
    ] {
        let msg = assert_error(add(&app, body.clone()).await, status).await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_eq!(app.upstream_count("POST", "/api/v1/mediastories").await, 0);
    assert_eq!(app.upstream_count("POST", "/api/v1/account/media").await, 0);
}
