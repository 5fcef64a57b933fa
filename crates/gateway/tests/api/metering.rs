//! Credits and rate limits: one credit per call with a ledger row, an append-only ledger, no credit spent twice under concurrency.

use fansly_gateway::core::db::Backend;
use futures::future::join_all;
use serde_json::Value;

use crate::helpers::{
    assert_error, assert_error_naming, cluster_database_url, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn each_call_costs_one_credit_and_the_ledger_accounts_for_it() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let fan = app.fan_id(1).await; // 1 credit
    for n in 0..3 {
        let body: Value = app.create_chat(&fan).await.json().await.unwrap();
        let balance = 1_000 - 2 - n;
        assert_eq!(body["_meta"]["_credits"]["used"], 1);
        assert_eq!(body["_meta"]["_credits"]["balance"], balance);
        assert_eq!(app.balance(&team).await, balance);
    }
    // Lookups of several users cost one credit in all.
    let resp = app.get(&app.acct_path("users/fan1,fan2,fan3")).await;
    assert_eq!(resp.headers()["x-ofapi-credits-used"], "1");
    assert_eq!(resp.headers()["x-ofapi-credits-balance"], "995");
    // A failed call is refunded.
    assert_error(app.create_chat("999999999999999999").await, 404).await;

    let ledger = app.ledger(&team).await;
    let sum: i64 = ledger.iter().map(|e| e.delta).sum();
    assert_eq!(sum, app.balance(&team).await, "ledger sums to the balance");
    assert_eq!(app.balance(&team).await, 995);
    let reasons: Vec<&str> = ledger.iter().rev().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "initial grant",
            "debit",
            "debit",
            "debit",
            "debit",
            "debit",
            "debit",
            "refund"
        ]
    );
    // Every row's balance_after is the running total.
    let mut running = 0;
    for e in ledger.iter().rev() {
        running += e.delta;
        assert_eq!(e.balance_after, running);
    }
    assert!(ledger
        .iter()
        .filter(|e| e.reason == "debit")
        .all(|e| e.request_id.is_some()));
}

#[tokio::test]
async fn the_ledger_is_append_only() {
    let app = spawn_app().await;
    let update = sqlx::query("UPDATE credit_ledger SET delta = 5")
        .execute(&app.db().pool)
        .await;
    assert!(update.is_err());
    let delete = sqlx::query("DELETE FROM credit_ledger")
        .execute(&app.db().pool)
        .await;
    assert!(delete.is_err());
}

#[tokio::test]
async fn concurrent_calls_never_spend_the_same_credit() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    let team = app.new_team(50, 0).await;
    let body = serde_json::json!({ "user_id": fan });
    let responses = join_all((0..100).map(|_| app.create_chat_as(&team, &body))).await;
    let mut ok = 0;
    let mut payment_required = 0;
    for resp in responses {
        match resp.status().as_u16() {
            200 => ok += 1,
            402 => {
                assert_error_naming(resp, 402, "credits").await;
                payment_required += 1;
            }
            other => panic!("unexpected status {other}: {}", resp.text().await.unwrap()),
        }
    }
    assert_eq!((ok, payment_required), (50, 50));
    assert_eq!(app.balance(&team.id).await, 0);
    let ledger = app.ledger(&team.id).await;
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), 0);
    assert_eq!(ledger.iter().filter(|e| e.reason == "debit").count(), 50);
    assert!(ledger.iter().all(|e| e.balance_after >= 0));
}

#[tokio::test]
async fn out_of_credits_is_402_and_calls_nothing_upstream() {
    let app = spawn_app().await;
    let fan = app.fan_id(1).await;
    let broke = app.new_team(0, 0).await;
    app.clear_upstream_requests().await;
    let resp = app
        .create_chat_as(&broke, &serde_json::json!({ "user_id": fan }))
        .await;
    assert_error_naming(resp, 402, "balance is 0").await;
    let group_calls = app
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| r.path == "/api/v1/group")
        .count();
    assert_eq!(group_calls, 0);
}

#[tokio::test]
async fn over_the_team_rate_limit_is_429_with_retry_after() {
    let app = spawn_app_with(|c| c.default_rate_limit_per_minute = 3).await;
    for remaining in [2, 1, 0] {
        let resp = app.get("/api/fansly/accounts").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["x-rate-limit-remaining-minute"],
            remaining.to_string().as_str()
        );
    }
    let resp = app.get("/api/fansly/accounts").await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_error_naming(resp, 429, "3 requests per minute").await;

    // Another team has its own window.
    let other = app.new_team(10, 1).await;
    let resp = app.get_as(&other, "/api/fansly/accounts").await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_teams_own_limit_overrides_the_default() {
    let app = spawn_app().await;
    fansly_gateway::tenancy::set_rate_limit(app.db(), &app.team.id, Some(1))
        .await
        .unwrap();
    let body = app.get_json("/api/fansly/accounts").await;
    assert!(body.is_array());
    assert_error(app.get("/api/fansly/accounts").await, 429).await;
}

#[tokio::test]
async fn meta_reports_the_rate_limit() {
    let app = spawn_app().await;
    let resp = app.get(&app.acct_path("users/fan1")).await;
    let body: Value = resp.json().await.unwrap();
    let rl = &body["_meta"]["_rate_limits"];
    assert_eq!(rl["limit_minute"], 5000);
    assert_eq!(rl["remaining_minute"], 4999);
    assert!(rl["limit_day"].is_null() && rl["remaining_day"].is_null());
    assert!(rl["notice"].as_str().unwrap().contains("daily rate limits"));
}

/// Kept holds that piled up (batches failed meanwhile) are all deleted by
/// one batch, however many: more than SQLite takes as parameters of one
/// statement (32,766), so they cannot travel one argument each.
#[tokio::test]
async fn a_pile_of_kept_holds_is_deleted_in_one_batch() {
    use fansly_gateway::metering::credit_batch::{Line, MAX_BATCH};
    let app = spawn_app().await;
    let mut line = Line::default();
    let team = app.team.id.clone();
    fansly_gateway::metering::credits::grant(app.db(), &team, 40_000, "test")
        .await
        .unwrap();
    let before = app.balance(&team).await;
    let mut holds = Vec::new();
    const BATCHES: usize = 130; // 33,280 holds
    for _ in 0..BATCHES {
        let plan: Vec<_> = (0..MAX_BATCH)
            .map(|_| (team.as_str(), 1, "users.lookup", None))
            .collect();
        let (outcomes, _) = line.write(app.db(), &plan, &[]).await.unwrap();
        holds.extend(outcomes.into_iter().map(|o| o.unwrap().hold));
    }
    let held = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM credit_holds")
            .fetch_one(&app.db().pool)
            .await
            .unwrap()
    };
    assert_eq!(held().await, (BATCHES * MAX_BATCH) as i64);
    line.write(app.db(), &[], &holds).await.unwrap();
    assert_eq!(held().await, 0);
    // Kept: the charges stand, and the ledger still sums to the balance.
    assert_eq!(
        app.balance(&team).await,
        before - (BATCHES * MAX_BATCH) as i64
    );
    let ledger = app.ledger(&team).await;
    assert_eq!(
        ledger.iter().map(|e| e.delta).sum::<i64>(),
        app.balance(&team).await
    );
}

/// A batch's calls are charged in order: each call's balance, the ledger's
/// rows (in call order, with the running balance) and its sum are exact,
/// grants in between included, and the kept holds ride along. On
/// PostgreSQL a batch of one team that can pay for all of it is one
/// statement; one that cannot is decided call by call.
#[tokio::test]
async fn a_batch_charges_its_calls_in_order() {
    use fansly_gateway::metering::credit_batch::Line;
    let app = spawn_app().await;
    let mut line = Line::default();
    let team = app.team.id.clone();
    let held = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM credit_holds WHERE team_id = $1")
            .bind(&team)
            .fetch_one(&app.db().pool)
            .await
            .unwrap()
    };
    let plan: Vec<_> = (0..5)
        .map(|i| (team.as_str(), 1 + i as i64, "users.lookup", None))
        .collect(); // costs 1..5, 15 in all
    let mut kept = Vec::new();
    let postgres = app.db().backend == Backend::Postgres;
    for round in 0..3 {
        let before = app.balance(&team).await;
        let (outcomes, after) = line.write(app.db(), &plan, &kept).await.unwrap();
        let balances: Vec<i64> = outcomes
            .iter()
            .map(|o| o.as_ref().unwrap().balance)
            .collect();
        assert_eq!(
            balances,
            vec![before - 1, before - 3, before - 6, before - 10, before - 15]
        );
        assert_eq!(after, vec![(team.clone(), before - 15)]);
        assert_eq!(
            line.one_trip_batches(),
            if postgres { round + 1 } else { 0 }
        );
        assert_eq!(app.balance(&team).await, before - 15, "round {round}");
        assert_eq!(held().await, 5, "last batch's holds only (round {round})");
        kept = outcomes.into_iter().map(|o| o.unwrap().hold).collect();
        // The ledger's newest five rows are this batch, in call order.
        let ledger = app.ledger(&team).await;
        let newest: Vec<(i64, i64)> = ledger[..5]
            .iter()
            .rev()
            .map(|e| (e.delta, e.balance_after))
            .collect();
        assert_eq!(
            newest,
            plan.iter()
                .zip(&balances)
                .map(|(c, b)| (-c.1, *b))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            ledger.iter().map(|e| e.delta).sum::<i64>(),
            app.balance(&team).await
        );
        fansly_gateway::metering::credits::grant(app.db(), &team, 100, "test")
            .await
            .unwrap();
    }
    // A team that cannot pay for the whole batch: decided call by call.
    let balance = app.balance(&team).await;
    let (outcomes, _) = line
        .write(
            app.db(),
            &[
                (team.as_str(), balance - 2, "users.lookup", None),
                (team.as_str(), 5, "users.lookup", None),
            ],
            &[],
        )
        .await
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_err());
    assert_eq!(app.balance(&team).await, 2);
    assert_eq!(line.one_trip_batches(), if postgres { 3 } else { 0 });
}

/// A batch whose statement fails leaves nothing behind (no debit, no
/// ledger row), and the next batch on the same line writes normally.
#[tokio::test]
async fn a_failed_batch_rolls_back_its_debit() {
    use fansly_gateway::metering::credit_batch::Line;
    let app = spawn_app().await;
    let mut line = Line::default();
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let plan = [(team.as_str(), 3, "users.lookup", None)];
    sqlx::query("ALTER TABLE credit_holds RENAME TO credit_holds_away")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert!(line.write(app.db(), &plan, &[]).await.is_err());
    sqlx::query("ALTER TABLE credit_holds_away RENAME TO credit_holds")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert_eq!(app.balance(&team).await, before);
    let ledger_rows = app.ledger(&team).await.len();
    let (outcomes, _) = line.write(app.db(), &plan, &[]).await.unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().balance, before - 3);
    assert_eq!(app.balance(&team).await, before - 3);
    assert_eq!(app.ledger(&team).await.len(), ledger_rows + 1);
}

/// The committer's own PostgreSQL connection, cut by the server while it
/// sat idle (a restart, an idle-session timeout), is found by a ping and
/// replaced before the next batch, instead of failing that batch's calls.
/// (On PostgreSQL in every run: on SQLite the line has no connection of
/// its own.)
#[tokio::test]
async fn a_batch_after_the_server_cut_the_committers_idle_connection_is_written() {
    use fansly_gateway::core::db::Db;
    use fansly_gateway::metering::credit_batch::Line;
    // A database of this test's own: every other connection to it is cut.
    let db = Db::connect(&cluster_database_url().await, 2).await.unwrap();
    db.migrate().await.unwrap();
    let team = fansly_gateway::tenancy::create_team(&db, "idle", 100, None)
        .await
        .unwrap()
        .id;
    // Pinged before every batch, instead of after a second idle.
    let mut line = Line::pinging_after(std::time::Duration::ZERO);
    let plan = [(team.as_str(), 1, "users.lookup", None)];
    line.write(&db, &plan, &[]).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(cut >= 1, "the line's connection was cut");
    let (outcomes, _) = line.write(&db, &plan, &[]).await.unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().balance, 98);
}
