//! `Idempotency-Key` on writes: a repeat is answered from the stored first
//! answer without a second Fansly call or charge; another body is a 422; a
//! repeat while the first runs is a 409; bad keys are 422; two instances on
//! one database racing on a key send once; the header is in /openapi.json.

use reqwest::Method;
use std::time::Duration;

use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_on, TestApp, TestTeam};

const SEND: &str = "/api/v1/message";

async fn send(app: &TestApp, team: &TestTeam, chat: &str, key: &str, text: &str) -> Response {
    app.http
        .post(format!(
            "{}/api/fansly/{}/chats/{chat}/messages",
            app.address, team.account_id
        ))
        .bearer_auth(&team.key)
        .header("idempotency-key", key)
        .json(&json!({"text": text}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeat_gets_the_stored_answer_without_a_second_send_or_charge() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    app.clear_upstream_requests().await;
    let before = app.balance(&app.team.id).await;

    let first = send(&app, &app.team, &chat, "order-1", "hello once").await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let used = first.headers()["x-ofapi-credits-used"].clone();
    let first: Value = first.json().await.unwrap();
    assert_eq!(app.balance(&app.team.id).await, before - 1);
    let ledger_len = app.ledger(&app.team.id).await.len();

    for _ in 0..3 {
        let again = send(&app, &app.team, &chat, "order-1", "hello once").await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["x-ofapi-credits-used"], used);
        assert_eq!(again.headers()["content-type"], "application/json");
        let again: Value = again.json().await.unwrap();
        assert_eq!(again, first, "the stored answer, byte for byte");
    }
    assert_eq!(
        app.upstream_count("POST", SEND).await,
        1,
        "one send upstream"
    );
    assert_eq!(app.balance(&app.team.id).await, before - 1, "charged once");
    assert_eq!(app.ledger(&app.team.id).await.len(), ledger_len);
    assert_eq!(app.copies(&chat, "hello once").await, 1);

    // Another key is another request.
    let other = send(&app, &app.team, &chat, "order-2", "hello once").await;
    assert_eq!(other.status(), 200);
    assert_eq!(app.upstream_count("POST", SEND).await, 2);

    // Keys are per team: another team's identical key is its own.
    let team2 = app.new_team(100, 1).await;
    let fan = app.fan_id(1).await;
    let chat2: Value = app
        .create_chat_as(&team2, &json!({"user_id": fan}))
        .await
        .json()
        .await
        .unwrap();
    let chat2 = chat2["data"]["id"].as_str().unwrap().to_owned();
    let theirs = send(&app, &team2, &chat2, "order-1", "hello once").await;
    assert_eq!(theirs.status(), 200);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.upstream_count("POST", SEND).await, 3);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_bad_keys_are_422() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    assert_eq!(
        send(&app, &app.team, &chat, "k1", "first").await.status(),
        200
    );
    let msg = assert_error(send(&app, &app.team, &chat, "k1", "second").await, 422).await;
    assert!(msg.contains("Idempotency-Key"), "{msg}");
    assert_eq!(app.copies(&chat, "second").await, 0);

    for (key, why) in [("".to_owned(), "empty"), ("x".repeat(256), "255")] {
        let msg = assert_error(send(&app, &app.team, &chat, &key, "x").await, 422).await;
        assert!(
            msg.contains("Idempotency-Key") && msg.contains(why),
            "{msg}"
        );
    }
    let resp = app
        .http
        .post(format!(
            "{}/api/fansly/{}/chats/{chat}/messages",
            app.address, app.team.account_id
        ))
        .bearer_auth(&app.team.key)
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    let msg = assert_error(resp, 422).await;
    assert!(msg.contains("printable"), "{msg}");
    assert_eq!(
        app.upstream_count("POST", SEND).await,
        1,
        "no bad-key call sent"
    );
}

#[tokio::test]
async fn a_repeat_while_the_first_runs_is_409_then_the_stored_answer() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    app.inject(json!({"method": "POST", "path": SEND, "delay_ms": 1500}))
        .await;
    let (a, t, c) = (app.address.clone(), app.team.clone(), chat.clone());
    let http = app.http.clone();
    let first = tokio::spawn(async move {
        http.post(format!(
            "{a}/api/fansly/{}/chats/{c}/messages",
            t.account_id
        ))
        .bearer_auth(&t.key)
        .header("idempotency-key", "slow")
        .json(&json!({"text": "slow one"}))
        .send()
        .await
        .unwrap()
    });
    // The first call holds the key once its send reached Fansly (which
    // then answers it 1.5 s late).
    for _ in 0..200 {
        if app.upstream_count("POST", SEND).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        app.upstream_count("POST", SEND).await,
        1,
        "the first send is in flight"
    );
    let msg = assert_error(send(&app, &app.team, &chat, "slow", "slow one").await, 409).await;
    assert!(
        msg.contains("Idempotency-Key") && msg.contains("still"),
        "{msg}"
    );
    assert_eq!(first.await.unwrap().status(), 200);
    let again = send(&app, &app.team, &chat, "slow", "slow one").await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.upstream_count("POST", SEND).await, 1);
    assert_eq!(app.copies(&chat, "slow one").await, 1);
}

#[tokio::test]
async fn a_failed_first_call_releases_the_key_for_a_retry() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    let before = app.balance(&app.team.id).await;
    // Fansly refuses with a 5xx long enough for the gateway to give up.
    app.inject(json!({"method": "POST", "path": SEND, "status": 503, "times": 20}))
        .await;
    let failed = send(&app, &app.team, &chat, "retry-me", "after an outage").await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let resp = app.sandbox_delete("/_sandbox/faults").await;
    assert!(resp.status().is_success());
    let ok = send(&app, &app.team, &chat, "retry-me", "after an outage").await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("idempotent-replayed").is_none());
    assert_eq!(
        app.balance(&app.team.id).await,
        before - 1,
        "the failure was refunded: {:?}",
        app.ledger(&app.team.id).await
    );
    assert_eq!(app.copies(&chat, "after an outage").await, 1);
}

#[tokio::test]
async fn two_instances_racing_on_one_key_send_once() {
    let sandbox = crate::helpers::start_sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let url = crate::helpers::test_database_url().await;
    let one = spawn_app_on(&sandbox, data.path(), url.clone(), None, |_| {}).await;
    let two = spawn_app_on(
        &sandbox,
        data.path(),
        url,
        Some(one.app.team.clone()),
        |_| {},
    )
    .await;
    let (a, b) = (&one.app, &two.app);
    let chat = a.open_chat(1).await;
    a.clear_upstream_requests().await;
    let before = a.balance(&a.team.id).await;

    for round in 0..10 {
        let key = format!("race-{round}");
        let text = format!("raced {round}");
        let (x, y) = tokio::join!(
            send(a, &a.team, &chat, &key, &text),
            send(b, &b.team, &chat, &key, &text)
        );
        let statuses = [x.status().as_u16(), y.status().as_u16()];
        assert!(statuses.contains(&200), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
        // A client retrying after its 409 gets the stored answer.
        let retry = send(b, &b.team, &chat, &key, &text).await;
        assert_eq!(retry.status(), 200);
    }
    assert_eq!(a.upstream_count("POST", SEND).await, 10);
    assert_eq!(
        a.balance(&a.team.id).await,
        before - 10,
        "each round charged once"
    );
    for round in 0..10 {
        assert_eq!(
            a.copies(&chat, &format!("raced {round}")).await,
            1,
            "round {round}"
        );
    }
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn openapi_documents_the_header_on_writes_only() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let has = |path: &str, method: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            })
    };
    assert!(has(
        "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
        "post"
    ));
    assert!(has("/api/fansly/{fanslyAccount}/mass-messaging", "post"));
    assert!(has("/api/webhooks/{webhook_id}", "delete"));
    assert!(!has(
        "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
        "get"
    ));
    let writes = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/api/"))
        .flat_map(|(p, item)| {
            ["post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(move |m| (p.clone(), m))
        })
        .collect::<Vec<_>>();
    assert!(writes.len() > 30, "{}", writes.len());
    for (p, m) in writes {
        assert!(has(&p, m), "{m} {p}");
    }
}

#[tokio::test]
async fn without_a_key_nothing_changes() {
    let app = spawn_app().await;
    let chat = app.open_chat(1).await;
    for _ in 0..2 {
        app.post_ok(
            &app.acct_path(&format!("chats/{chat}/messages")),
            &json!({"text": "plain"}),
        )
        .await;
    }
    assert_eq!(app.copies(&chat, "plain").await, 2);
}

#[tokio::test]
async fn a_used_key_on_a_method_the_route_lacks_is_a_405() {
    let app = spawn_app().await;
    let with_key = |method: Method| {
        app.http
            .request(method, format!("{}/api/console/keys", app.address))
            .bearer_auth(&app.team.key)
            .header("idempotency-key", "k-405")
            .json(&json!({"name": "first"}))
            .send()
    };
    assert_eq!(with_key(Method::POST).await.unwrap().status(), 200);
    // The key was used for another request, but no PUT route exists: the
    // answer says so, not "key reused".
    let msg = assert_error(with_key(Method::PUT).await.unwrap(), 405).await;
    assert!(!msg.contains("Idempotency-Key"), "{msg}");
    let missing = app
        .http
        .post(format!("{}/api/nowhere", app.address))
        .bearer_auth(&app.team.key)
        .header("idempotency-key", "k-405")
        .send()
        .await
        .unwrap();
    assert_error(missing, 404).await;
}
