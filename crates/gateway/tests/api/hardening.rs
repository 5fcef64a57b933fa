//! Issue 16's findings, one test each: proxies through the SSRF guard,
//! bounded storage (request ids, login fields, a cap on unconnected logins
//! and their clean-up), JSON errors from every layer with `_meta`, date
//! ranges Fansly accepts, sniffed uploads, files at rest, messages checked
//! against their chat and exact paging.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};
use crate::media::upload_file;

#[tokio::test]
async fn custom_proxy_to_a_private_address_is_refused() {
    let app = spawn_app_with(|c| c.logins.allow_private_proxies = false).await;
    for host in [
        "127.0.0.1",
        "localhost",
        "10.0.0.7",
        "169.254.169.254",
        "::1",
    ] {
        let resp = app
            .post(
                "/api/fansly/authenticate",
                &json!({"username": "x", "password": "x",
                              "customProxy": {"host": host, "port": 18599}}),
            )
            .await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains("customProxy.host"), "{host}: {msg}");
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM fansly_accounts WHERE team_id = $1 AND fansly_id IS NULL",
    )
    .bind(&app.team.id)
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(rows, 0, "nothing stored for a refused login");
}

#[tokio::test]
async fn request_ids_are_bounded_before_they_are_echoed_or_stored() {
    let app = spawn_app().await;
    let chats = app.acct_path("chats");
    let fan = app.fan_id(1).await;
    for (sent, kept) in [
        ("a".repeat(100_000), false),
        ("bad id with spaces".to_owned(), false),
        ("client-req_42.a:b".to_owned(), true),
    ] {
        let resp = app
            .http
            .post(format!("{}{chats}", app.address))
            .bearer_auth(&app.team.key)
            .header("x-request-id", &sent)
            .json(&json!({"user_id": fan}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(echoed.len() <= 128, "{}", echoed.len());
        assert_eq!(echoed == sent, kept, "{echoed}");
    }
    let ledger = app.ledger(&app.team.id).await;
    assert!(ledger.len() >= 3);
    for entry in ledger {
        let id = entry.request_id.unwrap_or_default();
        assert!(id.len() <= 128 && !id.contains(' '), "{id:.60}");
    }
}

#[tokio::test]
async fn login_fields_are_bounded_and_unconnected_logins_capped_then_cleaned() {
    let app = spawn_app_with(|c| c.logins.max_unconnected_per_team = 2).await;
    let start = |body: Value| {
        let app = &app;
        async move { app.post("/api/fansly/authenticate", &body).await }
    };
    for (field, body) in [
        (
            "password",
            json!({"username": "u", "password": "p".repeat(900_000)}),
        ),
        (
            "username",
            json!({"username": "u".repeat(300), "password": "p"}),
        ),
        (
            "name",
            json!({"username": "u", "password": "p", "name": "n".repeat(101)}),
        ),
    ] {
        let msg = assert_error(start(body).await, 422).await;
        assert!(msg.starts_with(field), "{msg}");
    }
    // Two failed logins fill the team's allowance; a third is refused.
    for n in 0..2 {
        let id = app
            .authenticate(
                &app.team,
                json!({"username": format!("nobody{n}"), "password": "wrong"}),
            )
            .await;
        let status = app.settled_status(&app.team, &id).await;
        assert_eq!(status["status"], "failed", "{status}");
    }
    let msg = assert_error(
        start(json!({"username": "another", "password": "p"})).await,
        429,
    )
    .await;
    assert!(msg.contains("not connected"), "{msg}");

    // Housekeeping deletes failed logins once they are past their retention.
    let failed = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM fansly_accounts WHERE auth_state = 'failed'",
        )
        .fetch_one(&app.db().pool)
        .await
        .unwrap()
    };
    assert_eq!(failed().await, 2);
    let janitor = |after: Duration| fansly_gateway::workers::housekeeping::Housekeeping {
        db: app.db().clone(),
        stale_uploads_after: Duration::from_secs(3600),
        retention: Duration::from_secs(3600),
        failed_logins_after: after,
        runs_dead_after: Duration::from_secs(3600),
        own_run: app.state.credits.run_id(),
    };
    janitor(Duration::from_secs(3600)).run_due().await;
    assert_eq!(failed().await, 2, "kept within their retention");
    tokio::time::sleep(Duration::from_millis(5)).await;
    janitor(Duration::ZERO).run_due().await;
    assert_eq!(failed().await, 0);
    app.authenticate(&app.team, json!({"username": "another", "password": "p"}))
        .await;
}

#[tokio::test]
async fn every_layer_answers_errors_as_json_with_meta_on_authenticated_calls() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for path in [
        format!("/api/fansly/{acct}/chats?limit=5&limit=6"),
        "/api/fansly/%FF/users/fan1".to_owned(),
    ] {
        let resp = app.get(&path).await;
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{path}"
        );
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    // An error of an authenticated call reports that nothing was charged.
    let before = app.balance(&app.team.id).await;
    let resp = app.get(&format!("/api/fansly/{acct}/chats?limit=0")).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 0, "{body}");
    assert_eq!(body["_meta"]["_credits"]["balance"], before, "{body}");
    // A refunded call (Fansly refuses: unknown chat) likewise.
    let resp = app
        .get(&format!(
            "/api/fansly/{acct}/chats/123456789012345678/messages"
        ))
        .await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 0, "{body}");
    assert_eq!(body["_meta"]["_credits"]["balance"], before, "{body}");
    assert_eq!(app.balance(&app.team.id).await, before);
    // Unauthenticated errors stay bare.
    let resp = app
        .request(
            Method::GET,
            &format!("/api/fansly/{acct}/chats"),
            None,
            None,
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("_meta").is_none(), "{body}");
}

#[tokio::test]
async fn dates_fansly_refuses_are_the_clients_422() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    for (query, param) in [
        ("analytics/summary?after=0000-01-01", "after"),
        ("analytics/summary?after=1900-01-01", "after"),
        ("analytics/summary?before=2999-01-01", "before"),
        ("insights?range=month&month=0000-01", "month"),
        ("insights?range=month&month=1969-12", "month"),
        ("insights?range=month&month=2999-01", "month"),
    ] {
        let msg = assert_error(app.get(&format!("/api/fansly/{acct}/{query}")).await, 422).await;
        assert!(msg.starts_with(param), "{query}: {msg}");
    }
    let resp = app
        .get(&format!(
            "/api/fansly/{acct}/analytics/summary?after=2024-01-01"
        ))
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn uploads_that_are_not_media_are_422_and_free() {
    let app = spawn_app().await;
    let before = app.balance(&app.team.id).await;
    app.clear_upstream_requests().await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    exe.resize(4_000, 0);
    let (status, body) = upload_file(&app, &app.team, exe, "photo.png", false).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("file"), "{body}");
    let (status, body) = upload_file(&app, &app.team, vec![7u8; 3_000], "photo.png", false).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(app.balance(&app.team.id).await, before, "nothing charged");
    let pushed: Vec<String> = app
        .upstream_requests()
        .await
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains("upload") || p.contains("media"))
        .collect();
    assert!(pushed.is_empty(), "nothing pushed to Fansly: {pushed:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn data_dir_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested").join("data");
    let dir2 = dir.clone();
    let app = spawn_app_with(move |c| {
        c.data_dir = dir2;
        c.database_url = None;
    })
    .await;
    app.get(&app.acct_path("chats")).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["gateway.db", "gateway.db-wal", "gateway.db-shm"] {
        let file = dir.join(name);
        if name == "gateway.db" || file.exists() {
            assert_eq!(mode(&file), 0o600, "{name}");
        }
    }
}

#[tokio::test]
async fn the_creators_email_is_not_kept() {
    let app = spawn_app().await;
    let (creator, id) = app.connect_by_login(1, json!({})).await;
    let email = creator["email"].as_str().unwrap().to_owned();
    let listed = app.get_json("/api/fansly/accounts").await;
    let text = listed.to_string();
    assert!(text.contains(&id), "{text}");
    assert!(!text.contains(&email), "{text}");
    let stored: Option<String> =
        sqlx::query_scalar("SELECT fansly_user_data FROM fansly_accounts WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    let stored = stored.unwrap();
    assert!(
        stored.contains("username") && !stored.contains(&email),
        "{stored}"
    );
}

#[tokio::test]
async fn message_actions_check_the_chat_and_full_last_pages_end_paging() {
    let app = spawn_app().await;
    let acct = &app.team.account_id;
    // Two chats; fan 2's message acted on through fan 1's chat is a 404.
    let one = app.fan_writes(1, "hello", 100).await;
    let two = app.fan_writes(2, "other", 1).await;
    let chat_one = one["groupId"].as_str().unwrap();
    let foreign = two["messages"][0].as_str().unwrap();
    let base = format!("/api/fansly/{acct}/chats/{chat_one}");
    for (method, path, body) in [
        (
            Method::POST,
            format!("{base}/messages/ack"),
            Some(json!({"messageIds": [foreign], "type": 2})),
        ),
        (
            Method::POST,
            format!("{base}/messages/{foreign}/reactions"),
            Some(json!({"type": 1})),
        ),
        (Method::DELETE, format!("{base}/messages/{foreign}"), None),
    ] {
        let resp = app
            .request(method, &path, Some(&app.team.key), body.as_ref())
            .await;
        let msg = assert_error(resp, 404).await;
        assert!(
            msg.contains("message_id") && msg.contains(foreign),
            "{path}: {msg}"
        );
    }
    // Exactly 100 messages, read 100 at a time (Fansly's cap): one page.
    let page = app.get_ok(&format!("{base}/messages?limit=100")).await;
    assert_eq!(page["data"]["messages"].as_array().unwrap().len(), 100);
    assert_eq!(
        page["data"]["hasMore"], false,
        "{}",
        page["data"]["hasMore"]
    );
    assert_eq!(page["_pagination"]["next_page"], Value::Null);
    // With one more, the full page does lead on.
    app.fan_writes(1, "one more", 1).await;
    let page = app.get_json(&format!("{base}/messages?limit=100")).await;
    assert!(page["_pagination"]["next_page"].is_string());
}

#[tokio::test]
async fn openapi_document_matches_what_the_gateway_answers() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.contains("{*")),
        "catch-all segments are plain parameters"
    );
    assert!(paths.contains_key("/api/fansly/{fanslyAccount}/media/download/{cdnUrl}"));
    let accounts = &paths["/api/fansly/accounts"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        accounts["type"], "array",
        "List Accounts answers a bare array: {accounts}"
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("ListReorderBody") && schemas.contains_key("VaultReorderBody"));
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for status in ["404", "500"] {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401") && responses.contains_key("422"),
                    "{method} {path}"
                );
            }
        }
    }
}
