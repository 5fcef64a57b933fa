//! Failed deliveries: retries until the event arrives once more,
//! Retry-After, 410 Gone disabling an endpoint, and disabling an endpoint
//! that fails for too long.

use std::time::Duration;

use serde_json::{json, Value};

use super::{app, app_with, data, deliveries, record, webhook, RECEIVED, SECRET};
use crate::helpers::{verify_signatures, Receiver};

#[tokio::test]
async fn failures_are_retried_and_the_event_arrives_exactly_once_more() {
    let app = app().await;
    let receiver = Receiver::start().await;
    // The second failure answers a long page: 1 KiB of it is kept.
    receiver.answer(&[500]);
    receiver.answer_body(503, &format!("x{}", "é".repeat(3000)));
    receiver.answer(&[500]);
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], Some(SECRET))
        .await;
    let hook = hook["id"].as_str().unwrap();
    let evt = record(&app, &app.team, RECEIVED, "5.1:retry").await;

    // The retries are due at once: one run goes through them all.
    assert_eq!(app.run_pending_deliveries().await, 4);
    let got = receiver.requests();
    assert_eq!(
        got.len(),
        4,
        "exactly one delivery after the three failures"
    );
    // Nothing more once it succeeded, however late.
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(86_400))
            .await,
        0
    );
    assert_eq!(receiver.requests().len(), 4);
    for r in &got {
        assert_eq!(r.header("x-ofapi-idempotency-key"), Some(evt.as_str()));
        assert_eq!(r.header("webhook-id"), Some(evt.as_str()));
        assert_eq!(r.body, got[0].body, "retries are byte-identical");
        verify_signatures(r, SECRET).unwrap();
    }

    let log = deliveries(&app, hook).await;
    assert_eq!(log.len(), 1);
    let d = &log[0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["event_id"], evt.as_str());
    assert_eq!(d["idempotency_key"], evt.as_str());
    let statuses: Vec<Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(503), json!(500), json!(200)]);
    for (i, a) in d["attempts"].as_array().unwrap().iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert!(a["latency_ms"].as_i64().unwrap() >= 0);
        let excerpt = a["response_excerpt"].as_str().unwrap();
        if i == 1 {
            assert_eq!(
                excerpt,
                format!("x{}", "é".repeat(511)),
                "the first KiB, whole characters"
            );
        } else {
            assert!(excerpt.starts_with("answer "), "{excerpt}");
        }
    }
    assert_eq!(d["attempts"][0]["error"], "the endpoint answered HTTP 500");
    assert!(d["attempts"][3]["error"].is_null());
    assert_eq!(webhook(&app, hook).await["failing_since"], Value::Null);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = app_with(|c| c.webhooks.retry_schedule_ms = vec![100; 5]).await;
    let receiver = Receiver::start().await;
    receiver.answer_with(429, &[("retry-after", "2")]);
    app.create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    record(&app, &app.team, RECEIVED, "5.1:later").await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    // The schedule says 100 ms; the receiver asked for 2 s: not due at
    // 1.5 s from now, due at 2.5 s.
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_millis(1_500))
            .await,
        0
    );
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_millis(2_500))
            .await,
        1
    );
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn retries_follow_the_schedule() {
    let app = app_with(|c| c.webhooks.retry_schedule_ms = vec![1_000, 60_000]).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 500, 500]);
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    record(&app, &app.team, RECEIVED, "5.1:schedule").await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    // The first wait is jittered to between half and all of 1 s.
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_millis(400))
            .await,
        0
    );
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_millis(1_100))
            .await,
        1
    );
    // The second between 30 and 60 s (counted from now, not from the
    // moved clock: the attempt is recorded at the real time).
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(29))
            .await,
        0
    );
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(61))
            .await,
        1
    );
    // The schedule is used up: given up, never tried again.
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(86_400))
            .await,
        0
    );
    assert_eq!(receiver.requests().len(), 3);
    let log = deliveries(&app, hook).await;
    assert_eq!(log[0]["status"], "failed", "{}", log[0]);
    assert_eq!(log[0]["attempt_count"], 3);
}

#[tokio::test]
async fn gone_disables_the_endpoint_until_it_is_enabled_again() {
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.answer(&[410]);
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    let first = record(&app, &app.team, RECEIVED, "5.1:a").await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    let w = webhook(&app, hook).await;
    assert_eq!(w["enabled"], false, "{w}");
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("410"),
        "{w}"
    );

    // Disabled: new events are not queued for it, and nothing is sent.
    record(&app, &app.team, RECEIVED, "5.1:b").await;
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(86_400))
            .await,
        0
    );
    assert_eq!(receiver.requests().len(), 1);
    let log = deliveries(&app, hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["held"], true, "{}", log[0]);
    assert!(log[0]["next_attempt_at"].is_null());

    // Enabled again: the held delivery goes out, same idempotency key.
    let w = data(
        app.put(&format!("/api/webhooks/{hook}"), &json!({"enabled": true}))
            .await,
    )
    .await;
    assert_eq!(w["enabled"], true);
    assert!(w["disabled_reason"].is_null());
    assert_eq!(app.run_pending_deliveries().await, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].header("x-ofapi-idempotency-key"),
        Some(first.as_str())
    );
    let log = deliveries(&app, hook).await;
    assert_eq!(log[0]["status"], "delivered", "{}", log[0]);
    assert_eq!(log[0]["attempt_count"], 2);
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let app = app_with(|c| {
        c.webhooks.disable_after_ms = 3_600_000;
        c.webhooks.retry_schedule_ms = vec![60_000; 20];
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500; 50]);
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    record(&app, &app.team, RECEIVED, "5.1:x").await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    assert_eq!(
        webhook(&app, hook).await["enabled"],
        true,
        "failing, not for long"
    );
    // An hour on: the endpoint has been failing since the first attempt,
    // an hour before the next one fails too.
    sqlx::query("UPDATE webhooks SET failing_since = failing_since - 3600000 WHERE id = $1")
        .bind(hook)
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(61))
            .await,
        1
    );
    let w = webhook(&app, hook).await;
    assert_eq!(w["enabled"], false, "{w}");
    let why = w["disabled_reason"].as_str().unwrap();
    assert!(
        why.contains("every delivery failed") && why.contains("HTTP 500"),
        "{why}"
    );
    let tried = receiver.requests().len();
    assert_eq!(tried, 2);
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_secs(86_400))
            .await,
        0
    );
    assert_eq!(
        receiver.requests().len(),
        tried,
        "nothing is sent to a disabled endpoint"
    );
    let log = deliveries(&app, hook).await;
    assert_eq!(log[0]["status"], "pending", "held, not lost");
    assert_eq!(log[0]["held"], true);
}

#[tokio::test]
async fn an_endpoint_found_gone_mid_batch_gets_nothing_more_and_all_its_rows_are_held() {
    // One delivery at a time, so the order of the batch is the order sent.
    let app = app_with(|c| c.webhooks.workers = 1).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[410; 10]);
    const TIP: &str = "fansly.tips.received";
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[TIP], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    // Unordered events: no chat holds the rest back after a failure.
    for n in 0..5 {
        record(&app, &app.team, TIP, &format!("7.1:{n}")).await;
    }
    assert_eq!(app.run_pending_deliveries().await, 1);
    assert_eq!(receiver.requests().len(), 1, "nothing more after the 410");
    let w = webhook(&app, hook).await;
    assert_eq!(w["enabled"], false, "{w}");
    let log = deliveries(&app, hook).await;
    assert_eq!(log.len(), 5);
    for d in &log {
        assert_eq!(d["status"], "pending", "{d}");
        assert_eq!(d["held"], true, "held, none rescheduled: {d}");
    }
    let tried: i64 = log
        .iter()
        .map(|d| d["attempt_count"].as_i64().unwrap())
        .sum();
    assert_eq!(tried, 1, "the untried rows used no attempt");
}
