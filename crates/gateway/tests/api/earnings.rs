//! Earnings and top supporters: shapes against the vendor's examples, and
//! totals that must agree across endpoints.

use reqwest::Method;
use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{assert_error, assert_error_naming, assert_same_shape, spawn_app, TestApp};

/// A window covering the whole seeded history.
const EVER: &str = "after=2000-01-01T00:00:00Z";

async fn json(app: &TestApp, path: &str) -> Value {
    let resp = app.get(path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

fn rows(pages: &[Value], key: Option<&str>) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| {
            let data = key.map_or(&p["data"], |k| &p["data"][k]);
            data.as_array().unwrap().clone()
        })
        .collect()
}

fn sum(rows: &[Value], key: &str) -> i64 {
    rows.iter().map(|r| r[key].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn transactions_page_through_and_match_the_wallet_movement() {
    let app = spawn_app_rich().await;
    let acct = &app.team.account_id;

    let first = json(&app, &format!("/api/fansly/{acct}/earnings/transactions")).await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/earnings_transactions_200.json")).unwrap();
    assert_same_shape(&example["data"], &first["data"], "$.data");
    assert_eq!(
        first["data"]["data"].as_array().unwrap().len(),
        10,
        "default limit"
    );
    assert!(first["_pagination"]["next_page"]
        .as_str()
        .unwrap()
        .contains("offset=10"));

    let pages = app
        .all_pages(
            &format!("/api/fansly/{acct}/earnings/transactions?limit=100"),
            60,
        )
        .await;
    let txs = rows(&pages, Some("data"));
    let total = first["data"]["total"].as_u64().unwrap();
    assert!(total > 500, "a year of business");
    assert_eq!(txs.len() as u64, total);
    let ids: HashSet<&str> = txs
        .iter()
        .map(|t| t["transactionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), txs.len(), "each transaction once");
    assert!(txs
        .windows(2)
        .all(|w| w[0]["createdAt"].as_i64() >= w[1]["createdAt"].as_i64()));
    for t in &txs {
        assert!(t["transactionId"].is_string());
        assert_eq!(
            t["destinationTax"].as_i64().unwrap(),
            t["amount"].as_i64().unwrap() / 5
        );
    }

    let payouts = rows(
        &app.all_pages(&format!("/api/fansly/{acct}/earnings/payouts?limit=5"), 40)
            .await,
        Some("data"),
    );
    assert!(payouts.len() >= 6, "payouts through the year");
    let earned = sum(&txs, "amount") - sum(&txs, "destinationTax");
    let paid = sum(&payouts, "amount");

    let wallets = json(&app, &format!("/api/fansly/{acct}/earnings/wallets")).await;
    let earnings_wallet = wallets["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["type"] == 2)
        .expect("an earnings wallet");
    let available = earnings_wallet["balance"].as_i64().unwrap();
    let pending = json(&app, &format!("/api/fansly/{acct}/earnings/pending")).await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/earnings_pending_200.json")).unwrap();
    assert_same_shape(&example, &pending, "$");
    let pending = pending["data"]["pendingBalance"].as_i64().unwrap();
    assert!(pending > 0);
    assert_eq!(
        earned - paid,
        available + pending,
        "ledger = payouts + wallet + pending"
    );
    // The newest row's running balance is what the wallet holds now, unless a
    // payout came after it.
    let newest_payout = payouts[0]["createdAt"].as_i64().unwrap();
    if txs[0]["createdAt"].as_i64().unwrap() > newest_payout {
        assert_eq!(txs[0]["newBalance"].as_i64().unwrap(), available + pending);
    }
}

/// The default team has 1000 credits; paging a year of ledger needs no more,
/// but the cross-checks below page several views.
async fn spawn_app_rich() -> TestApp {
    let mut app = spawn_app().await;
    app.team = app.new_team(100_000, 0).await;
    app
}

/// Every row of the account's ledger, paged 100 at a time.
async fn ledger(app: &TestApp) -> Vec<Value> {
    let acct = &app.team.account_id;
    let path = format!("/api/fansly/{acct}/earnings/transactions?limit=100");
    rows(&app.all_pages(&path, 60).await, Some("data"))
}

#[tokio::test]
async fn stats_and_monthly_statements_agree_with_the_ledger() {
    let app = spawn_app_rich().await;
    let acct = &app.team.account_id;
    let txs = ledger(&app).await;
    let stats = json(&app, &format!("/api/fansly/{acct}/earnings/stats?{EVER}")).await;
    let types = stats["data"]["stats"].as_array().unwrap();
    assert_eq!(
        types.len(),
        4,
        "subscriptions, tips, media, bundles: {stats}"
    );
    assert_eq!(
        stats["data"]["totalGross"].as_i64().unwrap(),
        sum(&txs, "amount")
    );
    assert_eq!(sum(types, "totalGross"), sum(&txs, "amount"));
    for t in types {
        let kind = t["type"].as_i64().unwrap();
        let of_type: Vec<Value> = txs.iter().filter(|x| x["type"] == kind).cloned().collect();
        assert_eq!(
            t["totalGross"].as_i64().unwrap(),
            sum(&of_type, "amount"),
            "type {kind}"
        );
        assert_eq!(t["count"].as_u64().unwrap(), of_type.len() as u64);
    }

    let monthly = json(&app, &format!("/api/fansly/{acct}/earnings/monthly?{EVER}")).await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/earnings_monthly_200.json")).unwrap();
    assert_same_shape(&example, &monthly, "$");
    let rows = monthly["data"].as_array().unwrap();
    assert_eq!(
        (rows[0]["year"].as_i64(), rows[0]["month"].as_i64()),
        (Some(0), Some(0))
    );
    let months = &rows[1..];
    assert!(months.len() >= 12, "a year of months");
    assert_eq!(
        sum(months, "totalGross"),
        sum(&txs, "amount"),
        "months cover the ledger"
    );
    assert_eq!(
        sum(months, "totalNet"),
        sum(&txs, "amount") - sum(&txs, "destinationTax")
    );
    // The rolling 30-day row is the same as stats over the last 30 days.
    let recent = json(&app, &format!("/api/fansly/{acct}/earnings/stats")).await;
    let rolling = rows[0]["totalGross"].as_i64().unwrap();
    assert!(rolling > 0);
    assert_eq!(recent["data"]["totalGross"].as_i64().unwrap(), rolling);

    // Default window: the current year only.
    let this_year = json(&app, &format!("/api/fansly/{acct}/earnings/monthly")).await;
    let year = this_year["data"][1]["year"].as_i64().unwrap();
    assert!(this_year["data"].as_array().unwrap()[1..]
        .iter()
        .all(|m| m["year"].as_i64() == Some(year)));
}

#[tokio::test]
async fn date_windows_are_validated() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for path in [
        "earnings/stats",
        "earnings/monthly",
        "top-supporters",
        "top-supporters/598008934531334145",
        "top-supporters/598008934531334145/monthly",
    ] {
        let msg = assert_error(
            app.get(&format!("/api/fansly/{acct}/{path}?before=yesterday"))
                .await,
            422,
        )
        .await;
        assert!(
            msg.starts_with("before") && msg.contains("ISO 8601"),
            "{path}: {msg}"
        );
        let msg = assert_error(
            app.get(&format!("/api/fansly/{acct}/{path}?after=2026-13-01"))
                .await,
            422,
        )
        .await;
        assert!(msg.starts_with("after"), "{path}: {msg}");
        let msg = assert_error(
            app.get(&format!(
                "/api/fansly/{acct}/{path}?after=2026-02-01&before=2026-01-01T00:00:00Z"
            ))
            .await,
            422,
        )
        .await;
        assert!(
            msg.contains("after must not be later than before"),
            "{path}: {msg}"
        );
    }
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}

#[tokio::test]
async fn top_supporters_agree_with_per_fan_ledgers() {
    let app = spawn_app_rich().await;
    let acct = &app.team.account_id;
    let txs = ledger(&app).await;
    let ranking = rows(
        &app.all_pages(
            &format!("/api/fansly/{acct}/top-supporters?{EVER}&limit=50"),
            20,
        )
        .await,
        None,
    );
    assert!(ranking.len() > 50);
    for (i, r) in ranking.iter().enumerate() {
        assert_eq!(r["rank"].as_u64(), Some(i as u64 + 1));
        assert!(r["username"].as_str().unwrap().starts_with("fan"));
    }
    assert!(ranking
        .windows(2)
        .all(|w| w[0]["totalGross"].as_i64() >= w[1]["totalGross"].as_i64()));
    let fans: HashSet<&str> = ranking
        .iter()
        .map(|r| r["accountId"].as_str().unwrap())
        .collect();
    assert_eq!(fans.len(), ranking.len(), "each supporter once");
    assert_eq!(
        sum(&ranking, "totalGross"),
        sum(&txs, "amount"),
        "every sale belongs to a fan"
    );

    for r in ranking.iter().take(3).chain(ranking.last()) {
        let fan = r["accountId"].as_str().unwrap();
        let b = json(
            &app,
            &format!("/api/fansly/{acct}/top-supporters/{fan}?{EVER}"),
        )
        .await;
        assert_eq!(b["data"]["totalGross"], r["totalGross"], "fan {fan}");
        assert_eq!(b["data"]["totalNet"], r["totalNet"], "fan {fan}");
        let types = b["data"]["types"].as_array().unwrap();
        assert_eq!(sum(types, "totalGross"), r["totalGross"].as_i64().unwrap());
        let m = json(
            &app,
            &format!("/api/fansly/{acct}/top-supporters/{fan}/monthly?{EVER}"),
        )
        .await;
        let months = m["data"].as_array().unwrap();
        assert!(!months.is_empty());
        assert_eq!(sum(months, "totalGross"), r["totalGross"].as_i64().unwrap());
        assert_eq!(sum(months, "count"), sum(types, "count"));
    }

    let nobody = "100000000000000001";
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("/api/fansly/{acct}/top-supporters/{nobody}"),
            None,
            404,
            nobody,
        ),
        (
            Method::GET,
            format!("/api/fansly/{acct}/top-supporters/fan1/monthly"),
            None,
            422,
            "^account_id",
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_failing_fansly_is_a_refunded_502() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    app.inject(serde_json::json!({
        "path": "/api/v1/account/wallets/earnings/accounts",
        "status": 500,
        "times": 5
    }))
    .await;
    assert_error_naming(
        app.get(&format!("/api/fansly/{acct}/top-supporters")).await,
        502,
        "500",
    )
    .await;
    app.inject(serde_json::json!({"path": "/api/v1/account/wallets/earnings", "status": 429, "retry_after": "30"}))
        .await;
    let resp = app
        .get(&format!("/api/fansly/{acct}/earnings/pending"))
        .await;
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_error(resp, 429).await;
    assert_eq!(
        app.balance(&app.team.id).await,
        1_000,
        "failed calls are not charged"
    );
}
