//! Endpoint metering policies and the `_meta` block that reports credits,
//! cache and rate limits on every answer.

use serde_json::{json, Value};

use crate::metering::rate_limit::RateStatus;

/// How an endpoint is cached. Every Fansly route is account-specific, so the
/// vendor caches none of them and neither do we.
#[derive(Clone, Copy, Debug)]
pub enum CachePolicy {
    Disabled,
}

/// An endpoint's metering policy.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    /// Recorded in the ledger (`chats.create`, `users.lookup` …).
    pub name: &'static str,
    pub cost: i64,
    pub cache: CachePolicy,
}

impl Endpoint {
    /// An endpoint like every Fansly route: account-specific, never cached.
    pub const fn uncached(name: &'static str, cost: i64) -> Endpoint {
        Endpoint {
            name,
            cost,
            cache: CachePolicy::Disabled,
        }
    }
}

/// What `_meta` reports for one answered call.
#[derive(Clone, Debug)]
pub struct Meta {
    pub credits_used: i64,
    pub balance: i64,
    pub cache: CachePolicy,
    pub rate: RateStatus,
    /// `_meta._upstream_window`: set when Fansly served another time window
    /// than the one asked (its statistics serve at most ~31 days), with
    /// `{askedAfter, askedBefore, servedAfter, servedBefore}` in ms.
    pub upstream_window: Option<Value>,
}

impl Meta {
    pub fn to_json(&self) -> Value {
        let note = if self.credits_used > 0 {
            "Always"
        } else {
            "No credits are charged for this endpoint"
        };
        let cache = match self.cache {
            CachePolicy::Disabled => {
                json!({"is_cached": false, "note": "Cache disabled for this endpoint"})
            }
        };
        let mut meta = json!({
            "_credits": {"used": self.credits_used, "balance": self.balance, "note": note},
            "_cache": cache,
            "_rate_limits": self.rate.to_json(),
        });
        if let Some(w) = &self.upstream_window {
            meta["_upstream_window"] = w.clone();
        }
        meta
    }
}
