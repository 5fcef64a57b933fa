//! One tool step as an in-process request through the gateway's own router
//! (`tower::ServiceExt::oneshot`), with the caller's `Authorization` header:
//! authentication, rate limits, validation, credits, idempotency keys and
//! logging are exactly the REST call's, because it is the REST call.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, Request};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Largest REST answer a tool reads (lists are paged well below this).
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// A REST request a tool makes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RestCall {
    #[serde(serialize_with = "method_str")]
    pub method: Method,
    /// Path with its parameters filled in and percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

fn method_str<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

impl RestCall {
    pub fn new(method: Method, path: String) -> RestCall {
        RestCall {
            method,
            path,
            query: Vec::new(),
            body: None,
            idempotency_key: None,
        }
    }

    pub fn query(mut self, name: &str, value: Option<String>) -> RestCall {
        if let Some(v) = value {
            self.query.push((name.to_owned(), v));
        }
        self
    }

    pub fn body(mut self, body: Value) -> RestCall {
        self.body = Some(body);
        self
    }

    /// Path and query as sent.
    pub fn target(&self) -> String {
        let mut t = self.path.clone();
        for (i, (k, v)) in self.query.iter().enumerate() {
            t.push(if i == 0 { '?' } else { '&' });
            t.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
            t.push('=');
            t.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        }
        t
    }
}

/// The REST answer: status and JSON body (`{data, _meta}` or `{error}`).
#[derive(Debug)]
pub struct RestAnswer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl RestAnswer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Fills `{name}` placeholders of a route template, percent-encoding each value.
pub fn fill(template: &str, params: &[(&str, &str)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in params {
        path = path.replace(&format!("{{{name}}}"), &encode_segment(value));
    }
    path
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `call` through `router` as the holder of `authorization`.
pub async fn run(router: &Router, authorization: &HeaderValue, call: &RestCall) -> RestAnswer {
    let mut req = Request::builder()
        .method(call.method.clone())
        .uri(call.target())
        .header(AUTHORIZATION, authorization.clone());
    if let Some(key) = call
        .idempotency_key
        .as_deref()
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        req = req.header("idempotency-key", key);
    }
    let req = match &call.body {
        Some(body) => req
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => req.body(Body::empty()),
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return RestAnswer {
                status: 422,
                body: json!({"error": format!("could not build the request: {e}")}),
                replayed: false,
            }
        }
    };
    let resp = match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status().as_u16();
    let replayed = resp.headers().contains_key("idempotent-replayed");
    let body = match axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(&bytes)})),
        Err(e) => json!({"error": format!("could not read the answer: {e}")}),
    };
    RestAnswer {
        status,
        body,
        replayed,
    }
}
