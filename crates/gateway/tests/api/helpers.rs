use std::time::Duration;

use fansly_gateway::core::config::Config;
use fansly_gateway::core::db::Db;
use fansly_gateway::metering::credits;
use fansly_gateway::{tenancy, App, AppState};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{json, Value};

pub const TEST_DB_ENV: &str = "FANSLY_GATEWAY_TEST_DATABASE_URL";

pub struct TestApp {
    pub address: String,
    pub sandbox_url: String,
    pub http: reqwest::Client,
    pub state: AppState,
    /// The default team, its key and its connected sandbox creator.
    pub team: TestTeam,
    /// The data dir this app owns (none when the caller owns it: [`spawn_app_on`]).
    _data_dir: Option<tempfile::TempDir>,
}

#[derive(Clone, Debug)]
pub struct TestTeam {
    pub id: String,
    pub key: String,
    pub account_id: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Builds the app as `serve --sandbox` does, with `tweak` applied to the config.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_owned(),
        database_url: test_database_url().await,
        ..Config::default()
    };
    config.sandbox.enabled = true;
    config.upstream.backoff_base_ms = 20;
    config.upstream.max_retry_wait_ms = 2_000;
    // Tests drive accounts far harder than Fansly allows; the throttle has its own test.
    config.upstream.throttle.reads_per_minute = 1_000_000;
    config.upstream.throttle.writes_per_minute = 1_000_000;
    config.upstream.throttle.burst = 10_000;
    config.media.poll_interval_ms = 50;
    // The sandbox CDN is on loopback; the SSRF guard has its own test.
    config.media.allow_private_file_urls = true;
    tweak(&mut config);

    let app = App::build(config).await.expect("app builds");
    let address = format!("http://{}", app.address());
    let sandbox_url = app.sandbox().expect("sandbox enabled").url();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());

    let mut test = TestApp {
        address,
        sandbox_url,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        state,
        team: TestTeam {
            id: String::new(),
            key: String::new(),
            account_id: String::new(),
        },
        _data_dir: Some(data_dir),
    };
    test.team = test.new_team(1_000, 0).await;
    test
}

/// One life of a deployment (see [`spawn_app_on`]); `stop` ends it as a
/// graceful shutdown does.
pub struct Life {
    pub app: TestApp,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Life {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.running
            .await
            .expect("gateway task")
            .expect("gateway stops cleanly");
    }
}

/// A gateway on an external `sandbox`, with `data_dir` and `database_url`
/// chosen by the caller, so several lives (a restart) share state. `team`
/// is the team of an earlier life, or `None` for a new one (1000 credits,
/// sandbox creator 0). `tweak` adjusts the config as in [`spawn_app_with`].
pub async fn spawn_app_on(
    sandbox: &fansly_sandbox::Sandbox,
    data_dir: &std::path::Path,
    database_url: Option<String>,
    team: Option<TestTeam>,
    tweak: impl FnOnce(&mut Config),
) -> Life {
    let key_file = data_dir.join("master.key");
    if !key_file.exists() {
        std::fs::write(
            &key_file,
            fansly_gateway::core::crypto::Keyring::generate_entry(),
        )
        .unwrap();
    }
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        database_url,
        master_key_file: Some(key_file),
        ..Config::default()
    };
    config.upstream.api_base = sandbox.url();
    config.upstream.media_base = sandbox.url();
    config.upstream.backoff_base_ms = 20;
    config.upstream.max_retry_wait_ms = 2_000;
    config.upstream.throttle.reads_per_minute = 1_000_000;
    config.upstream.throttle.writes_per_minute = 1_000_000;
    config.upstream.throttle.burst = 10_000;
    tweak(&mut config);
    let app = App::build(config).await.expect("app builds");
    let address = format!("http://{}", app.address());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut test = TestApp {
        address,
        sandbox_url: sandbox.url(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        state,
        team: TestTeam {
            id: String::new(),
            key: String::new(),
            account_id: String::new(),
        },
        _data_dir: None,
    };
    test.team = match team {
        Some(team) => team,
        None => test.new_team(1_000, 0).await,
    };
    Life {
        app: test,
        stop,
        running,
    }
}

/// A fresh database per test: a new PostgreSQL database when the test
/// database URL is set, else `None` (SQLite in the test's own data dir).
pub async fn test_database_url() -> Option<String> {
    let url = std::env::var(TEST_DB_ENV).ok().filter(|u| !u.is_empty())?;
    assert!(
        url.starts_with("postgres"),
        "{TEST_DB_ENV} must be a postgres:// URL, got {url}"
    );
    let admin = Db::connect(&url, 1)
        .await
        .expect("test PostgreSQL reachable");
    let name = format!("fgw_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin.pool)
        .await
        .expect("create test database");
    admin.pool.close().await;
    let mut parsed = url::Url::parse(&url).expect("valid test database URL");
    parsed.set_path(&format!("/{name}"));
    Some(parsed.to_string())
}

impl TestApp {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// A team with `credits`, an API key, and sandbox creator number `creator`
    /// connected through the same path `accounts add-token` uses.
    pub async fn new_team(&self, credits: i64, creator: usize) -> TestTeam {
        let team = tenancy::create_team(self.db(), "test team", credits, None)
            .await
            .unwrap();
        let key = tenancy::create_key(self.db(), &team.id, "test")
            .await
            .unwrap();
        let token = self.creator_token(creator).await;
        let account = self
            .state
            .sessions
            .add_token(&team.id, SecretString::from(token), None)
            .await
            .unwrap();
        TestTeam {
            id: team.id,
            key: key.secret,
            account_id: account.id,
        }
    }

    /// The session token of seeded sandbox creator number `n`.
    pub async fn creator_token(&self, n: usize) -> String {
        self.creator(n).await["token"].as_str().unwrap().to_owned()
    }

    /// Seeded creator `n` as the sandbox describes it (credentials, 2FA kind).
    pub async fn creator(&self, n: usize) -> Value {
        self.sandbox_get("/_sandbox/creators").await[n].clone()
    }

    /// A sandbox-only inspection route's JSON answer.
    pub async fn sandbox_get(&self, path_and_query: &str) -> Value {
        self.http
            .get(format!("{}{path_and_query}", self.sandbox_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Connects seeded creator `n` (password-only) to the default team by
    /// login, `extra` merged into the request; returns the creator and the
    /// authenticated account's id.
    pub async fn connect_by_login(&self, n: usize, extra: Value) -> (Value, String) {
        let c = self.creator(n).await;
        let mut body = json!({"username": c["username"], "password": c["password"]});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let id = self.authenticate(&self.team, body).await;
        let status = self.settled_status(&self.team, &id).await;
        assert_eq!(status["status"], "authenticated", "{status}");
        (c, id)
    }

    /// Starts connecting a login for `team`; the new account's id.
    pub async fn authenticate(&self, team: &TestTeam, body: Value) -> String {
        let resp = self
            .request(
                Method::POST,
                "/api/fansly/authenticate",
                Some(&team.key),
                Some(&body),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let body: Value = resp.json().await.unwrap();
        let id = body["account_id"].as_str().unwrap().to_owned();
        assert!(body["polling_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/fansly/authenticate/{id}")));
        id
    }

    /// Polls the connection status until it leaves the running states.
    pub async fn settled_status(&self, team: &TestTeam, account: &str) -> Value {
        for _ in 0..200 {
            let resp = self
                .request(
                    Method::GET,
                    &format!("/api/fansly/authenticate/{account}"),
                    Some(&team.key),
                    None,
                )
                .await;
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.unwrap();
            if !matches!(
                body["status"].as_str(),
                Some("queued" | "logging-in" | "verifying")
            ) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("login of {account} did not settle");
    }

    /// Counts what the sandbox received on `path` (method `method`).
    pub async fn upstream_count(&self, method: &str, path: &str) -> usize {
        self.upstream_requests()
            .await
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    pub async fn sandbox_post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(format!("{}{path}", self.sandbox_url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.address, path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, Some(&self.team.key), None)
            .await
    }

    pub async fn create_chat_as(&self, team: &TestTeam, body: &Value) -> Response {
        self.request(
            Method::POST,
            &format!("/api/fansly/{}/chats", team.account_id),
            Some(&team.key),
            Some(body),
        )
        .await
    }

    pub async fn create_chat(&self, user_id: &str) -> Response {
        self.create_chat_as(&self.team, &json!({ "user_id": user_id }))
            .await
    }

    /// Raw POST with a chosen content type and body bytes.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self
            .http
            .post(format!("{}{}", self.address, path))
            .bearer_auth(&self.team.key)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send().await.unwrap()
    }

    /// The Fansly id of seeded fan `fan{n}`, looked up through the gateway.
    pub async fn fan_id(&self, n: u32) -> String {
        let resp = self
            .get(&format!(
                "/api/fansly/{}/users/fan{n}",
                self.team.account_id
            ))
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["data"][0]["id"].as_str().unwrap().to_owned()
    }

    pub async fn balance(&self, team_id: &str) -> i64 {
        credits::balance(self.db(), team_id).await.unwrap().unwrap()
    }

    pub async fn ledger(&self, team_id: &str) -> Vec<credits::LedgerEntry> {
        credits::ledger(self.db(), team_id, 100_000).await.unwrap()
    }

    /// Makes the sandbox misbehave (see fansly_sandbox::Fault).
    pub async fn inject(&self, fault: Value) {
        let resp = self
            .http
            .post(format!("{}/_sandbox/faults", self.sandbox_url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "fault accepted");
    }

    /// What the sandbox received, oldest first.
    pub async fn upstream_requests(&self) -> Vec<fansly_sandbox::LoggedRequest> {
        self.http
            .get(format!("{}/_sandbox/requests", self.sandbox_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sandbox fan `fan{n}` writes `count` messages to the default creator
    /// (`text 1` … `text N` when `count` > 1); answers `{groupId, messages}`.
    pub async fn fan_writes(&self, n: u32, text: &str, count: u32) -> Value {
        let resp = self
            .http
            .post(format!(
                "{}/_sandbox/fans/fan{n}/messages",
                self.sandbox_url
            ))
            .json(&json!({"text": text, "count": count}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "sandbox fan message");
        resp.json().await.unwrap()
    }

    pub async fn clear_upstream_requests(&self) {
        self.http
            .delete(format!("{}/_sandbox/requests", self.sandbox_url))
            .send()
            .await
            .unwrap();
    }
}

/// Asserts `{"error": "<non-empty message>"}` and `status`; returns the message.
pub async fn assert_error(resp: Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let body: Value = resp.json().await.expect("JSON error body");
    let obj = body.as_object().expect("error body is an object");
    let msg = obj
        .get("error")
        .and_then(Value::as_str)
        .expect("error body has an `error` string")
        .to_owned();
    assert!(!msg.is_empty());
    msg
}

/// Same keys and JSON types as `expected`, at every depth. Arrays are
/// compared element by element; elements beyond the example's are held to its
/// last element.
pub fn assert_same_shape(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            let mut es = ek.clone();
            let mut as_ = ak.clone();
            es.sort();
            as_.sort();
            assert_eq!(es, as_, "keys differ at {path}");
            for (k, ev) in e {
                assert_same_shape(ev, &a[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.is_empty(), a.is_empty(), "emptiness differs at {path}");
            for (i, av) in a.iter().enumerate() {
                let ev = e.get(i).or_else(|| e.last()).unwrap();
                assert_same_shape(ev, av, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            assert_eq!(
                e.is_i64() || e.is_u64(),
                a.is_i64() || a.is_u64(),
                "integer vs float at {path}"
            );
        }
        (e, a) => assert_eq!(
            std::mem::discriminant(e),
            std::mem::discriminant(a),
            "type differs at {path}: expected like {e}, got {a}"
        ),
    }
}

impl TestApp {
    /// Every page of an offset-paged endpoint, following
    /// `_pagination.next_page` (which must be an absolute URL on this
    /// gateway) until it is null; at most `max` pages.
    pub async fn all_pages(&self, first: &str, max: usize) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut next = Some(format!("{}{first}", self.address));
        while let Some(url) = next {
            assert!(pages.len() < max, "more than {max} pages from {first}");
            let path = url
                .strip_prefix(&self.address)
                .unwrap_or_else(|| panic!("next_page {url} is not on {}", self.address));
            let resp = self.get(path).await;
            assert_eq!(resp.status(), 200, "{path}");
            let body: Value = resp.json().await.unwrap();
            next = body["_pagination"]["next_page"].as_str().map(str::to_owned);
            assert!(
                body["_pagination"].get("next_page").is_some(),
                "{path} has no _pagination.next_page"
            );
            pages.push(body);
        }
        pages
    }
}

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
    pub arrived: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A scripted answer: status, extra headers, and a body (default `answer <status>`).
type Answer = (u16, Vec<(String, String)>, Option<String>);

#[derive(Default)]
struct ReceiverState {
    requests: std::sync::Mutex<Vec<Received>>,
    /// Answers to give, in order (status, headers); 200 once empty.
    script: std::sync::Mutex<std::collections::VecDeque<Answer>>,
    delay_ms: std::sync::atomic::AtomicU64,
    arrived: tokio::sync::Notify,
}

/// A webhook receiver on a loopback port: records every request and
/// answers the scripted statuses, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: std::sync::Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
        use axum::response::IntoResponse;

        let state = std::sync::Arc::new(ReceiverState::default());
        let shared = state.clone();
        let handler = move |method: HttpMethod, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move {
                let delay = state.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                let (status, headers_out, body_out) = state
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((200, Vec::new(), None));
                state.requests.lock().unwrap().push(Received {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_ascii_lowercase(),
                                v.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                    arrived: std::time::Instant::now(),
                });
                state.arrived.notify_waiters();
                let (extra, body) = (headers_out, body_out);
                let mut resp = (
                    StatusCode::from_u16(status).unwrap(),
                    body.unwrap_or_else(|| format!("answer {status}")),
                )
                    .into_response();
                for (k, v) in extra {
                    resp.headers_mut().insert(
                        axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        v.parse().unwrap(),
                    );
                }
                resp
            }
        };
        let router = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { url, state }
    }

    /// The next answers, in order (then 200 again).
    pub fn answer(&self, statuses: &[u16]) {
        let mut script = self.state.script.lock().unwrap();
        script.extend(statuses.iter().map(|s| (*s, Vec::new(), None)));
    }

    pub fn answer_with(&self, status: u16, headers: &[(&str, &str)]) {
        self.state.script.lock().unwrap().push_back((
            status,
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            None,
        ));
    }

    /// The next answer: `status` with `body`.
    pub fn answer_body(&self, status: u16, body: &str) {
        self.state
            .script
            .lock()
            .unwrap()
            .push_back((status, Vec::new(), Some(body.to_owned())));
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what arrived (panics after `within`).
    pub async fn wait_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.arrived.notified();
            let seen = self.requests();
            if done(&seen) {
                return seen;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "receiver: timed out waiting for {what}; got {} requests",
                    seen.len()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(Duration::from_secs(30), &format!("{n} requests"), |r| {
            r.len() >= n
        })
        .await
    }
}

/// Checks a delivery's vendor `Signature` (hex HMAC-SHA256 of the raw body)
/// and its Standard Webhooks signature (`v1,` base64 HMAC-SHA256 of
/// `id.timestamp.body`, timestamp within five minutes), computed here
/// independently of the gateway.
pub fn verify_signatures(r: &Received, secret: &str) -> Result<(), String> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    type HmacSha256 = Hmac<sha2::Sha256>;

    let vendor = r.header("signature").ok_or("no Signature header")?;
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(r.body.as_bytes());
    let expected = hex::decode(vendor).map_err(|_| "Signature is not hex")?;
    mac.verify_slice(&expected)
        .map_err(|_| "Signature does not match the body")?;

    let id = r.header("webhook-id").ok_or("no webhook-id")?;
    let ts: i64 = r
        .header("webhook-timestamp")
        .ok_or("no webhook-timestamp")?
        .parse()
        .map_err(|_| "webhook-timestamp is not an integer")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts).abs() > 300 {
        return Err(format!(
            "webhook-timestamp {ts} is outside the 5-minute tolerance"
        ));
    }
    let header = r
        .header("webhook-signature")
        .ok_or("no webhook-signature")?;
    let mut ok = false;
    for sig in header.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(r.body.as_bytes());
        ok |= mac.verify_slice(&raw).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err("webhook-signature does not match".into())
    }
}

impl TestApp {
    /// Creates an enabled webhook for `team` on `url` for `events` (all
    /// accounts); returns its JSON.
    pub async fn create_webhook(
        &self,
        team: &TestTeam,
        url: &str,
        events: &[&str],
        secret: Option<&str>,
    ) -> Value {
        let mut body = json!({
            "endpoint_url": url,
            "events": events,
            "account_scope": "global",
            "enabled": true,
        });
        if let Some(secret) = secret {
            body["signing_secret"] = json!(secret);
        }
        let resp = self
            .request(Method::POST, "/api/webhooks", Some(&team.key), Some(&body))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let body: Value = resp.json().await.unwrap();
        body["data"].clone()
    }
}
