//! The state every handler shares: the configuration, the world (accounts,
//! sessions, messages, businesses, content), the injected faults, the
//! request log and the websocket hub. Route files import [`AppState`] from
//! here; nothing here imports a route file.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::SandboxConfig;
use crate::faults::{Fault, LoggedRequest};
use crate::world::World;
use crate::ws::hub::Hub;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub(crate) config: SandboxConfig,
    world: Mutex<World>,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) log: Mutex<VecDeque<LoggedRequest>>,
    /// Open websockets and the frames sent to them.
    pub(crate) hub: Hub,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        AppState(Arc::new(Inner {
            config,
            world: Mutex::new(World::seeded()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(VecDeque::new()),
            hub: Hub::default(),
        }))
    }

    /// The world is only touched in short, await-free sections.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}
