//! Walls: list (main wall flagged), create (private, copyFrom), bad input.

use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_same_shape, spawn_app, strs, TestApp};

async fn walls(app: &TestApp) -> Value {
    let resp = app.get(&app.acct_path("walls")).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

pub async fn create_wall(app: &TestApp, body: Value) -> reqwest::Response {
    app.post(&app.acct_path("walls"), &body).await
}

#[tokio::test]
async fn walls_list_and_create() {
    let app = spawn_app().await;
    let listed = walls(&app).await;
    let seeded = listed["data"].as_array().unwrap();
    assert_eq!(seeded.len(), 1, "{listed}");
    assert_eq!(seeded[0]["mainWall"], true);
    let main_id = seeded[0]["id"].as_str().unwrap().to_owned();
    let resp = create_wall(
        &app,
        json!({"name": " Behind the scenes ", "description": "Exclusive BTS content"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    let example: Value =
        serde_json::from_str(include_str!("fixtures/walls_create_200.json")).unwrap();
    assert_same_shape(&example["data"], &created["data"], "$.data");
    assert_eq!(created["data"]["name"], "Behind the scenes");
    assert_eq!(created["data"]["private"], 0);
    assert_eq!(created["_meta"]["_credits"]["used"], 1);
    let new_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, main_id);

    let copy: Value = create_wall(
        &app,
        json!({"name": "Vault copy", "private": true, "copyFrom": main_id}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(copy["data"]["private"], 1, "{copy}");
    assert_eq!(copy["data"]["copyFrom"], main_id.as_str());
    let copy_id = copy["data"]["id"].as_str().unwrap().to_owned();

    let listed = walls(&app).await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/walls_list_200.json")).unwrap();
    assert_same_shape(&example["data"], &listed["data"], "$.data");
    let ids = strs(&listed["data"], "id");
    assert_eq!(ids, [main_id.as_str(), new_id.as_str(), copy_id.as_str()]);
    assert_eq!(listed["data"][1]["pos"], 1);
    assert_eq!(listed["data"][2]["pos"], 2);
    assert_eq!(listed["data"][2]["private"], 1);
    assert_eq!(listed["data"][1]["description"], "Exclusive BTS content");

    // Fansly's public account object lists the same walls.
    let public = app.get_json(&app.acct_path("users/sandbox_creator")).await;
    assert_eq!(public["data"][0]["walls"], listed["data"], "{public}");
}

#[tokio::test]
async fn wall_inputs_are_validated_before_fansly_or_billing() {
    let app = spawn_app().await;
    let balance = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    for (body, status, field) in [
        (json!({"name": "  "}), 422, "name"),
        (json!({"name": "x".repeat(101)}), 422, "name"),
        (
            json!({"name": "ok", "description": "d".repeat(1001)}),
            422,
            "description",
        ),
        (json!({"name": "ok", "copyFrom": "abc"}), 422, "copyFrom"),
        (
            json!({"name": "ok", "copyFrom": "123456789012345678"}),
            404,
            "copyFrom",
        ),
        (json!({"name": "ok", "colour": "red"}), 422, "colour"),
        (json!({}), 422, "name"),
    ] {
        let msg = assert_error(create_wall(&app, body.clone()).await, status).await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/walls").await,
        0,
        "nothing created upstream"
    );
    assert_eq!(walls(&app).await["data"].as_array().unwrap().len(), 1);
}
