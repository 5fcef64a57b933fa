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

/// What a run that died leaves is settled once: the debit its row reports
/// open (a long call) and the one written after its last report are
/// refunded; those its row reports settled, the one it refunded itself and
/// a live run's are not, and the run is gone. A long call open does not
/// hold back the calls settled after it.
#[tokio::test]
async fn a_dead_runs_unsettled_debits_are_refunded_once() {
    use fansly_gateway::metering::credit_batch::Line;
    use fansly_gateway::metering::credit_runs::{refund_debit, settle_orphans, unsettled};
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let mut dead = Line::default();
    let calls = |costs: &[i64]| -> Vec<_> {
        costs
            .iter()
            .map(|cost| (team.as_str(), *cost, "users.lookup", None))
            .collect()
    };
    let debits = async |line: &mut Line, costs: &[i64]| -> Vec<i64> {
        let (outcomes, _) = line.write(app.db(), &calls(costs)).await.unwrap();
        outcomes.into_iter().map(|o| o.unwrap().debit).collect()
    };
    // Call 1 is a long one (an upload), still open at the run's last report;
    // calls 2 and 3 were kept after it started.
    let first = debits(&mut dead, &[1, 2, 3]).await;
    dead.heartbeat(app.db(), first[2], &[first[0]])
        .await
        .unwrap();
    // Calls 4 and 5 came after that report: 4 failed and its run refunded
    // it, 5 was in flight when the run died.
    let later = debits(&mut dead, &[4, 5]).await;
    assert!(refund_debit(app.db(), later[0]).await.unwrap().is_some());
    assert_eq!(unsettled(app.db()).await.unwrap(), 2);
    // Another run, alive (its heartbeat is recent), with a call in flight.
    let mut alive = Line::default();
    debits(&mut alive, &[7]).await;
    assert_eq!(app.balance(&team).await, before - 15 + 4 - 7);
    let long_ago = fansly_gateway::core::time::now_ms() - 3_600_000;
    sqlx::query("UPDATE credit_runs SET heartbeat_at = $1 WHERE id = $2")
        .bind(long_ago)
        .bind(dead.run())
        .execute(&app.db().writer)
        .await
        .unwrap();
    let dead_before = fansly_gateway::core::time::now_ms() - 60_000;
    assert_eq!(
        settle_orphans(app.db(), dead_before, None).await.unwrap(),
        2
    );
    assert_eq!(app.balance(&team).await, before - 2 - 3 - 7);
    assert_eq!(
        settle_orphans(app.db(), dead_before, None).await.unwrap(),
        0
    );
    assert_eq!(
        app.balance(&team).await,
        before - 2 - 3 - 7,
        "refunded once"
    );
    let runs: Vec<i64> = sqlx::query_scalar("SELECT id FROM credit_runs")
        .fetch_all(&app.db().pool)
        .await
        .unwrap();
    assert!(!runs.contains(&dead.run()), "the dead run is gone");
    assert!(runs.contains(&alive.run()), "the live run stays");
    // Each refund names its debit; the ledger sums to the balance.
    app.assert_ledger_sums_to_balance(&team).await;
    let refunded: Vec<i64> = sqlx::query_scalar(
        "SELECT refund_of FROM credit_ledger WHERE reason = 'refund' ORDER BY refund_of",
    )
    .fetch_all(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(refunded, vec![first[0], later[0], later[1]]);
}

/// A batch's calls are charged in order: each call's balance, the ledger's
/// rows (in call order, with the running balance, endpoint and request id)
/// and its sum are exact, grants in between included, and each call's debit
/// is its ledger row, for batches on both sides of SQLite's padding of its
/// rows (multiples of 16). On
/// PostgreSQL a batch of one team that can pay for all of it is one
/// statement; one that cannot is decided call by call.
#[tokio::test]
async fn a_batch_charges_its_calls_in_order() {
    use fansly_gateway::metering::credit_batch::Line;
    let app = spawn_app().await;
    let mut line = Line::default();
    let team = app.team.id.clone();
    // Sizes around SQLite's padding of its rows to multiples of 16, each
    // call with its own cost, endpoint and request id (every third none).
    let endpoints = ["users.lookup", "chats.list", "fans.list"];
    for (round, size) in [5usize, 16, 17, 40].into_iter().enumerate() {
        let ids: Vec<String> = (0..size).map(|i| format!("req-{round}-{i}")).collect();
        let plan: Vec<_> = (0..size)
            .map(|i| {
                let id = (i % 3 != 2).then_some(ids[i].as_str());
                (team.as_str(), 1 + i as i64, endpoints[i % 3], id)
            })
            .collect();
        let total: i64 = plan.iter().map(|c| c.1).sum();
        let before = app.balance(&team).await;
        let (outcomes, after) = line.write(app.db(), &plan).await.unwrap();
        let balances: Vec<i64> = outcomes
            .iter()
            .map(|o| o.as_ref().unwrap().balance)
            .collect();
        let expected: Vec<i64> = plan
            .iter()
            .scan(before, |balance, c| {
                *balance -= c.1;
                Some(*balance)
            })
            .collect();
        assert_eq!(balances, expected, "size {size}");
        assert_eq!(after, vec![(team.clone(), before - total)]);
        // One team that can pay: one trip on either engine.
        assert_eq!(line.one_trip_batches(), round as u64 + 1);
        assert_eq!(app.balance(&team).await, before - total, "size {size}");
        // The ledger's newest rows are this batch, in call order, and each
        // call's debit names its row, which carries its cost, balance,
        // endpoint and request id.
        let ledger = app.ledger(&team).await;
        let newest: Vec<_> = ledger[..size].iter().rev().collect();
        let debits: Vec<i64> = outcomes.iter().map(|o| o.as_ref().unwrap().debit).collect();
        assert_eq!(
            debits,
            newest.iter().map(|e| e.id).collect::<Vec<_>>(),
            "size {size}"
        );
        for ((call, balance), entry) in plan.iter().zip(&balances).zip(&newest) {
            assert_eq!(
                (entry.delta, entry.balance_after, entry.reason.as_str()),
                (-call.1, *balance, "debit"),
                "size {size}"
            );
            assert_eq!(entry.endpoint.as_deref(), Some(call.2), "size {size}");
            assert_eq!(entry.request_id.as_deref(), call.3, "size {size}");
        }
        app.assert_ledger_sums_to_balance(&team).await;
        fansly_gateway::metering::credits::grant(app.db(), &team, 1_000, "test")
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
        )
        .await
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_err());
    assert_eq!(app.balance(&team).await, 2);
    assert_eq!(line.one_trip_batches(), 4);
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
    line.write(app.db(), &plan).await.unwrap();
    // The ledger cannot be written: the team's debit must not stand alone.
    sqlx::query("ALTER TABLE credit_ledger RENAME TO credit_ledger_away")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert!(line.write(app.db(), &plan).await.is_err());
    sqlx::query("ALTER TABLE credit_ledger_away RENAME TO credit_ledger")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert_eq!(app.balance(&team).await, before - 3);
    let ledger_rows = app.ledger(&team).await.len();
    let (outcomes, _) = line.write(app.db(), &plan).await.unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().balance, before - 6);
    assert_eq!(app.balance(&team).await, before - 6);
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
    line.write(&db, &plan).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(cut >= 1, "the line's connection was cut");
    let (outcomes, _) = line.write(&db, &plan).await.unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().balance, 98);
}

/// Holds the previous version (migrations up to 0018) left behind — calls
/// whose process stopped before settling them — are refunded by the
/// upgrade, one ledger row each with the running balance, and the holds
/// table is gone.
#[tokio::test]
async fn holds_left_by_the_previous_version_are_refunded_by_the_upgrade() {
    use fansly_gateway::core::db::Db;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&crate::helpers::process_database_url(dir.path()).await, 2)
        .await
        .unwrap();
    // The previous version's migrations: this version's files up to 0018.
    let engine = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    let old = dir.path().join("previous");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() < "0019" {
            std::fs::copy(entry.path(), old.join(entry.file_name())).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&db.writer)
        .await
        .unwrap();
    let team = fansly_gateway::tenancy::create_team(&db, "upgrade", 100, None)
        .await
        .unwrap()
        .id;
    // Two calls reserved (2 and 3 credits) as that version wrote them.
    sqlx::query("UPDATE teams SET credits = credits - 5 WHERE id = $1")
        .bind(&team)
        .execute(&db.writer)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, request_id, created_at) \
         VALUES ($1, -2, 98, 'debit', 'users.lookup', 'req-a', 1), \
                ($1, -3, 95, 'debit', 'users.lookup', 'req-b', 2)",
    )
    .bind(&team)
    .execute(&db.writer)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO credit_holds (id, team_id, cost, endpoint, request_id, created_at) \
         VALUES ('hold_a', $1, 2, 'users.lookup', 'req-a', 1), \
                ('hold_b', $1, 3, 'users.lookup', 'req-b', 2)",
    )
    .bind(&team)
    .execute(&db.writer)
    .await
    .unwrap();

    db.migrate().await.unwrap();
    let balance = fansly_gateway::metering::credits::balance(&db, &team)
        .await
        .unwrap();
    assert_eq!(balance, Some(100));
    let refunds: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT delta, balance_after, request_id FROM credit_ledger \
         WHERE team_id = $1 AND reason = 'refund' ORDER BY id",
    )
    .bind(&team)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        refunds,
        vec![(2, 97, "req-a".to_owned()), (3, 100, "req-b".to_owned())]
    );
    let sum: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(delta) AS BIGINT) FROM credit_ledger WHERE team_id = $1",
    )
    .bind(&team)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(sum, 100, "the ledger sums to the balance");
    assert!(
        sqlx::query("SELECT 1 FROM credit_holds")
            .fetch_optional(&db.pool)
            .await
            .is_err(),
        "the holds table is gone"
    );
}

/// A caller that stops waiting for its reservation (its future dropped, as
/// when a client hangs up on a handler) never runs its call: the debit the
/// committer wrote for it is refunded, and the run still retires at a stop.
#[tokio::test]
async fn a_reservation_whose_caller_stopped_waiting_is_refunded() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    let credits = &app.state.credits;
    {
        let reserve = credits.reserve(&team, 4, "users.lookup", None);
        let mut reserve = std::pin::pin!(reserve);
        // Polled once: the reservation is on its way; then the caller leaves.
        assert!(futures::poll!(reserve.as_mut()).is_pending());
    }
    // A stop settles what is waiting before the run retires.
    assert_eq!(credits.drain(std::time::Duration::from_secs(5)).await, 0);
    assert_eq!(app.balance(&team).await, before);
    let ledger = app.ledger(&team).await;
    assert_eq!(
        (ledger[0].reason.as_str(), ledger[0].delta),
        ("refund", 4),
        "{ledger:?}"
    );
    app.assert_ledger_sums_to_balance(&team).await;
    assert_eq!(credit_runs(&app).await, 0, "retired with nothing unsettled");
}

/// A client that hangs up while its call waits on Fansly does not decide the
/// charge: the call runs on without it and settles as it turns out. Here
/// Fansly refuses the abandoned call (a 400, which is not retried) after the
/// client is gone,
/// so its credit comes back (a call cut off with its client would have kept
/// it: its reservation was already made). The client hangs up once the
/// call is at Fansly, not after a fixed time: a timeout of its own (100 ms,
/// before) could expire on a loaded machine before the gateway had even
/// read the request, and then no call ever ran.
#[tokio::test]
async fn a_call_whose_client_hung_up_settles_as_it_turns_out() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let before = app.balance(&team).await;
    app.inject(serde_json::json!({
        "method": "GET", "path": "/api/v1/account", "status": 400, "delay_ms": 1500
    }))
    .await;
    app.clear_upstream_requests().await;
    let call = app
        .http
        .get(format!(
            "{}/api/fansly/{}/users/fan1",
            app.address, app.team.account_id
        ))
        .bearer_auth(&app.team.key)
        .send();
    let call = tokio::spawn(call);
    let at_fansly = async {
        while !app
            .upstream_requests()
            .await
            .iter()
            .any(|r| r.path == "/api/v1/account")
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), at_fansly)
        .await
        .expect("the call reached Fansly");
    // Fansly holds its answer 1.5 s: the client hangs up well before it.
    call.abort();
    assert!(
        call.await.is_err_and(|e| e.is_cancelled()),
        "the client gave up first"
    );
    // The stop waits for the abandoned call to settle.
    assert_eq!(
        app.state
            .credits
            .drain(std::time::Duration::from_secs(5))
            .await,
        0
    );
    assert_eq!(app.balance(&team).await, before, "refunded");
    let ledger = app.ledger(&team).await;
    assert_eq!(
        (ledger[0].reason.as_str(), ledger[0].delta),
        ("refund", 1),
        "{ledger:?}"
    );
    app.assert_ledger_sums_to_balance(&team).await;
}

/// A batch reported as failed may have committed (PostgreSQL's answer to a
/// COMMIT can be lost): the committer then looks for its run's debits it
/// never heard of, and refunds them, since their calls were answered with
/// an error. Here the "lost" debit is written by hand, which is what the
/// committer would find after such a batch.
#[tokio::test]
async fn debits_of_a_batch_reported_as_failed_are_found_and_refunded() {
    let app = spawn_app().await;
    let team = app.team.id.clone();
    let credits = &app.state.credits;
    let kept = credits
        .reserve(&team, 1, "users.lookup", None)
        .await
        .unwrap();
    credits.keep(kept.debit);
    let before = app.balance(&team).await;
    // What a batch that committed after all would have left: a debit of the
    // run that the committer never heard of (written before the failure, so
    // no heartbeat in between can miss it).
    let mut tx = app.db().writer.begin().await.unwrap();
    let balance: i64 = sqlx::query_scalar(
        "UPDATE teams SET credits = credits - 6 WHERE id = $1 RETURNING credits",
    )
    .bind(&team)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, endpoint, created_at, run_id) \
         VALUES ($1, -6, $2, 'debit', 'users.lookup', 0, $3)",
    )
    .bind(&team)
    .bind(balance)
    .bind(credits.run_id())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The batch that fails: the ledger cannot be written.
    sqlx::query("ALTER TABLE credit_ledger RENAME TO credit_ledger_away")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert!(credits
        .reserve(&team, 6, "users.lookup", None)
        .await
        .is_err());
    sqlx::query("ALTER TABLE credit_ledger_away RENAME TO credit_ledger")
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert_eq!(app.balance(&team).await, before - 6);
    // The committer looks again when it next writes its run's row (here at
    // the stop), and refunds what it finds.
    assert_eq!(credits.drain(std::time::Duration::from_secs(5)).await, 0);
    assert_eq!(
        app.balance(&team).await,
        before,
        "the lost debit is refunded"
    );
    app.assert_ledger_sums_to_balance(&team).await;
    // Within LOST_GRACE of the failure more of that batch could still
    // appear, so the run is not retired: a settler takes it over later.
    assert_eq!(credit_runs(&app).await, 1);
}

/// How many credit runs have a row (a run retired cleanly has none).
async fn credit_runs(app: &crate::helpers::TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM credit_runs")
        .fetch_one(&app.db().pool)
        .await
        .unwrap()
}
