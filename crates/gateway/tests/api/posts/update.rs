//! Changing a post: replacing it with its new state, its stats, and the
//! 4xx for bad update and stats input (which change nothing).

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    assert_nothing_written_upstream, bundle_media, bundle_of, gates_of, handle, list, listed_post,
    now_ms, post_ids, publish, upload_media,
};
use crate::helpers::{assert_error, spawn_app, TestApp};
use crate::walls::create_wall;

async fn update(app: &TestApp, post_id: &str, body: Value) -> reqwest::Response {
    app.put(&app.acct_path(&format!("posts/{post_id}")), &body)
        .await
}

#[tokio::test]
async fn a_post_is_replaced_by_its_new_state() {
    let app = spawn_app().await;
    let (h1, h2, h3) = (
        handle(&app, &app.team).await,
        handle(&app, &app.team).await,
        handle(&app, &app.team).await,
    );
    let walls = app.get_json(&app.acct_path("walls")).await;
    let main = walls["data"][0]["id"].as_str().unwrap().to_owned();
    let original = publish(
        &app,
        json!({"text": "first", "mediaFiles": [h1], "requirePurchase": true, "price": 5000, "pinWallIds": [main]}),
    )
    .await;
    let id = original["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        listed_post(&list(&app, "").await, &id)["pinWallIds"],
        json!([main]),
        "pinned on the main wall it defaults to"
    );
    let wall: Value = create_wall(&app, json!({"name": "Pins"}))
        .await
        .json()
        .await
        .unwrap();
    let wall = wall["data"]["id"].as_str().unwrap().to_owned();
    let balance = app.balance(&app.team.id).await;
    let expires = now_ms() + 3_600_000;

    let resp = update(
        &app,
        &id,
        json!({
            "text": "second #edit",
            "mediaFiles": [h2, h3],
            "wallIds": [main, wall],
            "pinWallIds": [wall],
            "requireSubscription": true,
            "expiresAt": expires
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["_meta"]["_credits"]["used"], 1);
    assert_eq!(app.balance(&app.team.id).await, balance - 1);
    assert_eq!(updated["data"]["id"], id.as_str());
    assert_eq!(updated["data"]["content"], "second #edit");
    assert_eq!(app.upstream_count("POST", "/api/v1/post/edit").await, 1);

    let page = list(&app, "").await;
    assert_eq!(post_ids(&page), [id.as_str()], "replaced, not added");
    let post = listed_post(&page, &id);
    assert_eq!(post["content"], "second #edit");
    assert_eq!(post["wallIds"], json!([main, wall]));
    assert_eq!(post["pinWallIds"], json!([wall]));
    assert_eq!(post["expiresAt"], expires);
    let gates = gates_of(&page, &id);
    assert_eq!(gates.len(), 1, "{gates:?}");
    assert_eq!(gates[0]["flags"], 2, "the purchase gate is gone");
    // Two files are one bundle of h2 and h3, in order.
    let bundle = bundle_of(&page["data"], &post);
    assert_eq!(
        bundle_media(&page["data"], bundle),
        [upload_media(&app, &h2).await, upload_media(&app, &h3).await]
    );
    let on_wall = list(&app, &format!("?wall_id={wall}")).await;
    assert_eq!(post_ids(&on_wall), [id.as_str()]);

    // A full new state: leaving media, walls and pins out clears them.
    let resp = update(&app, &id, json!({"text": "third"})).await;
    assert_eq!(resp.status(), 200);
    let post = listed_post(&list(&app, "").await, &id);
    assert_eq!(post["content"], "third");
    assert_eq!(post["attachments"], json!([]));
    assert_eq!(post["wallIds"], json!([main]));
    assert_eq!(post["pinWallIds"], json!([]));
    assert!(post["expiresAt"].is_null(), "{post}");
}

#[tokio::test]
async fn post_stats_are_consistent_with_the_post() {
    let app = spawn_app().await;
    let (h1, h2) = (handle(&app, &app.team).await, handle(&app, &app.team).await);
    let post = publish(&app, json!({"text": "stats", "mediaFiles": [h1, h2]})).await;
    let id = post["data"]["id"].as_str().unwrap().to_owned();
    let page = list(&app, "").await;
    let listed = listed_post(&page, &id);

    let stats_of = |query: &'static str| {
        let path = app.acct_path(&format!("posts/{id}/stats{query}"));
        let app = &app;
        async move { app.get_ok(&path).await }
    };
    let stats = stats_of("").await;
    assert_eq!(stats["_meta"]["_credits"]["used"], 1);
    let data = &stats["data"];
    assert_eq!(data["engagement"]["likes"], listed["likeCount"]);
    assert_eq!(data["engagement"]["comments"], listed["replyCount"]);
    assert!(data["engagement"]["unlikes"].is_u64());
    let offers = data["offers"].as_array().unwrap();
    // Two files are one bundle; each accountMedia in it is an offer.
    let bundle = bundle_of(&page["data"], &listed);
    assert_eq!(offers.len(), 2, "one offer per media of the bundle");
    for (i, offer) in offers.iter().enumerate() {
        let grant = &bundle["accountMediaIds"][i];
        assert_eq!(&offer["mediaOfferId"], grant);
        let media_id = page["data"]["accountMedia"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| &m["id"] == grant)
            .unwrap()["mediaId"]
            .clone();
        let sources: Vec<&Value> = offer["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["source"])
            .collect();
        assert_eq!(sources, [&json!(0), &json!(1)], "default sources");
        for source in offer["sources"].as_array().unwrap() {
            let m = &source["media"][0];
            assert_eq!(m["mediaId"], media_id);
            let daily: u64 = m["daily"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["views"].as_u64().unwrap())
                .sum();
            assert_eq!(daily, m["totals"]["views"].as_u64().unwrap());
            // Images have no watch figures.
            assert_eq!(m["totals"]["videoViews"], 0);
            assert_eq!(m["averageWatchMs"], 0);
        }
    }
    assert_eq!(stats_of("").await["data"], *data, "stable");
    let picked = stats_of("?sources=search,2").await;
    let sources: Vec<&Value> = picked["data"]["offers"][0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["source"])
        .collect();
    assert_eq!(sources, [&json!(2), &json!(3)]);

    let text_only = publish(&app, json!({"text": "no media"})).await;
    let text_id = text_only["data"]["id"].as_str().unwrap();
    let resp = app
        .get(&app.acct_path(&format!("posts/{text_id}/stats")))
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["offers"], json!([]));
}

#[tokio::test]
async fn bad_update_and_stats_inputs_get_a_clear_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let mine = handle(&app, &app.team).await;
    let other = app.new_team(100, 1).await;
    let foreign = handle(&app, &other).await;
    let post = publish(&app, json!({"text": "keep me"})).await;
    let id = post["data"]["id"].as_str().unwrap().to_owned();
    let foreign_post: Value = app
        .send_as(
            &other,
            Method::POST,
            &format!("/api/fansly/{}/posts", other.account_id),
            Some(&json!({"text": "theirs"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let foreign_id = foreign_post["data"]["id"].as_str().unwrap().to_owned();
    let balance = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    let past = now_ms() - 60_000;
    let unknown = "123456789012345678";
    for (post_id, body, status, field) in [
        (unknown, json!({"text": "x"}), 404, "post_id"),
        (foreign_id.as_str(), json!({"text": "x"}), 404, "post_id"),
        ("abc", json!({"text": "x"}), 422, "post_id"),
        (id.as_str(), json!({}), 422, "text"),
        (
            id.as_str(),
            json!({"text": "x", "expiresAt": past}),
            422,
            "expiresAt",
        ),
        (
            id.as_str(),
            json!({"text": "x", "wallIds": [unknown], "pinWallIds": ["123456789012345679"]}),
            422,
            "pinWallIds",
        ),
        (
            id.as_str(),
            json!({"text": "x", "pinWallIds": [unknown]}),
            422,
            "pinWallIds",
        ),
        (
            id.as_str(),
            json!({"text": "x", "wallIds": [unknown]}),
            404,
            "wallIds",
        ),
        (
            id.as_str(),
            json!({"text": "x", "pinWallIds": ["p1"]}),
            422,
            "pinWallIds",
        ),
        (
            id.as_str(),
            json!({"text": "x", "mediaFiles": [mine], "price": 5000}),
            422,
            "price",
        ),
        (
            id.as_str(),
            json!({"text": "x", "mediaFiles": [mine], "requirePurchase": true, "price": 10}),
            422,
            "price",
        ),
        (
            id.as_str(),
            json!({"text": "x", "requireFollow": true}),
            422,
            "mediaFiles",
        ),
        (
            id.as_str(),
            json!({"text": "x", "mediaFiles": [foreign]}),
            404,
            "mediaFiles",
        ),
        (
            id.as_str(),
            json!({"text": "x", "mediaFiles": ["m1"]}),
            422,
            "mediaFiles",
        ),
        (
            id.as_str(),
            json!({"text": "x", "scheduledFor": now_ms() + 60_000}),
            422,
            "scheduledFor",
        ),
    ] {
        let msg = assert_error(update(&app, post_id, body.clone()).await, status).await;
        assert!(msg.contains(field), "{post_id} {body}: {msg}");
    }
    let acct = &app.team.account_id;
    for (path, status, field) in [
        (format!("/posts/{unknown}/stats"), 404, "post_id"),
        (format!("/posts/{foreign_id}/stats"), 404, "post_id"),
        ("/posts/x1/stats".to_owned(), 422, "post_id"),
        (format!("/posts/{id}/stats?sources=9"), 422, "sources"),
        (format!("/posts/{id}/stats?sources=0,fyp"), 422, "sources"),
    ] {
        let msg = assert_error(app.get(&format!("/api/fansly/{acct}{path}")).await, status).await;
        assert!(msg.contains(field), "{path}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, balance, "nothing charged");
    assert_nothing_written_upstream(&app).await;
    let post = listed_post(&list(&app, "").await, &id);
    assert_eq!(post["content"], "keep me");
}
