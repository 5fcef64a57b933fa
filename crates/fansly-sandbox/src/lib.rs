//! A protocol-faithful simulator of Fansly's private web API.
//!
//! It serves the `/api/v1` routes the gateway uses over real HTTP, checks
//! headers as Fansly does, keeps state (accounts, sessions, DM groups) and
//! mints snowflake ids with Fansly's epoch. Sandbox-only steering lives under
//! `/_sandbox` (see [`control`]).

mod api;
mod auth;
mod business;
mod business_api;
mod content;
mod content_api;
pub mod control;
mod mass_api;
mod media_api;
mod messages_api;
mod messaging;
mod world;
pub mod ws;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use control::{Fault, LoggedRequest};
pub use world::{SeededCreator, FAN_COUNT};

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The check key the sandbox expects in `fansly-client-check`.
    pub check_key: String,
    /// Reject requests whose `fansly-client-check` is wrong. Real Fansly seems
    /// not to enforce it (spec §2.2); the sandbox does by default so the
    /// gateway is held to the web app's behaviour.
    pub strict_client_check: bool,
    /// Where uploaded parts and processed media are stored.
    pub data_dir: PathBuf,
    /// How long a completed upload stays "processing" before its media exists.
    pub processing_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            check_key: fansly_upstream::DEFAULT_CHECK_KEY.into(),
            strict_client_check: true,
            data_dir: std::env::temp_dir().join(format!("fansly-sandbox-{}", std::process::id())),
            processing_delay: Duration::from_millis(300),
        }
    }
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    config: SandboxConfig,
    world: Mutex<world::World>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<VecDeque<LoggedRequest>>,
    /// Open websockets and the frames sent to them.
    hub: ws::Hub,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    fn new(config: SandboxConfig) -> Self {
        AppState(Arc::new(Inner {
            config,
            world: Mutex::new(world::World::seeded()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(VecDeque::new()),
            hub: ws::Hub::default(),
        }))
    }

    /// The world is only touched in short, await-free sections.
    fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(state: AppState) -> Router {
    api::router()
        .merge(auth::router())
        .merge(messages_api::router())
        .merge(media_api::router())
        .merge(business_api::router())
        .merge(content_api::router())
        .merge(mass_api::router())
        .merge(control::router())
        .merge(ws::router())
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::intercept,
        ))
        .with_state(state)
}

/// A sandbox serving in the background; stops when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    state: AppState,
    task: JoinHandle<()>,
}

impl Sandbox {
    /// Serves on `listener` (bind port 0 for tests) until dropped.
    pub async fn start(listener: TcpListener, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let addr = listener.local_addr()?;
        let state = AppState::new(config);
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(Sandbox { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The event websocket, as `wss://wsv3.fansly.com/?v=3` is for Fansly.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/?v=3", self.addr)
    }

    /// The seeded creator accounts and their session tokens.
    pub fn creators(&self) -> Vec<SeededCreator> {
        self.state.world().creators()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves in the foreground (the `sandbox` subcommand).
pub async fn serve(listener: TcpListener, config: SandboxConfig) -> std::io::Result<()> {
    axum::serve(listener, router(AppState::new(config))).await
}
