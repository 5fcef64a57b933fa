//! Several media files sent as one message: one accountMedia bundle, in the given order.

use super::*;
use reqwest::Method;

#[tokio::test]
async fn several_media_files_are_one_bundle_message() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let base = chat_path(&app, &chat);
    let (mut handles, mut vault) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let (status, body) = upload_file(&app, &app.team, png(32, 32, 1_500), "p.png", false).await;
        assert_eq!(status, 200, "{body}");
        handles.push(body["prefixed_id"].as_str().unwrap().to_owned());
        vault.push(body["media_id"].clone());
    }
    let older = call(
        &app,
        Method::POST,
        &format!("{base}/messages"),
        Some(json!({"text": "before"})),
    )
    .await;
    assert_eq!(older.status(), 200);
    app.clear_upstream_requests().await;
    // Given in reverse upload order: the bundle keeps the order given.
    let sent = call_ok(
        &app,
        Method::POST,
        &format!("{base}/messages"),
        Some(json!({"text": "two pictures", "mediaFiles": [handles[1], handles[0]]})),
    )
    .await;
    let attachments = sent["data"]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{sent}");
    assert_eq!(attachments[0]["contentType"], 2);
    assert_eq!(
        app.upstream_count("POST", "/api/v1/account/media/bundle")
            .await,
        1
    );
    assert_eq!(app.upstream_count("POST", "/api/v1/account/media").await, 0);

    // Listed with the bundle and its items; `limit=1` trims the older
    // message but keeps the items the kept bundle lists.
    for query in ["", "?limit=1"] {
        let page = list_messages(&app, &chat, query).await;
        let data = &page["data"];
        let message = &data["messages"][0];
        assert_eq!(message["content"], "two pictures");
        assert_eq!(message["attachments"][0]["contentType"], 2);
        let bundles = data["accountMediaBundles"].as_array().unwrap();
        assert_eq!(bundles.len(), 1, "{query}: {data}");
        assert_eq!(bundles[0]["id"], message["attachments"][0]["contentId"]);
        let media: Vec<Value> = bundles[0]["accountMediaIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                data["accountMedia"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| &m["id"] == id)
                    .unwrap_or_else(|| panic!("{query}: item {id} missing: {data}"))["media"]["id"]
                    .clone()
            })
            .collect();
        assert_eq!(media, [vault[1].clone(), vault[0].clone()], "{query}");
    }
}
