//! Chat messages: listing by `before` cursor, sending text and media, acks, reactions and deletes, against the sandbox's conversations.

mod bundles;

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, assert_error_naming, assert_same_shape, spawn_app, TestApp};
use crate::media::{png, upload_file};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/api/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    app.request(method, path, Some(&app.team.key), body.as_ref())
        .await
}

/// [`call`] that must answer 200; the JSON answer.
async fn call_ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let resp = call(app, method.clone(), path, body).await;
    assert_eq!(resp.status(), 200, "{method} {path}");
    resp.json().await.unwrap()
}

fn chat_path(app: &TestApp, chat: &str) -> String {
    app.acct_path(&format!("chats/{chat}"))
}

async fn list_messages(app: &TestApp, chat: &str, query: &str) -> Value {
    let resp = app
        .get(&format!("{}/messages{query}", chat_path(app, chat)))
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn chat_row(app: &TestApp, chat: &str) -> Value {
    let body = app.get_json(&app.acct_path("chats?limit=100")).await;
    body["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["groupId"] == chat)
        .cloned()
        .expect("chat listed")
}

#[tokio::test]
async fn a_whole_conversation() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let from_fan = app.fan_writes(1, "hi there", 1).await;
    assert_eq!(from_fan["groupId"], chat.as_str());
    let fan_msg = from_fan["messages"][0].as_str().unwrap().to_owned();
    assert_eq!(chat_row(&app, &chat).await["unreadCount"], 1);

    // Upload an image, then send text + image.
    let uploaded = upload_file(&app, &app.team, png(640, 480, 2_000), "photo.png", false).await;
    assert_eq!(uploaded.0, 200);
    let handle = uploaded.1["prefixed_id"].as_str().unwrap().to_owned();
    let media_id = uploaded.1["media_id"].as_str().unwrap().to_owned();
    let base = chat_path(&app, &chat);
    let sent = call_ok(&app, Method::POST, &format!("{base}/messages"), Some(json!({"text": "a picture for you", "mediaFiles": [handle], "replyToMessageId": fan_msg}))).await;
    let sent_id = sent["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(sent["data"]["content"], "a picture for you");
    assert_eq!(sent["data"]["inReplyTo"], fan_msg.as_str());
    assert_eq!(sent["data"]["attachments"][0]["contentType"], 1);
    assert!(
        sent["data"]["createdAt"].is_f64(),
        "send answers fractional seconds"
    );

    // The grant step happened before the send, with both members whitelisted.
    let log = app.upstream_requests().await;
    let paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    let grant = paths
        .iter()
        .position(|p| *p == "/api/v1/account/media")
        .expect("grant");
    let send = paths
        .iter()
        .rposition(|p| *p == "/api/v1/message")
        .expect("send");
    assert!(grant < send, "{paths:?}");

    // The listing shows it newest first, with its accountMedia.
    let page = list_messages(&app, &chat, "").await;
    let messages = page["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], sent_id.as_str());
    assert_eq!(messages[1]["id"], fan_msg.as_str());
    assert!(
        messages[0]["createdAt"].is_u64(),
        "list answers whole seconds"
    );
    let content_id = messages[0]["attachments"][0]["contentId"].clone();
    let media = &page["data"]["accountMedia"];
    assert_eq!(media.as_array().unwrap().len(), 1);
    assert_eq!(media[0]["id"], content_id);
    assert_eq!(media[0]["media"]["id"], media_id.as_str());
    assert!(media[0]["media"]["locations"][0]["location"].is_string());
    assert_eq!(page["data"]["hasMore"], false);
    assert_eq!(page["_pagination"]["next_page"], Value::Null);
    for key in ["accountMediaBundles", "tips"] {
        assert!(page["data"][key].is_array(), "{key}");
    }

    // Ack the fan's message as read.
    let acked = call_ok(
        &app,
        Method::POST,
        &format!("{base}/messages/ack"),
        Some(json!({"messageIds": [fan_msg], "type": 2})),
    )
    .await;
    assert_same_shape(&fixture("ack_messages_200.json"), &acked, "$");
    assert_eq!(chat_row(&app, &chat).await["unreadCount"], 0);
    let page = list_messages(&app, &chat, "").await;
    let creator_id = sent["data"]["senderId"].clone();
    let seen = &page["data"]["messages"][1]["interactions"][0];
    assert_eq!(seen["userId"], creator_id);
    assert!(seen["readAt"].as_i64().unwrap() > 0);

    // React to it, then take the reaction back.
    let reactions = format!("{base}/messages/{fan_msg}/reactions");
    let resp = call(&app, Method::POST, &reactions, Some(json!({"type": 5}))).await;
    assert_eq!(resp.status(), 200);
    let like: Value = resp.json().await.unwrap();
    assert_same_shape(
        &fixture("add_reaction_200.json")["data"],
        &like["data"],
        "$.data",
    );
    assert_eq!(like["data"]["type"], 5);
    assert_eq!(like["data"]["messageId"], fan_msg.as_str());
    let page = list_messages(&app, &chat, "").await;
    assert_eq!(page["data"]["messages"][1]["likes"][0]["type"], 5);

    let resp = call(&app, Method::DELETE, &reactions, Some(json!({"type": 5}))).await;
    assert_eq!(resp.status(), 200);
    let removed: Value = resp.json().await.unwrap();
    assert_same_shape(&fixture("remove_reaction_200.json"), &removed, "$");
    assert_eq!(removed["data"]["id"], like["data"]["id"]);
    let page = list_messages(&app, &chat, "").await;
    assert_eq!(page["data"]["messages"][1]["likes"], json!([]));
    // Removing it again: nothing to remove.
    assert_error(
        call(&app, Method::DELETE, &reactions, Some(json!({"type": 5}))).await,
        404,
    )
    .await;

    // Delete the creator's own message; the fan's cannot be deleted.
    call_ok(
        &app,
        Method::DELETE,
        &format!("{base}/messages/{sent_id}"),
        None,
    )
    .await;
    let page = list_messages(&app, &chat, "").await;
    assert!(page["data"]["messages"][0]["deletedAt"].is_u64());
    assert_eq!(page["data"]["messages"][0]["attachments"], json!([]));
    assert_error(
        call(
            &app,
            Method::DELETE,
            &format!("{base}/messages/{fan_msg}"),
            None,
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn text_message_has_the_documented_shape() {
    let app = spawn_app().await;
    let chat = app.open_chat(2).await;
    let resp = call(
        &app,
        Method::POST,
        &format!("{}/messages", chat_path(&app, &chat)),
        Some(json!({"text": "Hey there!"})),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_same_shape(&fixture("send_message_200.json"), &body, "$");
    assert_eq!(body["data"]["inReplyTo"], "");
    let shown = app.get_json(&chat_path(&app, &chat)).await;
    assert_eq!(shown["data"]["lastMessage"]["id"], body["data"]["id"]);
}

#[tokio::test]
async fn pagination_walks_300_messages_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    let chat = app.open_chat(3).await;
    let written = app.fan_writes(3, "m", 300).await;
    let expected: Vec<String> = written["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut url = format!("{}{}/messages?limit=7", app.address, chat_path(&app, &chat));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 50, "pagination does not end");
        let resp = app.get_url(&url).await;
        assert_eq!(resp.status(), 200);
        let page: Value = resp.json().await.unwrap();
        let msgs = page["data"]["messages"].as_array().unwrap();
        assert!(msgs.len() <= 7);
        seen.extend(msgs.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        match page["_pagination"]["next_page"].as_str() {
            Some(next) => {
                assert_eq!(page["data"]["hasMore"], true);
                url = next.to_owned();
            }
            None => {
                assert_eq!(page["data"]["hasMore"], false);
                break;
            }
        }
    }
    assert_eq!(pages, 43, "300 messages in pages of 7");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 300, "no duplicates");
    assert_eq!(seen, expected, "newest first, no gaps");

    // limit=1 works although Fansly itself answers limit=1 with nothing.
    let one = list_messages(&app, &chat, "?limit=1").await;
    assert_eq!(one["data"]["messages"].as_array().unwrap().len(), 1);
    assert_eq!(one["data"]["messages"][0]["id"], expected[0].as_str());
    assert_eq!(one["data"]["hasMore"], true);
    // limit=100 across the end.
    let last = list_messages(&app, &chat, &format!("?limit=100&before={}", expected[199])).await;
    assert_eq!(last["data"]["messages"].as_array().unwrap().len(), 100);
    assert_eq!(last["data"]["messages"][99]["id"], expected[299].as_str());
}

#[tokio::test]
async fn chats_list_pages_orders_and_counts_unread() {
    let app = spawn_app().await;
    let a = app.open_chat(4).await;
    let b = app.open_chat(5).await;
    let c = app.open_chat(6).await;
    app.fan_writes(5, "unread one", 2).await;
    let acct = &app.team.account_id;

    let first = app
        .get_ok(&format!("/api/fansly/{acct}/chats?limit=2"))
        .await;
    let rows = first["data"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["groupId"], b.as_str(), "latest activity first");
    assert_eq!(rows[0]["unreadCount"], 2);
    assert!(rows[0]["lastUnreadMessageId"].is_string());
    assert_eq!(first["data"]["hasMore"], true);
    assert!(first["data"]["aggregationData"]["accounts"].is_array());
    let next = first["_pagination"]["next_page"].as_str().unwrap();
    assert!(next.contains("offset=2"), "{next}");
    let second: Value = app.get_url(next).await.json().await.unwrap();
    let rows2 = second["data"]["data"].as_array().unwrap();
    assert_eq!(rows2.len(), 1);
    assert_eq!(second["data"]["hasMore"], false);
    assert_eq!(second["_pagination"]["next_page"], Value::Null);
    let all: HashSet<&str> = rows
        .iter()
        .chain(rows2)
        .map(|r| r["groupId"].as_str().unwrap())
        .collect();
    assert_eq!(all, HashSet::from([a.as_str(), b.as_str(), c.as_str()]));

    let unread = app
        .get_json(&format!("/api/fansly/{acct}/chats?order=unread"))
        .await;
    let rows = unread["data"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["groupId"], b.as_str());
    let oldest = app
        .get_json(&format!("/api/fansly/{acct}/chats?order=oldest"))
        .await;
    assert_eq!(oldest["data"]["data"][0]["groupId"], a.as_str());
    let searched = app
        .get_json(&format!("/api/fansly/{acct}/chats?search=fan6"))
        .await;
    assert_eq!(searched["data"]["data"][0]["groupId"], c.as_str());

    // Mark everything read.
    call_ok(
        &app,
        Method::POST,
        &format!("/api/fansly/{acct}/chats/mark-all-as-read"),
        None,
    )
    .await;
    assert_eq!(chat_row(&app, &b).await["unreadCount"], 0);
}

#[tokio::test]
async fn typing_is_free_and_read_receipts_can_be_disabled() {
    let app = spawn_app().await;
    let chat = app.open_chat(7).await;
    let before = app.balance(&app.team.id).await;
    let resp = call(
        &app,
        Method::POST,
        &format!("{}/typing", chat_path(&app, &chat)),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"], json!({"success": true}));
    assert_eq!(body["_meta"]["_credits"]["used"], 0);
    assert_eq!(app.balance(&app.team.id).await, before);
    let log = app.upstream_requests().await;
    assert!(log
        .iter()
        .any(|r| r.method == "POST" && r.path == "/api/v1/message/typing"));

    let body = call_ok(
        &app,
        Method::POST,
        &format!("{}/read-receipts/disable", chat_path(&app, &chat)),
        None,
    )
    .await;
    assert_eq!(body["data"]["userSettings"]["readReceiptsEnabled"], false);
    assert_eq!(body["data"]["groupId"], chat.as_str());
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_costs_nothing() {
    let app = spawn_app().await;
    let chat = app.open_chat(8).await;
    let fan_msg = app.fan_writes(8, "hello", 1).await["messages"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let base = chat_path(&app, &chat);
    let before = app.balance(&app.team.id).await;
    // The relay looks the fan up once (`senderData`): let it finish first.
    crate::gap_fill::wait_recorded(&app, &format!("5.1:{fan_msg}")).await;
    app.clear_upstream_requests().await;

    for q in ["?limit=0", "?limit=101", "?limit=ten"] {
        assert_error_naming(app.get(&format!("{base}/messages{q}")).await, 422, "limit").await;
    }
    app.assert_refusals(vec![
        (
            Method::GET,
            app.acct_path("chats?limit=0"),
            None,
            422,
            "limit",
        ),
        (
            Method::GET,
            app.acct_path("chats?order=best"),
            None,
            422,
            "order",
        ),
        (
            Method::GET,
            format!("{base}/messages?before=abc"),
            None,
            422,
            "before",
        ),
    ])
    .await;
    let bad_chat = app.acct_path("chats/12ab");
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("{bad_chat}/messages"),
            None,
            422,
            "chat_id",
        ),
        (
            Method::POST,
            format!("{base}/messages"),
            Some(json!({})),
            422,
            "text",
        ),
        (
            Method::POST,
            format!("{base}/messages"),
            Some(json!({"text": 5})),
            422,
            "text",
        ),
        (
            Method::POST,
            format!("{base}/messages"),
            Some(json!({"mediaFiles": ["nope"]})),
            422,
            "mediaFiles",
        ),
    ])
    .await;
    let msg = assert_error(
        post(
            &app,
            format!("{base}/messages"),
            json!({"mediaFiles": ["fansly_media_01JR1234ABCD5678EFGHJKMNPQ"]}),
        )
        .await,
        404,
    )
    .await;
    assert!(
        msg.contains("fansly_media_01JR1234ABCD5678EFGHJKMNPQ"),
        "{msg}"
    );
    assert_error_naming(
        post(
            &app,
            format!("{base}/messages"),
            json!({"text": "x", "replyToMessageId": "x1"}),
        )
        .await,
        422,
        "replyToMessageId",
    )
    .await;

    let ids: Vec<String> = (0..26).map(|i| format!("{}", 100 + i)).collect();
    app.assert_refusals(vec![
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": ids, "type": 2})),
            422,
            "messageIds",
        ),
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": [], "type": 2})),
            422,
            "messageIds",
        ),
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": [fan_msg], "type": 5})),
            422,
            "type",
        ),
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": ["1x"], "type": 2})),
            422,
            "messageIds",
        ),
        (
            Method::POST,
            format!("{base}/messages/{fan_msg}/reactions"),
            Some(json!({"type": 8})),
            422,
            "type",
        ),
        (
            Method::POST,
            format!("{base}/messages/{fan_msg}/reactions"),
            Some(json!({})),
            422,
            "type",
        ),
    ])
    .await;

    // Nothing above reached Fansly or cost a credit.
    assert!(app.upstream_requests().await.is_empty());
    assert_eq!(app.balance(&app.team.id).await, before);

    // Unknown chat, unknown message: 404 from Fansly's answers, refunded.
    let unknown = app.acct_path("chats/123456789012345678");
    app.assert_refusals(vec![
        (
            Method::GET,
            format!("{unknown}/messages"),
            None,
            404,
            "123456789012345678",
        ),
        (Method::GET, unknown.clone(), None, 404, ""),
        (
            Method::POST,
            format!("{unknown}/messages"),
            Some(json!({"text": "hi"})),
            404,
            "",
        ),
        (
            Method::POST,
            format!("{unknown}/typing"),
            Some(json!({})),
            404,
            "",
        ),
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": ["123456789012345678"], "type": 2})),
            404,
            "123456789012345678",
        ),
        (
            Method::POST,
            format!("{base}/messages/123456789012345678/reactions"),
            Some(json!({"type": 1})),
            404,
            "",
        ),
    ])
    .await;
    // Reacting to one's own message is refused by Fansly.
    let mine: Value = post(&app, format!("{base}/messages"), json!({"text": "mine"}))
        .await
        .json()
        .await
        .unwrap();
    let mine = mine["data"]["id"].as_str().unwrap();
    assert_error(
        post(
            &app,
            format!("{base}/messages/{mine}/reactions"),
            json!({"type": 1}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        app.balance(&app.team.id).await,
        before - 1,
        "only the sent message was charged"
    );
    // Nothing changed in the chat: the fan's message is still unread.
    assert_eq!(chat_row(&app, &chat).await["unreadCount"], 1);

    // Another team's account is 404, like an unknown one.
    let other = app.new_team(100, 1).await;
    let resp = app.get_as(&other, &format!("{base}/messages")).await;
    assert_error(resp, 404).await;
}

async fn post(app: &TestApp, path: String, body: Value) -> reqwest::Response {
    call(app, Method::POST, &path, Some(body)).await
}

#[tokio::test]
async fn an_ack_of_many_messages_checks_them_in_one_read_and_names_a_stranger() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let written = app.fan_writes(1, "one of many", 30).await;
    let ids: Vec<String> = written["messages"].as_array().unwrap()[..25]
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let ack = format!("{}/messages/ack", chat_path(&app, &chat));
    let reads = |log: Vec<fansly_sandbox::LoggedRequest>| {
        log.iter()
            .filter(|r| r.method == "GET" && r.path == "/api/v1/message")
            .count()
    };

    app.clear_upstream_requests().await;
    let resp = call(
        &app,
        Method::POST,
        &ack,
        Some(json!({"messageIds": ids, "type": 2})),
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        reads(app.upstream_requests().await),
        1,
        "25 ids, one page read"
    );

    // A message of another chat, newer than these: inside the page walked, so
    // it is refused by name without a lookup of its own.
    app.open_chat(2).await;
    let stranger = app.fan_writes(2, "elsewhere", 1).await["messages"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut mixed = ids[..3].to_vec();
    mixed.push(stranger.clone());
    app.clear_upstream_requests().await;
    let resp = call(
        &app,
        Method::POST,
        &ack,
        Some(json!({"messageIds": mixed, "type": 2})),
    )
    .await;
    assert_error_naming(resp, 404, &stranger).await;
    assert_eq!(reads(app.upstream_requests().await), 1);
}
