//! A broadcast over time: scheduled and fired once after a restart, edited
//! then cancelled, cancelled mid-way, and resumed without duplicates after
//! an interruption.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use fansly_gateway::workers::broadcasts;

use super::{
    accepted, app, bulk_fans, delivered, delivered_from, list_of, path, pending_ids, per_recipient,
    show,
};
use crate::helpers::{assert_error, assert_error_naming, parked, spawn_app_on, spawn_app_with};

#[tokio::test]
async fn a_scheduled_broadcast_to_500_fans_survives_a_restart_and_fires_once_within_the_throttle() {
    // Writes paced at 40 a second after a burst of 20: 1000 writes take ~25 s.
    const PER_MINUTE: u32 = 2_400;
    const BURST: u32 = 20;
    let throttle = |c: &mut fansly_gateway::Config| {
        parked(c);
        c.upstream.throttle.writes_per_minute = PER_MINUTE;
        c.upstream.throttle.burst = BURST;
    };
    let sandbox = crate::helpers::start_sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::test_database_url().await;

    // First life: build the list, schedule the broadcast, stop before it fires.
    let first = spawn_app_on(&sandbox, data.path(), database_url.clone(), None, throttle).await;
    let app = &first.app;
    let fans = bulk_fans(app, "massfan", 500).await;
    let list = list_of(app, "Everyone 500", &fans).await;
    let fire_at = fansly_gateway::core::time::now_ms() + 60_000;
    let b = accepted(
        app,
        json!({"text": "Hello, all 500 of you", "listIds": [list], "scheduledFor": fire_at}),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_owned();
    assert!(fansly_upstream::ids::is_snowflake(&id), "{id}");
    assert_eq!(b["state"], "scheduled");
    assert_eq!(b["scheduledFor"], fire_at);
    assert_eq!(pending_ids(app).await, vec![id.clone()]);
    assert_eq!(app.run_pending_broadcasts().await, 0, "not due yet");
    let team = app.team.clone();
    first.stop().await;
    assert!(delivered_from(&sandbox.url(), "Hello, all 500 of you")
        .await
        .is_empty());

    // Second life on the same database: it fires, once.
    let second = spawn_app_on(&sandbox, data.path(), database_url, Some(team), throttle).await;
    let app = &second.app;
    app.clear_upstream_requests().await;
    // Run it as of its schedule, looking at its progress while it goes.
    let deps = app.workers.broadcasts.clone();
    let mut run =
        tokio::spawn(
            async move { broadcasts::run_due_ahead(&deps, Duration::from_secs(61)).await },
        );
    let mut seen = Vec::new();
    let mut look = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            ran = &mut run => {
                assert_eq!(ran.unwrap(), 1);
                break;
            }
            _ = look.tick() => seen.push(show(app, &id).await),
        }
    }
    let done = show(app, &id).await;
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(
        (
            done["total"].clone(),
            done["sent"].clone(),
            done["failed"].clone(),
            done["pending"].clone()
        ),
        (json!(500), json!(500), json!(0), json!(0))
    );
    assert!(
        seen.iter().any(|b| b["state"] == "sending"
            && b["total"] == 500
            && b["sent"].as_i64().is_some_and(|s| s > 0 && s < 500)),
        "progress was reported while sending"
    );
    assert!(pending_ids(app).await.is_empty());

    // Exactly one message per fan of the list, and no more later.
    app.run_pending_broadcasts_ahead(Duration::from_secs(86_400))
        .await;
    let messages = delivered(app, "Hello, all 500 of you").await;
    let counts = per_recipient(&messages);
    assert_eq!(messages.len(), 500);
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        fans.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(counts.values().all(|n| *n == 1));

    // The writes never outran the account's budget: in any window, at most
    // the burst plus what the rate refilled (one extra for rounding).
    let writes: Vec<i64> = app
        .upstream_requests()
        .await
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/api/"))
        .map(|r| r.at_ms)
        .collect();
    assert!(writes.len() >= 1_000, "{} writes logged", writes.len());
    let per_ms = f64::from(PER_MINUTE) / 60_000.0;
    let mut worst = 0.0f64;
    for i in 0..writes.len() {
        for j in i..writes.len() {
            let allowed = f64::from(BURST) + per_ms * (writes[j] - writes[i]) as f64 + 1.0;
            worst = worst.max((j - i + 1) as f64 - allowed);
        }
    }
    let span_ms = writes.last().unwrap() - writes.first().unwrap();
    eprintln!(
        "500-fan broadcast: {} upstream writes over {span_ms} ms ({:.1}/s; budget {BURST} + {:.1}/s); \
         closest approach to the budget: {:.2} writes",
        writes.len(),
        writes.len() as f64 * 1000.0 / span_ms.max(1) as f64,
        per_ms * 1000.0,
        -worst
    );
    assert!(worst <= 0.0, "writes exceeded the budget by {worst}");
    second.stop().await;
}

#[tokio::test]
async fn a_scheduled_broadcast_is_edited_then_cancelled_and_never_fires() {
    let app = app().await;
    let fan1 = app.fan_id(1).await;
    let later = fansly_gateway::core::time::now_ms() + 60_000;
    let b = accepted(
        &app,
        json!({"text": "Old text", "userIds": [fan1], "scheduledFor": later}),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_owned();
    let url = format!("{}/{id}", path(&app));
    let put = |body: Value| {
        let (app, url) = (&app, url.clone());
        async move { app.put(&url, &body).await }
    };

    let even_later = later + 60_000;
    let resp = put(json!({"text": "New text", "scheduledFor": even_later})).await;
    assert_eq!(resp.status(), 200);
    let edited: Value = resp.json().await.unwrap();
    assert_eq!(edited["data"]["text"], "New text");
    assert_eq!(edited["data"]["scheduledFor"], even_later);
    assert_eq!(edited["data"]["userIds"], json!([fan1]));
    // Resending the current schedule keeps it.
    let resp = put(json!({"scheduledFor": even_later})).await;
    assert_eq!(resp.status(), 200);
    let msg = assert_error(put(json!({"scheduledFor": 1_000})).await, 422).await;
    assert!(msg.starts_with("scheduledFor"), "{msg}");
    assert_error_naming(put(json!({"text": ""})).await, 422, "text").await;
    assert_error_naming(put(json!({"userIds": []})).await, 422, "audience is empty").await;
    assert_error_naming(
        put(json!({"listIds": ["123"]})).await,
        404,
        "listIds: list 123 not found",
    )
    .await;
    assert_error_naming(put(json!({"groupId": "123"})).await, 422, "groupId").await;
    // The audience can be replaced too.
    let fan2 = app.fan_id(2).await;
    let resp = put(json!({"userIds": [fan2]})).await;
    assert_eq!(resp.status(), 200);
    let edited: Value = resp.json().await.unwrap();
    assert_eq!(edited["data"]["userIds"], json!([fan2]));
    assert_eq!(edited["data"]["text"], "New text");
    assert_eq!(show(&app, &id).await["text"], "New text");
    assert_eq!(pending_ids(&app).await, vec![id.clone()]);

    let resp = app.delete(&url).await;
    assert_eq!(resp.status(), 200);
    let cancelled: Value = resp.json().await.unwrap();
    assert_eq!(cancelled["data"]["state"], "cancelled");
    assert!(pending_ids(&app).await.is_empty());
    assert_error_naming(app.delete(&url).await, 409, "cancelled").await;
    assert_error_naming(
        put(json!({"text": "again"})).await,
        409,
        "only a scheduled broadcast",
    )
    .await;

    // An edit made before a near schedule is what gets sent.
    let soon = fansly_gateway::core::time::now_ms() + 60_000;
    let b = accepted(
        &app,
        json!({"text": "Draft", "userIds": [fan1], "scheduledFor": soon}),
    )
    .await;
    let id2 = b["id"].as_str().unwrap().to_owned();
    let resp = app
        .put(&format!("{}/{id2}", path(&app)), &json!({"text": "Final"}))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.run_pending_broadcasts().await, 0, "not due yet");
    // Past both schedules: the cancelled one stays cancelled.
    assert_eq!(
        app.run_pending_broadcasts_ahead(Duration::from_secs(3_600))
            .await,
        1
    );
    assert_eq!(show(&app, &id).await["state"], "cancelled");
    let done = show(&app, &id2).await;
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(delivered(&app, "Final").await.len(), 1);
    assert!(delivered(&app, "Draft").await.is_empty());
    assert!(delivered(&app, "Old text").await.is_empty());
    assert!(delivered(&app, "New text").await.is_empty());
    assert_error_naming(
        app.delete(&format!("{}/{id2}", path(&app))).await,
        409,
        "already sent",
    )
    .await;
}

#[tokio::test]
async fn cancelling_a_broadcast_in_progress_stops_it_before_the_next_recipient() {
    // Two writes a second: 30 recipients take ~30 s unless cancelled.
    let app = spawn_app_with(|c| {
        parked(c);
        c.upstream.throttle.writes_per_minute = 120;
        c.upstream.throttle.burst = 2;
    })
    .await;
    let fans = bulk_fans(&app, "slowfan", 30).await;
    let b = accepted(&app, json!({"text": "Stop me", "userIds": fans})).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let deps = app.workers.broadcasts.clone();
    let run = tokio::spawn(async move { broadcasts::run_due(&deps).await });
    // Cancel once it is under way (the throttle paces it).
    let start = Instant::now();
    loop {
        let now = show(&app, &id).await;
        if now["sent"].as_i64().unwrap() >= 2 {
            assert_eq!(now["state"], "sending");
            assert_eq!(now["total"], 30);
            assert_eq!(pending_ids(&app).await, vec![id.clone()]);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = app.delete(&format!("{}/{id}", path(&app))).await;
    assert_eq!(resp.status(), 200);
    // The run sees the cancel before its next recipient and stops.
    assert_eq!(run.await.unwrap(), 1);
    let after = show(&app, &id).await;
    assert_eq!(after["state"], "cancelled");
    let sent = after["sent"].as_u64().unwrap() as usize;
    assert!(sent < 30, "{after}");
    assert_eq!(delivered(&app, "Stop me").await.len(), sent);
    app.run_pending_broadcasts_ahead(Duration::from_secs(86_400))
        .await;
    assert_eq!(
        delivered(&app, "Stop me").await.len(),
        sent,
        "nothing after cancel"
    );
    assert_eq!(show(&app, &id).await["sent"], sent);
    assert!(pending_ids(&app).await.is_empty());
}

#[tokio::test]
async fn a_broadcast_interrupted_mid_way_resumes_without_duplicates() {
    let sandbox = crate::helpers::start_sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::test_database_url().await;

    // First life: five writes a second, stopped after a few recipients.
    let first = spawn_app_on(&sandbox, data.path(), database_url.clone(), None, |c| {
        parked(c);
        c.upstream.throttle.writes_per_minute = 300;
        c.upstream.throttle.burst = 1;
    })
    .await;
    let app = &first.app;
    let fans = bulk_fans(app, "resumefan", 20).await;
    let b = accepted(app, json!({"text": "Resume me", "userIds": fans})).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let deps = app.workers.broadcasts.clone();
    let run = tokio::spawn(async move { broadcasts::run_due(&deps).await });
    let start = Instant::now();
    while show(app, &id).await["sent"].as_i64().unwrap() < 4 {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let team = app.team.clone();
    let db = app.db().clone();
    // The instance dies mid-way.
    run.abort();
    let _ = run.await;
    first.stop().await;

    // Make it look like a crash right after a send landed, before it was
    // recorded, and while the crashed instance still held its claim.
    let fan: String = sqlx::query_scalar(
        "SELECT fan_id FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'sent' \
         ORDER BY fan_id LIMIT 1",
    )
    .bind(&id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE broadcast_recipients SET state = 'sending', message_id = NULL \
         WHERE broadcast_id = $1 AND fan_id = $2",
    )
    .bind(&id)
    .bind(&fan)
    .execute(&db.writer)
    .await
    .unwrap();
    let held_until = fansly_gateway::core::time::now_ms() + 60_000;
    sqlx::query(
        "UPDATE broadcasts SET sent = sent - 1, lease_owner = 'crashed', lease_until = $1 WHERE id = $2",
    )
    .bind(held_until)
    .bind(&id)
    .execute(&db.writer)
    .await
    .unwrap();
    let sent_before = delivered_from(&sandbox.url(), "Resume me").await.len();
    assert!((4..20).contains(&sent_before), "{sent_before}");

    // Second life: waits out the dead claim, then finishes, once per fan.
    let second = spawn_app_on(&sandbox, data.path(), database_url, Some(team), parked).await;
    let app = &second.app;
    assert_eq!(app.run_pending_broadcasts().await, 0);
    assert_eq!(
        delivered(app, "Resume me").await.len(),
        sent_before,
        "nothing is sent while another instance holds the claim"
    );
    assert_eq!(
        app.run_pending_broadcasts_ahead(Duration::from_secs(61))
            .await,
        1
    );
    let done = show(app, &id).await;
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(
        (done["total"].clone(), done["sent"].clone()),
        (json!(20), json!(20))
    );
    let messages = delivered(app, "Resume me").await;
    let counts = per_recipient(&messages);
    assert_eq!(messages.len(), 20, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1));
    // The recovered recipient carries the message that had landed.
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT message_id FROM broadcast_recipients WHERE broadcast_id = $1 AND fan_id = $2",
    )
    .bind(&id)
    .bind(&fan)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let landed = messages
        .iter()
        .find(|m| m["recipientId"] == fan.as_str())
        .unwrap();
    assert_eq!(recorded.as_deref(), landed["id"].as_str());
    second.stop().await;
}

/// The background worker starts a broadcast the API has just stored, without
/// waiting for its next look, which here is an hour away. Its first look ran
/// at start, before the broadcast existed.
#[tokio::test]
async fn a_broadcast_sent_now_starts_at_once_not_at_the_workers_next_look() {
    let app = spawn_app_with(|c| c.broadcasts.poll_ms = 3_600_000).await;
    let fan1 = app.fan_id(1).await;
    let b = accepted(&app, json!({"text": "Right now", "userIds": [fan1]})).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let done = crate::helpers::eventually("the broadcast to be sent", async || {
        let b = show(&app, &id).await;
        (b["state"] == "sent").then_some(b)
    })
    .await;
    assert_eq!(done["sent"], 1, "{done}");
    assert_eq!(delivered(&app, "Right now").await.len(), 1);
}
