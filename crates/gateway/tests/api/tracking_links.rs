//! Tracking links: counters that agree with their daily stats.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_same_shape, spawn_app, SendJson};

#[tokio::test]
async fn link_counters_agree_with_daily_stats() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let links = app
        .get_json(&format!("/api/fansly/{acct}/tracking-links"))
        .await;
    let links = links["data"].as_array().unwrap().clone();
    assert_eq!(links.len(), 5);
    assert!(links
        .iter()
        .any(|l| l["label"] == "For You" && l["type"] == 1));

    let id = links[0]["id"].as_str().unwrap();
    let recent = app
        .get_ok(&format!("/api/fansly/{acct}/tracking-links/{id}/stats"))
        .await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/tracking_link_stats_200.json")).unwrap();
    assert_same_shape(&example, &recent, "$");
    let days = recent["data"].as_array().unwrap().len();
    assert!(
        (29..=31).contains(&days),
        "default window is 30 days: {days}"
    );

    for link in &links {
        let id = link["id"].as_str().unwrap();
        let all = app
            .get_json(&format!(
                "/api/fansly/{acct}/tracking-links/{id}/stats?after=2000-01-01"
            ))
            .await;
        let rows = all["data"].as_array().unwrap();
        assert!(rows.len() >= 365);
        for key in ["clicks", "claims", "follows", "subscriptions"] {
            let total: i64 = rows.iter().map(|r| r[key].as_i64().unwrap()).sum();
            assert_eq!(total, link[key].as_i64().unwrap(), "{key} of {id}");
        }
        assert!(rows
            .iter()
            .all(|r| r["clicks"].as_i64() >= r["claims"].as_i64()
                && r["claims"].as_i64() >= r["follows"].as_i64()));
    }
    let followed: i64 = links.iter().map(|l| l["follows"].as_i64().unwrap()).sum();
    assert!(followed > 0);
}

#[tokio::test]
async fn unknown_links_and_bad_windows_are_4xx() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let nobody = "100000000000000001";
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("/api/fansly/{acct}/tracking-links/{nobody}/stats"),
            None,
            404,
            nobody,
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/tracking-links/x1/stats"),
            None,
            422,
            "^tracking_link_id",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/tracking-links/{nobody}/stats?after=last week"),
            None,
            422,
            "^after",
        ),
    ])
    .await;
}

#[tokio::test]
async fn every_new_route_is_in_openapi() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send_json()
        .await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("followers", "get"),
        ("following", "get"),
        ("subscribers", "get"),
        ("subscription-tiers", "get"),
        ("users/{account_id}/mute", "delete"),
        ("users/{account_id}/mute", "post"),
        ("earnings/wallets", "get"),
        ("earnings/transactions", "get"),
        ("earnings/pending", "get"),
        ("earnings/payouts", "get"),
        ("earnings/stats", "get"),
        ("earnings/monthly", "get"),
        ("top-supporters", "get"),
        ("top-supporters/{account_id}", "get"),
        ("top-supporters/{account_id}/monthly", "get"),
        ("lists", "get"),
        ("lists", "post"),
        ("lists/reorder", "post"),
        ("lists/{list_id}", "put"),
        ("lists/{list_id}", "delete"),
        ("lists/{list_id}/items", "get"),
        ("lists/{list_id}/items", "post"),
        ("lists/{list_id}/items", "delete"),
        ("lists/{list_id}/items/{item_id}", "delete"),
        ("tracking-links", "get"),
        ("tracking-links/{tracking_link_id}/stats", "get"),
        ("tracking-links/{tracking_link_id}", "put"),
        ("insights", "get"),
        ("analytics/summary", "get"),
    ] {
        let full = format!("/api/fansly/{{fanslyAccount}}/{path}");
        assert!(
            paths.get(&full).and_then(|p| p.get(method)).is_some(),
            "{method} {full}"
        );
    }
}

#[tokio::test]
async fn update_a_link_label_and_description() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let links = app
        .get_json(&format!("/api/fansly/{acct}/tracking-links"))
        .await;
    let id = links["data"][3]["id"].as_str().unwrap().to_owned();
    let put = |body: Value, id: String| {
        let app = &app;
        async move {
            app.put(&app.acct_path(&format!("tracking-links/{id}")), &body)
                .await
        }
    };
    let resp = put(
        json!({"label": " Instagram ", "description": "bio link"}),
        id.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            body["data"]["label"].as_str(),
            body["data"]["description"].as_str()
        ),
        (Some("Instagram"), Some("bio link"))
    );
    let after = app
        .get_json(&format!("/api/fansly/{acct}/tracking-links"))
        .await;
    assert_eq!(after["data"][3]["label"], "Instagram");
    assert_eq!(
        after["data"][3]["clicks"], links["data"][3]["clicks"],
        "counters untouched"
    );

    assert!(assert_error(put(json!({}), id.clone()).await, 422)
        .await
        .contains("label"));
    assert!(
        assert_error(put(json!({"label": " "}), id.clone()).await, 422)
            .await
            .starts_with("label")
    );
    assert_error(put(json!({"title": "x"}), id.clone()).await, 422).await;
    let nobody = "100000000000000001".to_owned();
    assert!(
        assert_error(put(json!({"label": "x"}), nobody.clone()).await, 404)
            .await
            .contains(&nobody)
    );
    assert!(
        assert_error(put(json!({"label": "x"}), "abc".into()).await, 422)
            .await
            .starts_with("tracking_link_id")
    );
}
