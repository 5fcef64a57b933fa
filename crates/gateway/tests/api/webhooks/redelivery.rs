//! The delivery log after the fact: redelivery to the current URL and
//! secret, and pruning old deliveries after the retention.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use fansly_gateway::core::time::now_ms;

use super::{app, data, deliver, deliveries, record, RECEIVED, SECRET};
use crate::helpers::{assert_error, verify_signatures, Receiver};

#[tokio::test]
async fn redelivery_resends_verbatim_to_the_current_url_and_secret() {
    let app = app().await;
    let first_receiver = Receiver::start().await;
    let hook = app
        .create_webhook(&app.team, &first_receiver.url, &[RECEIVED], Some(SECRET))
        .await;
    let hook = hook["id"].as_str().unwrap();
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(record(&app, &app.team, RECEIVED, &format!("5.1:{n}")).await);
    }
    assert_eq!(app.run_pending_deliveries().await, 3);
    assert_eq!(first_receiver.requests().len(), 3);
    let log = deliveries(&app, hook).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");

    // Paging, newest first.
    let pages = app
        .all_pages(&format!("/api/webhooks/{hook}/deliveries?limit=2"), 5)
        .await;
    let paged: Vec<Value> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .collect();
    assert_eq!(paged.len(), 3);
    assert_eq!(
        paged.iter().map(|d| d["id"].clone()).collect::<Vec<_>>(),
        log.iter().map(|d| d["id"].clone()).collect::<Vec<_>>()
    );
    let mut created: Vec<&str> = log
        .iter()
        .map(|d| d["created_at"].as_str().unwrap())
        .collect();
    let sorted = {
        let mut s = created.clone();
        s.sort();
        s.reverse();
        s
    };
    assert_eq!(created, sorted);
    created.clear();

    // New URL and secret, then redeliver the oldest.
    let second_receiver = Receiver::start().await;
    let new_secret = format!("{SECRET}-rotated");
    data(
        app.put(
            &format!("/api/webhooks/{hook}"),
            &json!({"endpoint_url": second_receiver.url, "signing_secret": new_secret}),
        )
        .await,
    )
    .await;
    let original = log.last().unwrap();
    let original_id = original["id"].as_str().unwrap();
    let original_body = first_receiver
        .requests()
        .into_iter()
        .find(|r| r.header("x-ofapi-idempotency-key") == original["idempotency_key"].as_str())
        .unwrap();
    let redo = data(
        app.send(
            Method::POST,
            &format!("/api/webhooks/{hook}/deliveries/{original_id}/redeliver"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(redo["redelivery_of"], original_id);
    assert_ne!(redo["id"], original_id);
    assert_eq!(app.run_pending_deliveries().await, 1);
    let got = second_receiver.requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.header("x-ofapi-redelivery-of"), Some(original_id));
    assert_eq!(
        r.header("x-ofapi-idempotency-key"),
        original["idempotency_key"].as_str()
    );
    assert_eq!(r.body, original_body.body, "verbatim");
    verify_signatures(r, &new_secret).unwrap();
    assert!(verify_signatures(r, SECRET).is_err());
    assert_eq!(first_receiver.requests().len(), 3);

    let resp = app
        .send(
            Method::POST,
            &format!("/api/webhooks/{hook}/deliveries/nope/redeliver"),
            None,
        )
        .await;
    assert_error(resp, 404).await;
    let other = app.new_team(100, 2).await;
    let resp = app
        .send_as(
            &other,
            Method::POST,
            &format!("/api/webhooks/{hook}/deliveries/{original_id}/redeliver"),
            None,
        )
        .await;
    assert_error(resp, 404).await;
}

#[tokio::test]
async fn old_deliveries_are_pruned_after_the_retention() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let hook = app
        .create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let hook = hook["id"].as_str().unwrap();
    record(&app, &app.team, RECEIVED, "5.1:old").await;
    assert_eq!(app.run_pending_deliveries().await, 1);
    assert_eq!(deliveries(&app, hook).await[0]["status"], "delivered");
    let retention = Duration::from_secs(3600);
    // Kept within the retention (housekeeping runs it now)…
    app.run_housekeeping().await;
    assert_eq!(
        deliver::prune(app.db(), retention, now_ms() + 3_500_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliveries(&app, hook).await.len(), 1);
    // …dropped after it, with its attempts and its event.
    assert_eq!(
        deliver::prune(app.db(), retention, now_ms() + 3_700_000)
            .await
            .unwrap(),
        1
    );
    assert!(deliveries(&app, hook).await.is_empty());
    let left: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_attempts")
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let events: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM events")
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
}
