//! Requests to the gateway's API: the raw request, GETs with the default
//! team's key, raw bodies, creating chats, looking up fans, and following
//! `_pagination.next_page`.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use super::{TestApp, TestTeam};

/// Sends a request built by hand (other hosts, headers, raw keys) and reads
/// its answer as JSON, whatever the status.
pub trait SendJson {
    async fn send_json(self) -> Value;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json(self) -> Value {
        self.send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("a JSON answer")
    }
}

impl TestApp {
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

    /// Opens the chat with sandbox fan `fan{n}`; answers its id.
    pub async fn open_chat(&self, n: u32) -> String {
        let fan = self.fan_id(n).await;
        let body: Value = self.create_chat(&fan).await.json().await.unwrap();
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// How many of the chat's last 100 messages carry `text`.
    pub async fn copies(&self, chat: &str, text: &str) -> usize {
        let acct = &self.team.account_id;
        let path = format!("/api/fansly/{acct}/chats/{chat}/messages?limit=100");
        let body = self.get_json(&path).await;
        let messages = body["data"]["messages"].as_array().unwrap();
        messages.iter().filter(|m| m["content"] == text).count()
    }

    /// A GET of an absolute URL the API handed out (`next_page`, polling)
    /// with the default team's key.
    pub async fn get_url(&self, url: &str) -> Response {
        let req = self.http.get(url).bearer_auth(&self.team.key);
        req.send().await.expect("request sent")
    }

    /// The account `id`'s row in List Accounts.
    pub async fn account_row(&self, id: &str) -> Value {
        let list = self.get_json("/api/fansly/accounts").await;
        let rows = list.as_array().expect("List Accounts is an array");
        rows.iter()
            .find(|r| r["id"] == id)
            .expect("the account is listed")
            .clone()
    }

    /// `/api/fansly/<the default team's account>/<rest>`.
    pub fn acct_path(&self, rest: &str) -> String {
        format!("/api/fansly/{}/{rest}", self.team.account_id)
    }

    /// A GET with the default team's key that must answer 200; its JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// A POST of `body` with the default team's key that must answer 200;
    /// its JSON body.
    pub async fn post_ok(&self, path: &str, body: &Value) -> Value {
        let resp = self.post(path, body).await;
        assert_eq!(resp.status(), 200, "POST {path}");
        resp.json().await.unwrap()
    }

    /// A request to [`Self::acct_path`]`(rest)` with the default team's key
    /// that must answer 200; its JSON body.
    pub async fn acct_ok(&self, method: Method, rest: &str, body: Option<&Value>) -> Value {
        let resp = self.send(method.clone(), &self.acct_path(rest), body).await;
        assert_eq!(resp.status(), 200, "{method} {rest}");
        resp.json().await.unwrap()
    }

    /// A GET's JSON body (whatever the status; tests that care check it).
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// Any method, with the default team's key and an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        self.request(method, path, Some(&self.team.key), body).await
    }

    /// A GET with another team's key.
    pub async fn get_as(&self, team: &TestTeam, path: &str) -> Response {
        self.request(Method::GET, path, Some(&team.key), None).await
    }

    /// Any method with another team's key.
    pub async fn send_as(
        &self,
        team: &TestTeam,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        self.request(method, path, Some(&team.key), body).await
    }

    /// POST of a JSON body with the default team's key.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(&self.team.key), Some(body))
            .await
    }

    /// PUT of a JSON body with the default team's key.
    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(&self.team.key), Some(body))
            .await
    }

    /// DELETE with the default team's key.
    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, Some(&self.team.key), None)
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

    /// The Fansly id of seeded fan `fan{n}`, looked up through the gateway.
    pub async fn fan_id(&self, n: u32) -> String {
        let body = self.get_ok(&self.acct_path(&format!("users/fan{n}"))).await;
        body["data"][0]["id"].as_str().unwrap().to_owned()
    }

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
