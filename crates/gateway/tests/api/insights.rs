//! Get Insights: ranges map to windows and bucket sizes.

use serde_json::Value;

use crate::helpers::{assert_error, assert_same_shape, spawn_app};

#[tokio::test]
async fn ranges_choose_window_and_bucket() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let example: Value = serde_json::from_str(include_str!("fixtures/insights_200.json")).unwrap();
    for (query, period, points) in [
        ("", 86_400_000, 30),
        ("?range=last_hour", 300_000, 12),
        ("?range=last_24h", 3_600_000, 24),
        ("?range=LAST_7_DAYS", 21_600_000, 28),
        ("?range=month&month=2026-02", 86_400_000, 28),
    ] {
        let resp = app
            .get(&format!("/api/fansly/{acct}/insights{query}"))
            .await;
        assert_eq!(resp.status(), 200, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_same_shape(&example, &body, "$");
        let ds = &body["data"]["dataset"];
        assert_eq!(ds["period"], period, "{query}");
        let dp = ds["datapoints"].as_array().unwrap();
        assert_eq!(dp.len(), points, "{query}");
        let (after, before) = (
            ds["dateAfter"].as_i64().unwrap(),
            ds["dateBefore"].as_i64().unwrap(),
        );
        assert_eq!(before - after, period * points as i64, "{query}");
        assert_eq!(before % period, 0, "whole buckets: {query}");
    }
    let feb: Value = app
        .get(&format!(
            "/api/fansly/{acct}/insights?range=month&month=2026-02"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        feb["data"]["dataset"]["dateAfter"], 1_769_904_000_000_i64,
        "2026-02-01T00:00Z"
    );
}

#[tokio::test]
async fn bad_ranges_and_months_are_422() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for (query, param) in [
        ("range=last_year", "range"),
        ("range=month", "month"),
        ("range=month&month=2026-13", "month"),
        ("range=month&month=26-01", "month"),
        ("range=month&month=May", "month"),
    ] {
        let msg = assert_error(
            app.get(&format!("/api/fansly/{acct}/insights?{query}"))
                .await,
            422,
        )
        .await;
        assert!(msg.starts_with(param), "{query}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}
