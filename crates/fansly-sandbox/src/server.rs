//! Running a sandbox: in the background for tests and `serve --sandbox`
//! ([`Sandbox`]), or in the foreground for the `sandbox` subcommand
//! ([`serve`]).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::SandboxConfig;
use crate::router::router;
use crate::state::AppState;
use crate::world::SeededCreator;

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
