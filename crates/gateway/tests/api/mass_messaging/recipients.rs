//! Who receives a broadcast and what: tier subscribers and named fans
//! minus exclusions, media granted per recipient, a Fansly broadcast
//! group's lists and tier, retried failures and refused recipients.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    accepted, app, bulk_fans, delivered, list_of, per_recipient, run_until_ended, send, show,
};
use crate::helpers::{assert_error_naming, parked, spawn_app_with, TestApp};
use crate::media::{png, upload_file};

/// The id of the creator's `n`th subscription tier and the ids of its
/// subscribers, every page of them.
async fn tier_subscribers(app: &TestApp, n: usize) -> (String, BTreeSet<String>) {
    let tiers = app.get_ok(&app.acct_path("subscription-tiers")).await;
    let tier = tiers["data"][n]["id"].as_str().unwrap().to_owned();
    let path = app.acct_path(&format!(
        "subscribers?subscription_tier_id={tier}&limit=100"
    ));
    let mut subscribers = BTreeSet::new();
    for page in app.all_pages(&path, 20).await {
        for s in page["data"]["subscriptions"].as_array().unwrap() {
            subscribers.insert(s["subscriberId"].as_str().unwrap().to_owned());
        }
    }
    (tier, subscribers)
}

#[tokio::test]
async fn an_immediate_broadcast_reaches_tier_subscribers_and_named_fans_once_minus_exclusions() {
    let app = app().await;
    let (tier, subscribers) = tier_subscribers(&app, 0).await;
    assert!(subscribers.len() > 3, "the seeded tier has subscribers");
    let excluded = subscribers.iter().next().unwrap().clone();
    let exclusion = list_of(&app, "Not this one", std::slice::from_ref(&excluded)).await;
    let fan1 = app.fan_id(1).await;
    let also_subscriber = subscribers.iter().nth(1).unwrap().clone();
    let b = accepted(
        &app,
        json!({
            "text": "Tier news",
            "tierIds": [tier],
            "userIds": [fan1, also_subscriber],
            "excludeListIds": [exclusion],
        }),
    )
    .await;
    let id = b["id"].as_str().unwrap();
    assert!(b["scheduledFor"].is_null());
    let done = run_until_ended(&app, id).await;
    let mut expected = subscribers.clone();
    expected.insert(fan1.clone());
    expected.remove(&excluded);
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(done["total"], expected.len());
    assert_eq!(done["sent"], expected.len());
    let messages = delivered(&app, "Tier news").await;
    let counts = per_recipient(&messages);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert!(!counts.contains_key(&excluded));
    assert!(done["failedRecipients"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn media_is_granted_per_recipient_with_price_previews_and_default_gating() {
    let app = app().await;
    let team = app.team.clone();
    let mut handles = Vec::new();
    let mut vault = Vec::new();
    for _ in 0..3 {
        let (status, body) = upload_file(&app, &team, png(32, 32, 1_500), "p.png", false).await;
        assert_eq!(status, 200, "{body}");
        handles.push(body["prefixed_id"].as_str().unwrap().to_owned());
        vault.push(body["media_id"].as_str().unwrap().to_owned());
    }
    let (fan1, fan2) = (app.fan_id(1).await, app.fan_id(2).await);
    let b = accepted(
        &app,
        json!({
            "text": "Unlock me",
            "mediaFiles": [handles[0], handles[1]],
            "previews": {handles[0].clone(): handles[2]},
            "requirePurchase": true,
            "price": 5000,
            "userIds": [fan1, fan2],
        }),
    )
    .await;
    let done = run_until_ended(&app, b["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "sent", "{done}");
    let messages = delivered(&app, "Unlock me").await;
    assert_eq!(messages.len(), 2);
    // Two files are one bundle per recipient, gated as a whole, with the
    // items in order and each item's preview kept.
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/media/bundle")
            .await,
        2,
        "one bundle per recipient"
    );
    for m in &messages {
        let fan = m["recipientId"].as_str().unwrap();
        let att = m["attachments"].as_array().unwrap();
        assert_eq!(att.len(), 1, "{m}");
        let bundle = &att[0];
        assert_eq!(bundle["contentType"], 2, "{m}");
        assert!(bundle["whitelist"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == fan));
        assert_eq!(bundle["gates"][0]["flags"], 3, "{bundle}");
        assert_eq!(bundle["gates"][0]["price"], 5000);
        let items = bundle["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{m}");
        assert_eq!(items[0]["mediaId"], vault[0]);
        assert_eq!(items[1]["mediaId"], vault[1]);
        assert_eq!(items[0]["previewId"], vault[2]);
        assert!(items[1]["previewId"].is_null());
        for item in items {
            assert!(item["whitelist"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w == fan));
        }
    }

    // Media sent without a gate is for subscribers (the vendor's default).
    let b = accepted(
        &app,
        json!({"text": "Subscribers see this", "mediaFiles": [handles[0]], "userIds": [fan1]}),
    )
    .await;
    let done = run_until_ended(&app, b["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "sent", "{done}");
    let messages = delivered(&app, "Subscribers see this").await;
    // One file stays a plain accountMedia attachment.
    assert_eq!(messages[0]["attachments"][0]["contentType"], 1);
    assert_eq!(messages[0]["attachments"][0]["gates"][0]["flags"], 2);
}

#[tokio::test]
async fn a_fansly_broadcast_group_supplies_its_lists_and_tier() {
    let app = app().await;
    let fans = bulk_fans(&app, "groupfan", 6).await;
    let included = list_of(&app, "Group include", &fans).await;
    let excluded = list_of(&app, "Group exclude", &fans[..2]).await;
    let (tier, mut expected) = tier_subscribers(&app, 1).await;
    expected.extend(fans[2..].iter().cloned());
    let resp = app
        .sandbox_post(
            "/_sandbox/broadcast-groups",
            json!({"includeLists": [included], "excludeLists": [excluded], "tierId": tier}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let group = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b = accepted(&app, json!({"groupId": group, "text": "Via the group"})).await;
    assert_eq!(b["groupId"], group.as_str());
    assert_eq!(b["listIds"], json!([included]));
    assert_eq!(b["excludeListIds"], json!([excluded]));
    assert_eq!(b["tierIds"], json!([tier]));
    let done = run_until_ended(&app, b["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "sent", "{done}");
    let counts = per_recipient(&delivered(&app, "Via the group").await);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1));

    // A DM is not an audience group.
    let chat: Value = app.create_chat(&fans[0]).await.json().await.unwrap();
    let dm = chat["data"]["id"].as_str().unwrap();
    assert_error_naming(
        send(&app, json!({"groupId": dm, "text": "x"})).await,
        422,
        "not a broadcast audience group",
    )
    .await;
    // An empty group with no other audience names nobody.
    let resp = app
        .sandbox_post("/_sandbox/broadcast-groups", json!({}))
        .await;
    let empty = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error_naming(
        send(&app, json!({"groupId": empty, "text": "x"})).await,
        422,
        "audience is empty",
    )
    .await;
}

#[tokio::test]
async fn passing_failures_are_retried_and_a_refused_recipient_is_recorded_as_failed() {
    // Retries wait long enough that the fresh recipients (served in fan id
    // order) come first, so the refusal meets a fresh recipient: with 50 ms
    // a slower database (PostgreSQL) let the first retry come due first.
    let app = spawn_app_with(|c| {
        parked(c);
        c.broadcasts.retry_base_ms = 1_000;
    })
    .await;
    let fans = bulk_fans(&app, "flakyfan", 5).await;
    // The first two sends meet a Fansly outage, the third a refusal.
    app.inject(json!({"method": "POST", "path": "/api/v1/message", "status": 503, "times": 2}))
        .await;
    app.inject(json!({"method": "POST", "path": "/api/v1/message", "status": 400, "times": 1}))
        .await;
    app.clear_upstream_requests().await;
    let b = accepted(&app, json!({"text": "Despite it all", "userIds": fans})).await;
    let id = b["id"].as_str().unwrap();
    // The fresh recipients first; the two that met the outage wait a second.
    assert_eq!(app.run_pending_broadcasts().await, 1);
    let mid = show(&app, id).await;
    assert_eq!(mid["state"], "sending", "{mid}");
    assert_eq!(
        (mid["sent"].clone(), mid["failed"].clone()),
        (json!(2), json!(1))
    );
    app.run_pending_broadcasts().await;
    assert_eq!(show(&app, id).await["sent"], 2, "nothing due yet");
    assert_eq!(
        app.run_pending_broadcasts_ahead(Duration::from_millis(1_100))
            .await,
        1
    );
    let done = show(&app, id).await;
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(
        (
            done["total"].clone(),
            done["sent"].clone(),
            done["failed"].clone()
        ),
        (json!(5), json!(4), json!(1))
    );
    let failures = done["failedRecipients"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{done}");
    assert!(
        failures[0]["error"].as_str().unwrap().contains("400"),
        "{failures:?}"
    );
    assert_eq!(failures[0]["attempts"], 1);
    let counts = per_recipient(&delivered(&app, "Despite it all").await);
    assert_eq!(counts.len(), 4);
    assert!(counts.values().all(|n| *n == 1));
    assert!(!counts.contains_key(failures[0]["userId"].as_str().unwrap()));
    // Two outages, one refusal, four deliveries: seven sends in all.
    assert_eq!(app.upstream_count("POST", "/api/v1/message").await, 7);
}
