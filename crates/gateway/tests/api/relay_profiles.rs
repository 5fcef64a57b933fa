//! `senderData` on `fansly.messages.received`: the sender's profile, looked
//! up through the account's budget without ever holding up its events.

use crate::helpers::spawn_app_with;
use crate::relay::event_where;

#[tokio::test]
async fn a_sender_lookup_the_budget_cannot_take_at_once_does_not_hold_up_the_message() {
    // The lookup route lets one request through, then one per 10 s: a
    // lookup that waited for its turn (as it did, up to `max_wait_ms`' 10 s)
    // would hold this message, and every one behind it, for seconds.
    let app = spawn_app_with(|c| {
        c.upstream.throttle.route_reads_per_minute = 6;
        c.upstream.throttle.route_burst = 1;
    })
    .await;
    let account = app.team.account_id.clone();
    app.wait_connected(&account, 0).await;
    // A users lookup through the API spends the route's one slot.
    let lookup = app.get(&app.acct_path("users/fan1")).await;
    assert_eq!(lookup.status(), 200);

    // Fan 8 is new to the account: its profile is not cached.
    app.clear_upstream_requests().await;
    let sent = app.fan_writes(8, "a second message", 1).await;
    let id = sent["messages"][0].as_str().unwrap();
    let p = event_where(&app, &account, "fansly.messages.received", "id", id).await;
    assert_eq!(p["senderData"]["available"], false, "{p}");
    assert_eq!(p["senderData"]["id"], app.fan_id(8).await, "{p}");
    assert_eq!(p["content"], "a second message");
    let lookups = app.upstream_requests().await.into_iter().filter(|r| {
        r.path == "/api/v1/account" && r.query.as_deref().is_some_and(|q| q.contains("ids="))
    });
    assert_eq!(lookups.count(), 0, "no lookup went past the budget");
}
