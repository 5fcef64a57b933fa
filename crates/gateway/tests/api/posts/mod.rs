//! Posts: publish (text, media, walls, gating, schedule, expiry) and list
//! (cursor `before`, 15 per page), and the 4xx for every bad input.
//!
//! Shared helpers live here; the tests by topic: `publish` (publishing and
//! listing, bad publish input), `fan_view` (gated media and bundles as fans
//! see them), `update` (replacing a post, its stats, bad update input).

use serde_json::Value;

use crate::helpers::{strings, TestApp, TestTeam};
use crate::media::{png, upload_file};

mod fan_view;
mod publish;
mod update;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn send(app: &TestApp, body: Value) -> reqwest::Response {
    app.post(&app.acct_path("posts"), &body).await
}

async fn publish(app: &TestApp, body: Value) -> Value {
    let resp = send(app, body.clone()).await;
    assert_eq!(resp.status(), 200, "{body}");
    resp.json().await.unwrap()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let resp = app.get(&app.acct_path(&format!("posts{query}"))).await;
    assert_eq!(resp.status(), 200, "{query}");
    resp.json().await.unwrap()
}

fn post_ids(page: &Value) -> Vec<String> {
    strings(&page["data"]["posts"], "id")
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

/// The vault media id behind an upload handle.
async fn upload_media(app: &TestApp, h: &str) -> Value {
    let body = app
        .get_json(&app.acct_path(&format!("media/uploads/{h}/status")))
        .await;
    body["media_id"].clone()
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
    listed_post_in(&page["data"]["posts"], id)
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
