//! The console's routes: the page itself, API keys, the ledger and spend
//! per day and endpoint, the request log, the operator token, the webhook
//! test send and the sandbox controls.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, spawn_hooked_app, strs, SendJson, TestApp,
};

const OPERATOR: &str = "fgw_operator_test_token_0123456789abcdefghij";

async fn data(app: &TestApp, method: Method, path: &str, key: &str, body: Option<Value>) -> Value {
    let resp = app.request(method, path, Some(key), body.as_ref()).await;
    assert_eq!(resp.status(), 200, "{path}: {}", resp.text().await.unwrap());
    let body: Value = resp.json().await.unwrap();
    body["data"].clone()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = http.get(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/console");
    let page = http
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("/console/app.js") && !html.contains("https://"));
    let js = http
        .get(format!("{}/console/app.js", app.address))
        .send()
        .await
        .unwrap();
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let css = http
        .get(format!("{}/console/app.css", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
}

#[tokio::test]
async fn keys_are_shown_once_listed_and_revoked_within_the_team() {
    let app = spawn_app().await;
    let other = app.new_team(10, 1).await;
    let key = &app.team.key;
    let created = data(
        &app,
        Method::POST,
        "/api/console/keys",
        key,
        Some(json!({"name": "bot"})),
    )
    .await;
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let me = data(&app, Method::GET, "/api/console/me", &secret, None).await;
    assert_eq!(me["team_id"], app.team.id);
    assert_eq!(me["key_id"], id.as_str());
    assert_eq!(me["operator"], false);
    assert_eq!(me["sandbox"], true);

    let listed = data(&app, Method::GET, "/api/console/keys", key, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed.to_string().find(&secret).is_none(),
        "secrets never listed"
    );

    let empty = app
        .request(
            Method::POST,
            "/api/console/keys",
            Some(key),
            Some(&json!({"name": " "})),
        )
        .await;
    assert!(assert_error(empty, 422).await.contains("name"));
    // Another team cannot revoke it.
    let foreign = app
        .send_as(
            &other,
            Method::DELETE,
            &format!("/api/console/keys/{id}"),
            None,
        )
        .await;
    assert_error(foreign, 404).await;
    data(
        &app,
        Method::DELETE,
        &format!("/api/console/keys/{id}"),
        key,
        None,
    )
    .await;
    let gone = app
        .request(Method::GET, "/api/console/me", Some(&secret), None)
        .await;
    assert_error(gone, 401).await;
    let again = app
        .request(
            Method::DELETE,
            &format!("/api/console/keys/{id}"),
            Some(key),
            None,
        )
        .await;
    assert_error(again, 404).await;
}

#[tokio::test]
async fn the_ledger_pages_and_spend_is_summed_per_day_and_endpoint() {
    let app = spawn_app().await;
    let key = app.team.key.clone();
    for _ in 0..3 {
        let r = app.get(&app.acct_path("users/fan1")).await;
        assert_eq!(r.status(), 200);
    }
    let first = data(&app, Method::GET, "/api/console/ledger?limit=2", &key, None).await;
    assert_eq!(first["balance"], 997);
    let rows = first["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["endpoint"], "users.lookup");
    assert_eq!(rows[0]["delta"], -1);
    let before = first["next_before"].as_i64().unwrap();
    let second = data(
        &app,
        Method::GET,
        &format!("/api/console/ledger?limit=2&before={before}"),
        &key,
        None,
    )
    .await;
    let rows2 = second["entries"].as_array().unwrap();
    assert_eq!(rows2.len(), 2);
    assert!(rows2[0]["id"].as_i64().unwrap() < before);
    assert_eq!(rows2[1]["reason"], "initial grant");
    let bad = app
        .request(
            Method::GET,
            "/api/console/ledger?before=x",
            Some(&key),
            None,
        )
        .await;
    assert!(assert_error(bad, 422).await.contains("before"));

    let usage = data(&app, Method::GET, "/api/console/usage?days=7", &key, None).await;
    let days = usage["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["credits"], 3, "{usage}");
    assert_eq!(
        usage["per_endpoint"],
        json!([{"endpoint": "users.lookup", "credits": 3, "calls": 3}])
    );
}

#[tokio::test]
async fn requests_are_recorded_with_credits_latency_and_fansly_calls() {
    let app = spawn_app().await;
    let key = app.team.key.clone();
    let path = app.acct_path("users/fan1");
    assert_eq!(app.get(&path).await.status(), 200);
    let missing = app
        .get(&format!(
            "/api/fansly/{}/chats/1/messages",
            "fansly_acct_nope"
        ))
        .await;
    assert_eq!(missing.status(), 404);
    // The console's own calls are left out unless asked for.
    let resp = app
        .http
        .get(format!("{}/api/fansly/accounts", app.address))
        .bearer_auth(&key)
        .header("x-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let rows = data(&app, Method::GET, "/api/console/requests", &key, None).await;
    let rows = rows.as_array().unwrap();
    let lookup = rows
        .iter()
        .find(|r| r["route"] == "/api/fansly/{fanslyAccount}/users/{usernames}")
        .expect("the lookup is recorded");
    assert_eq!(lookup["status"], 200);
    assert_eq!(lookup["credits"], 1);
    assert_eq!(lookup["upstream_calls"], 1);
    assert_eq!(lookup["path"], path.as_str());
    assert!(rows.iter().all(|r| r["console"] == false));

    let four = data(
        &app,
        Method::GET,
        "/api/console/requests?status=4xx",
        &key,
        None,
    )
    .await;
    assert_eq!(four.as_array().unwrap().len(), 1);
    assert_eq!(four[0]["status"], 404);
    let users = data(
        &app,
        Method::GET,
        "/api/console/requests?route=users",
        &key,
        None,
    )
    .await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    let all = data(
        &app,
        Method::GET,
        "/api/console/requests?console=true",
        &key,
        None,
    )
    .await;
    assert!(all.as_array().unwrap().iter().any(|r| r["console"] == true));
    // Another team sees none of them.
    let other = app.new_team(10, 1).await;
    let theirs = data(&app, Method::GET, "/api/console/requests", &other.key, None).await;
    assert!(theirs.as_array().unwrap().is_empty(), "{theirs}");
}

#[tokio::test]
async fn the_operator_token_lists_teams_and_acts_for_the_named_team() {
    let app = spawn_app_with(|c| c.operator_token = Some(OPERATOR.into())).await;
    let other = app.new_team(10, 1).await;
    let teams = app
        .request(Method::GET, "/api/console/teams", Some(OPERATOR), None)
        .await;
    assert_eq!(teams.status(), 200);
    let teams: Value = teams.json().await.unwrap();
    let ids = strs(&teams["data"], "id");
    assert!(ids.contains(&app.team.id.as_str()) && ids.contains(&other.id.as_str()));
    let refused = app.get("/api/console/teams").await;
    assert_error(refused, 401).await;
    let no_team = app
        .request(Method::GET, "/api/console/me", Some(OPERATOR), None)
        .await;
    assert!(assert_error(no_team, 400).await.contains("X-Team-Id"));
    let me = app
        .http
        .get(format!("{}/api/console/me", app.address))
        .bearer_auth(OPERATOR)
        .header("x-team-id", &other.id)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["data"]["team_id"], other.id.as_str());
    assert_eq!(me["data"]["operator"], true);
    let accounts: Value = app
        .http
        .get(format!("{}/api/fansly/accounts", app.address))
        .bearer_auth(OPERATOR)
        .header("x-team-id", &other.id)
        .send_json()
        .await;
    assert_eq!(accounts[0]["id"], other.account_id.as_str());
    // Without an operator token configured, nothing is the operator.
    let plain = spawn_app().await;
    let refused = plain
        .request(Method::GET, "/api/console/teams", Some(OPERATOR), None)
        .await;
    assert_error(refused, 401).await;
}

#[tokio::test]
async fn a_test_send_is_delivered_and_logged_with_its_attempt() {
    let (app, receiver, id) = spawn_hooked_app().await;
    let queued = data(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/test"),
        &app.team.key,
        None,
    )
    .await;
    assert_eq!(queued["event"], "webhook.test");
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["event"], "webhook.test");
    let mut delivered = Value::Null;
    for _ in 0..100 {
        delivered = data(
            &app,
            Method::GET,
            &format!("/api/webhooks/{id}/deliveries"),
            &app.team.key,
            None,
        )
        .await;
        if delivered[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered[0]["status"], "delivered", "{delivered}");
    assert_eq!(delivered[0]["attempts"][0]["status_code"], 200);

    data(
        &app,
        Method::PUT,
        &format!("/api/webhooks/{id}"),
        &app.team.key,
        Some(json!({"enabled": false})),
    )
    .await;
    let refused = app
        .send(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await;
    assert!(assert_error(refused, 409).await.contains("disabled"));
    let unknown = app
        .send(Method::POST, "/api/webhooks/wh_nope/test", None)
        .await;
    assert_error(unknown, 404).await;
}

#[tokio::test]
async fn the_sandbox_controls_forward_to_the_sandbox() {
    let app = spawn_app().await;
    let key = app.team.key.clone();
    let sent = data(
        &app,
        Method::POST,
        "/api/console/sandbox/events/message",
        &key,
        Some(json!({"fan": "fan3", "text": "from the console"})),
    )
    .await;
    assert!(sent["messageId"].is_string(), "{sent}");
    let unknown = app
        .request(
            Method::POST,
            "/api/console/sandbox/events/nonsense",
            Some(&key),
            Some(&json!({})),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let emails = data(
        &app,
        Method::GET,
        "/api/console/sandbox/emails?to=nobody",
        &key,
        None,
    )
    .await;
    assert_eq!(emails, json!([]));
    let anonymous = app
        .request(Method::GET, "/api/console/sandbox/emails", None, None)
        .await;
    assert_error(anonymous, 401).await;
}

#[tokio::test]
async fn console_queries_take_one_typed_value_per_parameter() {
    let app = spawn_app().await;
    let key = app.team.key.clone();
    for (path, names) in [
        ("/api/console/ledger?before=", "before"),
        ("/api/console/ledger?limit=", "limit"),
        ("/api/console/ledger?limit=5&limit=6", "limit"),
        ("/api/console/usage?days=3&days=4", "days"),
        (
            "/api/console/requests?console=true&console=false",
            "console",
        ),
        ("/api/console/requests?console=maybe", "console"),
        ("/api/console/requests?route=a&route=b", "route"),
    ] {
        let resp = app.request(Method::GET, path, Some(&key), None).await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains(names), "{path}: {msg}");
    }
    // Blank text filters filter nothing; absent typed ones take defaults.
    for path in [
        "/api/console/requests?route=&status=",
        "/api/console/ledger",
        "/api/console/requests?console=false",
    ] {
        data(&app, Method::GET, path, &key, None).await;
    }
}
