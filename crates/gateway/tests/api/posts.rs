//! Posts: publish (text, media, walls, gating, schedule, expiry) and list
//! (cursor `before`, 15 per page), and the 4xx for every bad input.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, TestTeam};
use crate::media::{png, upload_file};
use crate::walls::create_wall;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn send(app: &TestApp, body: Value) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/fansly/{}/posts", app.team.account_id),
        Some(&app.team.key),
        Some(&body),
    )
    .await
}

async fn publish(app: &TestApp, body: Value) -> Value {
    let resp = send(app, body.clone()).await;
    assert_eq!(resp.status(), 200, "{body}");
    resp.json().await.unwrap()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let resp = app
        .get(&format!("/api/fansly/{}/posts{query}", app.team.account_id))
        .await;
    assert_eq!(resp.status(), 200, "{query}");
    resp.json().await.unwrap()
}

fn post_ids(page: &Value) -> Vec<String> {
    page["data"]["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn handle(app: &TestApp, team: &TestTeam) -> String {
    let (status, body) = upload_file(app, team, png(64, 64, 2_000), "p.png", false).await;
    assert_eq!(status, 200, "{body}");
    body["prefixed_id"].as_str().unwrap().to_owned()
}

/// The gate entries of what a listed post attaches: its accountMedia, or
/// its bundle (which gates the bundle's items as a whole).
fn gates_of(page: &Value, post_id: &str) -> Vec<Value> {
    let post = page["data"]["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == post_id)
        .unwrap_or_else(|| panic!("post {post_id} not listed: {page}"));
    let attachment = &post["attachments"][0];
    let key = match attachment["contentType"].as_i64() {
        Some(1) => "accountMedia",
        Some(2) => "accountMediaBundles",
        other => panic!("unexpected contentType {other:?}: {post}"),
    };
    let id = attachment["contentId"].as_str().unwrap();
    let found = page["data"][key]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{key} {id} missing: {page}"));
    found["permissions"]["permissionFlags"]
        .as_array()
        .unwrap()
        .clone()
}

/// The bundle a listed post attaches (its only attachment, contentType 2).
fn bundle_of<'a>(page: &'a Value, post: &Value) -> &'a Value {
    let attachments = post["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "one attachment: {post}");
    assert_eq!(attachments[0]["contentType"], 2, "a bundle: {post}");
    assert_eq!(attachments[0]["pos"], 0);
    page["accountMediaBundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == attachments[0]["contentId"])
        .unwrap_or_else(|| panic!("bundle missing: {page}"))
}

/// The vault media ids behind a bundle's items, in bundle order, read from
/// the page's accountMedia.
fn bundle_media(page: &Value, bundle: &Value) -> Vec<Value> {
    bundle["accountMediaIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            page["accountMedia"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| &m["id"] == id)
                .unwrap_or_else(|| panic!("item {id} missing: {page}"))["mediaId"]
                .clone()
        })
        .collect()
}

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
    let walls: Value = app
        .get(&format!("/api/fansly/{}/walls", app.team.account_id))
        .await
        .json()
        .await
        .unwrap();
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
    let app = spawn_app().await;
    let mut published = Vec::new();
    for n in 0..35 {
        let p = publish(&app, json!({"text": format!("post {n}")})).await;
        published.push(p["data"]["id"].as_str().unwrap().to_owned());
    }
    published.reverse();
    let pages = app
        .all_pages(&format!("/api/fansly/{}/posts", app.team.account_id), 10)
        .await;
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

/// A sandbox fan's own session: what the fan view is read with.
struct Fan {
    name: String,
    session: fansly_upstream::Session,
    follows: bool,
    subscribed: bool,
}

async fn fan(app: &TestApp, n: u32, creator: &str) -> Fan {
    let name = format!("fan{n}");
    let info: Value = app
        .sandbox_post(&format!("/_sandbox/fans/{name}/session"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let device = app
        .state
        .fansly
        .device_id(&Default::default())
        .await
        .unwrap();
    let listed = |k: &str| info[k].as_array().unwrap().iter().any(|c| c == creator);
    Fan {
        session: fansly_upstream::Session::new(
            secrecy::SecretString::from(info["token"].as_str().unwrap().to_owned()),
            device,
        ),
        follows: listed("follows"),
        subscribed: listed("subscribedTo"),
        name,
    }
}

/// Per post id, whether `viewer` may open its (first) media in the creator's
/// timeline as Fansly serves it to them; checks the locked tile carries no
/// location.
async fn fan_view(app: &TestApp, creator: &str, viewer: &Fan) -> Vec<(String, bool)> {
    let page = app
        .state
        .fansly
        .timeline(&viewer.session, creator, None, None, None)
        .await
        .unwrap();
    let media = page["accountMedia"].as_array().unwrap();
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["attachments"].as_array().unwrap().is_empty())
        .map(|p| {
            let tile = |id: &Value| {
                let m = media.iter().find(|m| &m["id"] == id).unwrap();
                let access = m["access"].as_bool().unwrap();
                let locations = m["media"]["locations"].as_array().unwrap();
                assert_eq!(access, !locations.is_empty(), "{m}");
                access
            };
            let attachment = &p["attachments"][0];
            let access = if attachment["contentType"] == 2 {
                // A bundle is open or locked as a whole, items included.
                let bundle = bundle_of(&page, p);
                let items: Vec<bool> = bundle["accountMediaIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(tile)
                    .collect();
                let open = bundle["access"].as_bool().unwrap();
                assert!(items.iter().all(|a| *a == open), "{bundle} {items:?}");
                open
            } else {
                tile(&attachment["contentId"])
            };
            (p["id"].as_str().unwrap().to_owned(), access)
        })
        .collect()
}

#[tokio::test]
async fn gated_media_is_only_open_to_qualifying_fans_in_the_fan_view() {
    let app = spawn_app().await;
    let creator = app.creator(0).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(handle(&app, &app.team).await);
    }
    let id = |v: Value| v["data"]["id"].as_str().unwrap().to_owned();
    let subs = id(publish(
        &app,
        json!({"text": "subs", "mediaFiles": [handles[0]], "requireSubscription": true}),
    )
    .await);
    let follow = id(publish(
        &app,
        json!({"text": "followers", "mediaFiles": [handles[1]], "requireFollow": true}),
    )
    .await);
    let paid = id(publish(
        &app,
        json!({"text": "paid", "mediaFiles": [handles[2]], "requirePurchase": true, "price": 3000}),
    )
    .await);
    let free = id(publish(&app, json!({"text": "free", "mediaFiles": [handles[3]]})).await);
    let preview = handle(&app, &app.team).await;
    let teased_media = handle(&app, &app.team).await;
    let teased = id(publish(
        &app,
        json!({
            "text": "teaser",
            "mediaFiles": [teased_media],
            "previews": {teased_media.clone(): preview},
            "requireSubscription": true
        }),
    )
    .await);

    // Listed with their gating for the creator.
    let page = list(&app, "").await;
    assert_eq!(gates_of(&page, &subs)[0]["flags"], 2);
    assert_eq!(gates_of(&page, &follow)[0]["flags"], 4);
    assert_eq!(gates_of(&page, &paid)[0]["flags"], 1);
    assert!(gates_of(&page, &free).is_empty());

    let (mut subscriber, mut follower, mut stranger) = (None, None, None);
    for n in 1..=200 {
        let f = fan(&app, n, &creator).await;
        match (f.follows, f.subscribed) {
            (_, true) if subscriber.is_none() => subscriber = Some(f),
            (true, false) if follower.is_none() => follower = Some(f),
            (false, false) if stranger.is_none() => stranger = Some(f),
            _ => {}
        }
        if subscriber.is_some() && follower.is_some() && stranger.is_some() {
            break;
        }
    }
    let (subscriber, follower, stranger) = (
        subscriber.expect("a subscribed fan"),
        follower.expect("a follower who is not subscribed"),
        stranger.expect("a fan who neither follows nor subscribes"),
    );
    let open =
        |view: &[(String, bool)], post: &str| view.iter().find(|(p, _)| p == post).unwrap().1;
    let v = fan_view(&app, &creator, &subscriber).await;
    assert!(open(&v, &subs) && open(&v, &follow) && !open(&v, &paid) && open(&v, &free));
    let v = fan_view(&app, &creator, &follower).await;
    assert!(!open(&v, &subs) && open(&v, &follow) && !open(&v, &paid) && open(&v, &free));
    let v = fan_view(&app, &creator, &stranger).await;
    assert!(!open(&v, &subs) && !open(&v, &follow) && !open(&v, &paid) && open(&v, &free));
    assert!(!open(&v, &teased));
    // The locked media's free preview stays open.
    let as_stranger = app
        .state
        .fansly
        .timeline(&stranger.session, &creator, None, None, None)
        .await
        .unwrap();
    let grant = &listed_post_in(&as_stranger["posts"], &teased)["attachments"][0]["contentId"];
    let tile = as_stranger["accountMedia"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| &m["id"] == grant)
        .unwrap();
    assert_eq!(
        tile["previewId"],
        upload_media(&app, &preview).await,
        "{tile}"
    );
    assert!(
        !tile["preview"]["locations"].as_array().unwrap().is_empty(),
        "{tile}"
    );
    assert!(
        tile["media"]["locations"].as_array().unwrap().is_empty(),
        "{tile}"
    );

    // A purchase opens the paid media for that fan only.
    let grant = page["data"]["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == paid.as_str())
        .unwrap()["attachments"][0]["contentId"]
        .clone();
    let resp = app
        .sandbox_post(
            &format!("/_sandbox/fans/{}/purchases", stranger.name),
            json!({"accountMediaId": grant}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(open(&fan_view(&app, &creator, &stranger).await, &paid));
    assert!(!open(&fan_view(&app, &creator, &follower).await, &paid));
}

#[tokio::test]
async fn several_media_files_are_one_bundle_in_the_given_order() {
    let app = spawn_app().await;
    let creator = app.creator(0).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(handle(&app, &app.team).await);
    }
    let mut vault = Vec::new();
    for h in &handles {
        vault.push(upload_media(&app, h).await);
    }
    app.clear_upstream_requests().await;
    // Deliberately not upload order, so "in the given order" is checked.
    let files = [&handles[2], &handles[0], &handles[1]];
    let bundled = publish(
        &app,
        json!({
            "text": "a set",
            "mediaFiles": files,
            "previews": {handles[2].clone(): handles[3]},
            "requireSubscription": true
        }),
    )
    .await;
    let bundled = bundled["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/media/bundle")
            .await,
        1
    );
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/media").await,
        0,
        "the bundle call creates its items"
    );
    let single = publish(
        &app,
        json!({"text": "one", "mediaFiles": [handles[3]], "requireSubscription": true}),
    )
    .await;
    let single = single["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/media/bundle")
            .await,
        1,
        "one file is no bundle"
    );
    assert_eq!(app.upstream_count("POST", "/api/v1/account/media").await, 1);

    let page = list(&app, "").await;
    let post = listed_post(&page, &bundled);
    let bundle = bundle_of(&page["data"], &post);
    assert_eq!(
        bundle_media(&page["data"], bundle),
        [vault[2].clone(), vault[0].clone(), vault[1].clone()]
    );
    assert_eq!(
        gates_of(&page, &bundled)[0]["flags"],
        2,
        "gated on the bundle"
    );
    // Per-item previews are kept: the first item shows handles[3]'s media.
    let first = page["data"]["accountMedia"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bundle["accountMediaIds"][0])
        .unwrap();
    assert_eq!(first["previewId"], vault[3], "{first}");
    let one = listed_post(&page, &single);
    assert_eq!(one["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(one["attachments"][0]["contentType"], 1);
    assert!(page["data"]["accountMedia"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == one["attachments"][0]["contentId"]));

    // The fan view: locked as a whole for a fan who is not subscribed, open
    // for a subscriber; a purchase of the bundle does not open a
    // subscription gate.
    let (mut subscriber, mut stranger) = (None, None);
    for n in 1..=200 {
        let f = fan(&app, n, &creator).await;
        match (f.follows, f.subscribed) {
            (_, true) if subscriber.is_none() => subscriber = Some(f),
            (false, false) if stranger.is_none() => stranger = Some(f),
            _ => {}
        }
        if subscriber.is_some() && stranger.is_some() {
            break;
        }
    }
    let (subscriber, stranger) = (
        subscriber.expect("a subscribed fan"),
        stranger.expect("a fan who neither follows nor subscribes"),
    );
    let open =
        |view: &[(String, bool)], post: &str| view.iter().find(|(p, _)| p == post).unwrap().1;
    let v = fan_view(&app, &creator, &subscriber).await;
    assert!(open(&v, &bundled) && open(&v, &single));
    let v = fan_view(&app, &creator, &stranger).await;
    assert!(!open(&v, &bundled) && !open(&v, &single));
    // The locked item's free preview stays open.
    let as_stranger = app
        .state
        .fansly
        .timeline(&stranger.session, &creator, None, None, None)
        .await
        .unwrap();
    let locked = bundle_of(
        &as_stranger,
        &listed_post_in(&as_stranger["posts"], &bundled),
    );
    let tile = as_stranger["accountMedia"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == locked["accountMediaIds"][0])
        .unwrap();
    assert!(
        !tile["preview"]["locations"].as_array().unwrap().is_empty(),
        "{tile}"
    );
}

#[tokio::test]
async fn a_bought_bundle_opens_all_its_items() {
    let app = spawn_app().await;
    let creator = app.creator(0).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (h1, h2) = (handle(&app, &app.team).await, handle(&app, &app.team).await);
    let paid = publish(
        &app,
        json!({"text": "paid set", "mediaFiles": [h1, h2], "requirePurchase": true, "price": 4000}),
    )
    .await;
    let paid = paid["data"]["id"].as_str().unwrap().to_owned();
    let page = list(&app, "").await;
    let bundle = bundle_of(&page["data"], &listed_post(&page, &paid)).clone();
    assert_eq!(bundle["permissions"]["permissionFlags"][0]["flags"], 1);
    assert_eq!(bundle["permissions"]["permissionFlags"][0]["price"], 4000);
    let (buyer, other) = (fan(&app, 1, &creator).await, fan(&app, 2, &creator).await);
    let open = |view: Vec<(String, bool)>| view.iter().find(|(p, _)| *p == paid).unwrap().1;
    assert!(!open(fan_view(&app, &creator, &buyer).await));
    let resp = app
        .sandbox_post(
            &format!("/_sandbox/fans/{}/purchases", buyer.name),
            json!({"accountMediaId": bundle["id"]}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(open(fan_view(&app, &creator, &buyer).await));
    assert!(!open(fan_view(&app, &creator, &other).await));
}

/// The vault media id behind an upload handle.
async fn upload_media(app: &TestApp, h: &str) -> Value {
    let body: Value = app
        .get(&format!(
            "/api/fansly/{}/media/uploads/{h}/status",
            app.team.account_id
        ))
        .await
        .json()
        .await
        .unwrap();
    body["media_id"].clone()
}

async fn update(app: &TestApp, post_id: &str, body: Value) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/fansly/{}/posts/{post_id}", app.team.account_id),
        Some(&app.team.key),
        Some(&body),
    )
    .await
}

fn listed_post_in(posts: &Value, id: &str) -> Value {
    posts
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("post {id} not in {posts}"))
        .clone()
}

fn listed_post(page: &Value, id: &str) -> Value {
    page["data"]["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("post {id} not listed: {page}"))
        .clone()
}

#[tokio::test]
async fn a_post_is_replaced_by_its_new_state() {
    let app = spawn_app().await;
    let (h1, h2, h3) = (
        handle(&app, &app.team).await,
        handle(&app, &app.team).await,
        handle(&app, &app.team).await,
    );
    let walls: Value = app
        .get(&format!("/api/fansly/{}/walls", app.team.account_id))
        .await
        .json()
        .await
        .unwrap();
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
        let (app, id) = (&app, id.clone());
        async move {
            let resp = app
                .get(&format!(
                    "/api/fansly/{}/posts/{id}/stats{query}",
                    app.team.account_id
                ))
                .await;
            assert_eq!(resp.status(), 200, "{query}");
            resp.json::<Value>().await.unwrap()
        }
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
        .get(&format!(
            "/api/fansly/{}/posts/{text_id}/stats",
            app.team.account_id
        ))
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
        .request(
            Method::POST,
            &format!("/api/fansly/{}/posts", other.account_id),
            Some(&other.key),
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

/// Bad input must be refused before any Fansly write (a grant, a post, an edit).
async fn assert_nothing_written_upstream(app: &TestApp) {
    let writes: Vec<String> = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert!(writes.is_empty(), "nothing sent upstream: {writes:?}");
}
