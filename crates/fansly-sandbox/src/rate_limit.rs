//! Fansly's rate limits as the sandbox enforces them: about 20 reads per
//! minute per route and session, the chat reads sharing one bucket, burst
//! about 10 (spec §3.3, from HUB's production data), answered with HTTP 429
//! and `Retry-After` in seconds. Off until configured
//! ([`crate::SandboxConfig::rate_limit`]) or switched on through
//! `POST /_sandbox/rate-limit`, since tests drive accounts far harder.
//! The buckets are the client's own arithmetic
//! ([`fansly_upstream::TokenBucket`], [`fansly_upstream::template::budget_bucket`]),
//! so a gateway within its configured budgets never meets a 429 here.

use std::collections::HashMap;
use std::time::Duration;

use fansly_upstream::template::budget_bucket;
use fansly_upstream::{TokenBucket, UpstreamError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Default)]
pub struct RateLimiter {
    limits: Option<Limits>,
    /// (session token, bucket) → its bucket.
    buckets: HashMap<(String, String), TokenBucket>,
    /// How many requests were answered 429.
    limited: u64,
}

impl RateLimiter {
    pub fn new(limits: Option<Limits>) -> Self {
        RateLimiter {
            limits,
            ..Self::default()
        }
    }

    pub fn set(&mut self, limits: Option<Limits>) {
        self.limits = limits;
        self.buckets.clear();
    }

    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    pub fn limited(&self) -> u64 {
        self.limited
    }

    /// `Some(retry_after)` when this request is over its session's budget
    /// for its route; the request takes a token otherwise.
    pub fn check(&mut self, token: &str, method: &str, path: &str) -> Option<Duration> {
        let limits = self.limits?;
        let bucket = budget_bucket(method, path)?;
        let b = self
            .buckets
            .entry((token.to_owned(), bucket))
            .or_insert_with(|| TokenBucket::new(limits.per_minute, limits.burst));
        match b.take(Duration::ZERO) {
            Ok(_) => None,
            Err(UpstreamError::Throttled { retry_after }) => {
                self.limited += 1;
                Some(retry_after)
            }
            Err(_) => None,
        }
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
