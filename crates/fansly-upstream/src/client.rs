//! The HTTP client for Fansly's REST API (`apiv3`): the only place that knows
//! how a request must look on the wire (URL, browser headers, signing), how
//! it is retried and how it is traced; the answer is unwrapped by
//! `envelope.rs`. Also the account and DM-group reads every resource needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use crate::drift::{self, DriftLog};
use crate::envelope::{decode_envelope, parse_retry_after, FromResponse};
use crate::error::{transient_status, Answer, UpstreamError};
use crate::observe;
use crate::route::Route;
use crate::session::Session;
use crate::template::{self, Template};
use crate::transport::{self, error_chain, Direct, Failure, Outgoing};

/// The check key of current web builds (spec §2.2: the *last* `checkKey_`
/// assignment wins). It rotates with Fansly deploys, hence configurable.
pub const DEFAULT_CHECK_KEY: &str = "necvac-govry3-tybkYz";
pub const DEFAULT_API_BASE: &str = "https://apiv3.fansly.com";
/// The media host: upload sessions are created, completed and polled there.
pub const DEFAULT_MEDIA_BASE: &str = "https://mediav2.fansly.com";
/// The web app, whose bundle carries the current check key (spec §2.2).
pub const DEFAULT_WEB_BASE: &str = "https://fansly.com";
/// A current Firefox on Windows: the header set and its order come from a
/// Firefox HAR (spec §2.1), so the UA stays Firefox's; kept in config
/// (`upstream.user_agent`) to follow releases without a build.
pub const DEFAULT_USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0";

/// A Fansly answer as it travels inside the client: `response` unparsed.
type RawAnswer = Result<Box<RawValue>, UpstreamError>;

#[derive(Clone, Debug)]
pub struct FanslyConfig {
    pub api_base: Url,
    pub media_base: Url,
    /// Where the web app is served; its bundle is read for the check key.
    pub web_base: Url,
    /// The check key to start with; replaced when the web app shows another.
    pub check_key: String,
    pub user_agent: String,
    /// Per attempt; a stalled Fansly becomes [`UpstreamError::Timeout`] after this.
    pub timeout: Duration,
    /// How many times a 429 (any method) or a 5xx (GET only) is retried.
    pub max_retries: u32,
    /// A `Retry-After` longer than this is not waited for: the 429 is surfaced.
    pub max_retry_wait: Duration,
    /// First backoff step when Fansly gives no `Retry-After`; doubles per retry.
    pub backoff_base: Duration,
    /// Answers of a route are checked for drift at most once per this
    /// (zero: every answer; see `DriftLog::due`).
    pub drift_check_every: Duration,
}

impl Default for FanslyConfig {
    fn default() -> Self {
        Self {
            api_base: Url::parse(DEFAULT_API_BASE).expect("valid default URL"),
            media_base: Url::parse(DEFAULT_MEDIA_BASE).expect("valid default URL"),
            web_base: Url::parse(DEFAULT_WEB_BASE).expect("valid default URL"),
            check_key: DEFAULT_CHECK_KEY.into(),
            user_agent: DEFAULT_USER_AGENT.into(),
            timeout: Duration::from_secs(15),
            max_retries: 2,
            max_retry_wait: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            drift_check_every: Duration::from_millis(100),
        }
    }
}

#[derive(Clone)]
pub struct FanslyClient {
    /// API calls of accounts without a proxy (`transport.rs`); `None` when
    /// the environment names a proxy (`HTTPS_PROXY` and the like), which
    /// reqwest honours and this client would not.
    direct: Option<Direct>,
    /// Everything else of accounts without a proxy: uploads, the web app's pages.
    http: reqwest::Client,
    /// `cfg.user_agent` as a header, made once (an invalid one falls back
    /// to [`DEFAULT_USER_AGENT`]).
    pub(crate) user_agent: HeaderValue,
    /// One connection pool per proxy, so an account's traffic never leaves
    /// through another account's proxy.
    proxied: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    cfg: Arc<FanslyConfig>,
    /// The check key in use: the configured one until the web app shows
    /// another (`keyguard.rs`).
    pub(crate) check_key: Arc<RwLock<Arc<str>>>,
    /// One re-derivation at a time; callers that waited use its result.
    pub(crate) key_refresh: Arc<tokio::sync::Mutex<()>>,
    /// How many derivations from the web app have finished (either way):
    /// callers refused while one ran take its result instead of another.
    pub(crate) key_derivations: Arc<std::sync::atomic::AtomicU64>,
    drift: Arc<DriftLog>,
    /// The longest a request waits for the account's budget; `None`: the
    /// account's configured bound (see [`Self::without_waiting`]).
    patience: Option<Duration>,
}

impl FanslyClient {
    pub fn new(cfg: FanslyConfig) -> Result<Self, UpstreamError> {
        let http = Self::builder(&cfg)
            .build()
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        Ok(Self {
            direct: (!system_proxy()).then(|| Direct::new(cfg.timeout, connect_timeout(&cfg))),
            http,
            user_agent: HeaderValue::from_str(&cfg.user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static(DEFAULT_USER_AGENT)),
            proxied: Arc::default(),
            check_key: Arc::new(RwLock::new(cfg.check_key.as_str().into())),
            key_refresh: Arc::default(),
            key_derivations: Arc::default(),
            drift: Arc::default(),
            cfg: Arc::new(cfg),
            patience: None,
        })
    }

    /// This client (same connections, check key and drift record) for work
    /// that has better to do than wait: a request the account's budget
    /// cannot take at once is refused with [`UpstreamError::Throttled`]
    /// instead of waiting for its turn. The relay's profile lookups use it,
    /// as they sit on the account's ordered write path.
    pub fn without_waiting(&self) -> FanslyClient {
        FanslyClient {
            patience: Some(Duration::ZERO),
            ..self.clone()
        }
    }

    /// The check key requests are signed with now.
    pub fn check_key(&self) -> String {
        self.check_key_shared().to_string()
    }

    /// [`Self::check_key`] without a copy of its text: every signed request
    /// reads it.
    pub(crate) fn check_key_shared(&self) -> Arc<str> {
        self.check_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every protocol drift this client saw (see `drift.rs`).
    pub fn drift(&self) -> &DriftLog {
        &self.drift
    }

    /// The connection pool of requests that belong to no account (the web
    /// app's pages).
    pub(crate) fn plain_http(&self) -> &reqwest::Client {
        &self.http
    }

    fn builder(cfg: &FanslyConfig) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(connect_timeout(cfg))
            .pool_idle_timeout(Duration::from_secs(90))
    }

    pub fn config(&self) -> &FanslyConfig {
        &self.cfg
    }

    /// The connection pool of the account's route (its proxy, or none).
    pub(crate) fn http_for(&self, route: &Route) -> Result<reqwest::Client, UpstreamError> {
        let Some(proxy) = &route.proxy else {
            return Ok(self.http.clone());
        };
        let mut map = self.proxied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = map.get(proxy.url().as_str()) {
            return Ok(client.clone());
        }
        let proxy_err = |e: reqwest::Error| UpstreamError::Proxy {
            proxy: proxy.label().to_owned(),
            details: error_chain(&e),
        };
        // Answers through a proxy are decoded by `transport.rs`, which also
        // undoes the encodings reqwest cannot (the client asks for Firefox's
        // list); the proxy's other use, an upload part, reads no body.
        let client = Self::builder(&self.cfg)
            .no_gzip()
            .no_brotli()
            .proxy(reqwest::Proxy::all(proxy.url().as_str()).map_err(proxy_err)?)
            .build()
            .map_err(proxy_err)?;
        map.insert(proxy.url().to_string(), client.clone());
        Ok(client)
    }

    /// `GET /api/v1/device/id`: unsigned and unauthenticated, since it produces
    /// the id that signing needs. Answers a bare string.
    #[tracing::instrument(
        name = "fansly.request",
        level = "info",
        skip_all,
        fields(method = "GET", route = "/api/v1/device/id")
    )]
    pub async fn device_id(&self, route: &Route) -> Result<String, UpstreamError> {
        let url = self.url(&self.cfg.api_base, "/api/v1/device/id", &[]);
        let template = template::intern(url.path());
        let raw = self
            .send_with_retries(route, None, Method::GET, &template, || Outgoing {
                method: Method::GET,
                url: url.clone(),
                headers: self.api_headers(None),
                json: None,
            })
            .await?;
        match Value::from_response(raw)? {
            Value::String(id) if !id.is_empty() => Ok(id),
            other => Err(UpstreamError::Protocol(format!(
                "device id is not a string: {other}"
            ))),
        }
    }

    /// `GET /api/v1/account/me` → `{"account": {...}}`; validates a token.
    pub async fn account_me(&self, session: &Session) -> Answer {
        self.get(session, "/api/v1/account/me", &[]).await
    }

    /// `GET /api/v1/account?usernames=a,b` → array of accounts; unknown names
    /// are absent. As a tree or as the raw text to hand on ([`FromResponse`]).
    pub async fn accounts_by_usernames<T: FromResponse>(
        &self,
        session: &Session,
        usernames: &[String],
    ) -> Result<T, UpstreamError> {
        let list = usernames.join(",");
        self.get(session, "/api/v1/account", &[("usernames", &list)])
            .await
    }

    /// `GET /api/v1/account?ids=1,2` → array of accounts; unknown ids are
    /// absent. As a tree or as the raw text to hand on ([`FromResponse`]).
    pub async fn accounts_by_ids<T: FromResponse>(
        &self,
        session: &Session,
        ids: &[String],
    ) -> Result<T, UpstreamError> {
        let list = ids.join(",");
        self.get(session, "/api/v1/account", &[("ids", &list)])
            .await
    }

    /// `POST /api/v1/group`: open the DM group between `me` and `partner`, in
    /// the exact body the web app sends.
    pub async fn create_group(&self, session: &Session, me: &str, partner: &str) -> Answer {
        let body = serde_json::json!({
            "users": [
                {"userId": me, "permissionFlags": 0},
                {"userId": partner, "permissionFlags": 0}
            ],
            "recipients": [],
            "lastMessage": null,
            "userSettings": null,
            "type": 1
        });
        self.post(session, "/api/v1/group", &body).await
    }

    /// `GET /api/v1/group/{id}`: one group with its members.
    pub async fn group(&self, session: &Session, group_id: &str) -> Answer {
        self.get(session, &format!("/api/v1/group/{group_id}"), &[])
            .await
    }

    /// `GET /api/v1/messaging/groups` with the web app's parameters; no `hasMore`:
    /// a short page is the last one.
    pub async fn messaging_groups(&self, session: &Session, query: &GroupsQuery) -> Answer {
        let limit = query.limit.to_string();
        let offset = query.offset.to_string();
        let flags = query.flags.to_string();
        let sort = query.sort_order.to_string();
        self.get(
            session,
            "/api/v1/messaging/groups",
            &[
                ("sortOrder", &sort),
                ("flags", &flags),
                ("subscriptionTierId", ""),
                ("listIds", ""),
                ("search", &query.search),
                ("limit", &limit),
                ("offset", &offset),
            ],
        )
        .await
    }

    pub(crate) async fn get<T: FromResponse>(
        &self,
        session: &Session,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, UpstreamError> {
        self.send_json(session, Method::GET, path, query, None)
            .await
    }

    pub(crate) async fn post(&self, session: &Session, path: &str, body: &Value) -> Answer {
        self.send_json(session, Method::POST, path, &[], Some(body))
            .await
    }

    /// A signed request to the REST host.
    pub(crate) async fn send_json<T: FromResponse>(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, UpstreamError> {
        let base = self.cfg.api_base.clone();
        self.send_json_on(&base, session, method, path, query, body)
            .await
    }

    /// A signed request to `base` (the REST or the media host). When Fansly
    /// refuses the session and the session has a renewer, the session is
    /// renewed once and the request repeated once.
    ///
    /// Traced as one `fansly.request` span for the renewal and every retry,
    /// labelled with the route without its ids or query; never a header,
    /// token or body. INFO, so every log line written during the call names
    /// the Fansly route (a span writes no line of its own). Counted in
    /// `/metrics` by route template and outcome, with its latency. The
    /// answer is checked for drift on its raw text, then read as `T`.
    #[tracing::instrument(
        name = "fansly.request",
        level = "info",
        skip_all,
        fields(
            method = %method,
            route = tracing::field::Empty,
            account = session.account(),
            fansly_id = session.fansly_id(),
        )
    )]
    pub(crate) async fn send_json_on<T: FromResponse>(
        &self,
        base: &Url,
        session: &Session,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, UpstreamError> {
        let started = std::time::Instant::now();
        // The span, the metrics, the drift records and the budget share it.
        let route = template::intern(path);
        tracing::Span::current().record("route", tracing::field::display(route.as_str()));
        // Boxed: the exchange's future (signing, retries, the HTTP client's
        // own) is kilobytes, and inline it made every future above it as
        // large; each of those is copied whole as it is first polled, as
        // it moves into a box or a task (callgrind: the call future was
        // 5,280 bytes, and a users lookup copied ~43 KB of it in 19 copies).
        let result: RawAnswer = Box::pin(async {
            let key = self.check_key_shared();
            // The session every later repeat uses: a renewed one replaces
            // the refused one for the rest of the call.
            let mut renewed: Option<Arc<Session>> = None;
            let mut result = self
                .send_signed(base, session, &method, &route, path, query, body)
                .await;
            if let (Err(UpstreamError::Unauthorized { .. }), Some(renewer)) =
                (&result, session.renewer())
            {
                let fresh = renewed.insert(renewer.renew(session).await?);
                result = self
                    .send_signed(base, fresh, &method, &route, path, query, body)
                    .await;
            }
            // Fansly refusing the digest means the key rotated: derive it
            // again from the web app (once for all waiting callers) and
            // repeat the request once.
            if matches!(&result, Err(e) if drift::is_check_key_refusal(e)) {
                self.drift.record(
                    session.account(),
                    route.as_str(),
                    drift::kind::CHECK_KEY,
                    None,
                );
                if self.check_key_rotated_since(&key).await {
                    let current = renewed.as_deref().unwrap_or(session);
                    result = self
                        .send_signed(base, current, &method, &route, path, query, body)
                        .await;
                }
            }
            result
        })
        .await;
        self.note_drift(session.account(), method.as_str(), route.as_str(), &result);
        observe::request(
            method.as_str(),
            route.as_str(),
            &route.metrics,
            started.elapsed(),
            &result,
        );
        T::from_response(result?)
    }

    /// Checks an answer against its route's schema, and a failure for a
    /// route gone; counts what differs (`drift.rs`).
    fn note_drift(&self, account: Option<&str>, method: &str, route: &str, result: &RawAnswer) {
        match result {
            Ok(raw) => {
                let Some(schema) = drift::schema_of(method, route) else {
                    return;
                };
                if !self.drift.due(schema, self.cfg.drift_check_every) {
                    return;
                }
                for (field, kind) in drift::check_raw(method, route, raw) {
                    self.drift.record(account, route, kind, Some(&field));
                }
            }
            Err(e) => {
                if let Some(kind) = drift::error_kind(e).filter(|k| *k == drift::kind::GONE) {
                    self.drift.record(account, route, kind, None);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_signed(
        &self,
        base: &Url,
        session: &Session,
        method: &Method,
        template: &Template,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> RawAnswer {
        let url = self.url(base, path, query);
        // Serialised once for every attempt.
        let json = body.map(|body| bytes::Bytes::from(body.to_string()));
        self.send_with_retries(
            session.route(),
            Some(session),
            method.clone(),
            template,
            || {
                let mut headers = self.api_headers(Some((session, url.path())));
                if json.is_some() {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Outgoing {
                    method: method.clone(),
                    url: url.clone(),
                    headers,
                    json: json.clone(),
                }
            },
        )
        .await
    }

    /// The web app appends `ngsw-bypass=true` to every query and sends comma
    /// lists with literal commas, so the query is built by hand.
    pub(crate) fn url(&self, base: &Url, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        url.set_path(path);
        let mut q = String::new();
        for (k, v) in query {
            q.push_str(k);
            q.push('=');
            q.push_str(&encode_keeping_commas(v));
            q.push('&');
        }
        q.push_str("ngsw-bypass=true");
        url.set_query(Some(&q));
        url
    }

    /// Each attempt, retries included, spends from the account's budget and
    /// from the bucket of its route ([`Template::bucket`]). An `f-s-c` cookie
    /// an answer sets is kept on `session`.
    async fn send_with_retries<F>(
        &self,
        route: &Route,
        session: Option<&Session>,
        method: Method,
        template: &Template,
        build: F,
    ) -> RawAnswer
    where
        F: Fn() -> Outgoing,
    {
        let bucket = template.bucket(method.as_str());
        let mut attempt = 0;
        loop {
            if let Some(throttle) = &route.throttle {
                let write = method != Method::GET;
                match self.patience {
                    None => throttle.acquire(bucket, write).await?,
                    Some(bound) => throttle.acquire_within(bucket, write, bound).await?,
                }
            }
            let result = self.send_once(route, session, &build).await;
            let retry_in = match &result {
                Err(UpstreamError::RateLimited { retry_after }) => {
                    Some(retry_after.unwrap_or_else(|| self.backoff(attempt)))
                }
                // Only reads are repeated after a server error: a write may have landed.
                // (A 429 never arrives as `Api`: the envelope makes it `RateLimited`.)
                Err(UpstreamError::Api { status, .. })
                    if method == Method::GET && transient_status(*status) =>
                {
                    Some(self.backoff(attempt))
                }
                _ => None,
            };
            match retry_in {
                Some(wait) if attempt < self.cfg.max_retries && wait <= self.cfg.max_retry_wait => {
                    tracing::debug!(attempt, ?wait, "retrying Fansly request");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let step = self.cfg.backoff_base * 2u32.saturating_pow(attempt);
        let jitter = rand::thread_rng().gen_range(0..=step.as_millis() as u64 / 4);
        step + Duration::from_millis(jitter)
    }

    /// One attempt, built by `build`. On the direct transport a request
    /// HTTP/2 refused unprocessed ([`Failure::Refused`]) is built and sent
    /// once more at once (reqwest does the same for its own transport).
    async fn send_once(
        &self,
        route: &Route,
        session: Option<&Session>,
        build: &impl Fn() -> Outgoing,
    ) -> RawAnswer {
        crate::calls::count();
        let resp = match (&route.proxy, &self.direct) {
            (None, Some(direct)) => {
                let mut sent = direct.send(build()).await;
                if matches!(sent, Err(Failure::Refused(_))) {
                    sent = direct.send(build()).await;
                }
                sent.map_err(|e| self.failure(e))?
            }
            _ => transport::send_reqwest(&self.http_for(route)?, build())
                .await
                .map_err(|e| self.transport_error(route, e))?
                .map_err(|e| self.failure(e))?,
        };
        let status = resp.status;
        if let (Some(proxy), StatusCode::PROXY_AUTHENTICATION_REQUIRED) = (&route.proxy, status) {
            return Err(UpstreamError::Proxy {
                proxy: proxy.label().to_owned(),
                details: "the proxy asks for credentials (HTTP 407)".into(),
            });
        }
        if let Some(session) = session {
            for set in resp.headers.get_all(reqwest::header::SET_COOKIE) {
                if let Ok(set) = set.to_str() {
                    session.remember_set_cookie(set);
                }
            }
        }
        let retry_after = parse_retry_after(&resp.headers);
        decode_envelope(status, retry_after, &resp.body)
    }

    /// An attempt that brought no usable answer; the transport of an account
    /// without a proxy is the connection to Fansly itself.
    fn failure(&self, e: Failure) -> UpstreamError {
        match e {
            Failure::Timeout => UpstreamError::Timeout(self.cfg.timeout),
            Failure::Transport(details) | Failure::Refused(details) => {
                UpstreamError::Unreachable(details)
            }
            Failure::Encoding(details) => UpstreamError::Protocol(details),
        }
    }

    pub(crate) fn transport_error(&self, route: &Route, e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            return UpstreamError::Timeout(self.cfg.timeout);
        }
        match &route.proxy {
            // Through a proxy, every connection is to the proxy: a transport
            // failure is the proxy's (Fansly is reached by the proxy, not by us).
            Some(proxy) => UpstreamError::Proxy {
                proxy: proxy.label().to_owned(),
                details: error_chain(&e),
            },
            None => UpstreamError::Unreachable(error_chain(&e)),
        }
    }
}

/// Page parameters of `/messaging/groups`, defaulting to what the web app sends.
#[derive(Clone, Debug)]
pub struct GroupsQuery {
    pub limit: u32,
    pub offset: u32,
    pub sort_order: u32,
    /// 0 = all, 2 = unread only (INFERRED meaning).
    pub flags: u32,
    pub search: String,
}

impl Default for GroupsQuery {
    fn default() -> Self {
        Self {
            limit: 25,
            offset: 0,
            sort_order: 1,
            flags: 0,
            search: String::new(),
        }
    }
}

/// Whether the environment routes HTTP through a proxy (reqwest's rule).
fn system_proxy() -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// A connection that cannot be made within this is given up on.
fn connect_timeout(cfg: &FanslyConfig) -> Duration {
    cfg.timeout.min(Duration::from_secs(10))
}

fn encode_keeping_commas(v: &str) -> String {
    v.split(',')
        .map(|part| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod h2_refusals;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_literal_commas_and_bypass_flag() {
        let client = FanslyClient::new(FanslyConfig::default()).unwrap();
        let base = client.config().api_base.clone();
        let url = client.url(&base, "/api/v1/account", &[("usernames", "a b,c&d")]);
        assert_eq!(
            url.as_str(),
            "https://apiv3.fansly.com/api/v1/account?usernames=a+b,c%26d&ngsw-bypass=true"
        );
    }
}
