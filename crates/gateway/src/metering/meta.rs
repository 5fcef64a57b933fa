//! Endpoint metering policies and the `_meta` block that reports credits,
//! cache and rate limits on every answer.

use axum::http::HeaderName;
use serde::ser::{Serialize, SerializeMap, Serializer};
#[cfg(test)]
use serde_json::json;
use serde_json::Value;

use crate::metering::rate_limit::RateStatus;

// The headers that repeat `_meta` on every answer. Static names are copied;
// a name given as text would be parsed on every insert and read.
pub static CREDITS_USED: HeaderName = HeaderName::from_static("x-ofapi-credits-used");
pub static CREDITS_BALANCE: HeaderName = HeaderName::from_static("x-ofapi-credits-balance");
pub static IS_CACHED: HeaderName = HeaderName::from_static("x-ofapi-is-cached");
pub static LIMIT_MINUTE: HeaderName = HeaderName::from_static("x-rate-limit-limit-minute");
pub static REMAINING_MINUTE: HeaderName = HeaderName::from_static("x-rate-limit-remaining-minute");

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
    /// The call only reads (Fansly GETs, the gateway's own rows): it may
    /// run while its credits are being reserved, and its answer is handed
    /// out only once they are (see `Authed::bill_cost`).
    pub read: bool,
}

impl Endpoint {
    /// An endpoint like every Fansly route: account-specific, never cached.
    pub const fn uncached(name: &'static str, cost: i64) -> Endpoint {
        Endpoint {
            name,
            cost,
            cache: CachePolicy::Disabled,
            read: false,
        }
    }

    /// The same endpoint, marked as one that only reads.
    pub const fn reading(self) -> Endpoint {
        Endpoint { read: true, ..self }
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
    /// `_meta` as a JSON tree (error answers merge it into their body).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `_meta` written straight into an answer's body, in the vendor's key
/// order: `_credits`, `_cache`, `_rate_limits`, then `_upstream_window`
/// when set. (No tree is built per answer.)
impl Serialize for Meta {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Credits {
            used: i64,
            balance: i64,
            note: &'static str,
        }
        #[derive(serde::Serialize)]
        struct Cache {
            is_cached: bool,
            note: &'static str,
        }
        let note = if self.credits_used > 0 {
            "Always"
        } else {
            "No credits are charged for this endpoint"
        };
        let cache = match self.cache {
            CachePolicy::Disabled => Cache {
                is_cached: false,
                note: "Cache disabled for this endpoint",
            },
        };
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(
            "_credits",
            &Credits {
                used: self.credits_used,
                balance: self.balance,
                note,
            },
        )?;
        map.serialize_entry("_cache", &cache)?;
        map.serialize_entry("_rate_limits", &self.rate)?;
        if let Some(w) = &self.upstream_window {
            map.serialize_entry("_upstream_window", w)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block as the vendor documents it, key order included.
    #[test]
    fn meta_is_written_in_the_vendors_shape_and_order() {
        let rate = RateStatus {
            limit: 100,
            remaining: 99,
            reset_secs: 1,
            exceeded: false,
        };
        let mut meta = Meta {
            credits_used: 1,
            balance: 41,
            cache: CachePolicy::Disabled,
            rate,
            upstream_window: None,
        };
        let expected = json!({
            "_credits": {"used": 1, "balance": 41, "note": "Always"},
            "_cache": {"is_cached": false, "note": "Cache disabled for this endpoint"},
            "_rate_limits": {
                "limit_minute": 100, "limit_day": null, "remaining_minute": 99,
                "remaining_day": null, "notice": crate::metering::rate_limit::RATE_LIMIT_NOTICE,
            },
        });
        assert_eq!(serde_json::to_string(&meta).unwrap(), expected.to_string());
        meta.credits_used = 0;
        meta.upstream_window = Some(json!({"askedAfter": 1}));
        let text = serde_json::to_string(&meta).unwrap();
        assert!(
            text.contains(r#""note":"No credits are charged for this endpoint""#),
            "{text}"
        );
        assert!(
            text.ends_with(r#""_upstream_window":{"askedAfter":1}}"#),
            "{text}"
        );
    }
}
