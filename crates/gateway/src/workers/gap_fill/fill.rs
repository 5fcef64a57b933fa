//! What one fill of one account works with: its dependencies and
//! settings, the session and bounds of the run, its request allowance, and
//! what the sources report back (occurrences found, marks to raise).

use std::sync::Arc;
use std::time::Duration;

use fansly_upstream::{FanslyClient, Session, UpstreamError};
use serde_json::Value;

use crate::accounts::sessions::Sessions;
use crate::core::config::RelaySettings;
use crate::core::db::Db;
use crate::events::marks::DueAccount;
use crate::events::outbox::Events;
use crate::workers::profiles::Profiles;

#[derive(Clone, Debug)]
pub struct Settings {
    pub enabled: bool,
    pub horizon: Duration,
    pub sweep_every: Duration,
    pub poll_every: Duration,
    pub max_requests: u32,
}

impl Settings {
    pub fn from_relay(r: &RelaySettings) -> Settings {
        Settings {
            enabled: r.enabled && r.gap_fill,
            horizon: Duration::from_millis(r.gap_fill_horizon_ms),
            sweep_every: Duration::from_millis(r.gap_fill_sweep_ms.max(1_000)),
            poll_every: Duration::from_millis(r.gap_fill_poll_ms.max(100)),
            max_requests: r.gap_fill_max_requests.max(2),
        }
    }
}

/// What the fill uses, handed in by `startup` (tests build it from the app
/// state and call [`run_due`]).
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub fansly: FanslyClient,
    pub sessions: Sessions,
    pub events: Events,
    pub profiles: Profiles,
    pub settings: Settings,
}

/// One occurrence a fill found.
#[derive(Debug)]
pub struct Found {
    pub name: &'static str,
    pub dedup_key: String,
    pub payload: Value,
    /// When it happened upstream (Unix ms).
    pub at: i64,
    /// Tie-break within one millisecond (the Fansly id).
    pub order: u64,
}

/// What a fill writes down once what it found is recorded: written
/// before, a failed record would lose what the marks and snapshots cover.
#[derive(Debug)]
pub enum Advance {
    /// Raise the mark of `source` to `mark`.
    Mark { source: String, mark: i64 },
    /// Remember `value` as the last seen of `source`'s `item`.
    Remember {
        source: &'static str,
        item: String,
        value: String,
    },
    /// Forget what was seen of `source`'s `item`.
    Forget { source: &'static str, item: String },
}

/// One fill of one account in progress: its session, bounds and budget.
pub struct Fill<'a> {
    pub deps: &'a Deps,
    pub account: &'a DueAccount,
    pub session: Arc<Session>,
    /// Nothing older than this (Unix ms) is filled.
    pub floor: i64,
    requests: u32,
}

impl<'a> Fill<'a> {
    pub fn new(
        deps: &'a Deps,
        account: &'a DueAccount,
        session: Arc<Session>,
        floor: i64,
    ) -> Fill<'a> {
        Fill {
            deps,
            account,
            session,
            floor,
            requests: 0,
        }
    }

    /// Spends one request of this fill's allowance; `Stop::Allowance` when it
    /// is spent (the fill stops there and the account stays due).
    pub fn spend(&mut self) -> Result<(), Stop> {
        if self.requests >= self.deps.settings.max_requests {
            return Err(Stop::Allowance);
        }
        self.requests += 1;
        Ok(())
    }

    pub fn requests(&self) -> u32 {
        self.requests
    }
}

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("this run's request allowance is spent")]
    Allowance,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A Fansly snowflake id in a JSON field (string or number).
pub fn id_of(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A Fansly time field as Unix ms: Fansly sends seconds (possibly
/// fractional) in some places and milliseconds in others; anything below
/// 10^11 is seconds.
pub fn time_ms(v: &Value, key: &str) -> Option<i64> {
    let n = v.get(key)?.as_f64()?;
    Some(if n < 1e11 {
        (n * 1000.0) as i64
    } else {
        n as i64
    })
}
