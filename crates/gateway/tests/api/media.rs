//! Media: uploads (multipart and file_url, sync and async, per-MB credits), upload status, account media and CDN downloads.

use reqwest::Method;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_error_naming, assert_same_shape, parked, spawn_app, spawn_app_with,
    TestApp, TestTeam,
};

/// A PNG header announcing `width`×`height`, padded to `len` bytes.
pub fn png(width: u32, height: u32, len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut n: u32 = 0x9e37_79b9;
    while b.len() < len {
        n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        b.push((n >> 24) as u8);
    }
    b
}

/// Uploads `bytes` as the multipart `file`; answers the status and the body.
pub async fn upload_file(
    app: &TestApp,
    team: &TestTeam,
    bytes: Vec<u8>,
    name: &str,
    background: bool,
) -> (u16, Value) {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("image/png")
            .unwrap(),
    );
    if background {
        form = form.text("async", "true");
    }
    let resp = upload_form(app, team, form).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Upload Media for `team`'s account with the multipart `form` as given.
pub async fn upload_form(app: &TestApp, team: &TestTeam, form: Form) -> reqwest::Response {
    app.http
        .post(format!(
            "{}/api/fansly/{}/media/upload",
            app.address, team.account_id
        ))
        .bearer_auth(&team.key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/api/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An upload row of the default team still processing since `created_at`,
/// holding `credits`, as one the gateway left behind would be.
async fn insert_processing(app: &TestApp, id: &str, credits: i64, created_at: i64) {
    sqlx::query(
        "INSERT INTO media_uploads (id, team_id, account_id, file_name, mime_type, size_bytes, \
           credits, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'x.png', 'image/png', 10, $4, 'processing', $5, $5)",
    )
    .bind(id)
    .bind(&app.team.id)
    .bind(&app.team.account_id)
    .bind(credits)
    .bind(created_at)
    .execute(&app.db().writer)
    .await
    .unwrap();
}

/// An app whose Fansly fails every upload completion with a 500; the
/// default team's balance before any upload.
async fn failing_completion() -> (TestApp, i64) {
    let app = spawn_app().await;
    let before = app.balance(&app.team.id).await;
    let fault = json!({"method": "POST", "path": "/api/v1/media/upload/complete", "status": 500});
    app.inject(fault).await;
    (app, before)
}

/// Polls an async upload's `polling_url` (always a 200) while it is pending
/// or processing, for 5 s at most; its last answer.
async fn settled_upload(app: &TestApp, polling: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let resp = app.get_url(polling).await;
        assert_eq!(resp.status(), 200);
        last = resp.json().await.unwrap();
        if !["pending", "processing"].contains(&last["status"].as_str().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// Sends media `handle` to sandbox fan `fan{n}` in a message; the CDN
/// location the message's media is served from, and the chat's messages.
async fn sent_media_location(app: &TestApp, n: u32, handle: &Value) -> (String, Value) {
    let chat = app.open_chat(n).await;
    let messages = app.acct_path(&format!("chats/{chat}/messages"));
    app.post_ok(&messages, &json!({ "mediaFiles": [handle] }))
        .await;
    let page = app.get_json(&messages).await;
    let location = page["data"]["accountMedia"][0]["media"]["locations"][0]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    (location, page)
}

async fn handle_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM media_uploads")
        .fetch_one(&app.db().pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn upload_answers_the_documented_bare_object() {
    let app = spawn_app().await;
    let before = app.balance(&app.team.id).await;
    let (status, body) =
        upload_file(&app, &app.team, png(1080, 720, 5_000), "photo.png", false).await;
    assert_eq!(status, 200, "{body}");
    assert_same_shape(&fixture("upload_media_200.json"), &body, "$");
    assert!(body["prefixed_id"]
        .as_str()
        .unwrap()
        .starts_with("fansly_media_"));
    assert_eq!(body["file_name"], "photo.png");
    assert_eq!(body["media"]["id"], body["media_id"]);
    assert_eq!(body["media"]["width"], 1080);
    assert_eq!(body["media"]["height"], 720);
    assert_eq!(body["media"]["mimetype"], "image/png");
    assert_eq!(body["credits_used"], 1);
    assert_eq!(app.balance(&app.team.id).await, before - 1);

    // The four upstream steps, in order, on the media host.
    let log = app.upstream_requests().await;
    let steps: Vec<String> = log
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/media/upload"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(steps[0], "POST /api/v1/media/upload/create");
    assert_eq!(steps[1], "POST /api/v1/media/upload/complete");
    assert!(steps[2].starts_with("GET /api/v1/media/upload/"));

    // Status of a synchronous upload is completed, free.
    let status_path = format!(
        "/api/fansly/{}/media/uploads/{}/status",
        app.team.account_id,
        body["prefixed_id"].as_str().unwrap()
    );
    let resp = app.get(&status_path).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "0");
    let st: Value = resp.json().await.unwrap();
    assert_eq!(st["status"], "completed");
    assert_eq!(st["media_id"], body["media_id"]);
}

#[tokio::test]
async fn large_upload_is_charged_per_megabyte_and_streams_in_parts() {
    let app = spawn_app().await;
    let before = app.balance(&app.team.id).await;
    // Over Fansly's 20 MiB part size: two presigned parts.
    let bytes = png(100, 100, 21 * 1024 * 1024);
    let (status, body) = upload_file(&app, &app.team, bytes.clone(), "big.png", false).await;
    assert_eq!(status, 200, "{body}");
    let cost = (bytes.len() as i64 * 6 + 999_999) / 1_000_000;
    assert_eq!(body["credits_used"], cost);
    assert_eq!(app.balance(&app.team.id).await, before - cost);

    // What Fansly stored is byte for byte what was sent: send it in a
    // message, then fetch it through the download redirect.
    let (location, page) = sent_media_location(&app, 20, &body["prefixed_id"]).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .get(format!(
            "{}/api/fansly/{}/media/download/{}",
            app.address,
            app.team.account_id,
            url::form_urlencoded::byte_serialize(location.as_bytes()).collect::<String>()
        ))
        .bearer_auth(&app.team.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], location.as_str());
    let fetched = app
        .http
        .get(&location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(fetched.as_ref() == bytes.as_slice(), "stored bytes differ");

    // Account media by id: Fansly's own envelope, one credit.
    let grant = page["data"]["accountMedia"][0]["id"].as_str().unwrap();
    let resp = app
        .get(&app.acct_path(&format!("account-media/{grant},{grant}")))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "1");
    let got: Value = resp.json().await.unwrap();
    assert_eq!(got["success"], true);
    assert_eq!(got["response"][0]["id"], grant);
    assert_eq!(got["response"][0]["mediaId"], body["media_id"]);
}

#[tokio::test]
async fn async_upload_is_polled_to_completion() {
    let app = spawn_app().await;
    let (status, body) = upload_file(&app, &app.team, png(10, 10, 3_000), "a.png", true).await;
    assert_eq!(status, 200, "{body}");
    assert_same_shape(&fixture("upload_media_async_200.json"), &body, "$");
    assert_eq!(body["status"], "pending");
    let polling = body["polling_url"].as_str().unwrap().to_owned();
    assert!(polling.starts_with(&app.address), "{polling}");
    let last = settled_upload(&app, &polling).await;
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["prefixed_id"], body["prefixed_id"]);
    assert!(last["media_id"].is_string());
    assert_eq!(last["media"]["width"], 10);
}

#[tokio::test]
async fn failed_async_upload_reports_failed_and_refunds() {
    let (app, before) = failing_completion().await;
    let (status, body) = upload_file(&app, &app.team, png(10, 10, 3_000), "a.png", true).await;
    assert_eq!(status, 200);
    let polling = body["polling_url"].as_str().unwrap().to_owned();
    let last = settled_upload(&app, &polling).await;
    assert_eq!(last["status"], "failed", "{last}");
    assert!(last["error"].as_str().unwrap().contains("500"), "{last}");
    assert_eq!(app.balance(&app.team.id).await, before, "refunded");
}

#[tokio::test]
async fn failed_sync_upload_leaves_nothing_and_costs_nothing() {
    let (app, before) = failing_completion().await;
    let (status, body) = upload_file(&app, &app.team, png(10, 10, 3_000), "a.png", false).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Fansly"), "{body}");
    assert_eq!(app.balance(&app.team.id).await, before);
    assert_eq!(handle_rows(&app).await, 0);
}

#[tokio::test]
async fn oversize_and_malformed_uploads_are_refused_cleanly() {
    let app = spawn_app_with(|c| c.media.max_upload_bytes = 1024 * 1024).await;
    let before = app.balance(&app.team.id).await;
    let (status, body) = upload_file(
        &app,
        &app.team,
        png(10, 10, 2 * 1024 * 1024),
        "big.png",
        false,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("file"), "{body}");

    let path = app.acct_path("media/upload");
    let refused = async |form: Form, needle: &str| {
        assert_error_naming(upload_form(&app, &app.team, form).await, 422, needle).await;
    };
    let file = |bytes: Vec<u8>, name: &'static str, mime: &str| {
        let part = Part::bytes(bytes).file_name(name);
        Form::new().part("file", part.mime_str(mime).unwrap())
    };
    refused(Form::new().text("async", "false"), "file").await;
    refused(file(Vec::new(), "x.png", "image/png"), "empty").await;
    refused(file(b"hello".to_vec(), "x.txt", "text/plain"), "file").await;
    let ftp = Form::new().text("file_url", "ftp://example.com/x.png");
    refused(ftp, "file_url").await;
    assert_error_naming(
        app.post_raw(&path, Some("application/json"), b"{}".to_vec())
            .await,
        415,
        "multipart",
    )
    .await;

    assert_eq!(app.balance(&app.team.id).await, before);
    assert_eq!(handle_rows(&app).await, 0);
    assert!(!app.upstream_touched("/api/v1/media").await);
}

#[tokio::test]
async fn another_teams_media_handle_is_not_found() {
    let app = spawn_app().await;
    let other = app.new_team(1_000, 1).await;
    let (status, body) = upload_file(&app, &other, png(10, 10, 1_000), "theirs.png", false).await;
    assert_eq!(status, 200, "{body}");
    let theirs = body["prefixed_id"].as_str().unwrap().to_owned();

    let status_path = app.acct_path(&format!("media/uploads/{theirs}/status"));
    app.assert_refusals(vec![
        (Method::GET, status_path.clone(), None, 404, theirs.as_str()),
        (
            Method::GET,
            app.acct_path("media/uploads/nope/status"),
            None,
            422,
            "upload",
        ),
    ])
    .await;

    let fan = app.fan_id(21).await;
    let chat: Value = app.create_chat(&fan).await.json().await.unwrap();
    let chat = chat["data"]["id"].as_str().unwrap();
    let before = app.balance(&app.team.id).await;
    let resp = app
        .post(
            &app.acct_path(&format!("chats/{chat}/messages")),
            &json!({"text": "x", "mediaFiles": [theirs]}),
        )
        .await;
    assert_error_naming(resp, 404, "mediaFiles").await;
    assert_eq!(app.balance(&app.team.id).await, before);
}

#[tokio::test]
async fn file_url_and_download_checks() {
    let app = spawn_app().await;
    let (_, first) = upload_file(&app, &app.team, png(32, 16, 2_000), "one.png", false).await;
    // Fetch the processed file back through the sandbox CDN as a file_url.
    let (location, _) = sent_media_location(&app, 22, &first["prefixed_id"]).await;
    let resp = upload_form(&app, &app.team, Form::new().text("file_url", location)).await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    assert_ne!(second["media_id"], first["media_id"]);
    assert_eq!(
        second["media"]["mimetype"], "image/jpeg",
        "the CDN serves JPEG"
    );

    // Only Fansly CDN URLs are redirected to.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |target: &str| {
        no_redirects
            .get(format!(
                "{}/api/fansly/{}/media/download/{target}",
                app.address, app.team.account_id
            ))
            .bearer_auth(&app.team.key)
            .send()
    };
    let resp = get("https%3A%2F%2Fevil.example.com%2Fx.jpg").await.unwrap();
    assert_error_naming(resp, 422, "cdnUrl").await;
    let resp = get("https://cdn3.fansly.com/1/2.jpeg?Expires=1&Signature=abc")
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "https://cdn3.fansly.com/1/2.jpeg?Expires=1&Signature=abc"
    );
}

#[tokio::test]
async fn upload_without_enough_credits_is_402_and_leaves_nothing() {
    let app = spawn_app().await;
    let poor = app.new_team(5, 1).await;
    // 2 MB at 6 credits per MB costs 13 credits.
    for background in [false, true] {
        let (status, body) =
            upload_file(&app, &poor, png(10, 10, 2_000_001), "big.png", background).await;
        assert_eq!(status, 402, "{body}");
        assert!(body["error"].as_str().unwrap().contains("13"), "{body}");
    }
    assert_eq!(app.balance(&poor.id).await, 5);
    assert_eq!(handle_rows(&app).await, 0);
    assert!(!app.upstream_touched("/api/v1/media").await);
}

#[tokio::test]
async fn file_url_cannot_reach_the_gateways_own_network() {
    let app = crate::helpers::spawn_app_with(|c| c.media.allow_private_file_urls = false).await;
    let before = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    for url in [
        format!("{}/_sandbox/creators", app.sandbox_url),
        "http://localhost:9/x.png".to_owned(),
        "http://[::1]:9/x.png".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let resp = upload_form(&app, &app.team, Form::new().text("file_url", url.clone())).await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains("not a public address"), "{url}: {msg}");
    }
    assert_eq!(app.balance(&app.team.id).await, before);
    // Only the upload path is checked: the account's background work (the
    // relay, gap fill) may call Fansly at any moment, which made CI fail once.
    assert!(
        !app.upstream_touched("/api/v1/media").await,
        "nothing sent to Fansly's media service"
    );
}

#[tokio::test]
async fn disconnecting_an_account_erases_its_media_handles() {
    let app = spawn_app().await;
    let (_, id) = app.connect_by_login(1, json!({})).await;
    let team = crate::helpers::TestTeam {
        account_id: id.clone(),
        ..app.team.clone()
    };
    let (_, up) = upload_file(&app, &team, png(8, 8, 500), "a.png", false).await;
    assert!(up["prefixed_id"]
        .as_str()
        .unwrap()
        .starts_with("fansly_media_"));
    let resp = app.delete(&format!("/api/fansly/accounts/{id}")).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let left: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM media_uploads WHERE account_id = $1")
        .bind(&id)
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(left.0, 0);
}

#[tokio::test]
async fn interrupted_uploads_are_failed_and_refunded_once() {
    let app = spawn_app_with(parked).await;
    let team = &app.team.id;
    let before = app.balance(team).await;
    // The upload's reservation, left unsettled an hour ago by a gateway
    // that stopped then (its run's last heartbeat).
    let mut stopped = fansly_gateway::metering::credit_batch::Line::default();
    let (held, _) = stopped
        .write(app.db(), &[(team.as_str(), 7, "media.upload", None)])
        .await
        .unwrap();
    assert!(held[0].is_ok());
    let long_ago = fansly_gateway::core::time::now_ms() - 3_600_000;
    sqlx::query("UPDATE credit_runs SET heartbeat_at = $1 WHERE id = $2")
        .bind(long_ago)
        .bind(stopped.run())
        .execute(&app.db().writer)
        .await
        .unwrap();
    let orphan = fansly_gateway::core::ids::new_media_id();
    insert_processing(&app, &orphan, 7, long_ago).await;
    // Housekeeping finds it (an hour is past its staleness limit), twice.
    app.run_housekeeping().await;
    assert_eq!(app.balance(team).await, before, "refunded");
    app.run_housekeeping().await;
    assert_eq!(app.balance(team).await, before, "refunded once");
    // A fresh upload in progress is left alone.
    let fresh = fansly_gateway::core::ids::new_media_id();
    app.state
        .credits
        .reserve(team, 5, "media.upload", None)
        .await
        .unwrap();
    insert_processing(&app, &fresh, 5, fansly_gateway::core::time::now_ms()).await;
    app.run_housekeeping().await;
    assert_eq!(app.balance(team).await, before - 5, "still reserved");
    let status = app
        .get_json(&app.acct_path(&format!("media/uploads/{orphan}/status")))
        .await;
    assert_eq!(status["status"], "failed", "{status}");
    assert!(status["error"].as_str().unwrap().contains("interrupted"));
    let ledger = app.ledger(team).await;
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), before - 5);
    assert_eq!(ledger.iter().filter(|e| e.reason == "refund").count(), 1);
}

#[tokio::test]
async fn an_upload_is_done_on_either_marker_fansly_may_send() {
    let app = spawn_app().await;
    let bad = app
        .sandbox_post("/_sandbox/upload-answer", serde_json::json!({"done": "x"}))
        .await;
    assert_eq!(bad.status(), 422);
    for done in ["media", "media_id", "both"] {
        let set = app
            .sandbox_post(
                "/_sandbox/upload-answer",
                serde_json::json!({ "done": done }),
            )
            .await;
        assert_eq!(set.status(), 200);
        let (status, body) =
            upload_file(&app, &app.team, png(64, 64, 500), "photo.png", false).await;
        assert_eq!(status, 200, "{done}: {body}");
        assert!(
            body["media_id"].as_str().is_some_and(|m| !m.is_empty()),
            "{done}: {body}"
        );
        assert_eq!(body["media"]["id"], body["media_id"], "{done}");
    }
}
