//! Metering off the request path, on several instances: a team limit shared
//! through Redis, credits exact across instances sharing one database, and a
//! reservation orphaned by a crash refunded when an instance starts.

use std::time::Instant;

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    process_database_url, process_team, spawn_app_on, start_sandbox as sandbox, test_database_url,
    test_redis_url, Life,
};
use crate::webhooks::durability::{
    authenticate_over_http, free_port, start_gateway_with, wait_healthy,
};
use fansly_gateway::core::db::Backend;

/// Three instances on one database and, with `redis`, one Redis under a
/// prefix of this test's own.
async fn three(
    sandbox: &fansly_sandbox::Sandbox,
    data: &std::path::Path,
    redis: bool,
) -> Vec<Life> {
    let url = test_database_url().await;
    let prefix = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
    let tweak = |c: &mut fansly_gateway::core::config::Config| {
        // Three pools on one PostgreSQL that the rest of the suite shares:
        // small ones, so its connection limit is not what this test meets.
        c.database_max_connections = 4;
        if redis {
            c.redis_url = Some(test_redis_url());
            c.redis_prefix = prefix.clone();
        }
    };
    let first = spawn_app_on(sandbox, data, url.clone(), None, tweak).await;
    let team = first.app.team.clone();
    let second = spawn_app_on(sandbox, data, url.clone(), Some(team.clone()), tweak).await;
    let third = spawn_app_on(sandbox, data, url, Some(team), tweak).await;
    vec![first, second, third]
}

/// How many of `n` calls spread round-robin over `lives` answer 200; every
/// other answer must be `refused`.
async fn spread(lives: &[Life], path: &str, n: usize, refused: u16) -> usize {
    let calls = (0..n).map(|i| {
        let app = &lives[i % lives.len()].app;
        app.request(Method::GET, path, Some(&app.team.key), None)
    });
    let mut ok = 0;
    for resp in join_all(calls).await {
        match resp.status().as_u16() {
            200 => ok += 1,
            s if s == refused => {}
            other => panic!("unexpected {other}: {}", resp.text().await.unwrap()),
        }
    }
    ok
}

#[tokio::test]
async fn a_limit_of_100_per_minute_holds_across_three_instances() {
    let sandbox = sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let lives = three(&sandbox, data.path(), true).await;
    let team = lives[0].app.team.clone();
    fansly_gateway::tenancy::set_rate_limit(lives[0].app.db(), &team.id, Some(100))
        .await
        .unwrap();
    let started = Instant::now();
    let ok = spread(&lives, "/api/fansly/accounts", 150, 429).await;
    // GCRA earns one request per 0.6 s at 100/min: what the run took may add some.
    let earned = (started.elapsed().as_millis() / 600) as usize;
    assert!(
        (100..=100 + earned).contains(&ok),
        "{ok} of 150 passed (earned {earned})"
    );
    // The next call is refused unless the time the run took earned it one
    // more (a loaded machine): then the one after, and so on, never more
    // passing than the limit plus what was earned.
    let mut passed = ok;
    let resp = loop {
        let resp = lives[1].app.get("/api/fansly/accounts").await;
        if resp.status() != 200 {
            break resp;
        }
        passed += 1;
        let earned = (started.elapsed().as_millis() / 600) as usize;
        assert!(passed <= 100 + earned, "{passed} passed (earned {earned})");
    };
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["_meta"]["_rate_limits"]["limit_minute"], 100);
    assert_eq!(body["_meta"]["_rate_limits"]["remaining_minute"], 0);
    for life in lives {
        life.stop().await;
    }
}

#[tokio::test]
async fn without_redis_each_instance_counts_alone() {
    // The control: the same load without Redis passes each instance's limit.
    let sandbox = sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let lives = three(&sandbox, data.path(), false).await;
    let team = lives[0].app.team.clone();
    fansly_gateway::tenancy::set_rate_limit(lives[0].app.db(), &team.id, Some(100))
        .await
        .unwrap();
    assert!(spread(&lives, "/api/fansly/accounts", 150, 429).await >= 150);
    for life in lives {
        life.stop().await;
    }
}

#[tokio::test]
async fn credits_stay_exact_when_the_balance_runs_out_across_three_instances() {
    let sandbox = sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let lives = three(&sandbox, data.path(), true).await;
    let app = &lives[0].app;
    let team = app.team.clone();
    // Down to 500 credits: 1,000 calls of one credit each, 500 can pay.
    let spend = app.balance(&team.id).await - 500;
    sqlx::query(
        "INSERT INTO credit_ledger (team_id, delta, balance_after, reason, created_at) \
         VALUES ($1, $2, 500, 'test setup', 0)",
    )
    .bind(&team.id)
    .bind(-spend)
    .execute(&app.db().writer)
    .await
    .unwrap();
    sqlx::query("UPDATE teams SET credits = 500 WHERE id = $1")
        .bind(&team.id)
        .execute(&app.db().writer)
        .await
        .unwrap();
    let path = format!("/api/fansly/{}/users/fan1", team.account_id);
    let ok = spread(&lives, &path, 1_000, 402).await;
    assert_eq!(ok, 500);
    assert_eq!(app.balance(&team.id).await, 0);
    let ledger = app.ledger(&team.id).await;
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), 0);
    assert!(ledger.iter().all(|e| e.balance_after >= 0));
    // Every charge a row; the running total is each row's balance_after.
    let mut running = 0;
    for e in ledger.iter().rev() {
        running += e.delta;
        assert_eq!(e.balance_after, running, "{e:?}");
    }
    assert_eq!(
        ledger
            .iter()
            .filter(|e| e.reason == "debit" && e.endpoint.is_some())
            .count(),
        500
    );
    let db = app.db().clone();
    for life in lives {
        life.stop().await;
    }
    // Every call settled: each instance retired its run on the way out,
    // which it does only with nothing unsettled.
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credit_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn a_reservation_orphaned_by_a_crash_is_refunded_when_an_instance_starts() {
    let sandbox = sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let url = test_database_url().await;
    let one = spawn_app_on(&sandbox, data.path(), url.clone(), None, |_| {}).await;
    let team = one.app.team.clone();
    let before = one.app.balance(&team.id).await;
    // A call reserves its credits, then its process dies before it settles:
    // the reservation is committed and nothing ever keeps or refunds it.
    let reserved = one
        .app
        .state
        .credits
        .reserve(&team.id, 3, "users.get", Some("req-crashed"))
        .await
        .unwrap();
    assert_eq!(reserved.balance, before - 3);
    let run_one = one.app.state.credits.run_id();
    let db = one.app.db().clone();
    one.kill();
    // Its heartbeat stopped long ago, as far as the next start can tell.
    sqlx::query("UPDATE credit_runs SET heartbeat_at = 0 WHERE id = $1")
        .bind(run_one)
        .execute(&db.writer)
        .await
        .unwrap();

    // Another instance starts (on PostgreSQL other instances may be
    // running, so it settles the runs whose heartbeat is older than the run
    // timeout).
    let two = spawn_app_on(&sandbox, data.path(), url, Some(team.clone()), |_| {}).await;
    let app = &two.app;
    assert_eq!(
        app.balance(&team.id).await,
        before,
        "the orphan was refunded"
    );
    let ledger = app.ledger(&team.id).await;
    assert_eq!(ledger.iter().map(|e| e.delta).sum::<i64>(), before);
    let refund = &ledger[0];
    assert_eq!(
        (
            refund.reason.as_str(),
            refund.delta,
            refund.request_id.as_deref()
        ),
        ("refund", 3, Some("req-crashed"))
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credit_runs WHERE id = $1")
        .bind(run_one)
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the dead run is settled and gone");
    assert_eq!(
        fansly_gateway::metering::credit_runs::unsettled(app.db())
            .await
            .unwrap(),
        0
    );
    // Settled once: housekeeping finds nothing more to refund.
    app.run_housekeeping().await;
    assert_eq!(app.balance(&team.id).await, before);
    two.stop().await;
}

#[tokio::test]
async fn an_account_row_is_served_from_memory_and_changes_reach_every_instance_within_the_cache_time(
) {
    // Three instances trusting a row they read for: 0 (read on every call),
    // a minute, and 300 ms.
    let sandbox = sandbox().await;
    let data = tempfile::tempdir().unwrap();
    let url = test_database_url().await;
    let trusting =
        |ms: u64| move |c: &mut fansly_gateway::core::config::Config| c.key_cache_ms = ms;
    let one = spawn_app_on(&sandbox, data.path(), url.clone(), None, trusting(0)).await;
    let team = one.app.team.clone();
    let two = spawn_app_on(
        &sandbox,
        data.path(),
        url.clone(),
        Some(team.clone()),
        trusting(60_000),
    )
    .await;
    let three = spawn_app_on(
        &sandbox,
        data.path(),
        url,
        Some(team.clone()),
        trusting(300),
    )
    .await;
    let (a, b, c) = (&one.app, &two.app, &three.app);
    let path = format!("/api/fansly/{}/users/fan1", team.account_id);
    for app in [a, b] {
        assert_eq!(app.get(&path).await.status(), 200);
    }
    // Another process marks the account as needing its owner: the instance
    // that reads the row sees it; the one serving it from memory does not
    // read it (and still calls Fansly with the session it holds).
    let set_state = async |state: &str| {
        sqlx::query("UPDATE fansly_accounts SET auth_state = $1 WHERE id = $2")
            .bind(state)
            .bind(&team.account_id)
            .execute(&a.db().writer)
            .await
            .unwrap();
    };
    set_state("needs-reconnect").await;
    assert_eq!(a.get(&path).await.status(), 409);
    assert_eq!(b.get(&path).await.status(), 200, "served from memory");
    set_state("authenticated").await;
    assert_eq!(c.get(&path).await.status(), 200);

    // Disconnected through instance two: despite its minute it answers 404
    // at once, as does the instance reading the row.
    let gone = b
        .delete(&format!("/api/fansly/accounts/{}", team.account_id))
        .await;
    assert_eq!(gone.status(), 200);
    let at = Instant::now();
    assert_eq!(b.get(&path).await.status(), 404);
    assert_eq!(a.get(&path).await.status(), 404);
    // Instance three sees it once its memory of the row is older than 300 ms
    // (never later than that, plus a loaded machine's request time).
    loop {
        // Until then it may answer 200, or fail on the session the
        // disconnect logged out at Fansly; then the row is gone: 404.
        if c.get(&path).await.status() == 404 {
            break;
        }
        assert!(
            at.elapsed() < std::time::Duration::from_millis(300 + 700),
            "instance three still serves the disconnected account after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for life in [three, two, one] {
        life.stop().await;
    }
}

/// The bench's finding, as a test: a `serve` process stopped by SIGTERM
/// while calls are in flight answers every one of them, and by the time it
/// exits each charge is settled as kept — its run retired, nothing left for
/// a settler to refund as if the calls had never been served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_stopped_mid_load_answers_its_calls_and_keeps_their_charges() {
    const CALLS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let sandbox = sandbox().await;
    let db_url = process_database_url(dir.path()).await;
    let (db, team, key) = process_team(&db_url, "sigterm").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_gateway_with(
        port,
        dir.path(),
        &db_url,
        &["serve"],
        &[
            ("FANSLY_GATEWAY_UPSTREAM__API_BASE", sandbox.url()),
            ("FANSLY_GATEWAY_UPSTREAM__MEDIA_BASE", sandbox.url()),
            ("FANSLY_GATEWAY_UPSTREAM__WS_URL", sandbox.ws_url()),
            (
                "FANSLY_GATEWAY_MASTER_KEYS",
                fansly_gateway::core::crypto::Keyring::generate_entry(),
            ),
            ("FANSLY_GATEWAY_UPSTREAM__THROTTLE__BURST", "1000".into()),
            (
                "FANSLY_GATEWAY_UPSTREAM__THROTTLE__ROUTE_BURST",
                "1000".into(),
            ),
        ],
    );
    wait_healthy(&http, &base).await;
    let creator = &sandbox.creators()[0];
    let creator = json!({"username": creator.username, "password": creator.password});
    let account = authenticate_over_http(&http, &base, &key.secret, &creator).await;
    let lookup = format!("{base}/api/fansly/{account}/users/fan1");
    // The login runs in the background: the first lookup that passes is
    // the sign that the account is connected.
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while http
        .get(&lookup)
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(Instant::now() < deadline, "the account never connected");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let balance = |db: fansly_gateway::core::db::Db, team: String| async move {
        fansly_gateway::metering::credits::balance(&db, &team)
            .await
            .unwrap()
            .unwrap()
    };
    let before = balance(db.clone(), team.id.clone()).await;
    let last_before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM credit_ledger")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // Fansly answers slowly, so the stop lands with every call mid-way.
    let fault =
        json!({"method": "GET", "path": "/api/v1/account", "delay_ms": 1_000, "times": CALLS});
    let added = http
        .post(format!("{}/_sandbox/faults", sandbox.url()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let calls: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(http.get(&lookup).bearer_auth(&key.secret).send()))
        .collect();
    // Every call's debit written. (Not the run's unsettled count: it learns
    // that the lookup which found the account connected was settled only at
    // its next mark, up to 100 ms later, so it could reach CALLS with one
    // call still to be debited, whose batch the lock below then refused.)
    let debited = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM credit_ledger WHERE reason = 'debit' AND id > $1",
        )
        .bind(last_before)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    while debited().await < CALLS as i64 {
        assert!(Instant::now() < deadline + std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The database is slow to take writes at the moment of the stop (another
    // writer holds the lock), so the run's last mark queues up behind it. On
    // PostgreSQL only the runs table is locked, so the rest of the shutdown
    // runs on and a stop that does not drain exits at once: this run catches
    // that (checked with the drain switched off). SQLite can only lock the
    // whole file, which also holds up the other shutdown writes, so there
    // the exit is delayed either way and the run checks the outcome only.
    let mut blocker = db.writer.begin().await.unwrap();
    let lock = match db.backend {
        Backend::Sqlite => "UPDATE teams SET credits = credits WHERE id = $1",
        Backend::Postgres => "LOCK TABLE credit_runs IN SHARE ROW EXCLUSIVE MODE",
    };
    let lock = sqlx::query(lock);
    let lock = match db.backend {
        Backend::Sqlite => lock.bind(&team.id),
        Backend::Postgres => lock,
    };
    lock.execute(&mut *blocker).await.unwrap();
    // SIGTERM to the process this test started, by its pid.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut cost = 0;
    for call in calls {
        let resp = call.await.unwrap().unwrap();
        assert_eq!(
            resp.status(),
            200,
            "a call in flight at the stop is answered"
        );
        cost += resp.headers()["x-ofapi-credits-used"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }
    // While the run's last mark cannot be written the process must not exit
    // (it would leave every call for a settler to refund).
    let patience = Instant::now() + std::time::Duration::from_millis(1_500);
    while Instant::now() < patience {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the gateway exited with its run's mark unwritten"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    blocker.rollback().await.unwrap();
    assert!(
        child.0.wait().unwrap().success(),
        "the gateway stops cleanly"
    );
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credit_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(runs, 0, "the run retired: every answered call was settled");
    assert_eq!(balance(db.clone(), team.id.clone()).await, before - cost);
    let refunds: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM credit_ledger WHERE reason = 'refund'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(refunds, 0);
}

/// SQLite's log is copied back by the checkpointer beside the writer: the
/// writer's own commits only checkpoint at `WRITER_CHECKPOINT_PAGES` (not
/// SQLite's default 1,000), and one pass of the checkpointer leaves every
/// frame of the log in the database file. PostgreSQL has nothing to do.
#[tokio::test]
async fn sqlite_log_is_checkpointed_beside_the_writer_not_in_its_commits() {
    use fansly_gateway::core::db::WRITER_CHECKPOINT_PAGES;
    use fansly_gateway::workers::wal_checkpoint::WalCheckpointer;

    let app = crate::helpers::spawn_app().await;
    let path = format!("/api/fansly/{}/users/fan1", app.team.account_id);
    for _ in 0..5 {
        let resp = app
            .request(Method::GET, &path, Some(&app.team.key), None)
            .await;
        assert_eq!(resp.status(), 200);
    }
    let checkpointer = WalCheckpointer {
        db: app.db().clone(),
        every: std::time::Duration::from_millis(100),
    };
    let done = checkpointer.run_due().await;
    if app.db().backend == Backend::Postgres {
        assert_eq!(done, None);
        return;
    }
    let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
        .fetch_one(&app.db().writer)
        .await
        .unwrap();
    assert_eq!(pages, i64::from(WRITER_CHECKPOINT_PAGES));
    let done = done.expect("SQLite checkpoints");
    assert!(!done.busy, "{done:?}");
    assert!(
        done.log_frames > 0,
        "the calls' commits are in the log: {done:?}"
    );
    assert_eq!(done.checkpointed_frames, done.log_frames, "{done:?}");
}

/// An app whose team made one lookup: the team's first call waits for its
/// debit, and leaves its balance known to the instance (so reads run beside
/// their reservation from then on). The app, the team and the lookup's path.
async fn balance_known() -> (crate::helpers::TestApp, String, String) {
    let app = crate::helpers::spawn_app().await;
    let team = app.team.id.clone();
    let lookup = app.acct_path("users/fan1");
    let first = app.request(Method::GET, &lookup, Some(&app.team.key), None);
    assert_eq!(first.await.status(), 200);
    assert!(app.state.credits.likely_covers(&team, 1));
    (app, team, lookup)
}

/// A read runs beside its reservation: while the credit commit is held up
/// (a transaction of this test holds the team's row), the lookup's Fansly
/// call is already made, and its answer comes out only once the debit
/// commits. A write waits for its debit before it reaches Fansly.
#[tokio::test]
async fn a_read_reaches_fansly_while_its_credits_are_reserved_and_a_write_does_not() {
    let (app, team, lookup) = balance_known().await;
    let chat = app.open_chat(1).await;
    let send = app.acct_path(&format!("chats/{chat}/messages"));
    app.clear_upstream_requests().await;
    let before = app.balance(&team).await;

    let mut hold = app.db().pool.begin().await.unwrap();
    sqlx::query("UPDATE teams SET credits = credits WHERE id = $1")
        .bind(&team)
        .execute(&mut *hold)
        .await
        .unwrap();
    // Both calls in flight at once, each on a task of its own.
    let call = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = app
            .http
            .request(method, format!("{}{path}", app.address))
            .bearer_auth(&app.team.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    let write = call(
        Method::POST,
        &send,
        Some(json!({"text": "after the debit"})),
    );
    let read = call(Method::GET, &lookup, None);
    // The lookup reaches Fansly while the debits cannot commit.
    let seen = crate::helpers::eventually("the read to reach Fansly", async || {
        let seen = app.upstream_requests().await;
        seen.iter()
            .any(|r| r.path == "/api/v1/account")
            .then_some(seen)
    })
    .await;
    assert!(
        !seen.iter().any(|r| r.method == "POST"),
        "the write reached Fansly before its debit: {seen:?}"
    );
    assert!(!read.is_finished(), "the read's answer waits for its debit");
    assert!(!write.is_finished());
    hold.commit().await.unwrap();

    assert_eq!(read.await.unwrap().status(), 200);
    assert_eq!(write.await.unwrap().status(), 200);
    assert_eq!(app.balance(&team).await, before - 2);
    let ledger = app.ledger(&team).await;
    let mut latest: Vec<_> = ledger[..2].iter().map(|e| e.endpoint.clone()).collect();
    latest.sort();
    assert_eq!(
        latest,
        [
            Some("messages.send".to_owned()),
            Some("users.lookup".to_owned())
        ],
        "{ledger:?}"
    );
    app.assert_ledger_sums_to_balance(&team).await;
}

/// A read run beside its reservation when the team's last known balance
/// covered it, but the balance was spent meanwhile (on another instance):
/// the answer is a 402 and nothing else (the Fansly call, or its answer, is
/// dropped), and nothing is charged.
#[tokio::test]
async fn a_read_whose_debit_is_refused_answers_402_and_charges_nothing() {
    let (app, team, lookup) = balance_known().await;
    // Spent elsewhere: this instance still remembers the old balance.
    sqlx::query("UPDATE teams SET credits = 0 WHERE id = $1")
        .bind(&team)
        .execute(&app.db().writer)
        .await
        .unwrap();
    assert!(
        app.state.credits.likely_covers(&team, 1),
        "the read runs beside its reservation"
    );
    let resp = app
        .request(Method::GET, &lookup, Some(&app.team.key), None)
        .await;
    assert_eq!(resp.status(), 402);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body.get("data").is_none_or(|d| d.is_null()), "{body}");
    assert_eq!(app.balance(&team).await, 0);
    let ledger = app.ledger(&team).await;
    let debits = ledger.iter().filter(|e| e.reason == "debit").count();
    assert_eq!(debits, 1, "only the first call's: {ledger:?}");
}
