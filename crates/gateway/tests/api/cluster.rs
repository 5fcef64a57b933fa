//! Cluster mode (`redis_url`): three gateways on one PostgreSQL database and
//! one Redis behave as one towards Fansly — one socket per account, taken
//! over when its holder dies; one re-login for many refused calls; one
//! request budget per account; and an event recorded on one instance wakes
//! the delivery workers of the others.

use std::time::Duration;

use fansly_gateway::events::outbox::NewEvent;
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{eventually, parked, spawn_cluster, Cluster, Receiver, TestApp};

/// The nodes whose relay has the account's socket open.
fn connected_on(cluster: &Cluster, account: &str) -> Vec<usize> {
    (0..cluster.nodes.len())
        .filter(|&i| cluster.nodes[i].app.state.relays.status(account)["connected"] == true)
        .collect()
}

async fn run_relays(cluster: &Cluster) {
    for node in &cluster.nodes {
        node.app.state.relays.run_due().await;
    }
}

async fn creator_account(app: &TestApp, n: usize) -> String {
    app.creator(n).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn three_instances_open_one_socket_per_account_and_another_takes_over_after_a_kill() {
    let mut cluster = spawn_cluster(3, |_, _| {}).await;
    let first = &cluster.nodes[0].app;
    let account = first.team.account_id.clone();
    let other_team = first.new_team(1_000, 1).await;
    let other = other_team.account_id.clone();
    let (creator0, creator1) = (
        creator_account(first, 0).await,
        creator_account(first, 1).await,
    );

    // Every node looks several times: each account still has one socket,
    // held by the node its lease names.
    for _ in 0..3 {
        run_relays(&cluster).await;
    }
    for (acct, creator) in [(&account, &creator0), (&other, &creator1)] {
        let on = eventually("one node connected", async || {
            let on = connected_on(&cluster, acct);
            (on.len() == 1 && cluster.sockets(creator).await == 1).then_some(on)
        })
        .await;
        let holder = cluster.nodes[0].app.state.relays.holder(acct).await;
        assert_eq!(
            holder.as_deref(),
            cluster.nodes[on[0]].app.state.relays.instance()
        );
    }
    run_relays(&cluster).await;
    assert_eq!(cluster.sockets(&creator0).await, 1);
    assert_eq!(cluster.sockets(&creator1).await, 1);
    // Every node answers the socket's status, as its holder published it.
    let holder = cluster.nodes[0].app.state.relays.holder(&account).await;
    for node in &cluster.nodes {
        let listed: Value = node
            .app
            .get("/api/fansly/accounts")
            .await
            .json()
            .await
            .unwrap();
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == account.as_str());
        let relay = &row.expect("the account is listed")["relay"];
        assert_eq!(relay["connected"], true, "{relay}");
        assert_eq!(relay["instance"].as_str(), holder.as_deref(), "{relay}");
    }

    // The holder of the first account dies without a word.
    let dead = connected_on(&cluster, &account)[0];
    let dead_name = cluster.nodes[dead]
        .app
        .state
        .relays
        .instance()
        .unwrap()
        .to_owned();
    let other_holder = cluster.nodes[0].app.state.relays.holder(&other).await;
    cluster.nodes.remove(dead).kill();
    eventually("the dead node's socket to close", async || {
        (cluster.sockets(&creator0).await == 0).then_some(())
    })
    .await;
    // A message nobody hears live: the taker's gap fill must find it.
    let sent = cluster.nodes[0]
        .app
        .fan_writes(7, "while nobody listens", 1)
        .await;
    let message_id = sent["messages"][0].as_str().unwrap().to_owned();

    // Its lease still stands, and lapses by itself (10 s by default).
    run_relays(&cluster).await;
    let lease = cluster.redis.key(&format!("relay:{account}"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&lease)
        .query_async(&mut cluster.redis.conn())
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 10_000, "lease TTL {ttl} ms");
    assert_eq!(
        cluster.nodes[0].app.state.relays.holder(&account).await,
        Some(dead_name.clone())
    );
    assert_eq!(cluster.sockets(&creator0).await, 0, "nobody else opened it");

    // Its lapse, without the wait: the key goes as expiry would remove it.
    let _: i64 = redis::cmd("DEL")
        .arg(&lease)
        .query_async(&mut cluster.redis.conn())
        .await
        .unwrap();
    run_relays(&cluster).await;
    let taker = eventually("a survivor to take the socket over", async || {
        let on = connected_on(&cluster, &account);
        (on.len() == 1 && cluster.sockets(&creator0).await == 1).then(|| on[0])
    })
    .await;
    let holder = cluster.nodes[0].app.state.relays.holder(&account).await;
    assert_eq!(
        holder.as_deref(),
        cluster.nodes[taker].app.state.relays.instance()
    );
    assert_ne!(holder, Some(dead_name.clone()));
    // The other account's lease was left to lapse: if the dead node held it
    // too, nobody has opened its socket yet; else it never closed.
    let expected = if other_holder == Some(dead_name.clone()) {
        0
    } else {
        1
    };
    assert_eq!(cluster.sockets(&creator1).await, expected);

    // What was sent meanwhile arrives once: the takeover's connect made the
    // account due for gap fill (run by whichever instance claims it).
    let count = || async {
        sqlx::query(
            "SELECT COUNT(*) FROM events WHERE account_id = $1 AND name = 'fansly.messages.received' \
             AND payload LIKE $2",
        )
        .bind(&account)
        .bind(format!("%{message_id}%"))
        .fetch_one(&cluster.nodes[0].app.db().pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
    };
    eventually("the missed message to be filled", async || {
        (count().await >= 1).then_some(())
    })
    .await;
    // And the live socket carries what comes next, still once.
    let live = cluster.nodes[0].app.fan_writes(8, "heard live", 1).await;
    let live_id = live["messages"][0].as_str().unwrap().to_owned();
    eventually("the live message", async || {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM events WHERE account_id = $1 AND payload LIKE $2")
                .bind(&account)
                .bind(format!("%{live_id}%"))
                .fetch_one(&cluster.nodes[0].app.db().pool)
                .await
                .unwrap()
                .get(0);
        (n >= 1).then_some(())
    })
    .await;
    assert_eq!(count().await, 1);

    // A graceful stop hands the lease back at once: no lapse to wait for.
    let survivor = cluster.nodes.remove(taker);
    survivor.stop().await;
    assert_eq!(
        cluster.nodes[0].app.state.relays.holder(&account).await,
        None
    );
    run_relays(&cluster).await;
    eventually("the last node to take over", async || {
        (connected_on(&cluster, &account) == vec![0] && cluster.sockets(&creator0).await == 1)
            .then_some(())
    })
    .await;
}

/// Three nodes that each hold creator 1's session, then Fansly ends it with
/// `login_fault` (an injected fault's fields) waiting on the next
/// `/api/v1/login`: the cluster, the creator and a path that needs the session.
async fn session_ends_under_three_nodes(mut login_fault: Value) -> (Cluster, Value, String) {
    // Fansly may take up to 30 s to answer a login here.
    let cluster = spawn_cluster(3, |_, c| c.upstream.timeout_ms = 30_000).await;
    let first = &cluster.nodes[0].app;
    let (creator, account) = first.connect_by_login(1, json!({})).await;
    let path = format!("/api/fansly/{account}/users/fan1");
    for node in &cluster.nodes {
        assert_eq!(node.app.get(&path).await.status(), 200);
    }
    first.clear_upstream_requests().await;
    login_fault["method"] = json!("POST");
    login_fault["path"] = json!("/api/v1/login");
    first.inject(login_fault).await;
    first.expire_sessions(1).await;
    (cluster, creator, path)
}

/// `calls` concurrent calls of `path` spread over the nodes all answer 200,
/// and Fansly saw one login.
async fn all_answered_after_one_login(cluster: &Cluster, path: &str, calls: usize) {
    let answers = join_all((0..calls).map(|i| cluster.nodes[i % 3].app.get(path))).await;
    for answer in answers {
        let status = answer.status();
        assert_eq!(status, 200, "{}", answer.text().await.unwrap());
    }
    let first = &cluster.nodes[0].app;
    assert_eq!(first.upstream_count("POST", "/api/v1/login").await, 1);
}

#[tokio::test]
async fn fifty_concurrent_refusals_across_three_instances_log_in_once() {
    // A slow login (as Fansly's is): every node meets the refusal while
    // the first login is still under way, so only the cluster lease keeps
    // the others from logging in too.
    let (cluster, creator, path) =
        session_ends_under_three_nodes(json!({"delay_ms": 500, "times": 3})).await;
    let first = &cluster.nodes[0].app;
    all_answered_after_one_login(&cluster, &path, 50).await;
    // The session the one login got serves every node.
    let sessions = first
        .sandbox_get(&format!(
            "/_sandbox/sessions?account_id={}",
            creator["account_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    for node in &cluster.nodes {
        assert_eq!(node.app.get(&path).await.status(), 200);
    }
    assert_eq!(first.upstream_count("POST", "/api/v1/login").await, 1);
}

#[tokio::test]
async fn a_login_slower_than_its_lease_is_still_the_only_one() {
    // Fansly answers the login after 17 s, past the 15 s the re-login lease
    // lasts on its own: only its holder's renewals keep the other instances
    // from logging in as well when it lapses.
    let (cluster, _, path) =
        session_ends_under_three_nodes(json!({"delay_ms": 17_000, "times": 3})).await;
    all_answered_after_one_login(&cluster, &path, 6).await;
}

#[tokio::test]
async fn a_failed_relogin_cools_down_on_every_instance() {
    // Fansly's login fails for a passing reason (503) for a while.
    let (cluster, _, path) =
        session_ends_under_three_nodes(json!({"status": 503, "times": 50})).await;
    let first = &cluster.nodes[0].app;
    let logins_after_first = {
        let answer = first.get(&path).await;
        assert!(answer.status().is_server_error(), "{}", answer.status());
        first.upstream_count("POST", "/api/v1/login").await
    };
    assert!(logins_after_first >= 1);
    // The other instances meet the same refusal: they wait out the cooldown
    // instead of logging in again themselves.
    for node in &cluster.nodes[1..] {
        let answer = node.app.get(&path).await;
        assert_eq!(answer.status(), 503, "{}", answer.text().await.unwrap());
    }
    assert_eq!(
        first.upstream_count("POST", "/api/v1/login").await,
        logins_after_first
    );
}

#[tokio::test]
async fn an_event_recorded_on_one_instance_is_delivered_by_another_after_a_wake() {
    // Only node 1 delivers, and its poll is an hour away: it can only act
    // on a wake-up.
    let cluster = spawn_cluster(3, |i, c| {
        c.relay.enabled = false;
        c.webhooks.allow_private_targets = true;
        c.webhooks.poll_interval_ms = 3_600_000;
        if i != 1 {
            parked(c);
        }
    })
    .await;
    cluster.wait_subscribed().await;
    let first = &cluster.nodes[0].app;
    let receiver = Receiver::start().await;
    first
        .create_webhook(
            &first.team,
            &receiver.url,
            &["fansly.messages.received"],
            None,
        )
        .await;
    // The create itself queued nothing to deliver.
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(&first.db().pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);

    let recorded = first
        .state
        .events
        .record(NewEvent {
            team_id: first.team.id.clone(),
            account_id: first.team.account_id.clone(),
            name: "fansly.messages.received",
            dedup_key: "cluster-wake-1".into(),
            payload: json!({"id": "cluster-wake-1", "content": "from node 0"}),
        })
        .await
        .unwrap()
        .expect("a new event");
    let got = receiver
        .wait_until(Duration::from_secs(10), "the woken delivery", |r| {
            !r.is_empty()
        })
        .await;
    let body: Value = got[0].json();
    assert_eq!(body["event"], "fansly.messages.received", "{body}");
    assert_eq!(body["payload"]["content"], "from node 0", "{body}");
    // Settled as delivered by the node that sent it.
    eventually("the delivery to be settled", async || {
        let status: String =
            sqlx::query("SELECT status FROM webhook_deliveries WHERE event_id = $1")
                .bind(&recorded)
                .fetch_one(&first.db().pool)
                .await
                .unwrap()
                .get(0);
        (status == "delivered").then_some(())
    })
    .await;
}

/// Fifteen users lookups spread over three nodes whose throttle lets
/// `account` and the lookup's `route` (each `(per minute, burst)`) through,
/// without waiting: exactly `passing` are answered, each with one Fansly
/// call, the rest are refused with 429 — 3× as many would pass if each node
/// kept its own buckets.
async fn fifteen_lookups_over_three_nodes(account: (u32, u32), route: (u32, u32), passing: usize) {
    let cluster = spawn_cluster(3, |_, c| {
        c.relay.enabled = false;
        let t = &mut c.upstream.throttle;
        t.max_wait_ms = 0;
        (t.reads_per_minute, t.burst) = account;
        (t.route_reads_per_minute, t.route_burst) = route;
    })
    .await;
    let first = &cluster.nodes[0].app;
    first.clear_upstream_requests().await;
    let path = format!("/api/fansly/{}/users/fan1", first.team.account_id);
    let answers = join_all((0..15).map(|i| cluster.nodes[i % 3].app.get(&path))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        passing,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15 - passing,
        "{statuses:?}"
    );
    let upstream = first.upstream_requests().await;
    assert_eq!(
        upstream.len(),
        passing,
        "one Fansly call per answered lookup: {:?}",
        upstream.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_accounts_fansly_budget_is_shared_by_every_instance() {
    // Five calls back to back, then one a minute: per node, 15 would pass.
    fifteen_lookups_over_three_nodes((1, 5), (600, 600), 5).await;
}

#[tokio::test]
async fn a_routes_budget_is_shared_by_every_instance() {
    // The account's budget is ample; the lookup route's own bucket lets 4
    // through back to back, then one a minute: per node, 12 would pass.
    fifteen_lookups_over_three_nodes((600, 100), (1, 4), 4).await;
}
