//! The app under test: `spawn_app` (gateway and sandbox on port 0, a fresh
//! database), `spawn_app_on` for lives that share state across a restart,
//! the per-test database, `TestApp`/`TestTeam`, and direct access to the
//! app's database (teams, credits).

use std::time::Duration;

use fansly_gateway::core::config::Config;
use fansly_gateway::core::db::Db;
use fansly_gateway::metering::credits;
use fansly_gateway::workers::housekeeping::Housekeeping;
use fansly_gateway::workers::{broadcasts, webhook_delivery};
use fansly_gateway::{tenancy, App, AppState};
use secrecy::SecretString;

pub const TEST_DB_ENV: &str = "FANSLY_GATEWAY_TEST_DATABASE_URL";

pub struct TestApp {
    pub address: String,
    pub sandbox_url: String,
    pub http: reqwest::Client,
    pub state: AppState,
    /// The default team, its key and its connected sandbox creator.
    pub team: TestTeam,
    /// The workers' dependencies, as `App::run_until` hands them over: the
    /// `run_*` methods run what is due now (with `workers.autostart` off,
    /// see [`parked`], nothing else does).
    pub workers: Workers,
    /// The data dir this app owns (none when the caller owns it: [`spawn_app_on`]).
    _data_dir: Option<tempfile::TempDir>,
}

#[derive(Clone)]
pub struct Workers {
    pub deliveries: webhook_delivery::Deps,
    pub delivery_client: reqwest::Client,
    pub broadcasts: broadcasts::Deps,
    pub housekeeping: Housekeeping,
}

impl Workers {
    fn of(app: &App) -> Workers {
        let deliveries = app.webhook_delivery();
        Workers {
            delivery_client: webhook_delivery::client(&deliveries.settings),
            deliveries,
            broadcasts: app.broadcasts(),
            housekeeping: app.housekeeping(),
        }
    }
}

/// A config tweak that keeps the due-work loops (webhook delivery,
/// broadcasts, housekeeping) from starting: the test runs them itself.
pub fn parked(config: &mut Config) {
    config.workers.autostart = false;
}

#[derive(Clone, Debug, Default)]
pub struct TestTeam {
    pub id: String,
    pub key: String,
    pub account_id: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Builds the app as `serve --sandbox` does, with `tweak` applied to the config.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_owned(),
        database_url: test_database_url().await,
        ..Config::default()
    };
    config.sandbox.enabled = true;
    quick_upstream(&mut config);
    config.media.poll_interval_ms = 50;
    // The sandbox CDN is on loopback; the SSRF guard has its own test.
    config.media.allow_private_file_urls = true;
    tweak(&mut config);

    let app = App::build(config).await.expect("app builds");
    let sandbox_url = app.sandbox().expect("sandbox enabled").url();
    let mut test = TestApp::of(&app, sandbox_url, Some(data_dir));
    tokio::spawn(app.run_until_stopped());
    test.team = test.new_team(1_000, 0).await;
    test
}

/// What every test app's upstream shares: quick retries, and a throttle
/// and proxy guard out of the way (each has its own test).
fn quick_upstream(config: &mut Config) {
    config.upstream.backoff_base_ms = 20;
    config.upstream.max_retry_wait_ms = 2_000;
    // Every answer checked for drift: a test's calls come milliseconds apart.
    config.upstream.drift_check_every_ms = 0;
    // Tests drive accounts far harder than Fansly allows; the throttle has its own test.
    config.upstream.throttle.reads_per_minute = 1_000_000;
    config.upstream.throttle.writes_per_minute = 1_000_000;
    config.upstream.throttle.burst = 10_000;
    config.upstream.throttle.route_reads_per_minute = 1_000_000;
    config.upstream.throttle.route_burst = 10_000;
    // Tests' proxies are on loopback too (tests/api/hardening.rs checks the guard).
    config.logins.allow_private_proxies = true;
}

/// One life of a deployment (see [`spawn_app_on`]); `stop` ends it as a
/// graceful shutdown does.
pub struct Life {
    pub app: TestApp,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Life {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.running
            .await
            .expect("gateway task")
            .expect("gateway stops cleanly");
    }

    /// Ends this life as kill -9 would, as far as the rest of a cluster can
    /// tell: its sockets cut, its API gone, nothing handed back (leases
    /// lapse on their own).
    pub fn kill(self) {
        self.app.state.relays.stop_all();
        self.app.state.credits.halt();
        self.running.abort();
    }
}

/// A sandbox of its own on a free port, for tests that run several gateway
/// lives (a restart, two instances) against the same Fansly.
pub async fn start_sandbox() -> fansly_sandbox::Sandbox {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fansly_sandbox::Sandbox::start(listener, Default::default())
        .await
        .unwrap()
}

/// A gateway on an external `sandbox`, with `data_dir` and `database_url`
/// chosen by the caller, so several lives (a restart) share state. `team`
/// is the team of an earlier life, or `None` for a new one (1000 credits,
/// sandbox creator 0). `tweak` adjusts the config as in [`spawn_app_with`].
pub async fn spawn_app_on(
    sandbox: &fansly_sandbox::Sandbox,
    data_dir: &std::path::Path,
    database_url: Option<String>,
    team: Option<TestTeam>,
    tweak: impl FnOnce(&mut Config),
) -> Life {
    let key_file = data_dir.join("master.key");
    if !key_file.exists() {
        std::fs::write(
            &key_file,
            fansly_gateway::core::crypto::Keyring::generate_entry(),
        )
        .unwrap();
    }
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        database_url,
        master_key_file: Some(key_file),
        ..Config::default()
    };
    config.upstream.api_base = sandbox.url();
    config.upstream.media_base = sandbox.url();
    quick_upstream(&mut config);
    tweak(&mut config);
    let app = App::build(config).await.expect("app builds");
    let mut test = TestApp::of(&app, sandbox.url(), None);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    test.team = match team {
        Some(team) => team,
        None => test.new_team(1_000, 0).await,
    };
    Life {
        app: test,
        stop,
        running,
    }
}

/// A fresh database per test: a new PostgreSQL database when the test
/// database URL is set, else `None` (SQLite in the test's own data dir).
pub async fn test_database_url() -> Option<String> {
    let url = std::env::var(TEST_DB_ENV).ok().filter(|u| !u.is_empty())?;
    assert!(
        url.starts_with("postgres"),
        "{TEST_DB_ENV} must be a postgres:// URL, got {url}"
    );
    Some(new_pg_database(&url).await)
}

/// The database a test shares with gateways it runs as separate processes:
/// a fresh PostgreSQL one when the test database URL is set, else an SQLite
/// file in `dir`.
pub async fn process_database_url(dir: &std::path::Path) -> String {
    match test_database_url().await {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", dir.join("gateway.db").display()),
    }
}

/// `db_url` migrated, with a team `name` (1,000,000 credits) and its key:
/// what a test needs before it starts gateway processes on that database.
pub async fn process_team(db_url: &str, name: &str) -> (Db, tenancy::Team, tenancy::NewKey) {
    let db = Db::connect(db_url, 2).await.unwrap();
    db.migrate().await.unwrap();
    let team = tenancy::create_team(&db, name, 1_000_000, None)
        .await
        .unwrap();
    let key = tenancy::create_key(&db, &team.id, "test").await.unwrap();
    (db, team, key)
}

/// A new, empty database on the PostgreSQL server of `url`; its URL.
pub async fn new_pg_database(url: &str) -> String {
    let admin = Db::connect(url, 1)
        .await
        .expect("test PostgreSQL reachable");
    let name = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin.pool)
        .await
        .expect("create test database");
    admin.pool.close().await;
    let mut parsed = url::Url::parse(url).expect("valid test database URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

impl TestApp {
    /// The test's handle on a built app, taken before it runs; the caller
    /// sets its team.
    fn of(app: &App, sandbox_url: String, data_dir: Option<tempfile::TempDir>) -> TestApp {
        TestApp {
            address: format!("http://{}", app.address()),
            sandbox_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            state: app.state().clone(),
            team: TestTeam::default(),
            workers: Workers::of(app),
            _data_dir: data_dir,
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// A team with `credits`, an API key, and sandbox creator number `creator`
    /// connected through the same path `accounts add-token` uses.
    pub async fn new_team(&self, credits: i64, creator: usize) -> TestTeam {
        let team = tenancy::create_team(self.db(), "test team", credits, None)
            .await
            .unwrap();
        let key = tenancy::create_key(self.db(), &team.id, "test")
            .await
            .unwrap();
        let token = self.creator_token(creator).await;
        let account = self
            .state
            .sessions
            .add_token(&team.id, SecretString::from(token), None)
            .await
            .unwrap();
        TestTeam {
            id: team.id,
            key: key.secret,
            account_id: account.id,
        }
    }

    /// Sends every webhook delivery due now (retries due at once included)
    /// after parking those of teams out of credits; how many attempts ran.
    pub async fn run_pending_deliveries(&self) -> usize {
        let w = &self.workers;
        webhook_delivery::park_due_unpaid(&w.deliveries).await;
        webhook_delivery::run_due(&w.deliveries, &w.delivery_client).await
    }

    /// [`Self::run_pending_deliveries`] as if `ahead` more time had passed:
    /// what will be due by then (a retry, a parked delivery) runs now.
    pub async fn run_pending_deliveries_ahead(&self, ahead: Duration) -> usize {
        let w = &self.workers;
        webhook_delivery::run_due_ahead(&w.deliveries, &w.delivery_client, ahead).await
    }

    /// Runs the fan-out of every broadcast due now, as far as its
    /// recipients are due; how many fan-outs ran.
    pub async fn run_pending_broadcasts(&self) -> usize {
        broadcasts::run_due(&self.workers.broadcasts).await
    }

    /// [`Self::run_pending_broadcasts`] as if `ahead` more time had passed:
    /// schedules and recipient retries due by then run now.
    pub async fn run_pending_broadcasts_ahead(&self, ahead: Duration) -> usize {
        broadcasts::run_due_ahead(&self.workers.broadcasts, ahead).await
    }

    /// One housekeeping pass.
    pub async fn run_housekeeping(&self) {
        self.workers.housekeeping.run_due().await
    }

    pub async fn balance(&self, team_id: &str) -> i64 {
        credits::balance(self.db(), team_id).await.unwrap().unwrap()
    }

    pub async fn ledger(&self, team_id: &str) -> Vec<credits::LedgerEntry> {
        credits::ledger(self.db(), team_id, 100_000).await.unwrap()
    }

    /// The team's ledger sums to its balance: every charge and refund is a
    /// row, and nothing else moved the balance.
    pub async fn assert_ledger_sums_to_balance(&self, team_id: &str) {
        let ledger = self.ledger(team_id).await;
        let sum: i64 = ledger.iter().map(|e| e.delta).sum();
        assert_eq!(sum, self.balance(team_id).await, "{ledger:?}");
    }
}
