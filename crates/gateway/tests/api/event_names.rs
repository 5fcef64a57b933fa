//! Every vendor event name (the 38 of the catalogue) is produced, each by a
//! sandbox action: websocket frames through the relay, REST diffs through
//! the gap fill's sweep (driven with `run_due`), the account lifecycle
//! through the connect API, and every key of each name's example payload is
//! delivered, with the same JSON type.

use std::collections::BTreeSet;
use std::time::Duration;

use fansly_gateway::core::config::Config;
use fansly_gateway::core::time::now_ms;
use fansly_gateway::events::catalog::CATALOG;
use fansly_gateway::webhooks::examples;
use fansly_gateway::workers::gap_fill::run::run_due;
use serde_json::{json, Value};
use sqlx::Row;

use crate::gap_fill::connected_now;
use crate::gap_fill_sources::some_fan;
use crate::helpers::{spawn_app_with, TestApp};

fn config(c: &mut Config) {
    c.relay.backoff_base_ms = 50;
    c.relay.backoff_cap_ms = 300;
}

async fn sweep(app: &TestApp, account: &str) {
    connected_now(app, account).await;
    let report = run_due(&crate::gap_fill::deps(app)).await;
    assert!(report.errors.is_empty(), "{report:?}");
}

/// `(name, payload)` of every event of the team.
async fn team_events(app: &TestApp) -> Vec<(String, Value)> {
    let rows = sqlx::query("SELECT name, payload FROM events WHERE team_id = $1")
        .bind(&app.team.id)
        .fetch_all(&app.db().pool)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let p: String = r.get(1);
            (r.get(0), serde_json::from_str(&p).unwrap())
        })
        .collect()
}

/// Waits until the team has an event named `name`.
async fn produced(app: &TestApp, name: &str) {
    for _ in 0..400 {
        if team_events(app).await.iter().any(|(n, _)| n == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} was never produced");
}

#[tokio::test]
async fn all_38_vendor_event_names_are_produced_each_by_a_sandbox_action() {
    let app = spawn_app_with(config).await;
    let account = app.team.account_id.clone();
    for _ in 0..400 {
        if app.state.relays.status(&account)["connected"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A post that expires later, seen by a first sweep (which also
    // remembers the profile).
    let expiring = app
        .sandbox_event("post_expiring", json!({"expires_in_ms": 600_000}))
        .await;
    produced(&app, "fansly.posts.created").await;
    sweep(&app, &account).await;

    // Messages.
    let got = app
        .sandbox_event("message", json!({"fan": "fan3", "text": "in"}))
        .await;
    let mine = app
        .sandbox_event("message_sent", json!({"fan": "fan3"}))
        .await;
    let mine_id = mine["messageId"].clone();
    app.sandbox_event(
        "messages_read",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    app.sandbox_event(
        "reaction_added",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    app.sandbox_event(
        "reaction_removed",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    app.sandbox_event("typing", json!({"fan": "fan3"})).await;
    app.sandbox_event(
        "message_deleted",
        json!({"fan": "fan3", "message_id": got["messageId"]}),
    )
    .await;
    app.sandbox_event("chat_hidden", json!({"fan": "fan3"}))
        .await;
    // Fans and money.
    let fan = some_fan(&app, "follow", 200, 100).await;
    app.sandbox_event("unfollow", json!({"fan": fan})).await;
    let fan = some_fan(&app, "subscription_new", 200, 100).await;
    app.sandbox_event("subscription_renewed", json!({"fan": fan}))
        .await;
    app.sandbox_event("subscription_expired", json!({"fan": fan}))
        .await;
    app.sandbox_event("tip", json!({"fan": "fan4"})).await;
    app.sandbox_event("purchase", json!({"fan": "fan4"})).await;
    app.sandbox_event("story_purchased", json!({"fan": "fan4"}))
        .await;
    app.sandbox_event("fan_ignored", json!({"fan": "fan5", "flags": 2}))
        .await;
    app.sandbox_event("payout", json!({})).await;
    app.sandbox_event("payout_updated", json!({})).await;
    app.sandbox_event("payout_debited", json!({})).await;
    // Posts.
    let post = app.sandbox_event("post", json!({"text": "fresh"})).await["postId"].clone();
    app.sandbox_event("post_updated", json!({"post_id": post, "text": "edited"}))
        .await;
    app.sandbox_event("post_liked", json!({"post_id": post, "fan": "fan6"}))
        .await;
    app.sandbox_event("post_commented", json!({"post_id": post, "fan": "fan6"}))
        .await;
    app.sandbox_event("post_pinned", json!({"post_id": post}))
        .await;
    app.sandbox_event("post_deleted", json!({"post_id": post}))
        .await;
    app.sandbox_event("post_expired", json!({"post_id": expiring["postId"]}))
        .await;
    // The account.
    app.sandbox_event("stream_updated", json!({})).await;
    app.sandbox_event("alert", json!({"text": "consent_request_1"}))
        .await;
    app.sandbox_event("profile_updated", json!({"text": "A new name"}))
        .await;
    // media.liked: a frame the sandbox has no action for yet, sent raw.
    let creator = app.creator(0).await;
    let like = json!({"id": "1", "accountId": app.fan_id(6).await, "accountMediaId": "2", "createdAt": now_ms()});
    let frame = json!({"t": 10000, "d": json!({"serviceId": 2, "event": json!({"type": 2, "like": like}).to_string()}).to_string()});
    let resp = app
        .sandbox_post(
            "/_sandbox/ws/frame",
            json!({"creator": creator["username"], "frame": frame}),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    produced(&app, "fansly.accounts.updated").await;
    produced(&app, "fansly.media.liked").await;
    // The sweep sees what Fansly announced no event for.
    sweep(&app, &account).await;

    // The lifecycle: a connect, a refused password, a login stopping at a
    // code, a disconnect; then the default account's session dies with no
    // password to renew it: needs-reconnect, an alert.
    let (_, other) = app.connect_by_login(1, json!({})).await;
    let bad = app
        .authenticate(
            &app.team,
            json!({"username": "sandbox_mailcode", "password": "wrong-password"}),
        )
        .await;
    app.settled_status(&app.team, &bad).await;
    let coded = app
        .authenticate(
            &app.team,
            json!({"username": "sandbox_mailcode", "password": "sandbox_mailcode-password"}),
        )
        .await;
    app.settled_status(&app.team, &coded).await;
    let resp = app.delete(&format!("/api/fansly/accounts/{other}")).await;
    assert_eq!(resp.status(), 200);
    app.expire_sessions_of(&creator).await;
    for _ in 0..400 {
        let alerts = team_events(&app).await;
        if alerts
            .iter()
            .any(|(n, p)| n == "fansly.accounts.alert" && p["type"] == "needs_reconnect")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let events = team_events(&app).await;
    let names: BTreeSet<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let missing: Vec<&str> = CATALOG
        .iter()
        .map(|t| t.name)
        .filter(|n| !names.contains(n))
        .collect();
    assert!(missing.is_empty(), "not produced: {missing:?}");
    assert_eq!(CATALOG.len(), 38);
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "fansly.accounts.alert")
        .map(|(_, p)| p)
        .collect();
    let state = app.state.relays.status(&account);
    assert!(
        alerts.iter().any(|p| p["type"] == "needs_reconnect"),
        "{alerts:?} {state}"
    );
    let renamed = events
        .iter()
        .find(|(n, _)| n == "fansly.profiles.updated")
        .unwrap();
    assert_eq!(renamed.1["displayName"], "A new name");

    // Every delivered payload has every key its example shows, each of the
    // same JSON type (null on either side stands for "may be empty"); a
    // payload may carry more (Fansly adds fields), the example promises no
    // key that is not delivered. Checked on every payload of every name.
    let mut gaps = Vec::new();
    for (name, payload) in &events {
        let example = examples::payload(name).unwrap();
        let (Some(e), Some(p)) = (example.as_object(), payload.as_object()) else {
            gaps.push(format!("{name}: example {example} vs delivered {payload}"));
            continue;
        };
        let absent: Vec<&String> = e.keys().filter(|k| !p.contains_key(*k)).collect();
        let typed: Vec<String> = e
            .iter()
            .filter_map(|(k, v)| {
                let d = p.get(k)?;
                let differs = !v.is_null()
                    && !d.is_null()
                    && std::mem::discriminant(v) != std::mem::discriminant(d);
                differs.then(|| format!("{k}: example {v}, delivered {d}"))
            })
            .collect();
        if !absent.is_empty() || !typed.is_empty() {
            gaps.push(format!(
                "{name}: not delivered {absent:?}, types differ {typed:?}\n  delivered: {payload}"
            ));
        }
    }
    gaps.sort();
    gaps.dedup();
    assert!(
        gaps.is_empty(),
        "{} delivered payloads differ from their example:\n{}",
        gaps.len(),
        gaps.join("\n")
    );
}
