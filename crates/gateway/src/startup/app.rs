//! Building and running the gateway: bind first (port 0 in tests), then
//! serve, with each background worker handed what it uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fansly_sandbox::{Sandbox, SandboxConfig};
use fansly_upstream::FanslyClient;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::accounts::login;
use crate::accounts::sessions::Sessions;
use crate::broadcasts::due::Due;
use crate::core::config::Config;
use crate::core::crypto::Keyring;
use crate::core::db::{Backend, Db};
use crate::core::redis::Redis;
use crate::core::time::now_ms;
use crate::events::outbox::Events;
use crate::events::wake;
use crate::http::state::{AppState, Inner};
use crate::metering::callers::Callers;
use crate::metering::credit_marks;
use crate::metering::credit_runs;
use crate::metering::group_commit::Committer;
use crate::metering::rate_limit::RateLimiter;
use crate::metering::requests::RequestLog;
use crate::startup::keys;
use crate::workers::gap_fill::run::{self as gap_fill, RelayHooks};
use crate::workers::housekeeping::Housekeeping;
use crate::workers::profiles::Profiles;
use crate::workers::relay::lease::SocketLeases;
use crate::workers::relay::supervisor::{RelayConfig, Relays};
use crate::workers::wal_checkpoint::WalCheckpointer;
use crate::workers::{broadcasts, check_key, data_exports, webhook_delivery};

/// How long a stopping instance waits for metered calls still running (a
/// client that hung up does not stop its call) to settle: longer than one
/// Fansly request with its retries normally takes.
const CALLS_PATIENCE: Duration = Duration::from_secs(30);
/// How often SQLite's log is copied back into the database file.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

pub struct App {
    listener: TcpListener,
    state: AppState,
    sandbox: Option<Sandbox>,
    keyring: Option<Arc<Keyring>>,
    profiles: Profiles,
    /// This instance's name in the cluster (socket leases, wake-ups).
    instance: String,
    /// Woken when another instance records an event (cluster mode).
    others: Arc<Notify>,
}

impl App {
    /// Starts the in-process sandbox when configured (and points the upstream
    /// client at it), connects and migrates the database, and binds.
    pub async fn build(mut config: Config) -> anyhow::Result<App> {
        // The metrics recorder, before anything records (once per process).
        crate::core::telemetry::handle();
        let sandbox = if config.sandbox.enabled {
            let listener = TcpListener::bind(config.sandbox.listen)
                .await
                .with_context(|| format!("binding the sandbox to {}", config.sandbox.listen))?;
            let sandbox = Sandbox::start(
                listener,
                SandboxConfig {
                    check_key: config.upstream.check_key.clone(),
                    strict_client_check: config.sandbox.strict_client_check,
                    data_dir: config.data_dir.join("sandbox"),
                    ..SandboxConfig::default()
                },
            )
            .await?;
            config.upstream.api_base = sandbox.url();
            config.upstream.media_base = sandbox.url();
            config.upstream.ws_url = sandbox.ws_url();
            config.upstream.web_base = sandbox.url();
            Some(sandbox)
        } else {
            None
        };
        let heartbeats = 3 * credit_marks::HEARTBEAT.as_millis() as u64;
        anyhow::ensure!(
            config.credit_run_timeout_ms >= heartbeats,
            "credit_run_timeout_ms is {} but must be at least {heartbeats} (three credit \
             heartbeats): a shorter one takes live instances for dead and refunds their calls",
            config.credit_run_timeout_ms
        );
        let db = Db::connect(&config.database_url(), config.database_max_connections).await?;
        db.migrate().await?;
        // Reservations a stopped process left unsettled are refunded now. An
        // SQLite file has one server, so every earlier run is dead; on
        // PostgreSQL other instances may be running, so only runs whose
        // heartbeat stopped (`credit_run_timeout_ms`).
        let dead_before = match db.backend {
            Backend::Sqlite => now_ms() + 1,
            Backend::Postgres => now_ms() - config.credit_run_timeout_ms as i64,
        };
        credit_runs::settle_orphans(&db, dead_before, None).await?;
        let redis = match &config.redis_url {
            Some(url) => Some(Redis::connect(url, &config.redis_prefix).await?),
            None => None,
        };
        let fansly = FanslyClient::new(config.upstream.to_client_config()?)?;
        let keyring = keys::keyring(&config)?.map(Arc::new);
        if keyring.is_none() {
            tracing::warn!(
                "no master key configured: credentials cannot be stored until one is \
                 (`fansly-gateway keys new-master`, then FANSLY_GATEWAY_MASTER_KEYS)"
            );
        }
        // The account lifecycle and the relay record into the same outbox.
        let events = Events::new(db.clone());
        let sessions = Sessions::new(
            db.clone(),
            fansly.clone(),
            keyring.clone(),
            config.upstream.throttle.to_config(),
            Duration::from_millis(config.relogin_cooldown_ms),
            events.clone(),
            redis.clone(),
        );
        // Account rows are trusted as long as API keys are (metering/callers.rs).
        sessions.cache_rows_for(Duration::from_millis(config.key_cache_ms));
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the API to {}", config.listen))?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", listener.local_addr()?),
        };
        let profiles = Profiles::new(sessions.clone());
        let instance = crate::core::ids::random_id("node_", 16);
        let leases = redis.clone().map(|r| {
            SocketLeases::new(
                r,
                instance.clone(),
                Duration::from_millis(config.relay.lease_ms),
            )
        });
        let relays = Relays::new(
            RelayConfig::from_config(&config)?,
            db.clone(),
            sessions.clone(),
            events.clone(),
            RelayHooks {
                db: db.clone(),
                profiles: profiles.clone(),
                // With the loops parked (tests), `run_due` fills instead.
                fill: config.workers.autostart.then(|| gap_fill::Deps {
                    db: db.clone(),
                    fansly: fansly.clone(),
                    sessions: sessions.clone(),
                    events: events.clone(),
                    profiles: profiles.clone(),
                    settings: gap_fill::Settings::from_relay(&config.relay),
                }),
            },
            leases,
        );
        let requests = RequestLog::new(config.request_log_per_team);
        let callers = Callers::new(Duration::from_millis(config.key_cache_ms));
        let limiter = match &redis {
            Some(redis) => RateLimiter::redis(redis.clone()),
            None => RateLimiter::memory(),
        };
        let state = AppState::new(Inner {
            operator: crate::http::operator::token_digest(config.operator_token.as_deref()),
            credits: Committer::start(db.clone()),
            limiter,
            callers,
            requests,
            config,
            public_url,
            events,
            relays,
            db,
            redis,
            fansly,
            sessions,
            broadcasts_due: Due::default(),
        });
        Ok(App {
            listener,
            state,
            sandbox,
            keyring,
            profiles,
            instance,
            others: Arc::default(),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.address().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// The background workers, each with what it uses (tests drive them
    /// through these too: `run_due` runs what is due now).
    pub fn housekeeping(&self) -> Housekeeping {
        let config = &self.state.config;
        let timeout = Duration::from_millis(config.media.processing_timeout_ms);
        Housekeeping {
            db: self.state.db.clone(),
            stale_uploads_after: (timeout * 2).max(Duration::from_secs(15 * 60)),
            retention: Duration::from_millis(config.webhooks.retention_ms),
            failed_logins_after: Duration::from_millis(config.logins.failed_retention_ms),
            runs_dead_after: Duration::from_millis(config.credit_run_timeout_ms),
            own_run: self.state.credits.run_id(),
        }
    }

    pub fn webhook_delivery(&self) -> webhook_delivery::Deps {
        webhook_delivery::Deps {
            db: self.state.db.clone(),
            settings: self.state.config.webhooks.clone(),
            events: self.state.events.clone(),
            keyring: self.keyring.clone(),
            others: self.others.clone(),
        }
    }

    pub fn broadcasts(&self) -> broadcasts::Deps {
        broadcasts::Deps {
            db: self.state.db.clone(),
            fansly: self.state.fansly.clone(),
            sessions: self.state.sessions.clone(),
            settings: self.state.config.broadcasts.clone(),
            due: self.state.broadcasts_due.clone(),
        }
    }

    pub fn data_exports(&self) -> data_exports::Deps {
        data_exports::Deps {
            db: self.state.db.clone(),
            fansly: self.state.fansly.clone(),
            sessions: self.state.sessions.clone(),
            settings: self.state.config.data_exports.clone(),
            owner: crate::core::ids::random_id("exporter_", 16),
        }
    }

    pub fn gap_fill(&self) -> gap_fill::Deps {
        gap_fill::Deps {
            db: self.state.db.clone(),
            fansly: self.state.fansly.clone(),
            sessions: self.state.sessions.clone(),
            events: self.state.events.clone(),
            profiles: self.profiles.clone(),
            settings: gap_fill::Settings::from_relay(&self.state.config.relay),
        }
    }

    pub fn wal_checkpointer(&self) -> WalCheckpointer {
        WalCheckpointer {
            db: self.state.db.clone(),
            every: WAL_CHECKPOINT_EVERY,
        }
    }

    pub fn check_key(&self) -> check_key::CheckKeyWatch {
        check_key::CheckKeyWatch {
            fansly: self.state.fansly.clone(),
            every: Duration::from_millis(self.state.config.upstream.check_key_refresh_ms),
        }
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // Without autostart the due-work loops stay parked: whoever runs the
        // app (the tests) runs their `run_due` instead.
        let autostart = self.state.config.workers.autostart;
        let janitor = autostart.then(|| tokio::spawn(self.housekeeping().run()));
        let relay = tokio::spawn(self.state.relays.clone().run());
        let wake = match &self.state.redis {
            Some(redis) => wake::start(
                redis.clone(),
                &self.state.events,
                self.instance.clone(),
                self.others.clone(),
            ),
            None => Vec::new(),
        };
        let deliverers = if autostart {
            webhook_delivery::spawn_workers(self.webhook_delivery())
        } else {
            Vec::new()
        };
        let resumed = login::resume_all(&self.state.sessions).await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed interrupted logins");
        }
        let broadcasts = autostart.then(|| broadcasts::Worker::start(self.broadcasts()));
        let exporter = self.data_exports();
        let exports = autostart.then(|| tokio::spawn(exporter.clone().run()));
        let gap_filler = autostart.then(|| gap_fill::spawn(self.gap_fill()));
        let key_watch = autostart.then(|| tokio::spawn(self.check_key().run()));
        let checkpointer = autostart.then(|| tokio::spawn(self.wal_checkpointer().run()));
        let router = crate::http::router::router(self.state.clone());
        let listener = crate::http::listener::JsonRefusals(self.listener);
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        // Calls answered (or still finishing for a client that hung up) keep
        // their charges: the run's mark is written now, not left for a
        // settler to refund the calls as if they had never been served.
        let open = self.state.credits.drain(CALLS_PATIENCE).await;
        if open > 0 {
            tracing::warn!(
                open,
                "stopped with metered calls unfinished; they are refunded once this run is seen dead"
            );
        }
        if let Some(janitor) = janitor {
            janitor.abort();
        }
        if let Some(gap_filler) = gap_filler {
            gap_filler.abort();
        }
        if let Some(key_watch) = key_watch {
            key_watch.abort();
        }
        if let Some(checkpointer) = checkpointer {
            checkpointer.abort();
        }
        if let Some(broadcasts) = broadcasts {
            broadcasts.stop().await;
        }
        if let Some(exports) = exports {
            exports.abort();
            let _ = exports.await;
            exporter.release().await;
        }
        relay.abort();
        self.state.relays.shutdown().await;
        for task in wake {
            task.abort();
        }
        // A delivery cut off here keeps its lease until it lapses, then goes
        // out again (same idempotency key).
        for worker in deliverers {
            worker.abort();
        }
        // Keep the sandbox alive for as long as the API serves.
        drop(self.sandbox);
        served.context("serving HTTP")
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(std::future::pending()).await
    }
}
