//! Connecting accounts by login through the gateway: starting an
//! authentication and polling it until it settles.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{TestApp, TestTeam};

impl TestApp {
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
}
