//! The API contract: bad input refused naming the problem at no cost, and
//! every Mass Messaging endpoint in the OpenAPI document.

use reqwest::Method;
use serde_json::{json, Value};

use super::{accepted, path, send, show};
use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn bad_input_is_refused_naming_the_problem_and_costs_nothing() {
    let app = spawn_app().await;
    let fan1 = app.fan_id(1).await;
    let before = app.balance(&app.team.id).await;
    let future = fansly_gateway::core::time::now_ms() + 60_000;
    let bogus_media = "fansly_media_01JR1234ABCD5678EFGHJKMNPQ";
    let me = app.creator_id(0).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"text": "x"}), 422, "audience is empty"),
        (
            json!({"text": "x", "excludeListIds": ["1"]}),
            422,
            "audience is empty",
        ),
        (json!({"userIds": [fan1]}), 422, "text is required"),
        (
            json!({"text": "  ", "userIds": [fan1]}),
            422,
            "text is required",
        ),
        (json!({"text": "x", "userIds": ["abc"]}), 422, "userIds"),
        (json!({"text": "x", "listIds": [""]}), 422, "listIds"),
        (
            json!({"text": "x", "userIds": [fan1], "scheduledFor": 1_000}),
            422,
            "scheduledFor",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "price": 5000}),
            422,
            "price needs requirePurchase",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": [bogus_media], "requirePurchase": true}),
            422,
            "price is required",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": [bogus_media], "requirePurchase": true, "price": 999}),
            422,
            "price must be between",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": [bogus_media], "requirePurchase": true, "price": 500_001}),
            422,
            "price must be between",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "requireFollow": true}),
            422,
            "mediaFiles is required",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": ["nope"]}),
            422,
            "mediaFiles",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": [bogus_media], "previews": {"fansly_media_other": bogus_media}}),
            422,
            "previews",
        ),
        (json!({"text": "x", "groupId": "abc"}), 422, "groupId"),
        (
            json!({"text": "x", "groupId": "123"}),
            404,
            "groupId: broadcast group 123 not found",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "colour": "red"}),
            422,
            "colour",
        ),
        (json!({"text": 5, "userIds": [fan1]}), 422, "text"),
        (
            json!({"text": "x", "userIds": [me]}),
            422,
            "connected account itself",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "mediaFiles": [bogus_media]}),
            404,
            "mediaFiles",
        ),
        (
            json!({"text": "x", "listIds": ["123"]}),
            404,
            "listIds: list 123 not found",
        ),
        (
            json!({"text": "x", "userIds": [fan1], "excludeListIds": ["123"]}),
            404,
            "excludeListIds: list 123 not found",
        ),
        (
            json!({"text": "x", "tierIds": ["123"]}),
            404,
            "tierIds: subscription tier 123 not found",
        ),
        (
            json!({"text": "x", "userIds": ["123"]}),
            404,
            "userIds: Fansly user 123 not found",
        ),
        (
            json!({"text": "x".repeat(10_001), "userIds": [fan1]}),
            422,
            "text is longer",
        ),
    ];
    for (body, status, fragment) in cases {
        let msg = assert_error(send(&app, body.clone()).await, status).await;
        assert!(msg.contains(fragment), "{body}: {msg} lacks {fragment}");
    }
    let b = accepted(
        &app,
        json!({"text": "ok", "userIds": [fan1], "scheduledFor": future}),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.balance(&app.team.id).await,
        before - 1,
        "only the accepted call is charged"
    );

    let base = path(&app);
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("{base}/123"),
            None,
            404,
            "broadcast 123 not found",
        ),
        (
            Method::GET,
            format!("{base}/abc"),
            None,
            422,
            "^broadcast_id",
        ),
        (Method::DELETE, format!("{base}/123"), None, 404, "123"),
        (
            Method::PUT,
            format!("{base}/{id}"),
            Some(json!({"listIds": ["x"]})),
            422,
            "^listIds",
        ),
        (
            Method::GET,
            "/api/fansly/fansly_acct_nope/mass-messaging".into(),
            None,
            404,
            "fansly_acct_nope",
        ),
    ])
    .await;

    // Another team sees none of it: its own account's path, and ours.
    let other = app.new_team(100, 1).await;
    let theirs = format!("/api/fansly/{}/mass-messaging", other.account_id);
    let resp = app.get_as(&other, &format!("{theirs}/{id}")).await;
    assert_error(resp, 404).await;
    let resp = app
        .send_as(&other, Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    assert_error(resp, 404).await;
    assert_eq!(show(&app, &id).await["state"], "scheduled");
    assert_eq!(
        app.balance(&app.team.id).await,
        before - 2,
        "the show above costs one"
    );
}

#[tokio::test]
async fn every_mass_messaging_endpoint_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let base = "/api/fansly/{fanslyAccount}/mass-messaging";
    let one = format!("{base}/{{broadcast_id}}");
    for (path, method, operation) in [
        (base, "get", "listScheduledMassMessages"),
        (base, "post", "sendMassMessage"),
        (one.as_str(), "put", "updateScheduledMassMessage"),
        (one.as_str(), "delete", "cancelScheduledMassMessage"),
        (one.as_str(), "get", "getMassMessage"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["operationId"], operation, "{method} {path}");
        assert_eq!(op["tags"][0], "Mass Messaging", "{method} {path}");
    }
}
