//! Failed deliveries: retries until the event arrives once more,
//! Retry-After, 410 Gone disabling an endpoint, and disabling an endpoint
//! that fails for too long.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{app, app_with, call, data, deliveries, eventually, record, webhook, RECEIVED, SECRET};
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

    let got = receiver.wait_for(4).await;
    // Nothing more once it succeeded.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got_after = receiver.requests();
    assert_eq!(
        got_after.len(),
        4,
        "exactly one delivery after the three failures"
    );
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
    let app = app().await;
    let receiver = Receiver::start().await;
    receiver.answer_with(429, &[("retry-after", "2")]);
    app.create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    record(&app, &app.team, RECEIVED, "5.1:later").await;
    receiver.wait_for(1).await;
    let first = std::time::Instant::now();
    receiver.wait_for(2).await;
    // The schedule says 100 ms; the receiver asked for 2 s.
    assert!(
        first.elapsed() >= Duration::from_millis(1_500),
        "{:?}",
        first.elapsed()
    );
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
    receiver.wait_for(1).await;
    let w = eventually("the endpoint disabled", || async {
        let w = webhook(&app, hook).await;
        (w["enabled"] == false).then_some(w)
    })
    .await;
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("410"),
        "{w}"
    );

    // Disabled: new events are not queued for it, and nothing is sent.
    record(&app, &app.team, RECEIVED, "5.1:b").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests().len(), 1);
    let log = deliveries(&app, hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["held"], true, "{}", log[0]);
    assert!(log[0]["next_attempt_at"].is_null());

    // Enabled again: the held delivery goes out, same idempotency key.
    let w = data(
        call(
            &app,
            Method::PUT,
            &format!("/api/webhooks/{hook}"),
            Some(json!({"enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(w["enabled"], true);
    assert!(w["disabled_reason"].is_null());
    let got = receiver.wait_for(2).await;
    assert_eq!(
        got[1].header("x-ofapi-idempotency-key"),
        Some(first.as_str())
    );
    let log = eventually("the held delivery delivered", || async {
        let log = deliveries(&app, hook).await;
        (log[0]["status"] == "delivered").then_some(log)
    })
    .await;
    assert_eq!(log[0]["attempt_count"], 2);
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let app = app_with(|c| {
        c.webhooks.disable_after_ms = 300;
        c.webhooks.retry_schedule_ms = vec![100; 20];
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500; 50]);
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    record(&app, &app.team, RECEIVED, "5.1:x").await;
    let w = eventually("the endpoint disabled", || async {
        let w = webhook(&app, hook).await;
        (w["enabled"] == false).then_some(w)
    })
    .await;
    let why = w["disabled_reason"].as_str().unwrap();
    assert!(
        why.contains("every delivery failed") && why.contains("HTTP 500"),
        "{why}"
    );
    let tried = receiver.requests().len();
    assert!(tried >= 2, "{tried}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.requests().len(),
        tried,
        "nothing is sent to a disabled endpoint"
    );
    let log = deliveries(&app, hook).await;
    assert_eq!(log[0]["status"], "pending", "held, not lost");
    assert_eq!(log[0]["held"], true);
}
