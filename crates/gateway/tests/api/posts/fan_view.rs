//! What fans can open: gated media per fan in Fansly's fan view, several
//! files as one bundle in the given order, and a bought bundle.

use serde_json::{json, Value};

use super::{
    bundle_media, bundle_of, gates_of, handle, list, listed_post, listed_post_in, publish,
    upload_media,
};
use crate::helpers::{spawn_app, TestApp};

/// The creator's timeline as `fan` reads it from Fansly.
async fn timeline_as(app: &TestApp, fan: &Fan, creator: &str) -> Value {
    let fansly = &app.state.fansly;
    let timeline = fansly.timeline(&fan.session, creator, None, None, None);
    timeline.await.unwrap()
}

/// `n` fresh media handles of the default team.
async fn handles(app: &TestApp, n: usize) -> Vec<String> {
    let mut handles = Vec::new();
    for _ in 0..n {
        handles.push(handle(app, &app.team).await);
    }
    handles
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
    let page = timeline_as(app, viewer, creator).await;
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
    let creator = app.creator_id(0).await;
    let handles = handles(&app, 4).await;
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
    let as_stranger = timeline_as(&app, &stranger, &creator).await;
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
    let creator = app.creator_id(0).await;
    let handles = handles(&app, 4).await;
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
    let as_stranger = timeline_as(&app, &stranger, &creator).await;
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
    let creator = app.creator_id(0).await;
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
