//! Gap fill of the sources other than messages: followers, subscriptions,
//! the earnings ledger (transactions, tips, media and story purchases,
//! payout debits) and payout requests. What happens while the relay is
//! down (no socket) is delivered once after the fill; what the socket
//! delivered and the fill finds again is not delivered twice; nothing
//! older than the horizon is filled. Also: a fill claimed by another
//! instance is not run again, and the sweep's snapshots move only with
//! the events they cover.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use fansly_gateway::core::time::now_ms;
use fansly_gateway::events::marks;
use fansly_gateway::workers::gap_fill::run::run_due;
use serde_json::{json, Value};
use sqlx::Row;

use crate::gap_fill::{
    app_filled_once, baseline_ago, config, connected_now, deps, fill, refill_records_nothing,
};
use crate::helpers::{eventually, spawn_app_with, test_database_url, Receiver, TestApp};

/// The vendor events the non-message sources produce.
const NAMES: [&str; 10] = [
    "fansly.followers.new",
    "fansly.subscriptions.new",
    "fansly.subscriptions.renewed",
    "fansly.subscriptions.expired",
    "fansly.transactions.new",
    "fansly.tips.received",
    "fansly.media.purchased",
    "fansly.stories.purchased",
    "fansly.payouts.created",
    "fansly.payouts.updated",
];
const DEBITED: &str = "fansly.payouts.debited";

/// A fan of `from..to` (counting down) for whom `kind` happens (seeded fans
/// may already follow or subscribe); its name.
pub async fn some_fan(app: &TestApp, kind: &str, from: u32, to: u32) -> String {
    for n in (to..=from).rev() {
        let fan = format!("fan{n}");
        let resp = app
            .sandbox_post(&format!("/_sandbox/events/{kind}"), json!({"fan": fan}))
            .await;
        if resp.status() == 200 {
            return fan;
        }
    }
    panic!("no fan of {to}..{from} accepted {kind}");
}

/// How many events of each name the account has.
async fn counts(app: &TestApp) -> BTreeMap<String, usize> {
    let rows = sqlx::query("SELECT name FROM events WHERE account_id = $1")
        .bind(&app.team.account_id)
        .fetch_all(&app.db().pool)
        .await
        .unwrap();
    let mut n = BTreeMap::new();
    for r in rows {
        *n.entry(r.get::<String, _>(0)).or_default() += 1;
    }
    n
}

fn of(counts: &BTreeMap<String, usize>, name: &str) -> usize {
    counts.get(name).copied().unwrap_or(0)
}

/// One of each action: a follow and a subscription by fans of
/// `from..to` that have neither yet, a tip, a purchase, a story bought by
/// `buyer`, a payout asked for and paid, a payout debited. The subscriber,
/// and the events caused: `(name, how many)`.
async fn one_of_each(
    app: &TestApp,
    from: u32,
    to: u32,
    buyer: &str,
) -> (String, Vec<(&'static str, usize)>) {
    some_fan(app, "follow", from, to).await;
    let subscriber = some_fan(app, "subscription_new", from, to).await;
    app.sandbox_event("tip", json!({"fan": buyer, "amount": 7_000}))
        .await;
    app.sandbox_event("purchase", json!({"fan": buyer})).await;
    app.sandbox_event("story_purchased", json!({"fan": buyer}))
        .await;
    let payout = app.sandbox_event("payout", json!({"amount": 10_000})).await;
    app.sandbox_event("payout_updated", json!({"payout_id": payout["payoutId"]}))
        .await;
    app.sandbox_event("payout_debited", json!({"amount": 10_000}))
        .await;
    let caused = vec![
        ("fansly.followers.new", 1),
        ("fansly.subscriptions.new", 1),
        // The subscription's payment, the tip, the item, the story, the debit.
        ("fansly.transactions.new", 5),
        ("fansly.tips.received", 1),
        ("fansly.media.purchased", 1),
        ("fansly.stories.purchased", 1),
        ("fansly.payouts.created", 1),
        ("fansly.payouts.updated", 1),
        (DEBITED, 1),
    ];
    (subscriber, caused)
}

fn add(want: &mut BTreeMap<String, usize>, caused: &[(&str, usize)]) {
    for (name, n) in caused {
        *want.entry((*name).to_owned()).or_default() += n;
    }
}

#[tokio::test]
async fn every_source_missed_while_the_relay_is_down_is_delivered_once_and_none_twice() {
    let app = spawn_app_with(config).await;
    let receiver = Receiver::start().await;
    let mut names: Vec<&str> = NAMES.to_vec();
    names.push(DEBITED);
    app.create_webhook(&app.team, &receiver.url, &names, None)
        .await;
    let account = app.team.account_id.clone();
    app.wait_connected(&account, 0).await;
    // The first fill sets the baseline and finds nothing missing.
    fill(&app).await;

    // With the socket up: each action once, relayed live.
    let (s1, live) = one_of_each(&app, 200, 150, "fan3").await;
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    add(&mut want, &live);
    let live_total: usize = want.values().sum();
    let mut live_want = want.clone();
    // Each of the five transactions also moves the wallet, on the socket
    // only (the fill does not replay wallet updates). Waited for too: the
    // last of them can land after the other live events, and the snapshot
    // below must hold everything the live socket delivered.
    live_want.insert("fansly.wallets.updated".into(), 5);
    eventually("the live events recorded", async || {
        let c = counts(&app).await;
        live_want
            .iter()
            .all(|(name, n)| of(&c, name) >= *n)
            .then_some(())
    })
    .await;
    let live_counts = counts(&app).await;
    for (name, n) in &live_want {
        assert_eq!(of(&live_counts, name), *n, "{name} live");
    }

    // The relay goes down: nothing reaches a socket now.
    app.state.relays.stop_all();
    let (s2, down) = one_of_each(&app, 149, 100, "fan4").await;
    add(&mut want, &down);
    // The live subscriber renews (a payment) and the second one's ends.
    app.sandbox_event("subscription_renewed", json!({"fan": s1}))
        .await;
    app.sandbox_event("subscription_expired", json!({"fan": s2}))
        .await;
    add(
        &mut want,
        &[
            ("fansly.transactions.new", 1),
            ("fansly.subscriptions.renewed", 1),
            ("fansly.subscriptions.expired", 1),
        ],
    );
    assert_eq!(counts(&app).await, live_counts, "the relay is down");

    connected_now(&app, &account).await;
    let report = fill(&app).await;
    let got = counts(&app).await;
    for (name, n) in &want {
        assert_eq!(of(&got, name), *n, "{name}: {got:?}");
    }
    let missed: usize = want.values().sum::<usize>() - live_total;
    assert_eq!(report.recorded, missed, "{report:?}");
    assert!(
        report.duplicates > 0,
        "the live ones were found again: {report:?}"
    );

    // Delivered once each, under one idempotency key each.
    app.run_pending_deliveries().await;
    let delivered = receiver.requests();
    let total: usize = want.values().sum();
    assert_eq!(delivered.len(), total);
    let keys: HashSet<String> = delivered
        .iter()
        .map(|r| r.header("x-ofapi-idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), total);
    // The tip heard live and the one filled carry the amount Fansly recorded.
    let tips: Vec<Value> = delivered
        .iter()
        .map(|r| r.json())
        .filter(|b| b["event"] == "fansly.tips.received")
        .collect();
    assert_eq!(tips.len(), 2, "{tips:?}");
    assert!(
        tips.iter().all(|b| b["payload"]["amount"] == 7_000),
        "{tips:?}"
    );

    // Nothing changed since: the next fill records nothing.
    refill_records_nothing(&app, &account).await;
}

#[tokio::test]
async fn nothing_older_than_the_horizon_is_filled_from_any_source() {
    let (app, account) = app_filled_once().await;
    // The account was connected long before the outage.
    baseline_ago(&app, &account, 86_400_000).await;
    app.state.relays.stop_all();
    // Before the horizon: one of each.
    one_of_each(&app, 200, 150, "fan5").await;
    let before = counts(&app).await;
    // The horizon falls between the two rounds (well clear of either).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let horizon_at = now_ms();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, after) = one_of_each(&app, 149, 100, "fan6").await;

    connected_now(&app, &account).await;
    let mut d = deps(&app);
    d.settings.horizon = Duration::from_millis((now_ms() - horizon_at) as u64);
    let report = run_due(&d).await;
    assert!(report.errors.is_empty(), "{report:?}");
    let got = counts(&app).await;
    // Only the second round.
    for (name, n) in &after {
        assert_eq!(of(&got, name) - of(&before, name), *n, "{name}: {got:?}");
    }
    assert_eq!(report.recorded, after.iter().map(|(_, n)| n).sum::<usize>());
}

#[tokio::test]
async fn a_fill_another_instance_claimed_is_not_run_until_its_claim_lapses() {
    let (app, account) = app_filled_once().await;
    connected_now(&app, &account).await;
    // Another instance claims the due fill (for 300 ms).
    let now = now_ms();
    let claim = marks::claim(app.db(), &account, now, now + 300)
        .await
        .unwrap();
    assert!(claim.is_some());
    assert!(marks::claim(app.db(), &account, now, now + 300)
        .await
        .unwrap()
        .is_none());
    app.clear_upstream_requests().await;
    let report = run_due(&deps(&app)).await;
    assert_eq!(report.accounts, 0, "{report:?}");
    let fill_requests = async || app.upstream_count("GET", "/api/v1/messaging/groups").await;
    assert_eq!(fill_requests().await, 0, "no Fansly request");
    // Its instance died: once the claim lapses, this one fills.
    let report = eventually("the claim to lapse", async || {
        let r = run_due(&deps(&app)).await;
        (r.accounts == 1).then_some(r)
    })
    .await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(fill_requests().await > 0);
}

/// Makes every insert into `events` fail (a database refusing writes).
async fn refuse_events(app: &TestApp, refuse: bool) {
    let pg = test_database_url().await.is_some();
    let sql: &[&str] = match (pg, refuse) {
        (false, true) => &["CREATE TRIGGER refuse_events BEFORE INSERT ON events \
              BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
        (false, false) => &["DROP TRIGGER refuse_events"],
        (true, true) => &[
            "CREATE FUNCTION refuse_events() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events \
             FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        ],
        (true, false) => &[
            "DROP TRIGGER refuse_events ON events",
            "DROP FUNCTION refuse_events()",
        ],
    };
    for q in sql {
        sqlx::query(q).execute(&app.db().writer).await.unwrap();
    }
}

async fn profile_updates(app: &TestApp) -> usize {
    of(&counts(app).await, "fansly.profiles.updated")
}

#[tokio::test]
async fn a_profile_change_whose_record_failed_is_found_again_and_b_c_b_is_three_events() {
    // The first sweep remembers the profile as it is (A).
    let (app, account) = app_filled_once().await;
    app.state.relays.stop_all();
    app.sandbox_event("profile_updated", json!({"text": "Name B"}))
        .await;
    refuse_events(&app, true).await;
    connected_now(&app, &account).await;
    let failed = run_due(&deps(&app)).await;
    assert!(
        failed.errors.iter().any(|e| e.contains("recording")),
        "{failed:?}"
    );
    refuse_events(&app, false).await;
    assert_eq!(profile_updates(&app).await, 0);
    // The change is still there to be found.
    connected_now(&app, &account).await;
    fill(&app).await;
    assert_eq!(profile_updates(&app).await, 1);
    // On to C, then back to B: each a change of its own (B→C→B).
    for (name, n) in [("Name C", 2), ("Name B", 3)] {
        app.sandbox_event("profile_updated", json!({"text": name}))
            .await;
        connected_now(&app, &account).await;
        fill(&app).await;
        assert_eq!(profile_updates(&app).await, n, "after {name}");
    }
}
