//! Webhooks from the receiving end: a loopback `Receiver` that records
//! deliveries and answers scripted statuses, independent signature checks,
//! creating a webhook through the API, and the outbox's events as stored.

use std::time::Duration;

use fansly_gateway::core::config::Config;
use reqwest::Method;
use serde_json::{json, Value};

use super::{TestApp, TestTeam};

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
/// An app that may deliver to loopback, a [`Receiver`], and the default
/// team's webhook on it for received messages; answers the webhook's id too.
pub async fn spawn_hooked_app() -> (TestApp, Receiver, String) {
    spawn_hooked_app_with(|c| c.webhooks.allow_private_targets = true).await
}

/// [`spawn_hooked_app`] with the configuration `tweak` makes (which must
/// allow private webhook targets for the receiver to be reached).
pub async fn spawn_hooked_app_with(tweak: impl FnOnce(&mut Config)) -> (TestApp, Receiver, String) {
    let app = super::spawn_app_with(tweak).await;
    let receiver = Receiver::start().await;
    let events = ["fansly.messages.received"];
    let hook = app
        .create_webhook(&app.team, &receiver.url, &events, None)
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    (app, receiver, id)
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

/// One event as the outbox stores it, its payload parsed.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: String,
    pub name: String,
    pub dedup_key: Option<String>,
    pub created_at: i64,
    pub payload: Value,
}

impl TestApp {
    /// The account's recorded events, oldest first (`created_at`, then id).
    pub async fn account_events(&self, account: &str) -> Vec<StoredEvent> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT id, name, dedup_key, created_at, payload FROM events WHERE account_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(account)
        .fetch_all(&self.db().pool)
        .await
        .unwrap();
        rows.iter()
            .map(|r| StoredEvent {
                id: r.get(0),
                name: r.get(1),
                dedup_key: r.get(2),
                created_at: r.get(3),
                payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap(),
            })
            .collect()
    }
}
