//! `/metrics` over HTTP: each family moves when its thing happens. The
//! recorder is one per process (the `metrics` facade's global), shared by the
//! apps of parallel tests, so each test reads a sample before and after its
//! action, on labels of its own team where the family has one.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{assert_error, parked, spawn_app, spawn_app_with, Receiver, TestApp};

async fn scrape(app: &TestApp) -> String {
    let resp = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    resp.text().await.unwrap()
}

/// One sample line: its name, its labels, its value.
type Sample<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// `name{a="1",b="2"} 3` → `("name", [("a","1"),("b","2")], 3.0)`.
fn parse(line: &str) -> Option<Sample<'_>> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, rest)) = head.split_once('{') else {
        return Some((head, Vec::new(), value));
    };
    let labels = rest
        .trim_end_matches('}')
        .split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once("=\"")?;
            Some((k, v.trim_end_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

/// The sum of `name`'s samples whose labels satisfy `wanted` (0 when none).
fn sum(text: &str, name: &str, wanted: impl Fn(&str, &str) -> Option<bool>) -> f64 {
    text.lines()
        .filter_map(parse)
        .filter(|(n, labels, _)| {
            *n == name && labels.iter().all(|(k, v)| wanted(k, v).unwrap_or(true))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// `sum` over samples carrying exactly these label values (others ignored).
fn with(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let has_all = |line_labels: &Vec<(&str, &str)>| {
        labels
            .iter()
            .all(|(k, v)| line_labels.iter().any(|(lk, lv)| lk == k && lv == v))
    };
    text.lines()
        .filter_map(parse)
        .filter(|(n, l, _)| *n == name && has_all(l))
        .map(|(_, _, v)| v)
        .sum()
}

/// Scrapes until `probe` holds (the workers record after the fact).
async fn eventually(app: &TestApp, what: &str, probe: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let text = scrape(app).await;
        if probe(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}:\n{}", scrape(app).await);
}

#[tokio::test]
async fn requests_credits_and_fansly_calls_are_counted_by_route_template() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let users = "/api/fansly/{fanslyAccount}/users/{usernames}";
    let before = scrape(&app).await;

    let path = app.acct_path("users/fan1");
    assert_eq!(app.get(&path).await.status(), 200);
    assert_eq!(app.get("/no/such/route").await.status(), 404);
    let after = scrape(&app).await;

    let ok = [("method", "GET"), ("route", users), ("status", "200")];
    assert!(
        with(&after, "fgw_http_requests_total", &ok)
            > with(&before, "fgw_http_requests_total", &ok),
        "{after}"
    );
    let timed = [("method", "GET"), ("route", users)];
    assert!(
        with(&after, "fgw_http_request_duration_seconds_count", &timed)
            > with(&before, "fgw_http_request_duration_seconds_count", &timed)
    );
    let missing = [("route", "unmatched"), ("status", "404")];
    assert!(
        with(&after, "fgw_http_requests_total", &missing)
            > with(&before, "fgw_http_requests_total", &missing)
    );
    // Labels are templates, never the raw path (unbounded, and it names accounts).
    assert!(!after.contains("/no/such/route"), "raw path in a label");
    assert!(!after.contains(&format!("route=\"/api/fansly/{}", app.team.account_id)));

    let spent = [("team", team.as_str())];
    assert!(
        with(&after, "fgw_credits_spent_total", &spent) >= 1.0,
        "{after}"
    );
    assert_eq!(with(&before, "fgw_credits_spent_total", &spent), 0.0);
    // The metered call went through a credit transaction of at least one call.
    assert!(
        with(&after, "fgw_credit_batch_calls_count", &[])
            > with(&before, "fgw_credit_batch_calls_count", &[]),
        "{after}"
    );

    let fansly_ok = |t: &str| {
        sum(t, "fansly_upstream_requests_total", |k, v| match k {
            "outcome" => Some(v == "ok"),
            "method" => Some(v == "GET"),
            "route" => Some(v.starts_with("/api/v1/account")),
            _ => None,
        })
    };
    assert!(fansly_ok(&after) > fansly_ok(&before), "{after}");
    let fansly_timed = |t: &str| {
        sum(
            t,
            "fansly_upstream_request_duration_seconds_count",
            |k, v| (k == "route").then(|| v.starts_with("/api/v1/account")),
        )
    };
    assert!(fansly_timed(&after) > fansly_timed(&before));
    // Fansly's ids never reach a label.
    let fan1 = app.fan_id(1).await;
    assert!(!scrape(&app).await.contains(&fan1));
}

#[tokio::test]
async fn rate_limit_refusals_are_counted_by_team() {
    let app = spawn_app_with(|c| c.default_rate_limit_per_minute = 1).await;
    let team = [("team", app.team.id.as_str())];
    assert_eq!(app.get("/api/fansly/accounts").await.status(), 200);
    assert_error(app.get("/api/fansly/accounts").await, 429).await;
    let text = scrape(&app).await;
    assert_eq!(
        with(&text, "fgw_rate_limit_refusals_total", &team),
        1.0,
        "{text}"
    );
    let limited = [("route", "/api/fansly/accounts"), ("status", "429")];
    assert!(with(&text, "fgw_http_requests_total", &limited) >= 1.0);
}

#[tokio::test]
async fn throttle_waits_and_refusals_are_counted() {
    // Ten reads a second, no burst, 150 ms of patience: of four at once one
    // goes, one or two wait, the rest are refused.
    let app = spawn_app_with(|c| {
        c.upstream.throttle.reads_per_minute = 600;
        c.upstream.throttle.burst = 1;
        c.upstream.throttle.max_wait_ms = 150;
    })
    .await;
    let waited = [("kind", "read"), ("result", "waited")];
    let refused = [("kind", "read"), ("result", "refused")];
    let before = scrape(&app).await;
    let path = app.acct_path("users/fan1");
    let statuses: Vec<u16> = join_all((0..4).map(|_| app.get(&path)))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let after = scrape(&app).await;
    let moved = |l: &[(&str, &str)]| {
        with(&after, "fansly_upstream_throttle_waits_total", l)
            > with(&before, "fansly_upstream_throttle_waits_total", l)
    };
    assert!(moved(&waited), "{after}");
    assert!(moved(&refused), "{after}");
    assert!(
        with(
            &after,
            "fansly_upstream_throttle_wait_seconds_count",
            &[("kind", "read")]
        ) > with(
            &before,
            "fansly_upstream_throttle_wait_seconds_count",
            &[("kind", "read")]
        )
    );
}

#[tokio::test]
async fn a_relogin_is_counted_by_team_and_outcome() {
    let app = spawn_app().await;
    let id = app.connect_by_login(1, json!({})).await.1;
    app.expire_sessions(1).await;
    app.get_ok(&format!("/api/fansly/{id}/users/fan1")).await;
    let renewed = [("team", app.team.id.as_str()), ("outcome", "renewed")];
    eventually(&app, "a renewed re-login", |t| {
        with(t, "fgw_relogins_total", &renewed) >= 1.0
    })
    .await;
}

#[tokio::test]
async fn relay_events_outbox_lag_and_webhook_deliveries_are_counted() {
    let app = spawn_app_with(|c| {
        c.relay.backoff_base_ms = 50;
        c.relay.backoff_cap_ms = 500;
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_ms = vec![50, 50, 50];
        // Deliveries run when the test says so (the relay still runs).
        parked(c);
    })
    .await;
    let team = app.team.id.clone();
    let received = "fansly.messages.received";
    let receiver = Receiver::start().await;
    // The first attempt fails, the retry lands: one of each outcome.
    receiver.answer(&[500]);
    app.create_webhook(&app.team, &receiver.url, &[received], None)
        .await;
    // This app's own socket: the gauge is process-wide, and another test's
    // socket let this one send its message before its relay was listening
    // (a flake seen on PostgreSQL in CI).
    app.wait_connected(&app.team.account_id, 0).await;
    let before = eventually(&app, "the relay socket to be counted", |t| {
        with(t, "fgw_relay_sockets_connected", &[]) >= 1.0
    })
    .await;
    let lag_before = with(&before, "fgw_outbox_lag_seconds_count", &[]);

    app.fan_writes(41, "counted on the way", 1).await;
    let relayed = [("team", team.as_str()), ("event", received)];
    eventually(&app, "the relayed event to be recorded", |t| {
        with(t, "fgw_events_recorded_total", &relayed) >= 1.0
    })
    .await;
    // The first attempt fails (500), the retry 50 ms later lands.
    assert_eq!(app.run_pending_deliveries().await, 1);
    assert_eq!(
        app.run_pending_deliveries_ahead(Duration::from_millis(60))
            .await,
        1
    );
    assert_eq!(receiver.requests().len(), 2);
    let text = scrape(&app).await;
    let has = |name: &str, k: &str, v: &str| with(&text, name, &[("team", team.as_str()), (k, v)]);
    // Counted once: as recorded, not again as relayed.
    assert_eq!(
        has("fgw_relay_events_total", "event", received),
        0.0,
        "{text}"
    );
    assert_eq!(
        has("fgw_events_recorded_total", "event", received),
        1.0,
        "{text}"
    );
    assert_eq!(
        has("fgw_webhook_delivery_attempts_total", "outcome", "failed"),
        1.0,
        "{text}"
    );
    assert_eq!(
        has(
            "fgw_webhook_delivery_attempts_total",
            "outcome",
            "delivered"
        ),
        1.0,
        "{text}"
    );
    assert!(
        with(&text, "fgw_outbox_lag_seconds_count", &[]) > lag_before,
        "{text}"
    );
    assert!(with(&text, "fgw_webhook_delivery_duration_seconds_count", &[]) >= 2.0);
    assert!(
        text.contains("# TYPE fgw_outbox_lag_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn broadcast_recipients_and_endings_are_counted() {
    let app = spawn_app_with(|c| c.broadcasts.poll_ms = 100).await;
    let sent = [("result", "sent")];
    let finished = [("state", "sent")];
    let before = scrape(&app).await;
    let fans = vec![app.fan_id(51).await, app.fan_id(52).await];
    let path = app.acct_path("mass-messaging");
    let created = app
        .post_ok(
            &path,
            &json!({"text": "Counted in /metrics", "userIds": fans}),
        )
        .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    // This broadcast's own end first: the counters are the whole process's,
    // and another test's broadcast ending must not end the wait early.
    crate::helpers::eventually("the broadcast to be sent", async || {
        let b = app.get_json(&format!("{path}/{id}")).await;
        (b["data"]["state"] == "sent").then_some(())
    })
    .await;
    // Counted once its records are written.
    eventually(&app, "the broadcast to be counted", |t| {
        with(t, "fgw_broadcasts_finished_total", &finished)
            > with(&before, "fgw_broadcasts_finished_total", &finished)
            && with(t, "fgw_broadcast_recipients_total", &sent)
                >= with(&before, "fgw_broadcast_recipients_total", &sent) + 2.0
    })
    .await;
}

#[tokio::test]
async fn with_an_operator_token_metrics_need_it() {
    const TOKEN: &str = "operator-token-for-metrics-0123456789abcdef";
    let app = spawn_app_with(|c| c.operator_token = Some(TOKEN.into())).await;
    let url = format!("{}/metrics", app.address);
    let none = app.http.get(&url).send().await.unwrap();
    let msg = assert_error(none, 401).await;
    assert!(msg.contains("operator_token"), "{msg}");
    // A team key is not the operator token.
    let team = app.get_url(&url).await;
    assert_error(team, 401).await;
    let ok = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("fgw_http_requests_total"));
}
