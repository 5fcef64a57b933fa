//! How one account reaches Fansly: through its proxy (reqwest's own for REST,
//! an HTTP CONNECT tunnel for the websocket), within its request budget.
//!
//! Fansly bans accounts that burst and that hop between addresses, so every
//! request of an account, signed or not, goes the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use url::Url;

use crate::error::UpstreamError;
use crate::observe;

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

impl Proxy {
    /// An HTTP CONNECT tunnel to `host:port` through this proxy, for the
    /// websocket (reqwest tunnels the REST traffic itself). Fails with what
    /// went wrong, which the caller files as this proxy's failure.
    pub(crate) async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let url = self.url();
        if !matches!(url.scheme(), "http") {
            // SOCKS and TLS-to-proxy are not implemented for the websocket.
            return Err(format!(
                "{} proxies are not supported for the websocket",
                url.scheme()
            ));
        }
        let (phost, pport) = (
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80),
        );
        let mut tcp = TcpStream::connect((phost, pport))
            .await
            .map_err(|e| e.to_string())?;
        let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let pass = percent_decode(url.password().unwrap_or_default());
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            req.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(&mut tcp);
        let mut status = String::new();
        reader
            .read_line(&mut status)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let mut line = String::new();
            let n = reader
                .read_line(&mut line)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
        let code = status.split_whitespace().nth(1).unwrap_or_default();
        match code {
            "200" => Ok(tcp),
            "407" => Err("the proxy asks for credentials (HTTP 407)".into()),
            _ => Err(format!("CONNECT answered {:?}", status.trim())),
        }
    }
}

/// URL userinfo is percent-encoded; `+` stays a plus (unlike form decoding).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    /// Each read route's own bucket (the chat reads share one; see
    /// [`crate::template::budget_bucket`]): Fansly tolerates about 20 per
    /// minute per route with a burst of about 10 (spec §3.3).
    pub route_reads_per_minute: u32,
    pub route_burst: u32,
}

/// Per-account request budget towards Fansly: reads and writes apart, and
/// each read route's own bucket within it.
pub struct Throttle {
    reads: Mutex<TokenBucket>,
    writes: Mutex<TokenBucket>,
    /// Per-route read buckets, on top of the account's budget.
    routes: Mutex<HashMap<String, TokenBucket>>,
    cfg: ThrottleConfig,
    /// Where the budget (the account's and its routes') lives when several
    /// processes share it (a cluster); the buckets above stand in while it
    /// cannot be reached.
    shared: Option<(Arc<dyn SharedBudget>, String)>,
}

/// One bucket a request takes a token from: its name and its rules.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketRule {
    pub name: String,
    pub per_minute: u32,
    pub burst: u32,
}

/// Token buckets kept outside the process, so every instance reaching
/// Fansly for one account draws on the same budget. The same rules as the
/// in-process bucket: `burst` back to back, then `per_minute`, each waiting
/// request taking its token at once (so order is kept), and a wait beyond
/// `max_wait` refused with [`UpstreamError::Throttled`].
pub trait SharedBudget: Send + Sync {
    /// Takes one token from every bucket of `rules` as one atomic step, or
    /// none: the wait before this request may go (the longest of theirs).
    /// `Err(Throttled)` is a refusal; any other error means the store could
    /// not be asked.
    fn take<'a>(
        &'a self,
        rules: &'a [BucketRule],
        max_wait: Duration,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Duration, UpstreamError>> + Send + 'a>,
    >;
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Throttle {
        Throttle {
            reads: Mutex::new(TokenBucket::new(cfg.reads_per_minute, cfg.burst)),
            writes: Mutex::new(TokenBucket::new(cfg.writes_per_minute, cfg.burst)),
            routes: Mutex::default(),
            cfg,
            shared: None,
        }
    }

    /// A throttle whose budget is `store`'s buckets named after `name`
    /// (`<name>:read`, `<name>:write`, `<name>:route:<route>`).
    pub fn shared(cfg: ThrottleConfig, store: Arc<dyn SharedBudget>, name: &str) -> Throttle {
        Throttle {
            shared: Some((store, name.to_owned())),
            ..Throttle::new(cfg)
        }
    }

    /// Waits for a slot in the account's budget and in `bucket` (the
    /// request's route bucket, if it has one), or fails at once when the
    /// wait would exceed the configured bound; a refusal takes no token.
    pub async fn acquire(&self, bucket: Option<&str>, write: bool) -> Result<(), UpstreamError> {
        self.acquire_within(bucket, write, self.cfg.max_wait).await
    }

    /// [`Self::acquire`] with another bound on the wait (work that has
    /// better to do than wait passes zero).
    pub async fn acquire_within(
        &self,
        bucket: Option<&str>,
        write: bool,
        max_wait: Duration,
    ) -> Result<(), UpstreamError> {
        let taken = match self.take_shared(bucket, write, max_wait).await {
            Some(taken) => taken,
            None => self.take_local(bucket, write, max_wait),
        };
        match taken {
            Ok(wait) => {
                if !wait.is_zero() {
                    observe::throttle(write, Some(wait));
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Err(e) => {
                observe::throttle(write, None);
                Err(e)
            }
        }
    }

    /// The shared buckets' answer; `None` without a store or when it cannot
    /// be asked (then this process's own buckets decide, so an outage of
    /// the store slows nothing down, at the price of the budget being per
    /// process until it is back).
    async fn take_shared(
        &self,
        bucket: Option<&str>,
        write: bool,
        max_wait: Duration,
    ) -> Option<Result<Duration, UpstreamError>> {
        let (store, name) = self.shared.as_ref()?;
        let (kind, per_minute) = if write {
            ("write", self.cfg.writes_per_minute)
        } else {
            ("read", self.cfg.reads_per_minute)
        };
        let mut rules = vec![BucketRule {
            name: format!("{name}:{kind}"),
            per_minute,
            burst: self.cfg.burst,
        }];
        if let Some(route) = bucket {
            rules.push(BucketRule {
                name: format!("{name}:route:{route}"),
                per_minute: self.cfg.route_reads_per_minute,
                burst: self.cfg.route_burst,
            });
        }
        match store.take(&rules, max_wait).await {
            Err(UpstreamError::Throttled { retry_after }) => {
                Some(Err(UpstreamError::Throttled { retry_after }))
            }
            Err(e) => {
                tracing::warn!(bucket = %rules[0].name, error = %e, "the shared request budget cannot be reached; using this process's own");
                None
            }
            Ok(wait) => Some(Ok(wait)),
        }
    }

    /// This process's buckets: the route's first, then the account's (the
    /// route's token given back when the account refuses).
    fn take_local(
        &self,
        bucket: Option<&str>,
        write: bool,
        max_wait: Duration,
    ) -> Result<Duration, UpstreamError> {
        let route_wait = match bucket {
            None => Duration::ZERO,
            Some(name) => {
                let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
                // The route's name is copied only the first time it is seen.
                if !routes.contains_key(name) {
                    let bucket =
                        TokenBucket::new(self.cfg.route_reads_per_minute, self.cfg.route_burst);
                    routes.insert(name.to_owned(), bucket);
                }
                routes
                    .get_mut(name)
                    .expect("inserted above")
                    .take(max_wait)?
            }
        };
        let account = if write { &self.writes } else { &self.reads };
        let taken = account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(max_wait);
        match taken {
            Ok(wait) => Ok(wait.max(route_wait)),
            Err(e) => {
                if let Some(name) = bucket {
                    let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(b) = routes.get_mut(name) {
                        b.give_back();
                    }
                }
                Err(e)
            }
        }
    }
}

/// A token bucket that may go into debt: each waiting request takes its token
/// now, so the next one waits behind it and order is kept. Public so the
/// sandbox enforces Fansly's limits with the same arithmetic.
pub struct TokenBucket {
    per_sec: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(per_minute: u32, burst: u32) -> TokenBucket {
        let capacity = f64::from(burst.max(1));
        TokenBucket {
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            capacity,
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    /// Takes a token and answers how long to wait for it, or refuses with
    /// [`UpstreamError::Throttled`] (how much sooner it would have to be)
    /// when the wait would pass `max_wait`.
    pub fn take(&mut self, max_wait: Duration) -> Result<Duration, UpstreamError> {
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

    fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_then_refuses() {
        let mut b = TokenBucket::new(60, 3); // one per second after a burst of 3
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

    #[tokio::test]
    async fn each_read_route_has_its_own_bucket_and_a_refusal_costs_nothing() {
        let t = Throttle::new(ThrottleConfig {
            reads_per_minute: 60,
            writes_per_minute: 60,
            burst: 3,
            max_wait: Duration::ZERO,
            route_reads_per_minute: 1,
            route_burst: 1,
        });
        t.acquire(Some("/a"), false).await.unwrap();
        // `/a` is spent; the refusal leaves the account's two other slots.
        assert!(matches!(
            t.acquire(Some("/a"), false).await,
            Err(UpstreamError::Throttled { .. })
        ));
        t.acquire(Some("/b"), false).await.unwrap();
        t.acquire(None, false).await.unwrap();
        // Now the account's burst of 3 is spent, whatever the route.
        assert!(matches!(
            t.acquire(Some("/c"), false).await,
            Err(UpstreamError::Throttled { .. })
        ));
        // ...and `/c` got its token back: it is not spent by the refusal.
        assert_eq!(
            t.routes.lock().unwrap()["/c"].tokens,
            1.0,
            "the route's token was given back"
        );
    }

    #[test]
    fn proxy_labels_hide_credentials() {
        let p = Proxy::parse("http://user:secret@10.1.2.3:3128").unwrap();
        assert_eq!(p.label(), "10.1.2.3:3128");
        assert!(!format!("{p:?}").contains("secret"));
        assert!(Proxy::parse("ftp://x:1").is_err());
        assert!(Proxy::parse("not a url").is_err());
    }

    /// A one-shot HTTP proxy: records the CONNECT head, answers `status`,
    /// then echoes.
    async fn proxy_answering(status: &'static str) -> (Proxy, tokio::task::JoinHandle<String>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            s.write_all(format!("HTTP/1.1 {status}\r\nX-Proxy: 1\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).await.is_ok() {
                s.write_all(&buf).await.unwrap();
            }
            String::from_utf8(head).unwrap()
        });
        let proxy = Proxy::parse(&format!("http://us%40er:p%3As+s@{addr}")).unwrap();
        (proxy, task)
    }

    #[tokio::test]
    async fn tunnels_through_an_http_proxy_with_credentials() {
        use tokio::io::AsyncReadExt;
        let (proxy, seen) = proxy_answering("200 Connection established").await;
        let mut tcp = proxy.tunnel("wsv3.fansly.com", 443).await.unwrap();
        tcp.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        tcp.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping", "the tunnel carries bytes both ways");
        let head = seen.await.unwrap();
        assert!(
            head.starts_with("CONNECT wsv3.fansly.com:443 HTTP/1.1\r\n"),
            "{head}"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("us@er:p:s+s");
        assert!(
            head.contains(&format!("Proxy-Authorization: Basic {basic}\r\n")),
            "{head}"
        );

        let (proxy, _) = proxy_answering("407 Proxy Authentication Required").await;
        let err = proxy.tunnel("wsv3.fansly.com", 443).await.unwrap_err();
        assert!(err.contains("407"), "{err}");
        let socks = Proxy::parse("socks5://127.0.0.1:1").unwrap();
        let err = socks.tunnel("h", 1).await.unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }
}
