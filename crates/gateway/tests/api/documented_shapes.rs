//! The vendor's documented examples (a copy of the contract's
//! `endpoints.json` in `fixtures/`) against what the gateway answers from the
//! sandbox: every key an example shows is present, with the same JSON type.
//! Many examples are only the start of a page (`response_example_partial`,
//! cut mid-value), so the cut text is closed to its last complete value and
//! checked as a subset; `null` in an example matches anything (Fansly sends
//! `null` or a value for those fields, e.g. an unset `displayName`).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// The example of the endpoint titled `title`: the whole one when known,
/// else its documented start closed to the last complete value.
fn example(title: &str) -> Value {
    let all: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/endpoints.json")).expect("endpoints.json");
    let e = all
        .iter()
        .find(|e| e["title"] == title)
        .unwrap_or_else(|| panic!("no endpoint titled {title}"));
    if !e["response_example"].is_null() {
        return e["response_example"].clone();
    }
    let text = e["response_example_partial"]
        .as_str()
        .unwrap_or_else(|| panic!("{title} has no example"));
    close_truncated(text).unwrap_or_else(|| panic!("{title}: example does not parse"))
}

/// JSON cut at an arbitrary byte, made whole: cut back to the last `,` or
/// opening bracket outside a string where no array element is half written
/// (so every array keeps only whole rows), then close the brackets still open.
fn close_truncated(text: &str) -> Option<Value> {
    let mut stack: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    // (byte index to cut at, brackets open there)
    let mut last_cut: Option<(usize, Vec<char>)> = None;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                stack.push(c);
                if whole_rows(&stack) {
                    last_cut = Some((i + 1, stack.clone()));
                }
            }
            '}' | ']' => {
                stack.pop();
            }
            ',' if whole_rows(&stack) => last_cut = Some((i, stack.clone())),
            _ => {}
        }
    }
    if stack.is_empty() && !in_string {
        return serde_json::from_str(text).ok();
    }
    let (at, open) = last_cut?;
    let mut fixed = text[..at].to_owned();
    for b in open.iter().rev() {
        fixed.push(if *b == '{' { '}' } else { ']' });
    }
    serde_json::from_str(&fixed).ok()
}

/// No object is open inside an open array (a cut there would keep half a row).
fn whole_rows(stack: &[char]) -> bool {
    !stack.windows(2).any(|w| w == ['[', '{'])
}

/// The rows of an example array as one row: the keys every row has, each
/// with a type they agree on (`null` where they differ: a nullable field).
fn merge_rows(rows: &[Value]) -> Value {
    let first = &rows[0];
    if rows.iter().any(Value::is_null) {
        return Value::Null;
    }
    if rows
        .iter()
        .any(|r| std::mem::discriminant(r) != std::mem::discriminant(first))
    {
        return Value::Null;
    }
    match first {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for k in o.keys() {
                let vals: Option<Vec<Value>> = rows.iter().map(|r| r.get(k).cloned()).collect();
                if let Some(vals) = vals {
                    out.insert(k.clone(), merge_rows(&vals));
                }
            }
            Value::Object(out)
        }
        // An array some example rows leave empty may be empty in the answer
        // too (the first subscription tier includes no other): only its type
        // is held then.
        Value::Array(_) if rows.iter().any(|r| r.as_array().is_some_and(Vec::is_empty)) => {
            json!([])
        }
        Value::Array(_) => {
            let all: Vec<Value> = rows
                .iter()
                .flat_map(|r| r.as_array().unwrap().clone())
                .collect();
            if all.is_empty() {
                json!([])
            } else {
                json!([merge_rows(&all)])
            }
        }
        _ => first.clone(),
    }
}

/// Every key of `expected` is in `actual` with the same JSON type; every
/// array element is held to the example's rows merged (keys all rows have,
/// `null` where rows differ in type). `null` in the example allows anything.
fn assert_covers(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is missing; got keys {:?}", a.keys()));
                assert_covers(ev, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.is_empty() {
                return;
            }
            assert!(
                !a.is_empty(),
                "{path}: the example has rows, the answer none"
            );
            let row = merge_rows(e);
            for (i, av) in a.iter().enumerate() {
                assert_covers(&row, av, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(e), Value::Number(a)) => assert_eq!(
            e.is_f64(),
            a.is_f64(),
            "integer vs float at {path}: example {e}, got {a}"
        ),
        (e, a) => assert_eq!(
            std::mem::discriminant(e),
            std::mem::discriminant(a),
            "type differs at {path}: example like {e}, got {a}"
        ),
    }
}

async fn send_message(app: &TestApp, chat: &str, text: &str) {
    let path = format!("/api/fansly/{}/chats/{chat}/messages", app.team.account_id);
    let resp = app.post(&path, &json!({ "text": text })).await;
    assert_eq!(resp.status(), 200, "{path}");
}

async fn body(app: &TestApp, path: &str) -> Value {
    let resp = app.get(path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

#[test]
fn a_cut_example_is_closed_to_its_last_complete_value() {
    let v = close_truncated(r#"{"a": [{"b": 1, "c": "x,y"}, {"d": {"e"#).unwrap();
    assert_eq!(v, json!({"a": [{"b": 1, "c": "x,y"}]}));
    let v = close_truncated(r#"{"a": {"b": [1, 2], "c": {"d": 1, "e"#).unwrap();
    assert_eq!(v, json!({"a": {"b": [1, 2], "c": {"d": 1}}}));
    let v = close_truncated(r#"{"a": 1, "b": "unfinished"#).unwrap();
    assert_eq!(v, json!({"a": 1}));
}

#[test]
fn example_rows_merge_to_what_every_row_has() {
    let rows = [
        json!({"id": "1", "name": null, "extra": 1}),
        json!({"id": "2", "name": "x"}),
    ];
    assert_eq!(merge_rows(&rows), json!({"id": "1", "name": null}));
}

#[test]
fn the_shape_check_can_fail() {
    let ex = json!({"avatar": {"locations": [{"location": "x"}]}, "displayName": null});
    assert_covers(
        &ex,
        &json!({"avatar": {"locations": [{"location": "y"}]}, "displayName": "A"}),
        "$",
    );
    for wrong in [
        json!({"avatar": null, "displayName": "A"}),
        json!({"avatar": {"locations": []}}),
        json!({"avatar": {"locations": [{"location": 1}]}, "displayName": null}),
    ] {
        let r = std::panic::catch_unwind(|| assert_covers(&ex, &wrong, "$"));
        assert!(r.is_err(), "{wrong} passed");
    }
}

#[tokio::test]
async fn show_chat_answers_the_documented_shape() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let fan = app.fan_id(1).await;
    let chat: Value = app.create_chat(&fan).await.json().await.unwrap();
    let chat_id = chat["data"]["id"].as_str().unwrap().to_owned();
    send_message(&app, &chat_id, "hello").await;
    let got = body(&app, &format!("/api/fansly/{acct}/chats/{chat_id}")).await;
    assert_covers(&example("Show Chat"), &got, "$");
    let data = &got["data"];
    assert!(data["groupFlags"].is_i64());
    assert!(data["partnerMissingDmPermissionFlagsChecked"].is_boolean());
    assert!(data["userSettings"]["customName"].is_string());
    for u in data["users"].as_array().unwrap() {
        assert!(u["type"].is_i64(), "{u}");
    }
}

#[tokio::test]
async fn list_followers_rows_answer_the_documented_shape() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    let got = body(&app, &format!("/api/fansly/{acct}/followers?limit=50")).await;
    assert_covers(&example("List Followers"), &got, "$");
    let accounts = got["data"]["aggregationData"]["accounts"]
        .as_array()
        .unwrap();
    assert!(accounts.iter().all(|a| a["followsYou"] == true));
}

#[tokio::test]
async fn chats_and_user_details_carry_avatars_like_fansly() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for i in 1..=9 {
        let fan = app.fan_id(i).await;
        let chat: Value = app.create_chat(&fan).await.json().await.unwrap();
        send_message(&app, chat["data"]["id"].as_str().unwrap(), "hi").await;
    }
    let chats = body(&app, &format!("/api/fansly/{acct}/chats?limit=100")).await;
    let accounts = chats["data"]["aggregationData"]["accounts"]
        .as_array()
        .unwrap()
        .clone();
    // Most fans have an avatar in Fansly's media shape, a few have `null`.
    let with: Vec<&Value> = accounts.iter().filter(|a| !a["avatar"].is_null()).collect();
    assert!(with.len() > accounts.len() / 2, "{accounts:?}");
    assert!(
        with.len() < accounts.len(),
        "one of fans 1..9 has no avatar"
    );
    let mut ex = example("List Chats");
    ex["data"]["aggregationData"]["accounts"] =
        json!([ex["data"]["aggregationData"]["accounts"][0].clone()]);
    let mut only_with = chats.clone();
    only_with["data"]["aggregationData"]["accounts"] = json!(with);
    assert_covers(
        &ex["data"]["aggregationData"],
        &only_with["data"]["aggregationData"],
        "$.data.aggregationData",
    );

    // Get User Details: a creator's full account with avatar and banner.
    let creators = app.sandbox_get("/_sandbox/creators").await;
    let creators = creators.as_array().unwrap();
    let other = creators
        .iter()
        .find(|c| c["account_id"].as_str() != Some(acct.as_str()))
        .unwrap();
    let username = other["username"].as_str().unwrap();
    let got = body(&app, &format!("/api/fansly/{acct}/users/{username}")).await;
    assert_covers(&example("Get User Details"), &got, "$");
    assert!(got["data"][0]["banner"]["locations"][0]["location"].is_string());
}

/// The example documented for `method path` (the contract's path template),
/// whole or closed to its last complete value; titled or not.
fn example_at(method: &str, path: &str) -> Value {
    let all: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/endpoints.json")).expect("endpoints.json");
    let e = all
        .iter()
        .find(|e| e["method"] == method && e["path"] == path)
        .unwrap_or_else(|| panic!("no endpoint {method} {path}"));
    if !e["response_example"].is_null() {
        return e["response_example"].clone();
    }
    let text = e["response_example_partial"].as_str().unwrap();
    close_truncated(text).unwrap_or_else(|| panic!("{method} {path}: example does not parse"))
}

/// Every documented example the contract holds, each checked against what
/// the gateway answers from the sandbox (the examples `show_chat_…`,
/// `list_followers_…` and `chats_and_user_details_…` check above are
/// repeated here only where this walk needs their setup). Not checked here:
/// Download Media (a redirect, no body; `media.rs` tests follow it).
/// The error example (`* *`) is checked by hand: its text is a placeholder.
#[tokio::test]
async fn every_documented_example_is_answered_in_its_shape() {
    use reqwest::Method;
    let app = crate::helpers::spawn_app_with(|c| c.webhooks.allow_private_targets = true).await;
    let acct = app.team.account_id.clone();
    let base = format!("/api/fansly/{acct}");
    let mut checked: Vec<String> = Vec::new();
    // Checked outside `check` (multipart uploads).
    let mut by_hand: Vec<String> = Vec::new();
    let mut check = async |method: Method, template: &str, path: &str, body: Option<Value>| {
        let resp = app.send(method.clone(), path, body.as_ref()).await;
        let status = resp.status();
        let got: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {got}");
        assert_covers(
            &example_at(method.as_str(), template),
            &got,
            &format!("{method} {template}"),
        );
        checked.push(format!("{method} {template}"));
        got
    };
    let t = "/api/fansly/{fanslyAccount}";

    // Listed before a login is pending (a pending one has no Fansly id yet).
    check(
        Method::GET,
        "/api/fansly/accounts",
        "/api/fansly/accounts",
        None,
    )
    .await;
    // Connecting: start, poll, submit a code (the e-mailed-code creator).
    let mail = app.creator(2).await;
    let started = check(
        Method::POST,
        "/api/fansly/authenticate",
        "/api/fansly/authenticate",
        Some(json!({"username": mail["username"], "password": mail["password"]})),
    )
    .await;
    let pending = started["account_id"].as_str().unwrap().to_owned();
    app.settled_status(&app.team, &pending).await;
    let poll = format!("/api/fansly/authenticate/{pending}");
    check(
        Method::GET,
        "/api/fansly/authenticate/{fanslyAccount}",
        &poll,
        None,
    )
    .await;
    check(
        Method::PUT,
        "/api/fansly/authenticate/{fanslyAccount}",
        &poll,
        Some(json!({"code": "000000"})),
    )
    .await;
    app.settled_status(&app.team, &pending).await;

    // Chats and messages.
    let fan = app.fan_id(2).await;
    let chat = check(
        Method::POST,
        &format!("{t}/chats"),
        &format!("{base}/chats"),
        Some(json!({"user_id": fan})),
    )
    .await;
    let chat_id = chat["data"]["id"].as_str().unwrap().to_owned();
    let sent = check(
        Method::POST,
        &format!("{t}/chats/{{chat_id}}/messages"),
        &format!("{base}/chats/{chat_id}/messages"),
        Some(json!({"text": "documented"})),
    )
    .await;
    let message = sent["data"]["id"].as_str().unwrap().to_owned();
    let wrote = app.fan_writes(2, "a fan writes", 1).await;
    let fan_message = wrote["messages"][0].as_str().unwrap().to_owned();
    check(
        Method::GET,
        &format!("{t}/chats"),
        &format!("{base}/chats?limit=10"),
        None,
    )
    .await;
    check(
        Method::GET,
        &format!("{t}/chats/{{chat_id}}"),
        &format!("{base}/chats/{chat_id}"),
        None,
    )
    .await;
    check(
        Method::GET,
        &format!("{t}/chats/{{chat_id}}/messages"),
        &format!("{base}/chats/{chat_id}/messages"),
        None,
    )
    .await;
    check(
        Method::POST,
        &format!("{t}/chats/{{chat_id}}/messages/ack"),
        &format!("{base}/chats/{chat_id}/messages/ack"),
        Some(json!({"messageIds": [message], "type": 2})),
    )
    .await;
    let reactions = format!("{base}/chats/{chat_id}/messages/{fan_message}/reactions");
    let reactions_t = format!("{t}/chats/{{chat_id}}/messages/{{message_id}}/reactions");
    check(
        Method::POST,
        &reactions_t,
        &reactions,
        Some(json!({"type": 1})),
    )
    .await;
    check(
        Method::DELETE,
        &reactions_t,
        &reactions,
        Some(json!({"type": 1})),
    )
    .await;

    // Money, fans, statistics.
    for (route, query) in [
        ("earnings/monthly", ""),
        ("earnings/pending", ""),
        ("earnings/transactions", ""),
        ("followers", "?limit=20"),
        ("insights", ""),
        ("subscribers", "?limit=20"),
        ("walls", ""),
        ("users/", "?ids={fan}"),
    ] {
        check(
            Method::GET,
            &format!("{t}/{route}"),
            &format!("{base}/{route}{}", query.replace("{fan}", &fan)),
            None,
        )
        .await;
    }
    let creators = app.sandbox_get("/_sandbox/creators").await;
    let other = creators[1]["username"].as_str().unwrap().to_owned();
    check(
        Method::GET,
        &format!("{t}/users/{{usernames}}"),
        &format!("{base}/users/{other}"),
        None,
    )
    .await;
    let links = app.get_json(&format!("{base}/tracking-links")).await;
    let link = links["data"]["list"][0]["id"]
        .as_str()
        .or_else(|| links["data"][0]["id"].as_str())
        .unwrap_or_else(|| panic!("a seeded tracking link: {links}"))
        .to_owned();
    check(
        Method::GET,
        &format!("{t}/tracking-links/{{tracking_link_id}}/stats"),
        &format!("{base}/tracking-links/{link}/stats"),
        None,
    )
    .await;
    check(
        Method::POST,
        &format!("{t}/walls"),
        &format!("{base}/walls"),
        Some(json!({"name": "Behind the scenes", "description": "Exclusive BTS"})),
    )
    .await;

    // Media: the upload answers, and the account media of what was uploaded.
    let png = crate::media::png(40, 40, 3_000);
    let (status, uploaded) =
        crate::media::upload_file(&app, &app.team, png, "photo.png", false).await;
    assert_eq!(status, 200, "{uploaded}");
    assert_covers(
        &example_at("POST", &format!("{t}/media/upload")),
        &uploaded,
        "POST upload",
    );
    by_hand.push(format!("POST {t}/media/upload"));
    let (status, vaulted) = crate::vault::vault_upload(&app, None, false).await;
    assert_eq!(status, 200, "{vaulted}");
    assert_covers(
        &example_at("POST", &format!("{t}/vault/media/upload")),
        &vaulted,
        "POST vault upload",
    );
    by_hand.push(format!("POST {t}/vault/media/upload"));
    let with_media = check(
        Method::POST,
        &format!("{t}/chats/{{chat_id}}/messages"),
        &format!("{base}/chats/{chat_id}/messages"),
        Some(json!({"mediaFiles": [uploaded["prefixed_id"]], "text": "with media"})),
    )
    .await;
    let page = app
        .get_json(&format!("{base}/chats/{chat_id}/messages"))
        .await;
    let grant = page["data"]["accountMedia"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a grant for {with_media}: {page}"))
        .to_owned();
    check(
        Method::GET,
        &format!("{t}/account-media/{{ids}}"),
        &format!("{base}/account-media/{grant}"),
        None,
    )
    .await;

    // The gateway's own resources.
    let hook = check(
        Method::POST,
        "/api/webhooks",
        "/api/webhooks",
        Some(json!({
            "endpoint_url": "http://127.0.0.1:9/hook",
            "events": ["fansly.messages.received"],
            "account_scope": "inclusive",
            "account_ids": [acct],
        })),
    )
    .await;
    let hook_id = hook["data"]["id"].as_str().unwrap().to_owned();
    check(Method::GET, "/api/webhooks", "/api/webhooks", None).await;
    check(
        Method::PUT,
        "/api/webhooks/{webhook_id}",
        &format!("/api/webhooks/{hook_id}"),
        Some(json!({"events": ["fansly.messages.received", "fansly.messages.sent"]})),
    )
    .await;
    check(
        Method::GET,
        "/api/webhooks/events",
        "/api/webhooks/events",
        None,
    )
    .await;
    let now = fansly_gateway::core::time::now_ms();
    check(
        Method::POST,
        "/api/data-exports",
        "/api/data-exports",
        Some(json!({
            "type": "fansly_chat_messages",
            "account_ids": [acct],
            "start_date": fansly_gateway::core::time::iso(now - 86_400_000),
            "end_date": fansly_gateway::core::time::iso(now),
            "file_type": "csv",
            "options": {"maxMessages": 100},
            "auto_start": false,
        })),
    )
    .await;
    check(
        Method::DELETE,
        "/api/fansly/accounts/{fanslyAccount}",
        &format!("/api/fansly/accounts/{pending}"),
        None,
    )
    .await;
    check(
        Method::GET,
        "/api/fansly/{fanslyAccount}/subscription-tiers",
        &format!("{base}/subscription-tiers"),
        None,
    )
    .await;
    checked.extend(by_hand);

    // An error answer carries `_meta._credits` as the vendor's do.
    let refused = app.get(&format!("{base}/chats/not-a-chat/messages")).await;
    assert!(refused.status().is_client_error());
    let refused: Value = refused.json().await.unwrap();
    assert!(
        refused["error"].is_string() || refused["error"].is_object(),
        "{refused}"
    );
    assert!(refused["_meta"]["_credits"]["used"].is_i64(), "{refused}");

    // 35 examples: 33 checked through `check` (Send Chat Message twice),
    // the error body by hand above, Download Media a redirect.
    let distinct: std::collections::HashSet<&String> = checked.iter().collect();
    assert_eq!(distinct.len(), 33, "{checked:#?}");
}
