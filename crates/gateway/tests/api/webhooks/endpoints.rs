//! The webhook management API: create, list, update, delete, the 422s
//! naming the field, the event catalog with example payloads, and private
//! targets refused when not allowed.

use reqwest::Method;
use serde_json::{json, Value};

use super::{app, data, deliveries, record, webhook, RECEIVED, SECRET};
use crate::helpers::{assert_error, parked, spawn_app_with, Receiver, SendJson};

#[tokio::test]
async fn create_list_update_delete_and_the_echo_clients_check() {
    let app = app().await;
    let acct = app.team.account_id.clone();
    let created = data(
        app.post(
            "/api/webhooks",
            &json!({
                "endpoint_url": "http://127.0.0.1:9/webhooks/fansly",
                "signing_secret": SECRET,
                "events": ["fansly.messages.received"],
                "account_scope": "inclusive",
                "account_ids": [acct],
            }),
        )
        .await,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    assert_eq!(created["url"], "http://127.0.0.1:9/webhooks/fansly");
    assert_eq!(created["has_signing_secret"], true);
    assert_eq!(
        created["enabled"], false,
        "created disabled, as the vendor's example"
    );
    assert!(
        created.get("signing_secret").is_none(),
        "the secret is never answered"
    );
    assert!(!created.to_string().contains(SECRET));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let list = data(app.get("/api/webhooks").await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());

    // The third-party client's PUT and the echo it verifies.
    let updated = data(
        app.put(
            &format!("/api/webhooks/{id}"),
            &json!({
                "url": "http://127.0.0.1:9/other",
                "events": ["messages.received", "fansly.tips.received"],
                "enabled": true,
                "account_scope": "inclusive",
                "account_ids": [acct],
            }),
        )
        .await,
    )
    .await;
    assert_eq!(updated["enabled"], true);
    assert_eq!(updated["url"], "http://127.0.0.1:9/other");
    assert_eq!(updated["endpoint_url"], "http://127.0.0.1:9/other");
    assert_eq!(
        updated["events"],
        json!(["fansly.messages.received", "fansly.tips.received"])
    );
    assert_eq!(updated["account_scope"], "inclusive");
    assert_eq!(updated["account_ids"], json!([acct]));
    assert_eq!(updated["has_signing_secret"], true, "absent secret is kept");

    // null removes the secret; switching to global drops the account list.
    let updated = data(
        app.put(
            &format!("/api/webhooks/{id}"),
            &json!({"signing_secret": null, "account_scope": "global"}),
        )
        .await,
    )
    .await;
    assert_eq!(updated["has_signing_secret"], false);
    assert_eq!(updated["account_ids"], json!([]));
    assert_eq!(webhook(&app, &id).await["account_scope"], "global");

    // Another team sees none of it.
    let other = app.new_team(100, 2).await;
    for (method, path) in [
        (Method::GET, format!("/api/webhooks/{id}")),
        (Method::DELETE, format!("/api/webhooks/{id}")),
        (Method::GET, format!("/api/webhooks/{id}/deliveries")),
    ] {
        let resp = app.request(method, &path, Some(&other.key), None).await;
        assert_error(resp, 404).await;
    }
    let resp = app
        .send_as(
            &other,
            Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_error(resp, 404).await;
    let theirs: Value = app
        .get_as(&other, "/api/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));

    let gone = data(app.delete(&format!("/api/webhooks/{id}")).await).await;
    assert_eq!(gone, json!({"id": id, "deleted": true}));
    assert_error(app.get(&format!("/api/webhooks/{id}")).await, 404).await;
}

#[tokio::test]
async fn bad_input_is_a_422_naming_the_field() {
    let app = app().await;
    let other = app.new_team(100, 2).await;
    let good = json!({
        "endpoint_url": "http://127.0.0.1:9/hook",
        "events": [RECEIVED],
        "account_scope": "global",
    });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    for (body, field) in [
        (with("endpoint_url", Value::Null), "endpoint_url"),
        (
            with("endpoint_url", json!("ftp://example.com/x")),
            "endpoint_url",
        ),
        (with("endpoint_url", json!("not a url")), "endpoint_url"),
        (with("events", Value::Null), "events"),
        (with("events", json!([])), "events"),
        (
            with("events", json!(["onlyfans.messages.received"])),
            "events",
        ),
        (with("events", json!("fansly.messages.received")), "events"),
        (with("account_scope", Value::Null), "account_scope"),
        (with("account_scope", json!("everyone")), "account_scope"),
        (with("account_scope", json!("inclusive")), "account_ids"),
        (
            with("account_ids", json!([app.team.account_id])),
            "account_ids",
        ),
        (
            {
                let mut b = with("account_scope", json!("exclusive"));
                b["account_ids"] = json!([other.account_id]);
                b
            },
            "account_ids",
        ),
        (with("signing_secret", json!("too-short")), "signing_secret"),
        (with("enabled", json!("yes")), "enabled"),
        (with("colour", json!("blue")), "colour"),
        (
            {
                let mut b = good.clone();
                b["url"] = json!("http://127.0.0.1:9/elsewhere");
                b
            },
            "url",
        ),
    ] {
        let resp = app.post("/api/webhooks", &body).await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains(field), "{field}: {msg} (for {body})");
    }
    let resp = app
        .post_raw("/api/webhooks", Some("application/json"), b"{".to_vec())
        .await;
    assert_error(resp, 400).await;
    assert_eq!(
        data(app.get("/api/webhooks").await).await,
        json!([]),
        "nothing half-written"
    );
}

#[tokio::test]
async fn the_event_catalog_and_example_payloads() {
    let app = app().await;
    let events = data(app.get("/api/webhooks/events").await).await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 38);
    assert!(events.contains(&json!({
        "value": "fansly.messages.received",
        "description": "Fansly message received"
    })));
    for e in events {
        let name = e["value"].as_str().unwrap();
        let ex = data(
            app.get(&format!("/api/webhooks/{name}/example-payload"))
                .await,
        )
        .await;
        assert_eq!(ex["event"], name);
        assert!(ex["account_id"]
            .as_str()
            .unwrap()
            .starts_with("fansly_acct_"));
        assert!(ex["payload"].is_object(), "{name}: {ex}");
    }
    let ex = data(
        app.get("/api/webhooks/messages.received/example-payload")
            .await,
    )
    .await;
    assert_eq!(ex["event"], RECEIVED);
    assert!(ex["payload"]["id"].is_string(), "snowflake ids are strings");
    assert!(ex["payload"]["senderData"]["available"].is_boolean());
    let resp = app.get("/api/webhooks/fansly.nope/example-payload").await;
    assert!(assert_error(resp, 404).await.contains("fansly.nope"));

    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send_json()
        .await;
    for path in [
        "/api/webhooks",
        "/api/webhooks/events",
        "/api/webhooks/{webhook_id}",
        "/api/webhooks/{webhook_id}/deliveries",
        "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "/api/webhooks/{webhookEventType}/example-payload",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }
}

#[tokio::test]
async fn private_targets_are_refused_when_not_allowed() {
    let app = spawn_app_with(parked).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost:1/hook",
    ] {
        let resp = app
            .post(
                "/api/webhooks",
                &json!({"endpoint_url": url, "events": [RECEIVED], "account_scope": "global"}),
            )
            .await;
        let msg = assert_error(resp, 422).await;
        assert!(
            msg.contains("endpoint_url") && msg.contains("public"),
            "{url}: {msg}"
        );
    }

    // Targets that slipped in (e.g. configuration changed since) are
    // refused again when connecting, by IP literal and by host name:
    // nothing reaches them.
    let receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    for (id, url) in [
        ("wh_private1", receiver.url.as_str()),
        ("wh_private2", by_name.as_str()),
    ] {
        sqlx::query(
            "INSERT INTO webhooks (id, team_id, url, events, account_scope, account_ids, enabled, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, 'global', '[]', 1, 0, 0)",
        )
        .bind(id)
        .bind(&app.team.id)
        .bind(url)
        .bind(json!([RECEIVED]).to_string())
        .execute(&app.db().writer)
        .await
        .unwrap();
    }
    record(&app, &app.team, RECEIVED, "5.1:1").await;
    assert_eq!(app.run_pending_deliveries().await, 2);
    for id in ["wh_private1", "wh_private2"] {
        let log = deliveries(&app, id).await;
        assert_eq!(log[0]["attempt_count"], 1, "{}", log[0]);
        let error = log[0]["attempts"][0]["error"].as_str().unwrap();
        assert!(error.contains("not a public address"), "{id}: {error}");
        assert!(log[0]["attempts"][0]["status_code"].is_null());
        assert_eq!(
            log[0]["status"], "pending",
            "retried later, in case the guard was lifted"
        );
    }
    assert!(receiver.requests().is_empty());
}
