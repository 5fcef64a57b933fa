//! Sandbox steering state: the injected faults (misbehaviour the next
//! matching requests get) and the log of requests the sandbox saw. Kept in
//! [`crate::state::AppState`]; the `/_sandbox` routes and the middleware
//! that applies faults are in `control.rs`.

use std::collections::{BTreeMap, VecDeque};

use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Enough for a 500-recipient broadcast (two writes per recipient) and its reads.
const LOG_CAPACITY: usize = 5000;

/// One injected misbehaviour: the next `times` requests matching `method` and
/// `path` wait `delay_ms`, then (when `status` is set) get that status instead
/// of the real answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    /// Exact path, or a prefix ending in `*`.
    pub path: String,
    #[serde(default)]
    pub status: Option<u16>,
    /// Sent as `Retry-After` with the injected status.
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default = "one")]
    pub times: u32,
    /// Body of the injected answer; defaults to Fansly's error envelope.
    #[serde(default)]
    pub body: Option<Value>,
    /// Match only requests that came through a forward proxy (`true`) or
    /// only direct ones (`false`). With the sandbox standing in as an
    /// account's proxy, `true` plus status 407 simulates a proxy refusing it.
    #[serde(default)]
    pub via_proxy: Option<bool>,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, method: &Method, path: &str, via_proxy: bool) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        method_ok && path_ok && self.via_proxy.is_none_or(|v| v == via_proxy)
    }
}

/// What the sandbox saw of one request (the token itself is never kept).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// The header names in the order they arrived (the web app's order is
    /// part of how it looks on the wire, spec §2.1).
    #[serde(default)]
    pub header_order: Vec<String>,
    /// Arrived in absolute form (`GET http://host/path`): through a forward proxy.
    pub via_proxy: bool,
    /// When it arrived (Unix ms), so tests can measure request rates.
    #[serde(default)]
    pub at_ms: i64,
}

/// Keeps `entry`, forgetting the oldest once `LOG_CAPACITY` are kept.
pub fn record(log: &mut VecDeque<LoggedRequest>, entry: LoggedRequest) {
    if log.len() == LOG_CAPACITY {
        log.pop_front();
    }
    log.push_back(entry);
}

/// The first fault matching the request, used up by one (removed with its
/// last use).
pub fn take_matching(
    faults: &mut Vec<Fault>,
    method: &Method,
    path: &str,
    via_proxy: bool,
) -> Option<Fault> {
    let hit = faults
        .iter()
        .position(|f| f.matches(method, path, via_proxy));
    hit.map(|i| {
        let f = faults[i].clone();
        if faults[i].times <= 1 {
            faults.remove(i);
        } else {
            faults[i].times -= 1;
        }
        f
    })
}
