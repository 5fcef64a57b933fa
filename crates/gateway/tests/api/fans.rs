//! Followers, following, subscribers, tiers and mutes against the sandbox's
//! seeded business.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_error, assert_same_shape, spawn_app, strs, TestApp};

fn ids<'a>(pages: &'a [Value], list: &str, key: &str) -> Vec<&'a str> {
    pages
        .iter()
        .flat_map(|p| p["data"][list].as_array().unwrap())
        .map(|row| row[key].as_str().unwrap())
        .collect()
}

fn assert_unique(items: &[&str], what: &str) {
    let set: HashSet<&&str> = items.iter().collect();
    assert_eq!(set.len(), items.len(), "{what}: an item came twice");
}

#[tokio::test]
async fn followers_page_through_each_follower_once() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let pages = app
        .all_pages(&format!("/api/fansly/{acct}/followers?limit=37"), 20)
        .await;
    let followers = ids(&pages, "followers", "followerId");
    assert!(
        followers.len() > 100,
        "the seeded creator has hundreds of followers"
    );
    assert_unique(&followers, "followers");
    for page in &pages {
        let accounts: HashSet<&str> = strs(&page["data"]["aggregationData"]["accounts"], "id")
            .into_iter()
            .collect();
        for f in page["data"]["followers"].as_array().unwrap() {
            assert!(accounts.contains(f["followerId"].as_str().unwrap()));
        }
    }
    // The default page is 20; next_page keeps the other parameters.
    let body = app
        .get_json(&format!("/api/fansly/{acct}/followers?search=fan1"))
        .await;
    let found = body["data"]["aggregationData"]["accounts"]
        .as_array()
        .unwrap();
    assert!(!found.is_empty() && found.len() <= 20);
    assert!(found
        .iter()
        .all(|a| a["username"].as_str().unwrap().contains("fan1")));
}

#[tokio::test]
async fn paged_endpoints_refuse_bad_limits_and_offsets() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for path in [
        "followers",
        "following",
        "subscribers",
        "earnings/transactions",
    ] {
        for (query, param) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("offset=-1", "offset"),
        ] {
            let msg = assert_error(
                app.get(&format!("/api/fansly/{acct}/{path}?{query}")).await,
                422,
            )
            .await;
            assert!(msg.starts_with(param), "{path}?{query}: {msg}");
        }
        assert_error(
            app.get(&format!("/api/fansly/fansly_acct_nope/{path}"))
                .await,
            404,
        )
        .await;
    }
    // Nothing reached Fansly, nothing was charged.
    assert_eq!(app.balance(&app.team.id).await, 1_000);
}

async fn subscriber_ids(app: &TestApp, query: &str) -> Vec<String> {
    let pages = app
        .all_pages(&app.acct_path(&format!("subscribers?limit=45&{query}")), 20)
        .await;
    ids(&pages, "subscriptions", "id")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn subscriber_counts_agree_with_stats_and_tiers() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let first = app
        .get_json(&format!("/api/fansly/{acct}/subscribers"))
        .await;
    let stats = &first["data"]["stats"];
    let (active, expired, total) = (
        stats["totalActive"].as_u64().unwrap(),
        stats["totalExpired"].as_u64().unwrap(),
        stats["total"].as_u64().unwrap(),
    );
    assert!(
        active > 10 && expired > 10,
        "renewals and expiries are seeded: {stats}"
    );
    assert_eq!(active + expired, total);
    assert_eq!(first["data"]["subscriptions"].as_array().unwrap().len(), 20);
    assert!(first["data"]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == 3));

    let all = subscriber_ids(&app, "status=all").await;
    let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
    assert_unique(&all_refs, "subscribers");
    assert_eq!(all.len() as u64, total);
    assert_eq!(
        subscriber_ids(&app, "status=active").await.len() as u64,
        active
    );
    assert_eq!(
        subscriber_ids(&app, "status=EXPIRED").await.len() as u64,
        expired
    );

    let tiers = app
        .get_json(&format!("/api/fansly/{acct}/subscription-tiers"))
        .await;
    let mut per_tier = 0;
    for tier in tiers["data"].as_array().unwrap() {
        let id = tier["id"].as_str().unwrap();
        per_tier += subscriber_ids(&app, &format!("subscription_tier_id={id}"))
            .await
            .len() as u64;
    }
    assert_eq!(per_tier, active, "active subscribers per tier add up");
}

#[tokio::test]
async fn subscription_tiers_match_the_vendor_example() {
    let app = spawn_app().await;
    let body = app.get_ok(&app.acct_path("subscription-tiers")).await;
    let example: Value =
        serde_json::from_str(include_str!("fixtures/subscription_tiers_200.json")).unwrap();
    assert_same_shape(&example, &body, "$");
    assert_eq!(body["data"][0]["accountId"], body["data"][1]["accountId"]);
    assert_eq!(body["data"][1]["includedTierIds"][0], body["data"][0]["id"]);
}

#[tokio::test]
async fn subscriber_filters_are_validated() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let msg = assert_error(
        app.get(&format!("/api/fansly/{acct}/subscribers?status=gone"))
            .await,
        422,
    )
    .await;
    assert!(msg.contains("status") && msg.contains("active"), "{msg}");
    let msg = assert_error(
        app.get(&format!(
            "/api/fansly/{acct}/subscribers?subscription_tier_id=tier1"
        ))
        .await,
        422,
    )
    .await;
    assert!(msg.starts_with("subscription_tier_id"), "{msg}");
}

#[tokio::test]
async fn following_lists_account_ids() {
    let app = spawn_app().await;
    let pages = app.all_pages(&app.acct_path("following?limit=4"), 10).await;
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap())
        .map(|r| r["accountId"].as_str().unwrap())
        .collect();
    let creators = app.sandbox_get("/_sandbox/creators").await;
    let peers = creators.as_array().unwrap().len() - 1;
    assert_eq!(ids.len(), 8 + peers, "eight fans and the other creators");
    assert_unique(&ids, "following");
}

#[tokio::test]
async fn mute_and_unmute_a_user() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let fan = app.fan_id(7).await;
    app.clear_upstream_requests().await;
    for (method, flags) in [(Method::POST, 1), (Method::DELETE, 0)] {
        let resp = app
            .request(
                method.clone(),
                &format!("/api/fansly/{acct}/users/{fan}/mute"),
                Some(&app.team.key),
                None,
            )
            .await;
        assert_eq!(resp.status(), 200, "{method}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["ignoreFlags"], flags);
        assert_eq!(body["data"]["ignoredId"], fan.as_str());
    }
    let sent: Vec<_> = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.path == "/api/v1/account/ignore")
        .collect();
    assert_eq!(sent.len(), 2);

    let nobody = "100000000000000001";
    app.assert_refusals(vec![
        (
            Method::DELETE,
            format!("/api/fansly/{acct}/users/{nobody}/mute"),
            None,
            404,
            nobody,
        ),
        (
            Method::DELETE,
            format!("/api/fansly/{acct}/users/fan7/mute"),
            None,
            422,
            "^account_id",
        ),
    ])
    .await;
}

#[tokio::test]
async fn fansly_is_asked_as_the_web_app_asks() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    app.clear_upstream_requests().await;
    for path in [
        "subscribers?status=expired&limit=5&offset=10",
        "subscribers?status=all",
        "earnings/transactions?limit=3",
        "earnings/payouts",
        "following",
    ] {
        assert_eq!(
            app.get(&format!("/api/fansly/{acct}/{path}"))
                .await
                .status(),
            200,
            "{path}"
        );
    }
    let seen: Vec<(String, String)> = app
        .upstream_requests()
        .await
        .into_iter()
        .map(|r| (r.path, r.query.unwrap_or_default()))
        .collect();
    let want = [
        (
            "/api/v1/subscribers",
            "status=5&limit=5&offset=10&ngsw-bypass=true",
        ),
        ("/api/v1/subscribers", "limit=20&offset=0&ngsw-bypass=true"),
        (
            "/api/v1/account/wallets/earnings/transactions",
            "limit=3&offset=0&ngsw-bypass=true",
        ),
        (
            "/api/v1/payments/payout/requests",
            "before=&after=&limit=10&offset=0&ngsw-bypass=true",
        ),
    ];
    for (path, query) in want {
        assert!(
            seen.iter().any(|(p, q)| p == path && q == query),
            "{path}?{query} not in {seen:?}"
        );
    }
    // Following has no total: one row more than the 20 asked tells whether
    // the page is the last.
    assert!(seen.iter().any(|(p, q)| p.ends_with("/following")
        && q == "before=0&after=0&limit=21&offset=0&ngsw-bypass=true"));
}

#[tokio::test]
async fn followers_seen_recently_are_a_filter_of_each_page() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(15);
    let since_ms = (since.unix_timestamp_nanos() / 1_000_000) as i64;
    let since = since
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let all = app
        .all_pages(&format!("/api/fansly/{acct}/followers?limit=50"), 20)
        .await;
    let expected: HashSet<String> = all
        .iter()
        .flat_map(|p| {
            p["data"]["aggregationData"]["accounts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .filter(|a| a["lastSeenAt"].as_i64().unwrap() >= since_ms)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let online = app
        .all_pages(
            &format!("/api/fansly/{acct}/followers?limit=50&last_seen_after={since}"),
            20,
        )
        .await;
    assert_eq!(online.len(), all.len(), "the same pages, filtered");
    let got: Vec<&str> = ids(&online, "followers", "followerId");
    assert_unique(&got, "online followers");
    let got: HashSet<String> = got.into_iter().map(str::to_owned).collect();
    let followers: usize = all
        .iter()
        .map(|p| p["data"]["followers"].as_array().unwrap().len())
        .sum();
    assert!(
        !got.is_empty() && got.len() < followers,
        "{} of {followers}",
        got.len()
    );
    assert_eq!(got, expected);
    let msg = assert_error(
        app.get(&format!("/api/fansly/{acct}/followers?last_seen_after=now"))
            .await,
        422,
    )
    .await;
    assert!(msg.starts_with("last_seen_after"), "{msg}");
}
