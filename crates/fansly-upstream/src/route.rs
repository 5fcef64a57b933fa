//! How one account reaches Fansly: through its proxy, within its request budget.
//!
//! Fansly bans accounts that burst and that hop between addresses, so every
//! request of an account, signed or not, goes the same way.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use url::Url;

use crate::error::UpstreamError;

#[derive(Clone, Default)]
pub struct Route {
    pub proxy: Option<Proxy>,
    pub throttle: Option<Arc<Throttle>>,
}

/// A forward proxy. `label` (`host:port`) is what errors and logs show; the
/// URL may carry credentials.
#[derive(Clone)]
pub struct Proxy {
    url: Url,
    label: String,
}

impl Proxy {
    pub fn parse(url: &str) -> Result<Proxy, String> {
        let url = Url::parse(url).map_err(|e| format!("invalid proxy URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(format!("unsupported proxy scheme {:?}", url.scheme()));
        }
        let host = url.host_str().ok_or("proxy URL has no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("proxy URL has no port")?;
        Ok(Proxy {
            label: format!("{host}:{port}"),
            url,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.label)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    pub reads_per_minute: u32,
    pub writes_per_minute: u32,
    /// Requests allowed back to back before the pace applies.
    pub burst: u32,
    /// A request that would wait longer than this fails with
    /// [`UpstreamError::Throttled`] instead.
    pub max_wait: Duration,
}

/// Per-account request budget towards Fansly, reads and writes apart.
pub struct Throttle {
    reads: Mutex<Bucket>,
    writes: Mutex<Bucket>,
    max_wait: Duration,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Throttle {
        Throttle {
            reads: Mutex::new(Bucket::new(cfg.reads_per_minute, cfg.burst)),
            writes: Mutex::new(Bucket::new(cfg.writes_per_minute, cfg.burst)),
            max_wait: cfg.max_wait,
        }
    }

    /// Waits for a slot, or fails at once when the wait would exceed the bound.
    pub async fn acquire(&self, write: bool) -> Result<(), UpstreamError> {
        let bucket = if write { &self.writes } else { &self.reads };
        let wait = bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(self.max_wait)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

/// A token bucket that may go into debt: each waiting request takes its token
/// now, so the next one waits behind it and order is kept.
struct Bucket {
    per_sec: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u32, burst: u32) -> Bucket {
        let capacity = f64::from(burst.max(1));
        Bucket {
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            capacity,
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    fn take(&mut self, max_wait: Duration) -> Result<Duration, UpstreamError> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
        let wait = if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        };
        if wait > max_wait {
            return Err(UpstreamError::Throttled {
                retry_after: wait - max_wait,
            });
        }
        self.tokens -= 1.0;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_then_refuses() {
        let mut b = Bucket::new(60, 3); // one per second after a burst of 3
        let bound = Duration::from_millis(2_500);
        for _ in 0..3 {
            assert_eq!(b.take(bound).unwrap(), Duration::ZERO);
        }
        let w1 = b.take(bound).unwrap();
        let w2 = b.take(bound).unwrap();
        assert!(
            w1 > Duration::from_millis(900) && w1 <= Duration::from_millis(1_000),
            "{w1:?}"
        );
        assert!(
            w2 > Duration::from_millis(1_900) && w2 <= Duration::from_millis(2_000),
            "{w2:?}"
        );
        match b.take(bound) {
            Err(UpstreamError::Throttled { retry_after }) => {
                assert!(retry_after <= Duration::from_millis(600), "{retry_after:?}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn proxy_labels_hide_credentials() {
        let p = Proxy::parse("http://user:secret@10.1.2.3:3128").unwrap();
        assert_eq!(p.label(), "10.1.2.3:3128");
        assert!(!format!("{p:?}").contains("secret"));
        assert!(Proxy::parse("ftp://x:1").is_err());
        assert!(Proxy::parse("not a url").is_err());
    }
}
