//! Steering and inspecting the sandbox through `/_sandbox`: seeded
//! creators, faults, fan messages, and the log of what reached "Fansly".

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use super::http::SendJson;
use super::TestApp;

impl TestApp {
    /// The session token of seeded sandbox creator number `n`.
    pub async fn creator_token(&self, n: usize) -> String {
        self.creator(n).await["token"].as_str().unwrap().to_owned()
    }

    /// The username of seeded sandbox creator number `n`.
    pub async fn creator_username(&self, n: usize) -> String {
        self.creator(n).await["username"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The Fansly account id of seeded sandbox creator number `n`.
    pub async fn creator_id(&self, n: usize) -> String {
        self.creator(n).await["account_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Ends every Fansly session of seeded sandbox creator `n`, as Fansly
    /// does when it logs an account out.
    pub async fn expire_sessions(&self, n: usize) {
        let c = self.creator(n).await;
        self.expire_sessions_of(&c).await;
    }

    /// Ends every Fansly session of `creator` (as `/_sandbox/creators`
    /// describes it); the sandbox's answer (`sockets_refused`, …).
    pub async fn expire_sessions_of(&self, creator: &Value) -> Value {
        let body = json!({"account_id": creator["account_id"]});
        let resp = self.sandbox_post("/_sandbox/sessions/expire", body).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// A sandbox event action (`/_sandbox/events/{kind}`), which must be
    /// accepted; the sandbox's answer.
    pub async fn sandbox_event(&self, kind: &str, body: Value) -> Value {
        let resp = self
            .sandbox_post(&format!("/_sandbox/events/{kind}"), body)
            .await;
        assert_eq!(resp.status(), 200, "{kind}: {}", resp.text().await.unwrap());
        resp.json().await.unwrap()
    }

    /// Seeded creator `n` as the sandbox describes it (credentials, 2FA kind).
    pub async fn creator(&self, n: usize) -> Value {
        self.sandbox_get("/_sandbox/creators").await[n].clone()
    }

    /// A sandbox-only inspection route's JSON answer.
    pub async fn sandbox_get(&self, path_and_query: &str) -> Value {
        self.to_sandbox(Method::GET, path_and_query)
            .send_json()
            .await
    }

    /// A request to the sandbox's own `path`, ready to send.
    fn to_sandbox(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.sandbox_url);
        self.http.request(method, url)
    }

    /// A sandbox control PATCH (e.g. changing a seeded account).
    pub async fn sandbox_patch(&self, path: &str, body: Value) -> Response {
        let req = self.to_sandbox(Method::PATCH, path).json(&body);
        req.send().await.unwrap()
    }

    /// A sandbox control DELETE (e.g. clearing faults).
    pub async fn sandbox_delete(&self, path: &str) -> Response {
        self.to_sandbox(Method::DELETE, path).send().await.unwrap()
    }

    /// The sandbox's port (it serves absolute-form requests, so tests use it as a proxy).
    pub fn sandbox_port(&self) -> u16 {
        self.sandbox_url
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub async fn sandbox_post(&self, path: &str, body: Value) -> Response {
        let req = self.to_sandbox(Method::POST, path).json(&body);
        req.send().await.unwrap()
    }

    /// Counts what the sandbox received on `path` (method `method`).
    pub async fn upstream_count(&self, method: &str, path: &str) -> usize {
        self.upstream_requests()
            .await
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// The query strings of what the sandbox received on `path`, oldest first.
    pub async fn upstream_queries(&self, path: &str) -> Vec<String> {
        self.upstream_requests()
            .await
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.query.unwrap_or_default())
            .collect()
    }

    /// Whether the sandbox received anything on a path starting with `prefix`.
    pub async fn upstream_touched(&self, prefix: &str) -> bool {
        self.upstream_requests()
            .await
            .iter()
            .any(|r| r.path.starts_with(prefix))
    }

    /// What the sandbox received, oldest first.
    pub async fn upstream_requests(&self) -> Vec<fansly_sandbox::LoggedRequest> {
        let log = self.to_sandbox(Method::GET, "/_sandbox/requests").send();
        log.await.unwrap().json().await.unwrap()
    }

    pub async fn clear_upstream_requests(&self) {
        self.sandbox_delete("/_sandbox/requests").await;
    }

    /// Makes the sandbox misbehave (see fansly_sandbox::Fault).
    pub async fn inject(&self, fault: Value) {
        let resp = self.sandbox_post("/_sandbox/faults", fault).await;
        assert_eq!(resp.status(), 201, "fault accepted");
    }

    /// Sandbox fan `fan{n}` writes `count` messages to the default creator
    /// (`text 1` … `text N` when `count` > 1); answers `{groupId, messages}`.
    pub async fn fan_writes(&self, n: u32, text: &str, count: u32) -> Value {
        let path = format!("/_sandbox/fans/fan{n}/messages");
        let resp = self
            .sandbox_post(&path, json!({"text": text, "count": count}))
            .await;
        assert_eq!(resp.status(), 200, "sandbox fan message");
        resp.json().await.unwrap()
    }
}
