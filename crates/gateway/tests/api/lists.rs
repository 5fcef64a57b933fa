//! Custom fan lists: create, rename, reorder, members in and out, delete.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, strings, TestApp};

async fn labels(app: &TestApp) -> Vec<String> {
    strings(
        &app.acct_ok(Method::GET, "lists", None).await["data"],
        "label",
    )
}

async fn members(app: &TestApp, list: &str) -> Vec<String> {
    app.all_pages(&app.acct_path(&format!("lists/{list}/items?limit=2")), 60)
        .await
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_lifecycle() {
    let app = spawn_app().await;
    let seeded = labels(&app).await;
    assert_eq!(seeded.len(), 3, "{seeded:?}");

    let created = app
        .acct_ok(
            Method::POST,
            "lists",
            Some(&json!({"label": " Whales ", "description": "big"})),
        )
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["label"], "Whales");
    assert_eq!(created["data"]["itemCount"], 0);
    assert_eq!(labels(&app).await.last().unwrap(), "Whales");

    let renamed = app
        .acct_ok(
            Method::PUT,
            &format!("lists/{id}"),
            Some(&json!({"label": "Big whales"})),
        )
        .await;
    assert_eq!(renamed["data"]["label"], "Big whales");
    assert_eq!(renamed["data"]["description"], "big");

    let fans: Vec<String> = futures::future::join_all((1..=5).map(|n| app.fan_id(n))).await;
    app.acct_ok(
        Method::POST,
        &format!("lists/{id}/items"),
        Some(&json!({"user_ids": [fans[0], fans[1], fans[2], fans[3], fans[4], fans[0]]})),
    )
    .await;
    assert_eq!(members(&app, &id).await, fans, "each member once, in order");
    app.acct_ok(
        Method::DELETE,
        &format!("lists/{id}/items"),
        Some(&json!({"user_ids": [fans[1], fans[2]]})),
    )
    .await;
    app.acct_ok(
        Method::DELETE,
        &format!("lists/{id}/items/{}", fans[4]),
        None,
    )
    .await;
    assert_eq!(members(&app, &id).await, [fans[0].clone(), fans[3].clone()]);

    let reordered = app
        .acct_ok(
            Method::POST,
            "lists/reorder",
            Some(&json!({"from": 3, "to": 0})),
        )
        .await;
    assert_eq!(reordered["data"][0]["label"], "Big whales");
    assert_eq!(reordered["data"][0]["pos"], 0);

    app.acct_ok(Method::DELETE, &format!("lists/{id}"), None)
        .await;
    assert_eq!(labels(&app).await, seeded);
    let acct = &app.team.account_id;
    app.assert_refusals(vec![
        (
            Method::DELETE,
            format!("/api/fansly/{acct}/lists/{id}"),
            None,
            404,
            id.as_str(),
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/lists/{id}/items"),
            None,
            404,
            "",
        ),
    ])
    .await;
}

#[tokio::test]
async fn list_inputs_are_validated() {
    let app = spawn_app().await;
    let acct = app.team.account_id.clone();
    let lists = format!("/api/fansly/{acct}/lists");
    let existing = app.get_json(&lists).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nobody = "100000000000000001";
    app.assert_refusals(vec![
        (
            Method::POST,
            lists.clone(),
            Some(json!({"label": "  "})),
            422,
            "^label",
        ),
        (
            Method::POST,
            lists.clone(),
            Some(json!({"name": "x"})),
            422,
            "",
        ),
        (
            Method::PUT,
            format!("{lists}/abc"),
            Some(json!({"label": "x"})),
            422,
            "^list_id",
        ),
        (
            Method::PUT,
            format!("{lists}/123"),
            Some(json!({})),
            422,
            "label",
        ),
        (
            Method::POST,
            format!("{lists}/reorder"),
            Some(json!({"from": 0, "to": 9})),
            422,
            "^to",
        ),
        (
            Method::POST,
            format!("{lists}/123/items"),
            Some(json!({"user_ids": []})),
            422,
            "^user_ids",
        ),
        (
            Method::POST,
            format!("{lists}/123/items"),
            Some(json!({"user_ids": ["fan1"]})),
            422,
            "^user_ids",
        ),
        (
            Method::POST,
            format!("{lists}/{existing}/items"),
            Some(json!({"user_ids": [nobody]})),
            404,
            nobody,
        ),
        (
            Method::PUT,
            format!("{lists}/{nobody}"),
            Some(json!({"label": "x"})),
            404,
            nobody,
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_list_over_100_members_is_walked_completely_by_cursor() {
    let app = spawn_app().await;
    let created = app
        .acct_ok(Method::POST, "lists", Some(&json!({"label": "Everyone"})))
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let fans: Vec<String> = futures::future::join_all((1..=130).map(|n| app.fan_id(n))).await;
    for chunk in fans.chunks(100) {
        app.acct_ok(
            Method::POST,
            &format!("lists/{id}/items"),
            Some(&json!({ "user_ids": chunk })),
        )
        .await;
    }
    let mut walked = Vec::new();
    for offset in [0, 100] {
        let path = format!("lists/{id}/items?limit=100&offset={offset}");
        let page = app.acct_ok(Method::GET, &path, None).await;
        walked.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(walked, fans, "every member once, in list order");

    // Upstream was asked the way the web app asks: no offset, the cursor
    // of the page before, sortMode 3.
    let asks = app.upstream_queries("/api/v1/lists/itemsnew").await;
    assert!(asks.len() >= 3, "{asks:?}");
    for q in &asks {
        assert!(!q.contains("offset"), "{q}");
        assert!(q.contains("sortMode=3") && q.contains("limit=50"), "{q}");
    }
    assert!(!asks[0].contains("after="), "{}", asks[0]);
    assert!(asks[1].contains("after=50"), "{}", asks[1]);
}
