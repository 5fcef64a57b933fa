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
