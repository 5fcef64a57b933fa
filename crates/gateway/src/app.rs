//! Building and running the gateway: bind first (port 0 in tests), then serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fansly_sandbox::{Sandbox, SandboxConfig};
use fansly_upstream::FanslyClient;
use tokio::net::TcpListener;

use crate::accounts::Sessions;
use crate::config::Config;
use crate::db::Db;
use crate::events::Events;
use crate::metering::rate_limit;
use crate::relay::{RelayConfig, Relays};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// Base of absolute URLs the API hands out (`_pagination.next_page`,
    /// polling URLs): `public_url` when configured, else the bound address.
    pub public_url: String,
    pub db: Db,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub events: Events,
    /// The websocket relay (one Fansly event socket per connected account).
    pub relays: Relays,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    sandbox: Option<Sandbox>,
}

impl App {
    /// Starts the in-process sandbox when configured (and points the upstream
    /// client at it), connects and migrates the database, and binds.
    pub async fn build(mut config: Config) -> anyhow::Result<App> {
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
            Some(sandbox)
        } else {
            None
        };
        let db = Db::connect(&config.database_url(), config.database_max_connections).await?;
        db.migrate().await?;
        let fansly = FanslyClient::new(config.upstream.to_client_config()?)?;
        let keyring = config.keyring()?;
        if keyring.is_none() {
            tracing::warn!(
                "no master key configured: credentials cannot be stored until one is \
                 (`fansly-gateway keys new-master`, then FANSLY_GATEWAY_MASTER_KEYS)"
            );
        }
        let sessions = Sessions::new(
            db.clone(),
            fansly.clone(),
            keyring,
            config.upstream.throttle.to_config(),
            Duration::from_millis(config.relogin_cooldown_ms),
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding the API to {}", config.listen))?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", listener.local_addr()?),
        };
        // The account lifecycle records events too, into the same outbox.
        let events = sessions.events().clone();
        let relays = Relays::new(
            RelayConfig::from_config(&config)?,
            db.clone(),
            sessions.clone(),
            events.clone(),
        );
        let state = AppState(Arc::new(Inner {
            config,
            public_url,
            events,
            relays,
            db,
            fansly,
            sessions,
        }));
        Ok(App {
            listener,
            state,
            sandbox,
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

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let janitor = tokio::spawn(housekeeping(self.state.clone()));
        let relay = tokio::spawn(self.state.relays.clone().run());
        let deliverers = crate::webhooks::deliver::spawn_workers(self.state.clone());
        let resumed = crate::login::resume_all(&self.state.sessions).await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed interrupted logins");
        }
        let broadcasts = crate::broadcasts::Worker::start(self.state.clone());
        let router = crate::http::router(self.state.clone());
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        janitor.abort();
        broadcasts.stop().await;
        relay.abort();
        self.state.relays.stop_all();
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

/// Once a minute (and at start): drop dead rate-limit windows, fail and
/// refund uploads whose gateway stopped in the middle of them, and drop
/// webhook deliveries and events past their retention.
async fn housekeeping(state: AppState) {
    let timeout = Duration::from_millis(state.config.media.processing_timeout_ms);
    let stale_after = (timeout * 2).max(Duration::from_secs(15 * 60));
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = rate_limit::prune(&state.db).await {
            tracing::warn!(error = %e, "pruning rate-limit windows failed");
        }
        match crate::media::fail_orphaned(&state.db, stale_after).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(uploads = n, "failed and refunded interrupted uploads"),
            Err(e) => tracing::warn!(error = %e, "checking for interrupted uploads failed"),
        }
        let retention = Duration::from_millis(state.config.webhooks.retention_ms);
        if let Err(e) = crate::webhooks::deliver::prune(&state.db, retention).await {
            tracing::warn!(error = %e, "pruning old webhook deliveries failed");
        }
    }
}
