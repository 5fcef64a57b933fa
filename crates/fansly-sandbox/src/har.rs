//! The sandbox's recording of its `/api/` exchanges, exported as a HAR 1.2
//! file (`GET /_sandbox/har`), the format a browser exports a recording of
//! the web app in: so `fansly-gateway conformance` is tested on recordings
//! of the gateway's own traffic, and on copies edited to differ. Bodies are
//! kept only when JSON (or short text) and small; the token never.

use std::collections::VecDeque;

use serde_json::{json, Value};

/// Exchanges kept (oldest dropped first).
const CAPACITY: usize = 2000;
/// Bodies larger than this are left out of the recording.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Exchange {
    pub at_ms: i64,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: u16,
    pub response_type: String,
    pub response_body: Option<String>,
    pub elapsed_ms: i64,
}

pub fn record(log: &mut VecDeque<Exchange>, e: Exchange) {
    if log.len() == CAPACITY {
        log.pop_front();
    }
    log.push_back(e);
}

/// The recording as a HAR 1.2 document.
pub fn to_har(log: &VecDeque<Exchange>) -> Value {
    let entries: Vec<Value> = log.iter().map(entry).collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "fansly-sandbox", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": entries
        }
    })
}

fn entry(e: &Exchange) -> Value {
    let started = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let query: Vec<Value> = url::Url::parse(&e.url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<Value> = e
        .request_headers
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let mut request = json!({
        "method": e.method,
        "url": e.url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": headers,
        "queryString": query,
        "headersSize": -1,
        "bodySize": e.request_body.as_ref().map_or(0, |b| b.len() as i64)
    });
    if let Some(body) = &e.request_body {
        request["postData"] = json!({"mimeType": "application/json", "text": body});
    }
    let size = e.response_body.as_ref().map_or(0, |b| b.len() as i64);
    json!({
        "startedDateTime": started,
        "time": e.elapsed_ms,
        "request": request,
        "response": {
            "status": e.status,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [{"name": "content-type", "value": e.response_type}],
            "content": {"size": size, "mimeType": e.response_type, "text": e.response_body},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": size
        },
        "cache": {},
        "timings": {"send": 0, "wait": e.elapsed_ms, "receive": 0}
    })
}
