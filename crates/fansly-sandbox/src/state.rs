//! The state every handler shares: the configuration, the world (accounts,
//! sessions, messages, businesses, content), the injected faults, the
//! request log and the websocket hub. Route files import [`AppState`] from
//! here; nothing here imports a route file.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::SandboxConfig;
use crate::drift::Drift;
use crate::faults::{Fault, LoggedRequest};
use crate::rate_limit::RateLimiter;
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
    /// How a finished upload's status answer marks it done (steered by
    /// `POST /_sandbox/upload-answer`; see [`UploadDone`]).
    pub(crate) upload_done: AtomicU8,
    /// Drift steered through `/_sandbox/drift` (`drift.rs`).
    pub(crate) drift: Mutex<Drift>,
    /// Fansly's rate limits, when enforced (`rate_limit.rs`).
    pub(crate) rate: Mutex<RateLimiter>,
    /// The `/api/` exchanges, for the HAR export (`har.rs`).
    pub(crate) har: Mutex<VecDeque<crate::har::Exchange>>,
}

/// The two shapes public clients accept as "upload finished": FBuddy waits
/// for `status >= 6` with `media.id`, RU for a non-null `mediaId`
/// (HUB-FB, HUB-SPEC §3.4). Fansly's answer carries both; the sandbox can
/// be told to send only one so the gateway is held to accepting either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum UploadDone {
    /// `status` 6, `mediaId` and `media` (the default).
    Both = 0,
    /// `status` 6 and `media`, `mediaId` still `null`.
    MediaOnly = 1,
    /// `mediaId` set, no `media` object.
    MediaIdOnly = 2,
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
            world: Mutex::new(World::seeded()),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(VecDeque::new()),
            hub: Hub::default(),
            upload_done: AtomicU8::new(UploadDone::Both as u8),
            drift: Mutex::default(),
            har: Mutex::default(),
            rate: Mutex::new(RateLimiter::new(config.rate_limit)),
            config,
        }))
    }

    pub(crate) fn upload_done(&self) -> UploadDone {
        match self.upload_done.load(Ordering::Relaxed) {
            1 => UploadDone::MediaOnly,
            2 => UploadDone::MediaIdOnly,
            _ => UploadDone::Both,
        }
    }

    /// The check key the sandbox requires now: a drifted one, else the
    /// configured one.
    pub(crate) fn check_key(&self) -> String {
        let drift = self.drift.lock().unwrap_or_else(|p| p.into_inner());
        drift
            .check_key
            .clone()
            .unwrap_or_else(|| self.config.check_key.clone())
    }

    /// The world is only touched in short, await-free sections.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}
