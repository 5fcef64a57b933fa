//! Webhooks: the management API, signed durable delivery to a real
//! receiver, retries, disabling, redelivery, the delivery log, retention,
//! the SSRF guard, credits, and a gateway killed mid-delivery.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fansly_gateway::events::outbox::{event_id, NewEvent};
use fansly_gateway::webhooks::deliveries as deliver;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, spawn_app_with, test_database_url, verify_signatures, Receiver, TestApp, TestTeam,
};

const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";
const RECEIVED: &str = "fansly.messages.received";

/// An app whose webhooks may target loopback and retry quickly.
async fn app_with(tweak: impl FnOnce(&mut fansly_gateway::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_ms = vec![100, 100, 100, 100, 100];
        c.webhooks.poll_interval_ms = 50;
        tweak(c);
    })
    .await
}

async fn app() -> TestApp {
    app_with(|_| {}).await
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    app.request(method, path, Some(&app.team.key), body.as_ref())
        .await
}

async fn data(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "{:?}", resp.url().path());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_credits"]["used"], 0, "{body}");
    body["data"].clone()
}

/// Records an event the way the relay does.
async fn record(app: &TestApp, team: &TestTeam, name: &'static str, key: &str) -> String {
    app.state
        .events
        .record(NewEvent {
            team_id: team.id.clone(),
            account_id: team.account_id.clone(),
            name,
            dedup_key: key.to_owned(),
            payload: json!({"id": key, "content": format!("message {key}")}),
        })
        .await
        .unwrap()
        .expect("a new event")
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    data(
        call(
            app,
            Method::GET,
            &format!("/api/webhooks/{hook}/deliveries?limit=100"),
            None,
        )
        .await,
    )
    .await
    .as_array()
    .unwrap()
    .clone()
}

async fn webhook(app: &TestApp, hook: &str) -> Value {
    data(call(app, Method::GET, &format!("/api/webhooks/{hook}"), None).await).await
}

/// Polls `check` until it answers `Some` (panics after 20 s).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn create_list_update_delete_and_the_echo_clients_check() {
    let app = app().await;
    let acct = app.team.account_id.clone();
    let created = data(
        call(
            &app,
            Method::POST,
            "/api/webhooks",
            Some(json!({
                "endpoint_url": "http://127.0.0.1:9/webhooks/fansly",
                "signing_secret": SECRET,
                "events": ["fansly.messages.received"],
                "account_scope": "inclusive",
                "account_ids": [acct],
            })),
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

    let list = data(call(&app, Method::GET, "/api/webhooks", None).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());

    // The third-party client's PUT and the echo it verifies.
    let updated = data(
        call(
            &app,
            Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(json!({
                "url": "http://127.0.0.1:9/other",
                "events": ["messages.received", "fansly.tips.received"],
                "enabled": true,
                "account_scope": "inclusive",
                "account_ids": [acct],
            })),
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
        call(
            &app,
            Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(json!({"signing_secret": null, "account_scope": "global"})),
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
        .request(
            Method::PUT,
            &format!("/api/webhooks/{id}"),
            Some(&other.key),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_error(resp, 404).await;
    let theirs: Value = app
        .request(Method::GET, "/api/webhooks", Some(&other.key), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));

    let gone = data(call(&app, Method::DELETE, &format!("/api/webhooks/{id}"), None).await).await;
    assert_eq!(gone, json!({"id": id, "deleted": true}));
    assert_error(
        call(&app, Method::GET, &format!("/api/webhooks/{id}"), None).await,
        404,
    )
    .await;
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
        let resp = call(&app, Method::POST, "/api/webhooks", Some(body.clone())).await;
        let msg = assert_error(resp, 422).await;
        assert!(msg.contains(field), "{field}: {msg} (for {body})");
    }
    let resp = app
        .post_raw("/api/webhooks", Some("application/json"), b"{".to_vec())
        .await;
    assert_error(resp, 400).await;
    assert_eq!(
        data(call(&app, Method::GET, "/api/webhooks", None).await).await,
        json!([]),
        "nothing half-written"
    );
}

#[tokio::test]
async fn the_event_catalog_and_example_payloads() {
    let app = app().await;
    let events = data(call(&app, Method::GET, "/api/webhooks/events", None).await).await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 38);
    assert!(events.contains(&json!({
        "value": "fansly.messages.received",
        "description": "Fansly message received"
    })));
    for e in events {
        let name = e["value"].as_str().unwrap();
        let ex = data(
            call(
                &app,
                Method::GET,
                &format!("/api/webhooks/{name}/example-payload"),
                None,
            )
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
        call(
            &app,
            Method::GET,
            "/api/webhooks/messages.received/example-payload",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(ex["event"], RECEIVED);
    assert!(ex["payload"]["id"].is_string(), "snowflake ids are strings");
    assert!(ex["payload"]["senderData"]["available"].is_boolean());
    let resp = call(
        &app,
        Method::GET,
        "/api/webhooks/fansly.nope/example-payload",
        None,
    )
    .await;
    assert!(assert_error(resp, 404).await.contains("fansly.nope"));

    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let app = spawn_app_with(|c| c.webhooks.poll_interval_ms = 50).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost:1/hook",
    ] {
        let resp = call(
            &app,
            Method::POST,
            "/api/webhooks",
            Some(json!({"endpoint_url": url, "events": [RECEIVED], "account_scope": "global"})),
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
    for id in ["wh_private1", "wh_private2"] {
        let log = eventually("a refused attempt", || async {
            let log = deliveries(&app, id).await;
            (log[0]["attempt_count"].as_u64() >= Some(1)).then_some(log)
        })
        .await;
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

#[tokio::test]
async fn a_connected_account_is_announced_with_both_signatures() {
    let app = app().await;
    let receiver = Receiver::start().await;
    app.create_webhook(
        &app.team,
        &receiver.url,
        &[
            "fansly.accounts.connected",
            "fansly.accounts.disconnected",
            "fansly.accounts.authentication_failed",
            "fansly.accounts.otp_code_required",
        ],
        Some(SECRET),
    )
    .await;
    let (_, account) = app.connect_by_login(1, json!({})).await;

    let got = receiver.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("user-agent"),
        Some("OnlyFansAPI.com/Webhook-Client")
    );
    verify_signatures(r, SECRET).unwrap();
    // A forged body or a wrong secret does not verify.
    let mut forged = r.clone();
    forged.body = forged.body.replace("authenticated", "authenticatee");
    assert!(verify_signatures(&forged, SECRET).is_err());
    assert!(verify_signatures(r, &format!("{SECRET}x")).is_err());

    let key = r.header("x-ofapi-idempotency-key").unwrap();
    assert!(key.starts_with("evt_") && key.len() == 44, "{key}");
    assert_eq!(r.header("webhook-id"), Some(key));
    assert!(r.header("x-ofapi-redelivery-of").is_none());
    let body = r.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["event", "account_id", "payload"]
    );
    assert_eq!(body["event"], "fansly.accounts.connected");
    assert_eq!(body["account_id"], account.as_str());
    assert_eq!(body["payload"]["id"], account.as_str());
    assert_eq!(body["payload"]["authentication_progress"], "authenticated");
    assert_eq!(body["payload"]["is_authenticated"], true);

    // A refused password, a login stopping at an e-mailed code, a disconnect.
    let bad = app
        .authenticate(
            &app.team,
            json!({"username": "sandbox_mailcode", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(
        app.settled_status(&app.team, &bad).await["status"],
        "failed"
    );
    let coded = app
        .authenticate(
            &app.team,
            json!({"username": "sandbox_mailcode", "password": "sandbox_mailcode-password"}),
        )
        .await;
    assert_eq!(
        app.settled_status(&app.team, &coded).await["status"],
        "challenge-email"
    );
    let resp = call(
        &app,
        Method::DELETE,
        &format!("/api/fansly/accounts/{account}"),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let got = receiver.wait_for(4).await;
    let names: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["event"].as_str().unwrap().to_owned(),
                b["account_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        names.contains(&("fansly.accounts.authentication_failed".into(), bad.clone())),
        "{names:?}"
    );
    assert!(
        names.contains(&("fansly.accounts.disconnected".into(), account.clone())),
        "{names:?}"
    );
    let otp = got
        .iter()
        .map(|r| r.json())
        .find(|b| b["event"] == "fansly.accounts.otp_code_required")
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(otp["account_id"], coded.as_str());
    assert_eq!(otp["payload"]["needs_code"], true);
    assert_eq!(otp["payload"]["authentication_progress"], "challenge-email");
    for r in &got {
        verify_signatures(r, SECRET).unwrap();
    }
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let first = app().await;
    let url = first.state.config.database_url();
    let second = app_with(|c| c.database_url = Some(url)).await;
    let receiver = Receiver::start().await;
    first
        .create_webhook(&first.team, &receiver.url, &[RECEIVED], None)
        .await;
    let mut expected = HashSet::new();
    for n in 0..300 {
        // Both instances record (as both would run relays) and both deliver.
        let by = if n % 2 == 0 { &first } else { &second };
        let id = by
            .state
            .events
            .record(NewEvent {
                team_id: first.team.id.clone(),
                account_id: first.team.account_id.clone(),
                name: RECEIVED,
                dedup_key: format!("5.1:{n}"),
                payload: json!({"n": n}),
            })
            .await
            .unwrap()
            .unwrap();
        expected.insert(id);
    }
    receiver
        .wait_until(Duration::from_secs(60), "300 deliveries", |r| {
            r.len() >= 300
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.requests();
    let keys: HashSet<String> = got
        .iter()
        .map(|r| r.header("x-ofapi-idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(got.len(), 300, "no event claimed by both instances");
}

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
    first_receiver.wait_for(3).await;
    let log = eventually("three delivered", || async {
        let log = deliveries(&app, hook).await;
        log.iter()
            .all(|d| d["status"] == "delivered")
            .then_some(log)
    })
    .await;
    assert_eq!(log.len(), 3);

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
        call(
            &app,
            Method::PUT,
            &format!("/api/webhooks/{hook}"),
            Some(json!({"endpoint_url": second_receiver.url, "signing_secret": new_secret})),
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
        call(
            &app,
            Method::POST,
            &format!("/api/webhooks/{hook}/deliveries/{original_id}/redeliver"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(redo["redelivery_of"], original_id);
    assert_ne!(redo["id"], original_id);
    let got = second_receiver.wait_for(1).await;
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

    let resp = call(
        &app,
        Method::POST,
        &format!("/api/webhooks/{hook}/deliveries/nope/redeliver"),
        None,
    )
    .await;
    assert_error(resp, 404).await;
    let other = app.new_team(100, 2).await;
    let resp = app
        .request(
            Method::POST,
            &format!("/api/webhooks/{hook}/deliveries/{original_id}/redeliver"),
            Some(&other.key),
            None,
        )
        .await;
    assert_error(resp, 404).await;
}

#[tokio::test]
async fn only_matching_events_and_accounts_are_delivered_and_ephemeral_ones_carry_no_key() {
    let app = app().await;
    let receiver = Receiver::start().await;
    let other_account = app.connect_by_login(1, json!({})).await.1;
    // Only the default account, only messages and typing.
    let resp = call(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({
            "endpoint_url": receiver.url,
            "events": ["messages.received", "fansly.users.typing"],
            "account_scope": "exclusive",
            "account_ids": [other_account],
            "enabled": true,
        })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut other = app.team.clone();
    other.account_id = other_account.clone();
    record(&app, &other, RECEIVED, "5.1:other").await;
    record(&app, &app.team, "fansly.tips.received", "7.1:tip").await;
    let typing = record(&app, &app.team, "fansly.users.typing", "5.22:t").await;
    let wanted = record(&app, &app.team, RECEIVED, "5.1:mine").await;
    // The same upstream event again is the same event: not delivered twice.
    let again = app
        .state
        .events
        .record(NewEvent {
            team_id: app.team.id.clone(),
            account_id: app.team.account_id.clone(),
            name: RECEIVED,
            dedup_key: "5.1:mine".into(),
            payload: json!({}),
        })
        .await
        .unwrap();
    assert_eq!(again, None);
    let got = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.requests();
    assert_eq!(got_all.len(), 2, "{got:?}");
    let by_id: HashMap<&str, &crate::helpers::Received> = got_all
        .iter()
        .map(|r| (r.header("webhook-id").unwrap(), r))
        .collect();
    let t = by_id[typing.as_str()];
    assert!(
        t.header("x-ofapi-idempotency-key").is_none(),
        "ephemeral: no idempotency key"
    );
    assert!(t.header("signature").is_none(), "no secret, no signature");
    assert_eq!(t.json()["event"], "fansly.users.typing");
    let m = by_id[wanted.as_str()];
    assert_eq!(m.header("x-ofapi-idempotency-key"), Some(wanted.as_str()));
    assert_eq!(m.json()["account_id"], app.team.account_id.as_str());
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
    receiver.wait_for(1).await;
    eventually("delivered", || async {
        (deliveries(&app, hook).await[0]["status"] == "delivered").then_some(())
    })
    .await;
    // Kept within the retention…
    assert_eq!(
        deliver::prune(app.db(), Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(deliveries(&app, hook).await.len(), 1);
    // …dropped after it, with its attempts and its event.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        deliver::prune(app.db(), Duration::from_millis(10))
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

#[tokio::test]
async fn deliveries_cost_one_credit_per_hundred_and_wait_for_credits() {
    let app = app().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&app.team, &receiver.url, &[RECEIVED], None)
        .await;
    let before = app.balance(&app.team.id).await;
    for n in 0..201 {
        record(&app, &app.team, RECEIVED, &format!("5.1:{n}")).await;
    }
    receiver
        .wait_until(Duration::from_secs(60), "201 deliveries", |r| {
            r.len() >= 201
        })
        .await;
    let charged = eventually("two blocks charged", || async {
        let rows: Vec<_> = app
            .ledger(&app.team.id)
            .await
            .into_iter()
            .filter(|e| e.endpoint.as_deref() == Some("webhooks.delivery"))
            .collect();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert!(charged.iter().all(|e| e.delta == -1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.balance(&app.team.id).await, before - 2);

    // A team without credits: its deliveries wait, then go out once granted.
    let poor = app.new_team(0, 2).await;
    let receiver2 = Receiver::start().await;
    app.create_webhook(&poor, &receiver2.url, &[RECEIVED], None)
        .await;
    let evt = record(&app, &poor, RECEIVED, "5.1:poor").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        receiver2.requests().is_empty(),
        "held while the team has no credits"
    );
    fansly_gateway::metering::credits::grant(app.db(), &poor.id, 5, "test")
        .await
        .unwrap();
    let got = receiver2.wait_for(1).await;
    assert_eq!(got[0].header("x-ofapi-idempotency-key"), Some(evt.as_str()));
}

/// A free TCP port on loopback (bound, then released for the child).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        // Only the process this test started, by its pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gateway(port: u16, dir: &std::path::Path, db_url: &str) -> Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_fansly-gateway"))
        .args(["serve", "--sandbox"])
        .env("FANSLY_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("FANSLY_GATEWAY_DATA_DIR", dir)
        .env("FANSLY_GATEWAY_DATABASE_URL", db_url)
        .env("FANSLY_GATEWAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env(
            "FANSLY_GATEWAY_WEBHOOKS__RETRY_SCHEDULE_MS",
            "[100,200,400,800,1600]",
        )
        .env("FANSLY_GATEWAY_WEBHOOKS__TIMEOUT_MS", "2000")
        .env("FANSLY_GATEWAY_WEBHOOKS__LEASE_MS", "3000")
        .env("FANSLY_GATEWAY_WEBHOOKS__POLL_INTERVAL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the gateway binary starts");
    Child(child)
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway at {base} did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_delivery_loses_no_event() {
    const EVENTS: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let db_url = match test_database_url().await {
        Some(url) => url,
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gateway.db").display()
        ),
    };
    let db = fansly_gateway::core::db::Db::connect(&db_url, 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let team = fansly_gateway::tenancy::create_team(&db, "kill test", 1_000_000, None)
        .await
        .unwrap();
    let key = fansly_gateway::tenancy::create_key(&db, &team.id, "test")
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    // Slow enough that the kill lands with most events still queued.
    receiver.set_delay(Duration::from_millis(10));

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut child = start_gateway(port, dir.path(), &db_url);
    wait_healthy(&http, &base).await;
    let resp = http
        .post(format!("{base}/api/webhooks"))
        .bearer_auth(&key.secret)
        .json(&json!({
            "endpoint_url": receiver.url,
            "events": [RECEIVED],
            "account_scope": "global",
            "signing_secret": SECRET,
            "enabled": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // Stopped while the events are queued, so all 1,000 wait in the outbox.
    child.0.kill().expect("stop the gateway");
    child.0.wait().unwrap();

    // The relay's side: 1,000 events into the shared database.
    let account = "fansly_acct_killtest000001";
    let events = fansly_gateway::events::outbox::Events::new(db.clone());
    let mut expected = HashSet::new();
    for n in 0..EVENTS {
        let id = events
            .record(NewEvent {
                team_id: team.id.clone(),
                account_id: account.into(),
                name: RECEIVED,
                dedup_key: format!("5.1:{n}"),
                payload: json!({"id": n.to_string(), "content": format!("message {n}")}),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id, event_id(account, &format!("5.1:{n}")));
        expected.insert(id);
    }
    assert!(receiver.requests().is_empty());
    let mut child = start_gateway(port, dir.path(), &db_url);
    receiver
        .wait_until(Duration::from_secs(60), "the first deliveries", |r| {
            r.len() >= 100
        })
        .await;
    child.0.kill().expect("SIGKILL the gateway");
    child.0.wait().unwrap();
    let distinct_at_kill: HashSet<String> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.header("x-ofapi-idempotency-key").map(str::to_owned))
        .collect();
    assert!(
        distinct_at_kill.len() < EVENTS,
        "the kill should land mid-delivery ({} delivered)",
        distinct_at_kill.len()
    );

    let restarted_at = std::time::Instant::now();
    let _restarted = start_gateway(port, dir.path(), &db_url);
    wait_healthy(&http, &base).await;
    let got = receiver
        .wait_until(Duration::from_secs(180), "every event", |r| {
            let keys: HashSet<&str> = r
                .iter()
                .filter_map(|r| r.header("x-ofapi-idempotency-key"))
                .collect();
            keys.len() >= EVENTS
        })
        .await;

    // Every event at least once; any duplicate with the same key, body and id.
    let mut by_key: HashMap<String, Vec<&crate::helpers::Received>> = HashMap::new();
    for r in &got {
        verify_signatures(r, SECRET).unwrap();
        let key = r.header("x-ofapi-idempotency-key").unwrap().to_owned();
        assert_eq!(r.header("webhook-id"), Some(key.as_str()));
        by_key.entry(key).or_default().push(r);
    }
    let keys: HashSet<String> = by_key.keys().cloned().collect();
    assert_eq!(keys, expected);
    let mut by_payload: HashMap<String, HashSet<String>> = HashMap::new();
    for (key, copies) in &by_key {
        for r in copies {
            assert_eq!(r.body, copies[0].body);
            by_payload
                .entry(r.json()["payload"]["id"].as_str().unwrap().to_owned())
                .or_default()
                .insert(key.clone());
        }
    }
    assert_eq!(by_payload.len(), EVENTS);
    assert!(by_payload.values().all(|keys| keys.len() == 1));
    let duplicates = got.len() - EVENTS;
    // Informational only (timings are never asserted).
    eprintln!(
        "killed after {} distinct deliveries; {} requests in all, {duplicates} duplicates; \
         the restarted gateway finished the rest in {:?} (start-up and lease wait included)",
        distinct_at_kill.len(),
        got.len(),
        restarted_at.elapsed()
    );
}

/// A measurement, not a test (run with `--ignored --nocapture`): latency
/// from `Events::record` to the receiver at a steady trickle, and the
/// throughput of a backlog, with the default four workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_delivery_latency_and_throughput() {
    let app = app().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&app.team, &receiver.url, &[RECEIVED], Some(SECRET))
        .await;
    let mut sent = HashMap::new();
    for n in 0..300 {
        let at = std::time::Instant::now();
        let id = record(&app, &app.team, RECEIVED, &format!("lat:{n}")).await;
        sent.insert(id, at);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = receiver
        .wait_until(Duration::from_secs(60), "300", |r| r.len() >= 300)
        .await;
    let mut lat: Vec<Duration> = got
        .iter()
        .map(|r| r.arrived - sent[r.header("webhook-id").unwrap()])
        .collect();
    lat.sort();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    eprintln!(
        "record -> receiver latency over {} events: p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        pct(50),
        pct(99),
        lat[lat.len() - 1]
    );

    // A backlog: queued while the team has no credits (so held), then
    // released at once by a grant.
    const BACKLOG: usize = 2_000;
    let poor = app.new_team(0, 2).await;
    let backlog = Receiver::start().await;
    app.create_webhook(&poor, &backlog.url, &[RECEIVED], Some(SECRET))
        .await;
    let start = std::time::Instant::now();
    for n in 0..BACKLOG {
        record(&app, &poor, RECEIVED, &format!("tp:{n}")).await;
    }
    let recorded = start.elapsed();
    assert!(backlog.requests().is_empty());
    let start = std::time::Instant::now();
    fansly_gateway::metering::credits::grant(app.db(), &poor.id, 1_000, "bench")
        .await
        .unwrap();
    backlog
        .wait_until(Duration::from_secs(300), "backlog", |r| r.len() >= BACKLOG)
        .await;
    let drained = start.elapsed();
    eprintln!(
        "{BACKLOG} events recorded in {recorded:?} ({:.0}/s, one transaction each); \
         the backlog drained in {drained:?} ({:.0} deliveries/s)",
        BACKLOG as f64 / recorded.as_secs_f64(),
        BACKLOG as f64 / drained.as_secs_f64()
    );
}
