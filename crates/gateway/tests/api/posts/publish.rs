//! Publishing and listing posts: media with gating, walls, paging by cursor,
//! schedule and expiry, and the 4xx for every bad publish input.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    assert_nothing_written_upstream, gates_of, handle, list, now_ms, post_ids, publish, send,
};
use crate::helpers::{assert_error, parked, spawn_app, spawn_app_with};
use crate::walls::create_wall;

#[tokio::test]
async fn gated_posts_with_media_are_listed_with_their_gating() {
    let app = spawn_app().await;
    let (h1, h2) = (handle(&app, &app.team).await, handle(&app, &app.team).await);
    let balance = app.balance(&app.team.id).await;

    let paid = publish(
        &app,
        json!({"text": "New set #bts", "mediaFiles": [h1], "requirePurchase": true, "price": 5000}),
    )
    .await;
    assert_eq!(paid["_meta"]["_credits"]["used"], 1);
    assert_eq!(app.balance(&app.team.id).await, balance - 1);
    let paid_id = paid["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(paid["data"]["content"], "New set #bts");
    let subs = publish(
        &app,
        json!({"text": "For subscribers", "mediaFiles": [h2], "requireSubscription": true}),
    )
    .await;
    let subs_id = subs["data"]["id"].as_str().unwrap().to_owned();
    let free = publish(&app, json!({"text": "Just text"})).await;
    let free_id = free["data"]["id"].as_str().unwrap().to_owned();

    let page = list(&app, "").await;
    assert_eq!(
        post_ids(&page),
        [free_id.as_str(), subs_id.as_str(), paid_id.as_str()]
    );
    assert!(page["_pagination"]["next_page"].is_null(), "{page}");

    let paid_gates = gates_of(&page, &paid_id);
    assert_eq!(paid_gates.len(), 1, "{paid_gates:?}");
    assert_eq!(paid_gates[0]["flags"], 1);
    assert_eq!(paid_gates[0]["price"], 5000);
    // Fansly's double-encoded price metadata.
    let outer: Value = serde_json::from_str(paid_gates[0]["metadata"].as_str().unwrap()).unwrap();
    let inner: Value = serde_json::from_str(outer["1"].as_str().unwrap()).unwrap();
    assert_eq!(inner["price"], 5000);
    let subs_gates = gates_of(&page, &subs_id);
    assert_eq!(subs_gates.len(), 1);
    assert_eq!(subs_gates[0]["flags"], 2);

    // Published on the main wall by default; the text post has no media.
    let walls = app.get_json(&app.acct_path("walls")).await;
    let main = walls["data"][0]["id"].clone();
    for p in page["data"]["posts"].as_array().unwrap() {
        assert_eq!(p["wallIds"], json!([main]), "{p}");
    }
    let text_post = &page["data"]["posts"][0];
    assert_eq!(text_post["attachments"], json!([]));
    // Posts grant media with top-level flags 0 (DMs use 8; §8.3).
    for m in page["data"]["accountMedia"].as_array().unwrap() {
        assert_eq!(m["permissionFlags"], 0, "{m}");
    }
}

#[tokio::test]
async fn a_post_on_a_new_wall_is_listed_on_that_wall_only() {
    let app = spawn_app().await;
    let wall: Value = create_wall(&app, json!({"name": "BTS"}))
        .await
        .json()
        .await
        .unwrap();
    let wall_id = wall["data"]["id"].as_str().unwrap().to_owned();
    let on_wall = publish(&app, json!({"text": "only here", "wallIds": [wall_id]})).await;
    let on_wall_id = on_wall["data"]["id"].as_str().unwrap().to_owned();
    let on_main = publish(&app, json!({"text": "main"})).await;
    let on_main_id = on_main["data"]["id"].as_str().unwrap().to_owned();

    let page = list(&app, &format!("?wall_id={wall_id}")).await;
    assert_eq!(post_ids(&page), [on_wall_id.as_str()]);
    assert_eq!(page["data"]["posts"][0]["wallIds"], json!([wall_id]));
    let everything = list(&app, "").await;
    assert_eq!(
        post_ids(&everything),
        [on_main_id.as_str(), on_wall_id.as_str()]
    );
    let searched = list(&app, "?search=ONLY").await;
    assert_eq!(post_ids(&searched), [on_wall_id.as_str()]);
}

#[tokio::test]
async fn posts_page_through_without_gap_or_duplicate() {
    // Parked: the gap fill's sweep reads the same timeline when its loop
    // comes round (2 s after the connect), which a slow run reaches.
    let app = spawn_app_with(parked).await;
    let mut published = Vec::new();
    for n in 0..35 {
        let p = publish(&app, json!({"text": format!("post {n}")})).await;
        published.push(p["data"]["id"].as_str().unwrap().to_owned());
    }
    published.reverse();
    let pages = app.all_pages(&app.acct_path("posts"), 10).await;
    let sizes: Vec<usize> = pages.iter().map(|p| post_ids(p).len()).collect();
    assert_eq!(sizes, [15, 15, 5]);
    let seen: Vec<String> = pages.iter().flat_map(post_ids).collect();
    assert_eq!(seen, published, "newest first, each once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 35);
    // The cursor is Fansly's: the oldest post of the previous page.
    let timeline: Vec<String> = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/timelinenew/"))
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert!(timeline[0].contains("before=0"), "{timeline:?}");
    assert!(
        timeline[1].contains(&format!("before={}", published[14])),
        "{timeline:?}"
    );
}

#[tokio::test]
async fn scheduled_posts_wait_and_expiring_posts_go() {
    let app = spawn_app().await;
    let at = now_ms() + 3_600_000;
    let scheduled = publish(&app, json!({"text": "later", "scheduledFor": at})).await;
    assert!(scheduled["data"]["postId"].is_string(), "{scheduled}");
    assert_eq!(scheduled["data"]["scheduledFor"], at);
    let expiring = publish(
        &app,
        json!({"text": "soon gone", "expiresAt": now_ms() + 1_500}),
    )
    .await;
    let id = expiring["data"]["id"].as_str().unwrap().to_owned();
    assert!(expiring["data"]["expiresAt"].as_i64().unwrap() > now_ms());
    assert_eq!(post_ids(&list(&app, "").await), [id.as_str()]);
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert!(post_ids(&list(&app, "").await).is_empty());
}

#[tokio::test]
async fn bad_post_inputs_are_refused_before_fansly_or_billing() {
    let app = spawn_app().await;
    let mine = handle(&app, &app.team).await;
    let other = app.new_team(100, 1).await;
    let foreign = handle(&app, &other).await;
    let balance = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    let past = now_ms() - 60_000;
    for (body, status, field) in [
        (json!({}), 422, "text"),
        (json!({"text": "  "}), 422, "text"),
        (
            json!({"text": "x", "mediaFiles": [mine], "requirePurchase": true, "price": 500}),
            422,
            "price",
        ),
        (
            json!({"text": "x", "mediaFiles": [mine], "requirePurchase": true, "price": 900_000}),
            422,
            "price",
        ),
        (
            json!({"text": "x", "mediaFiles": [mine], "requirePurchase": true}),
            422,
            "price",
        ),
        (
            json!({"text": "x", "mediaFiles": [mine], "price": 5000}),
            422,
            "price",
        ),
        (
            json!({"text": "x", "requireSubscription": true}),
            422,
            "mediaFiles",
        ),
        (
            json!({"text": "x", "scheduledFor": past}),
            422,
            "scheduledFor",
        ),
        (json!({"text": "x", "expiresAt": past}), 422, "expiresAt"),
        (
            json!({"text": "x", "scheduledFor": now_ms() + 60_000, "expiresAt": now_ms() + 30_000}),
            422,
            "expiresAt",
        ),
        (json!({"text": "x", "wallIds": ["abc"]}), 422, "wallIds"),
        (
            json!({"text": "x", "wallIds": ["123456789012345678"]}),
            404,
            "wallIds",
        ),
        (
            json!({"text": "x", "mediaFiles": ["vault_1"]}),
            422,
            "mediaFiles",
        ),
        (
            json!({"text": "x", "mediaFiles": [foreign]}),
            404,
            "mediaFiles",
        ),
        (json!({"text": "x", "price": "5"}), 422, "price"),
        (
            json!({"text": "x", "mediaFiles": [mine], "previews": {"fansly_media_01HZZZZZZZZZZZZZZZZZZZZZZZ": mine}}),
            422,
            "previews",
        ),
        (
            json!({"text": "x", "mediaFiles": [mine], "previews": {mine.clone(): "abc"}}),
            422,
            "previews",
        ),
        (
            json!({"text": "x", "mediaFiles": [mine], "previews": {mine.clone(): foreign}}),
            404,
            "previews",
        ),
        (
            json!({"text": "x", "wallIds": ["123456789012345678"], "pinWallIds": ["123456789012345679"]}),
            422,
            "pinWallIds",
        ),
        (
            json!({"text": "x", "pinWallIds": ["123456789012345679"]}),
            422,
            "pinWallIds",
        ),
    ] {
        let msg = assert_error(send(&app, body.clone()).await, status).await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    let acct = &app.team.account_id;
    for (query, status, field) in [
        ("?before=abc", 422, "before"),
        ("?wall_id=x1", 422, "wall_id"),
        ("?wall_id=123456789012345678", 404, "wall_id"),
        ("?after=5", 422, "after"),
    ] {
        let msg = assert_error(
            app.get(&format!("/api/fansly/{acct}/posts{query}")).await,
            status,
        )
        .await;
        assert!(msg.contains(field), "{query}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_nothing_written_upstream(&app).await;
}
