//! Get Insights: ranges map to windows and bucket sizes.

use reqwest::Method;
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
        let body = app
            .get_ok(&format!("/api/fansly/{acct}/insights{query}"))
            .await;
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
    let feb = app
        .get_json(&format!(
            "/api/fansly/{acct}/insights?range=month&month=2026-02"
        ))
        .await;
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

#[tokio::test]
async fn analytics_summary_compares_with_the_previous_period_and_the_ledger() {
    let mut app = spawn_app().await;
    app.team = app.new_team(10_000, 0).await;
    let acct = &app.team.account_id;
    let get = |q: String| {
        let path = app.acct_path(&format!("analytics/summary{q}"));
        let app = &app;
        async move { app.get_ok(&path).await["data"].clone() }
    };
    // Default: the last 30 days up to today, rounded to UTC midnights.
    let recent = get(String::new()).await;
    let (a, b) = (
        recent["afterBucket"].as_i64().unwrap(),
        recent["beforeBucket"].as_i64().unwrap(),
    );
    assert_eq!((a % 86_400_000, b - a), (0, 29 * 86_400_000));
    assert_eq!(
        recent["previousBeforeBucket"].as_i64().unwrap(),
        a - 86_400_000
    );
    assert_eq!(
        recent["previousAfterBucket"].as_i64().unwrap(),
        a - 30 * 86_400_000
    );
    // `previous` is the same summary asked for the previous window directly.
    let iso = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let prev = get(format!(
        "?after={}&before={}",
        iso(recent["previousAfterBucket"].as_i64().unwrap()),
        iso(recent["previousBeforeBucket"].as_i64().unwrap() + 3_600_000)
    ))
    .await;
    for key in ["payingFans", "newFollowers", "grossMills", "netMills"] {
        assert_eq!(recent[key]["previous"], prev[key]["value"], "{key}");
        let (v, p) = (
            recent[key]["value"].as_i64().unwrap(),
            recent[key]["previous"].as_i64().unwrap(),
        );
        assert_eq!(recent[key]["delta"].as_i64().unwrap(), v - p, "{key}");
    }
    assert!(recent["grossMills"]["value"].as_i64().unwrap() > 0);

    // Over the whole history the summary agrees with the other endpoints.
    let ever = get("?after=2000-01-01".into()).await;
    let stats = app
        .get_json(&format!(
            "/api/fansly/{acct}/earnings/stats?after=2000-01-01"
        ))
        .await;
    assert_eq!(ever["grossMills"]["value"], stats["data"]["totalGross"]);
    assert_eq!(ever["netMills"]["value"], stats["data"]["totalNet"]);
    let followers = app
        .all_pages(&format!("/api/fansly/{acct}/followers?limit=100"), 10)
        .await
        .iter()
        .map(|p| p["data"]["followers"].as_array().unwrap().len())
        .sum::<usize>();
    assert_eq!(
        ever["newFollowers"]["value"].as_u64().unwrap(),
        followers as u64
    );
    let supporters = app
        .all_pages(
            &format!("/api/fansly/{acct}/top-supporters?after=2000-01-01&limit=100"),
            10,
        )
        .await
        .iter()
        .map(|p| p["data"].as_array().unwrap().len())
        .sum::<usize>();
    assert_eq!(
        ever["payingFans"]["value"].as_u64().unwrap(),
        supporters as u64
    );

    app.assert_refusals(vec![
        (
            Method::GET,
            format!("/api/fansly/{acct}/analytics/summary?before=soon"),
            None,
            422,
            "^before",
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/analytics/summary?after=2026-03-01&before=2026-02-01"),
            None,
            422,
            "after",
        ),
    ])
    .await;
}

#[tokio::test]
async fn stats_ask_by_year_and_month_and_say_when_fansly_served_another_window() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    app.clear_upstream_requests().await;
    for query in ["?range=month&month=2026-02", "?range=last_24h"] {
        let body = app
            .get_json(&format!("/api/fansly/{acct}/insights{query}"))
            .await;
        assert!(body["_meta"].get("_upstream_window").is_none(), "{body}");
    }
    let asks = app.upstream_queries("/api/v1/it/amoie/stats").await;
    assert!(
        asks[0].contains("year=2026") && asks[0].contains("month=2"),
        "{}",
        asks[0]
    );
    assert!(
        asks[1].contains("year=0") && asks[1].contains("month=0"),
        "{}",
        asks[1]
    );

    // Like Fansly, the sandbox serves at most the last 31 days when asked more.
    let connected = app
        .state
        .sessions
        .connected(&app.team.id, acct)
        .await
        .unwrap();
    let now = fansly_gateway::core::time::now_ms();
    let asked = fansly_upstream::Window {
        after_ms: now - 100 * 86_400_000,
        before_ms: now - 50 * 86_400_000,
    };
    let answer = app
        .state
        .fansly
        .account_stats(&connected.session, asked, 86_400_000)
        .await
        .unwrap();
    let ds = &answer["dataset"];
    let served = ds["dateBefore"].as_i64().unwrap() - ds["dateAfter"].as_i64().unwrap();
    assert_eq!(served, fansly_upstream::STATS_MAX_WINDOW_MS);
    assert!(ds["dateBefore"].as_i64().unwrap() >= now);
    assert!(fansly_upstream::stats_window_mismatch(asked, &answer).is_some());

    // When Fansly answers another window, the gateway says so in `_meta`.
    app.inject(serde_json::json!({
        "path": "/api/v1/it/amoie/stats", "status": 200,
        "body": {"success": true, "response": {"dataset": {
            "period": 86_400_000, "dateBefore": 2_000_000_000_000_i64,
            "dateAfter": 1_997_321_600_000_i64, "datapointLimit": 100, "datapoints": []
        }}}
    }))
    .await;
    let body = app
        .get_json(&format!(
            "/api/fansly/{acct}/insights?range=month&month=2026-02"
        ))
        .await;
    let w = &body["_meta"]["_upstream_window"];
    assert_eq!(w["askedAfter"], 1_769_904_000_000_i64, "{body}");
    assert_eq!(w["servedAfter"], 1_997_321_600_000_i64, "{body}");
}
