//! Steering and inspecting the sandbox through `/_sandbox`: seeded
//! creators, faults, fan messages, and the log of what reached "Fansly".

use reqwest::Response;
use serde_json::{json, Value};

use super::http::SendJson;
use super::TestApp;

impl TestApp {
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
            .send_json()
            .await
    }

    /// A sandbox control PATCH (e.g. changing a seeded account).
    pub async fn sandbox_patch(&self, path: &str, body: Value) -> Response {
        self.http
            .patch(format!("{}{path}", self.sandbox_url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A sandbox control DELETE (e.g. clearing faults).
    pub async fn sandbox_delete(&self, path: &str) -> Response {
        self.http
            .delete(format!("{}{path}", self.sandbox_url))
            .send()
            .await
            .unwrap()
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
        self.http
            .post(format!("{}{path}", self.sandbox_url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Counts what the sandbox received on `path` (method `method`).
    pub async fn upstream_count(&self, method: &str, path: &str) -> usize {
        self.upstream_requests()
            .await
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
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

    pub async fn clear_upstream_requests(&self) {
        self.http
            .delete(format!("{}/_sandbox/requests", self.sandbox_url))
            .send()
            .await
            .unwrap();
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
}
