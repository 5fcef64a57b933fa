//! The websocket relay over real sockets: sandbox actions become `fansly.*`
//! rows in the outbox, once each, across drops, replays and token refusals.

use std::time::Duration;

use fansly_gateway::core::config::Config;
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_with, TestApp};

fn fast(c: &mut Config) {
    c.relay.backoff_base_ms = 50;
    c.relay.backoff_cap_ms = 500;
}

async fn spawn() -> TestApp {
    spawn_app_with(fast).await
}

/// The app and the team's account, once the account's relay is connected.
async fn connected() -> (TestApp, String) {
    ready(spawn().await).await
}

/// [`connected`], with a keep-alive every `min_ms` to `max_ms`.
async fn connected_pinging(min_ms: u64, max_ms: u64) -> (TestApp, String) {
    let app = spawn_app_with(|c| {
        fast(c);
        c.relay.ping_min_ms = min_ms;
        c.relay.ping_max_ms = max_ms;
    })
    .await;
    ready(app).await
}

async fn ready(app: TestApp) -> (TestApp, String) {
    let account = app.team.account_id.clone();
    app.wait_connected(&account, 0).await;
    (app, account)
}

/// `(name, dedup_key, payload)` of the account's events, oldest first.
async fn events(app: &TestApp, account: &str) -> Vec<(String, Option<String>, Value)> {
    app.account_events(account)
        .await
        .into_iter()
        .map(|e| (e.name, e.dedup_key, e.payload))
        .collect()
}

/// The `fansly.messages.received` event of Fansly message `id`.
async fn message_received(app: &TestApp, account: &str, id: &str) -> Value {
    event_where(app, account, "fansly.messages.received", "id", id).await
}

/// The event `name` whose payload field `field` is `value`.
pub async fn event_where(
    app: &TestApp,
    account: &str,
    name: &str,
    field: &str,
    value: &str,
) -> Value {
    eventually(&format!("{name} with {field} = {value}"), async || {
        events(app, account)
            .await
            .into_iter()
            .find(|(n, _, p)| n == name && p[field] == value)
            .map(|(_, _, p)| p)
    })
    .await
}

async fn relay(app: &TestApp, account: &str) -> Value {
    app.state.relays.status(account)
}

async fn act(app: &TestApp, kind: &str, body: Value) -> reqwest::Response {
    app.sandbox_post(&format!("/_sandbox/events/{kind}"), body)
        .await
}

/// A fan for whom `kind` succeeds (seeded fans already follow or subscribe).
async fn first_fan_for(app: &TestApp, kind: &str) -> (String, Value) {
    for n in (100..=200).rev() {
        let fan = format!("fan{n}");
        let resp = act(app, kind, json!({"fan": fan})).await;
        if resp.status() == 200 {
            return (fan, resp.json().await.unwrap());
        }
    }
    panic!("no fan accepted {kind}");
}

#[tokio::test]
async fn a_fan_message_becomes_messages_received_with_the_fansly_message() {
    let (app, account) = connected().await;

    let sent = app.fan_writes(7, "hello over the socket", 1).await;
    let message_id = sent["messages"][0].as_str().unwrap();
    let p = message_received(&app, &account, message_id).await;
    assert_eq!(p["content"], "hello over the socket");
    assert_eq!(p["groupId"], sent["groupId"]);
    assert_eq!(p["senderId"], app.fan_id(7).await);
    assert!(
        p["createdAt"].is_f64(),
        "websocket createdAt is fractional seconds: {p}"
    );
    assert!(p["interactions"].is_array());

    // The message really is in the conversation the gateway reads.
    let creator = app.creator(0).await;
    let upgrades = app.sandbox_get("/_sandbox/ws/connections").await;
    assert_eq!(
        upgrades["accounts"][creator["account_id"].as_str().unwrap()],
        1
    );
    let h = &upgrades["upgrades"][0];
    assert_eq!(h["origin"], "https://fansly.com");
    assert!(h["cookie"].as_str().unwrap().starts_with("f-d="), "{h}");
    assert_eq!(h["sec-fetch-site"], "same-site");
    assert!(h["user-agent"].as_str().unwrap().starts_with("Mozilla/5.0"));
    assert_eq!(relay(&app, &account).await["events_relayed"], 1);
}

#[tokio::test]
async fn every_mapped_action_is_one_vendor_event_even_when_frames_are_replayed() {
    let (app, account) = connected().await;
    let expect = |name: &'static str, field: &'static str, value: Value| (name, field, value);
    let mut wanted = Vec::new();

    let got = app
        .sandbox_event("message", json!({"fan": "fan3", "text": "in"}))
        .await;
    wanted.push(expect(
        "fansly.messages.received",
        "id",
        got["messageId"].clone(),
    ));
    let mine = app
        .sandbox_event("message_sent", json!({"fan": "fan3", "text": "out"}))
        .await;
    let mine_id = mine["messageId"].as_str().unwrap().to_owned();
    wanted.push(expect("fansly.messages.sent", "id", json!(mine_id)));
    app.sandbox_event(
        "messages_read",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    wanted.push(expect(
        "fansly.messages.read",
        "groupId",
        got["groupId"].clone(),
    ));
    let like = app
        .sandbox_event(
            "reaction_added",
            json!({"fan": "fan3", "message_id": mine_id, "reaction": 2}),
        )
        .await;
    wanted.push(expect(
        "fansly.messages.reaction_added",
        "id",
        like["likeId"].clone(),
    ));
    app.sandbox_event(
        "reaction_removed",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    wanted.push(expect(
        "fansly.messages.reaction_removed",
        "id",
        like["likeId"].clone(),
    ));
    app.sandbox_event("typing", json!({"fan": "fan3"})).await;
    wanted.push(expect(
        "fansly.users.typing",
        "groupId",
        got["groupId"].clone(),
    ));
    app.sandbox_event(
        "message_deleted",
        json!({"fan": "fan3", "message_id": mine_id}),
    )
    .await;
    wanted.push(expect("fansly.messages.deleted", "id", json!(mine_id)));

    let (fan, follow) = first_fan_for(&app, "follow").await;
    wanted.push(expect(
        "fansly.followers.new",
        "id",
        follow["followId"].clone(),
    ));
    app.sandbox_event("unfollow", json!({"fan": fan})).await;
    wanted.push(expect(
        "fansly.followers.removed",
        "id",
        follow["followId"].clone(),
    ));

    let (fan, sub) = first_fan_for(&app, "subscription_new").await;
    let sub_id = sub["subscriptionId"].clone();
    wanted.push(expect("fansly.subscriptions.new", "id", sub_id.clone()));
    app.sandbox_event("subscription_renewed", json!({"fan": fan}))
        .await;
    wanted.push(expect("fansly.subscriptions.renewed", "id", sub_id.clone()));
    app.sandbox_event("subscription_expired", json!({"fan": fan}))
        .await;
    wanted.push(expect("fansly.subscriptions.expired", "id", sub_id));

    // The tip's three frames arrive as one batch (t:10001).
    let tip = app
        .sandbox_event(
            "tip",
            json!({"fan": "fan4", "amount": 12_500, "batch": true}),
        )
        .await;
    wanted.push(expect("fansly.tips.received", "id", tip["tipId"].clone()));
    wanted.push(expect(
        "fansly.transactions.new",
        "id",
        tip["transactionId"].clone(),
    ));
    let buy = app
        .sandbox_event("purchase", json!({"fan": "fan5", "items": 2}))
        .await;
    for item in buy["accountMediaIds"].as_array().unwrap() {
        wanted.push(expect(
            "fansly.media.purchased",
            "accountMediaId",
            item.clone(),
        ));
    }
    let payout = app.sandbox_event("payout", json!({"amount": 40_000})).await;
    wanted.push(expect(
        "fansly.payouts.created",
        "id",
        payout["payoutId"].clone(),
    ));
    app.sandbox_event("payout_updated", json!({"payout_id": payout["payoutId"]}))
        .await;
    wanted.push(expect(
        "fansly.payouts.updated",
        "id",
        payout["payoutId"].clone(),
    ));
    let post = app.sandbox_event("post", json!({"text": "new post"})).await;
    wanted.push(expect("fansly.posts.created", "id", post["postId"].clone()));
    app.sandbox_event("post_deleted", json!({"post_id": post["postId"]}))
        .await;
    wanted.push(expect("fansly.posts.deleted", "id", post["postId"].clone()));

    for (name, field, value) in &wanted {
        event_where(&app, &account, name, field, value.as_str().unwrap()).await;
    }
    let tip_event = event_where(
        &app,
        &account,
        "fansly.tips.received",
        "id",
        tip["tipId"].as_str().unwrap(),
    )
    .await;
    assert_eq!(tip_event["amount"], 12_500, "money in mills, unchanged");
    assert!(events(&app, &account)
        .await
        .iter()
        .any(|(n, _, _)| n == "fansly.wallets.updated"));
    // The pending subscription state (status 2) is never an event.
    assert!(events(&app, &account)
        .await
        .iter()
        .all(|(n, _, p)| !n.starts_with("fansly.subscriptions") || p["status"] != 2));
    // Each (name, occurrence) exactly once so far.
    let once = |evs: &[(String, Option<String>, Value)]| {
        evs.iter()
            .filter(|(n, _, _)| n != "fansly.users.typing")
            .count()
    };
    let before = once(&events(&app, &account).await);
    for (name, field, value) in &wanted {
        let n = events(&app, &account)
            .await
            .iter()
            .filter(|(n, _, p)| n == name && &p[*field] == value)
            .count();
        if *name != "fansly.messages.read" {
            assert_eq!(n, 1, "{name} {value}");
        }
    }

    // Everything again, after a reconnect: no second event for any of it.
    app.sandbox_post("/_sandbox/ws/drop", json!({})).await;
    app.wait_connected(&account, 1).await;
    let replayed = app.sandbox_post("/_sandbox/ws/replay", json!({})).await;
    assert!(
        replayed.json::<Value>().await.unwrap()["replayed"]
            .as_u64()
            .unwrap()
            > 20
    );
    // Frames are processed in order: once this one is in, the replay is too.
    let sentinel = app
        .sandbox_event("message", json!({"fan": "fan9", "text": "sentinel"}))
        .await;
    message_received(&app, &account, sentinel["messageId"].as_str().unwrap()).await;
    assert_eq!(once(&events(&app, &account).await), before + 1);
    // The writer counts a batch once it is committed.
    let status = eventually("the replay counted as duplicates", async || {
        let status = relay(&app, &account).await;
        (status["duplicates"].as_u64().unwrap() >= 20).then_some(status)
    })
    .await;
    assert_eq!(status["lost_events"], 0);
}

#[tokio::test]
async fn the_relay_reconnects_after_the_sandbox_drops_the_socket() {
    let (app, account) = connected().await;
    for round in 1..=2u64 {
        let dropped = app.sandbox_post("/_sandbox/ws/drop", json!({})).await;
        assert_eq!(dropped.json::<Value>().await.unwrap()["dropped"], 1);
        let s = app.wait_connected(&account, round).await;
        assert!(s["connected_since"].as_i64().unwrap() > 0);
    }
    let sent = app.fan_writes(11, "after the drop", 1).await;
    message_received(&app, &account, sent["messages"][0].as_str().unwrap()).await;
}

/// `fan2` messages `creator` through the sandbox: the message's id, once
/// the relay has recorded its `fansly.messages.received` event.
async fn fan2_message_received(
    app: &TestApp,
    creator: &Value,
    account: &str,
    text: &str,
) -> String {
    let got = app
        .sandbox_event(
            "message",
            json!({"creator": creator["username"], "fan": "fan2", "text": text}),
        )
        .await;
    let id = got["messageId"].as_str().unwrap().to_owned();
    message_received(app, account, &id).await;
    id
}

/// How many `name` events carry `id` in their payload.
async fn count_with_id(app: &TestApp, account: &str, name: &str, id: &str) -> usize {
    events(app, account)
        .await
        .iter()
        .filter(|(n, _, p)| n == name && p["id"] == id)
        .count()
}

#[tokio::test]
async fn a_token_refused_on_the_open_socket_is_renewed_by_exactly_one_login() {
    let app = spawn().await;
    let (creator, account) = app.connect_by_login(1, json!({})).await;
    app.wait_connected(&account, 0).await;
    app.clear_upstream_requests().await;
    let sessions = format!(
        "/_sandbox/sessions?account_id={}",
        creator["account_id"].as_str().unwrap()
    );
    let token_before = app.sandbox_get(&sessions).await;

    // No drop: the sandbox itself refuses the live socket (t:0 401, close).
    let expired = app.expire_sessions_of(&creator).await;
    assert_eq!(expired["sockets_refused"], 1, "{expired}");

    let s = app.wait_connected(&account, 1).await;
    assert_eq!(s["rate_limited"], 0, "{s}");
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 1);
    // The new socket authenticated with the renewed token, not the dead one.
    let tokens = app.sandbox_get(&sessions).await;
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    assert!(!token_before.as_array().unwrap().contains(&tokens[0]));
    let conns = app.sandbox_get("/_sandbox/ws/connections").await;
    assert_eq!(
        conns["accounts"][creator["account_id"].as_str().unwrap()],
        1,
        "{conns}"
    );

    let id = &fan2_message_received(&app, &creator, &account, "renewed").await;
    // A later message on the same socket marks the point by which a second
    // copy (from a second socket or a replay) would have come.
    fan2_message_received(&app, &creator, &account, "marker").await;
    // One socket, one event, still one login.
    assert_eq!(
        count_with_id(&app, &account, "fansly.messages.received", id).await,
        1
    );
    assert_eq!(relay(&app, &account).await["duplicates"], 0);
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 1);
}

#[tokio::test]
async fn a_rate_limit_on_the_open_socket_backs_off_and_reconnects_without_a_login() {
    let app = spawn().await;
    let (creator, account) = app.connect_by_login(1, json!({})).await;
    app.wait_connected(&account, 0).await;
    app.clear_upstream_requests().await;

    for round in 1..=2u64 {
        let refused = app
            .sandbox_post(
                "/_sandbox/ws/refuse",
                json!({"creator": creator["username"], "code": 429}),
            )
            .await;
        assert_eq!(refused.status(), 200);
        assert_eq!(refused.json::<Value>().await.unwrap()["refused"], 1);
        let s = app.wait_connected(&account, round).await;
        assert_eq!(s["rate_limited"], round, "{s}");
        assert!(
            s["last_error"].as_str().unwrap().contains("rate limited"),
            "{s}"
        );
    }
    // The token was good all along: no re-login, and events still flow.
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 0);
    let id = &fan2_message_received(&app, &creator, &account, "after 429").await;
    assert_eq!(
        count_with_id(&app, &account, "fansly.messages.received", id).await,
        1
    );
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 0);
}

#[tokio::test]
async fn a_401_on_the_socket_alone_is_renewed_and_the_relay_reconnects() {
    let app = spawn().await;
    let (creator, account) = app.connect_by_login(1, json!({})).await;
    app.wait_connected(&account, 0).await;
    app.clear_upstream_requests().await;
    // A 401 on the socket only (the session stays good for REST): the relay
    // re-logs in once, which the sandbox grants, and reconnects.
    let refused = app
        .sandbox_post(
            "/_sandbox/ws/refuse",
            json!({"creator": creator["username"], "code": 401}),
        )
        .await;
    assert_eq!(refused.json::<Value>().await.unwrap()["refused"], 1);
    let s = app.wait_connected(&account, 1).await;
    assert_eq!(s["rate_limited"], 0, "{s}");
    assert!(s["last_error"].as_str().unwrap().contains("refused"), "{s}");
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 1);
}

#[tokio::test]
async fn a_token_that_cannot_be_renewed_stops_the_relay_and_needs_reconnect() {
    let app = spawn().await;
    let account = app.team.account_id.clone();
    let creator = app.creator(0).await;
    app.wait_connected(&account, 0).await;
    // The refusal arrives on the open socket; nothing is dropped by hand.
    app.expire_sessions_of(&creator).await;
    let s = eventually("the relay to stop", async || {
        let s = relay(&app, &account).await;
        (s["running"] == false).then_some(s)
    })
    .await;
    assert_eq!(s["connected"], false);
    let list = app.get_json("/api/fansly/accounts").await;
    assert_eq!(list[0]["authentication_progress"], "needs-reconnect");
    assert_eq!(list[0]["relay"]["running"], false);
    assert_eq!(app.upstream_count("POST", "/api/v1/login").await, 0);
}

#[tokio::test]
async fn events_batched_before_a_refusal_are_relayed_before_it_takes_effect() {
    let (app, account) = connected().await;
    let message = json!({
        "id": "900000000000000001", "type": 1, "content": "just before the 429",
        "groupId": "900000000000000002", "senderId": "900000000000000003",
        "inReplyTo": "", "attachments": [], "embeds": [], "createdAt": 1_795_000_000.5,
    });
    let event =
        json!({"serviceId": 5, "event": json!({"type": 1, "message": message}).to_string()});
    let batch = json!({"t": 10001, "d": [
        {"t": 10000, "d": event.to_string()},
        {"t": 0, "d": json!({"code": 429}).to_string()},
    ]});
    let resp = app
        .sandbox_post("/_sandbox/ws/frame", json!({"frame": batch}))
        .await;
    assert_eq!(resp.status(), 204);
    message_received(&app, &account, "900000000000000001").await;
    let s = app.wait_connected(&account, 1).await;
    assert_eq!(s["rate_limited"], 1, "the refusal still counts: {s}");
}

#[tokio::test]
async fn unknown_and_malformed_frames_are_counted_and_the_relay_stays_up() {
    // Keep-alives every 300–400 ms: the socket must survive several of them.
    let (app, account) = connected_pinging(300, 400).await;
    for frame in [
        json!({"frame": {"t": 424242, "d": "{}"}}),
        json!({"frame": {"t": 10000, "d": json!({"serviceId": 999, "event": "{\"type\":1}"}).to_string()}}),
        json!({"text": "{not json"}),
        json!({"frame": {"t": 10000, "d": json!({"serviceId": 5, "event": "{\"type\":1}"}).to_string()}}),
    ] {
        let resp = app.sandbox_post("/_sandbox/ws/frame", frame).await;
        assert_eq!(resp.status(), 204);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let sent = app.fan_writes(12, "still here", 1).await;
    message_received(&app, &account, sent["messages"][0].as_str().unwrap()).await;
    let s = relay(&app, &account).await;
    assert_eq!(s["unknown_frames"], 2, "{s}");
    assert_eq!(s["malformed_frames"], 2, "{s}");
    assert_eq!(s["reconnects"], 0, "pings answered, nothing dropped: {s}");
    assert_eq!(s["connected"], true);
}

#[tokio::test]
async fn a_relay_started_later_picks_up_every_authenticated_account_and_dedups_with_the_first() {
    use fansly_gateway::workers::relay::supervisor::{RelayConfig, Relays};
    let (app, account) = connected().await;
    // A second manager over the same database, as a restarted (or second)
    // gateway instance would start: it finds the authenticated account itself.
    let state = &app.state;
    let second = Relays::new(
        RelayConfig::from_config(&state.config).unwrap(),
        state.db.clone(),
        state.sessions.clone(),
        state.events.clone(),
        fansly_gateway::workers::gap_fill::run::RelayHooks {
            db: state.db.clone(),
            profiles: fansly_gateway::workers::profiles::Profiles::new(state.sessions.clone()),
            fill: None,
        },
        None,
    );
    let task = tokio::spawn(second.clone().run());
    eventually("the second relay to connect", async || {
        (second.status(&account)["connected"] == true).then_some(())
    })
    .await;
    let creator = app.creator(0).await;
    let conns = app.sandbox_get("/_sandbox/ws/connections").await;
    assert_eq!(
        conns["accounts"][creator["account_id"].as_str().unwrap()],
        2
    );

    let sent = app.fan_writes(21, "heard twice", 1).await;
    let id = sent["messages"][0].as_str().unwrap();
    message_received(&app, &account, id).await;
    let totals = eventually("both relays to see the frame", async || {
        let (a, b) = (relay(&app, &account).await, second.status(&account));
        let seen =
            |s: &Value| s["events_relayed"].as_u64().unwrap() + s["duplicates"].as_u64().unwrap();
        (seen(&a) == 1 && seen(&b) == 1).then_some((a, b))
    })
    .await;
    assert_eq!(
        totals.0["events_relayed"].as_u64().unwrap() + totals.1["events_relayed"].as_u64().unwrap(),
        1,
        "one row for one upstream message: {totals:?}"
    );
    let rows = events(&app, &account).await;
    assert_eq!(rows.iter().filter(|(_, _, p)| p["id"] == id).count(), 1);
    task.abort();
    second.stop_all();
}

#[tokio::test]
async fn unanswered_keep_alives_end_the_socket_and_the_relay_reconnects() {
    let (app, account) = connected_pinging(100, 120).await;
    let silence = app
        .sandbox_post("/_sandbox/ws/pongs", json!({"answer": false}))
        .await;
    assert_eq!(silence.status(), 204);
    eventually("a keep-alive timeout", async || {
        let s = relay(&app, &account).await;
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("keep-alive"))
            .then_some(())
    })
    .await;
    app.sandbox_post("/_sandbox/ws/pongs", json!({"answer": true}))
        .await;
    app.wait_connected(&account, 1).await;
    let sent = app.fan_writes(30, "after the silence", 1).await;
    message_received(&app, &account, sent["messages"][0].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_fan_message_reaches_a_webhook_receiver_signed_both_ways() {
    use crate::helpers::{verify_signatures, Receiver};
    const SECRET: &str = "relay-end-to-end-secret-0123456789abcdef";
    let app = spawn_app_with(|c| {
        fast(c);
        c.webhooks.allow_private_targets = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    let account = app.team.account_id.clone();
    let receiver = Receiver::start().await;
    app.create_webhook(
        &app.team,
        &receiver.url,
        &["fansly.messages.received"],
        Some(SECRET),
    )
    .await;
    app.wait_connected(&account, 0).await;

    let sent = app.fan_writes(40, "all the way through", 1).await;
    let got = receiver.wait_for(1).await;
    let r = &got[0];
    verify_signatures(r, SECRET).unwrap();
    let body = r.json();
    assert_eq!(body["event"], "fansly.messages.received");
    assert_eq!(body["account_id"], account.as_str());
    assert_eq!(body["payload"]["id"], sent["messages"][0]);
    assert_eq!(body["payload"]["content"], "all the way through");
    assert_eq!(body["payload"]["senderId"], app.fan_id(40).await);
}
