//! Data exports: 5,000 messages over 20 chats exported through the
//! background worker, paged politely within the account's budget (checked
//! in the sandbox's request log), downloaded as CSV and JSON Lines, rows
//! and order checked against what the sandbox holds; credits per 1,000;
//! validation, start/retry/delete and expiry.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app_with, TestApp};

const CHATS: usize = 20;
const PER_CHAT: u32 = 250;
/// The account's read budget in this test: 20 a second after a burst of 5.
const READS_PER_MINUTE: u32 = 1_200;
const BURST: u32 = 5;

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let resp = app
        .request(method, path, Some(&app.team.key), body.as_ref())
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `verb` (start, retry) on export `id`: its status and body.
async fn act(app: &TestApp, id: &str, verb: &str) -> (u16, Value) {
    let path = format!("/api/data-exports/{id}/{verb}");
    call(app, Method::POST, &path, None).await
}

/// Sets the default team's credits directly in the database.
async fn set_credits(app: &TestApp, credits: i64) {
    sqlx::query("UPDATE teams SET credits = $1 WHERE id = $2")
        .bind(credits)
        .bind(&app.team.id)
        .execute(&app.db().writer)
        .await
        .unwrap();
}

fn worker(app: &TestApp) -> fansly_gateway::workers::data_exports::Deps {
    fansly_gateway::workers::data_exports::Deps {
        db: app.db().clone(),
        fansly: app.state.fansly.clone(),
        sessions: app.state.sessions.clone(),
        settings: app.state.config.data_exports.clone(),
        owner: "test-exporter".into(),
    }
}

/// Polls the export until it leaves the running states.
async fn settled(app: &TestApp, id: &str) -> Value {
    for _ in 0..600 {
        let (status, body) = call(app, Method::GET, &format!("/api/data-exports/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let s = body["data"]["status"].as_str().unwrap().to_owned();
        if s == "completed" || s == "failed" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("export {id} did not finish");
}

/// Runs the exports due now, then waits for export `id` to settle.
async fn run_settled(app: &TestApp, id: &str) -> Value {
    worker(app).run_due().await;
    settled(app, id).await
}

fn numeric(id: &str) -> u128 {
    id.parse().unwrap()
}

#[tokio::test]
async fn five_thousand_messages_over_twenty_chats_export_politely_in_both_formats() {
    let app = spawn_app_with(|c| {
        c.upstream.throttle.reads_per_minute = READS_PER_MINUTE;
        c.upstream.throttle.burst = BURST;
        c.upstream.throttle.max_wait_ms = 60_000;
        c.data_exports.poll_interval_ms = 100;
        // The relay's gap fill reads the same message pages after a
        // (re)connect; off here so the sandbox's log shows the export's alone.
        c.relay.gap_fill = false;
    })
    .await;
    // 20 new fans, each writing 250 messages to the team's creator.
    let resp = app
        .sandbox_post(
            "/_sandbox/fans",
            json!({"prefix": "exportfan", "count": CHATS}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let start = fansly_gateway::core::time::now_ms() - 60_000;
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for n in 1..=CHATS {
        let text = format!("hi, \"{n}\" =x");
        let resp = app
            .sandbox_post(
                &format!("/_sandbox/fans/exportfan{n}/messages"),
                json!({"text": text, "count": PER_CHAT}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        let ids = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect();
        expected.push((body["groupId"].as_str().unwrap().to_owned(), ids));
    }
    // Chats by id, each oldest first: the documented order.
    expected.sort_by_key(|(g, _)| numeric(g));
    let expected_ids: Vec<String> = expected.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(expected_ids.len(), 5_000);

    let balance = app.balance(&app.team.id).await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/data-exports",
        Some(json!({
            "type": "fansly_chat_messages",
            "account_ids": [app.team.account_id],
            "start_date": fansly_gateway::core::time::iso(start),
            "end_date": fansly_gateway::core::time::iso(start + 3_600_000),
            "file_type": "csv",
            "options": {"maxMessages": 10_000},
            "auto_start": false,
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["_meta"]["_credits"]["used"], 0);
    let export = &created["data"];
    let id = export["id"].as_str().unwrap().to_owned();
    assert_eq!(export["type"], "fansly_chat_messages");
    assert_eq!(export["status"], "pending");
    assert_eq!(export["accounts"][0]["id"], app.team.account_id.as_str());
    app.clear_upstream_requests().await;
    let (status, _) = act(&app, &id, "start").await;
    assert_eq!(status, 200);

    let done = run_settled(&app, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rows_processed"], 5_000);
    assert_eq!(done["total_rows"], 5_000);
    assert_eq!(done["progress_percentage"], 100);
    assert_eq!(done["credit_cost"], 5, "1 credit per 1,000 messages");
    assert_eq!(app.balance(&app.team.id).await, balance - 5);
    assert!(done["expires_at"].is_string());

    // Polite: three pages of 100/100/50 per chat and nothing more, and never
    // faster than the account's budget.
    let log = app.upstream_requests().await;
    let pages: Vec<_> = log.iter().filter(|r| r.path == "/api/v1/message").collect();
    assert_eq!(pages.len(), CHATS * 3, "message pages");
    assert!(pages
        .iter()
        .all(|r| r.query.as_deref().unwrap_or_default().contains("limit=100")));
    let reads: Vec<i64> = log
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.at_ms)
        .collect();
    let per_second = READS_PER_MINUTE as usize / 60;
    for (i, at) in reads.iter().enumerate() {
        let within = reads[i..].iter().take_while(|t| **t < at + 1_000).count();
        assert!(
            within <= BURST as usize + per_second + 1,
            "{within} reads within a second from {at}"
        );
    }

    // JSON Lines: every message once, in order, with its chat.
    let resp = app
        .get(&format!("/api/data-exports/{id}/download?format=jsonl"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5_000);
    let got: Vec<String> = rows
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected_ids);
    let first_chat = &expected[0].0;
    assert_eq!(rows[0]["chat_id"], first_chat.as_str());
    // Chat ids grow as chats open, so the first chat is fan 1's.
    assert_eq!(rows[0]["content"], "hi, \"1\" =x 1");
    assert_eq!(rows[0]["partner_username"], "exportfan1");

    // CSV: a header and the same rows in the same order.
    let resp = app.get(&format!("/api/data-exports/{id}/download")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let message_col = header.iter().position(|c| *c == "message_id").unwrap();
    let records: Vec<&str> = lines.collect();
    assert_eq!(records.len(), 5_000);
    for (record, want) in records.iter().zip(&expected_ids) {
        // Content is quoted (it holds a comma), so message_id is read before it.
        let cells: Vec<&str> = record.splitn(message_col + 2, ',').collect();
        assert_eq!(cells[message_col], want);
        assert!(record.contains("\"hi, \"\""), "{record}");
    }

    // Listed, then gone once expired.
    let (_, listed) = call(&app, Method::GET, "/api/data-exports", None).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["_pagination"]["next_page"], Value::Null);
    sqlx::query("UPDATE data_exports SET expires_at = 1 WHERE id = $1")
        .bind(&id)
        .execute(&app.db().writer)
        .await
        .unwrap();
    fansly_gateway::workers::housekeeping::Housekeeping {
        db: app.db().clone(),
        stale_uploads_after: Duration::from_secs(3600),
        retention: Duration::from_secs(3600),
        failed_logins_after: Duration::from_secs(3600),
        runs_dead_after: Duration::from_secs(3600),
        own_run: app.state.credits.run_id(),
    }
    .run_due()
    .await;
    let (status, _) = call(&app, Method::GET, &format!("/api/data-exports/{id}"), None).await;
    assert_eq!(status, 404);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM data_export_rows WHERE export_id = $1")
            .bind(&id)
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn exports_validate_start_retry_delete_and_run_out_of_credits() {
    let app = spawn_app_with(|c| c.data_exports.poll_interval_ms = 3_600_000).await;
    let acct = app.team.account_id.clone();
    let body = |extra: Value| {
        let mut b = json!({
            "type": "fansly_chat_messages",
            "account_ids": [acct],
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": fansly_gateway::core::time::iso(fansly_gateway::core::time::now_ms()),
            "options": {"maxMessages": 100},
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
            b.extend(e);
        }
        b
    };
    for (extra, field) in [
        (json!({"type": "onlyfans_chat_messages"}), "type"),
        (json!({"file_type": "xlsx"}), "file_type"),
        (json!({"start_date": "0000-01-01"}), "start_date"),
        (
            json!({"start_date": "2026-12-31T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}),
            "start_date",
        ),
        (
            json!({"options": {"maxMessages": 0}}),
            "options.maxMessages",
        ),
        (
            json!({"options": {"maxMessages": 5, "chatIds": ["12x"]}}),
            "options.chatIds",
        ),
        (json!({"account_ids": []}), "account_ids"),
    ] {
        let resp = app.post("/api/data-exports", &body(extra.clone())).await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains(field), "{extra}: {msg}");
    }
    let other = app.new_team(10, 1).await;
    let resp = app
        .post(
            "/api/data-exports",
            &body(json!({"account_ids": [other.account_id]})),
        )
        .await;
    assert_error(resp, 404).await;

    // auto_start false: pending until started; not downloadable before done.
    let fan = app.fan_writes(1, "hello", 3).await;
    let (status, created) = call(&app, Method::POST, "/api/data-exports",
        Some(body(json!({"auto_start": false, "options": {"maxMessages": 2, "chatIds": [fan["groupId"]]}})))).await;
    assert_eq!(status, 200, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["status"], "pending");
    assert_eq!(
        worker(&app).run_due().await,
        0,
        "a pending export does not run"
    );
    let resp = app.get(&format!("/api/data-exports/{id}/download")).await;
    assert_error(resp, 409).await;
    let (status, _) = act(&app, &id, "retry").await;
    assert_eq!(status, 409);
    let (status, started) = act(&app, &id, "start").await;
    assert_eq!(status, 200);
    assert_eq!(started["data"]["status"], "queued");

    // Out of credits: the export fails with nothing kept; retried once the
    // team has credits, it completes (maxMessages: the 2 newest, oldest first).
    set_credits(&app, 0).await;
    let failed = run_settled(&app, &id).await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["failed_reason"]
            .as_str()
            .unwrap()
            .contains("credits"),
        "{failed}"
    );
    set_credits(&app, 10).await;
    let (status, _) = act(&app, &id, "retry").await;
    assert_eq!(status, 200);
    let done = run_settled(&app, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["credit_cost"], 1);
    let text = app
        .get(&format!("/api/data-exports/{id}/download?format=jsonl"))
        .await
        .text()
        .await
        .unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let sent: Vec<String> = fan["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, sent[1..].to_vec());

    // Another team sees none of it; delete removes it.
    let resp = app.get_as(&other, &format!("/api/data-exports/{id}")).await;
    assert_error(resp, 404).await;
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/data-exports/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, Method::GET, &format!("/api/data-exports/{id}"), None).await;
    assert_eq!(status, 404);
}
