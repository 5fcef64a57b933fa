//! Comparing a recording of Fansly's web app (a browser's HAR export) with
//! what this client sends and relies on: for every `apiv3`/`mediav2`
//! exchange (any `/api/v1/…` path), the method and route, the query keys,
//! the body keys and the header set against [`OPERATIONS`] (what the
//! client's calls put on the wire), and the answer against the drift
//! guard's schemas (what the sandbox answers and the gateway reads). The
//! report is per route. This is how the INFERRED routes get confirmed in
//! the field: a route the web app never used in a recording stays
//! unconfirmed; one it used with other keys shows the difference.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::drift;
use crate::template::RouteTemplate;

/// One call of this client as it goes on the wire.
pub struct Operation {
    pub method: &'static str,
    pub route: &'static str,
    /// Query keys always sent (besides `ngsw-bypass`).
    pub query: &'static [&'static str],
    /// Query keys sent in some calls only.
    pub optional_query: &'static [&'static str],
    /// Top-level body keys (JSON bodies).
    pub body: &'static [&'static str],
    /// Whether the route is INFERRED (no public client confirms it).
    pub inferred: bool,
}

const fn op(
    method: &'static str,
    route: &'static str,
    query: &'static [&'static str],
    optional_query: &'static [&'static str],
    body: &'static [&'static str],
) -> Operation {
    Operation {
        method,
        route,
        query,
        optional_query,
        body,
        inferred: false,
    }
}

/// What the client sends, by (method, route template). Kept beside the
/// calls it describes; `tests/api/conformance.rs` records the client's own
/// traffic from the sandbox as a HAR and requires a clean report, so this
/// table cannot drift from the client unnoticed.
pub const OPERATIONS: &[Operation] = &[
    op("GET", "/api/v1/device/id", &[], &[], &[]),
    op("GET", "/api/v1/account/me", &[], &[], &[]),
    op("GET", "/api/v1/account", &[], &["ids", "usernames"], &[]),
    op(
        "POST",
        "/api/v1/group",
        &[],
        &[],
        &["users", "recipients", "lastMessage", "userSettings", "type"],
    ),
    op("GET", "/api/v1/group/{id}", &[], &[], &[]),
    op(
        "GET",
        "/api/v1/messaging/groups",
        &[
            "sortOrder",
            "flags",
            "subscriptionTierId",
            "listIds",
            "search",
            "limit",
            "offset",
        ],
        &[],
        &[],
    ),
    op(
        "GET",
        "/api/v1/message",
        &["groupId", "limit"],
        &["before"],
        &[],
    ),
    op(
        "POST",
        "/api/v1/message",
        &[],
        &[],
        &[
            "type",
            "attachments",
            "likes",
            "content",
            "groupId",
            "scheduledFor",
            "inReplyTo",
            "createdAt",
        ],
    ),
    op(
        "POST",
        "/api/v1/message/ack",
        &[],
        &[],
        &["messageIds", "type"],
    ),
    op(
        "GET",
        "/api/v1/account/wallets/earnings/accounts",
        &["before", "after", "limit"],
        &[],
        &[],
    ),
    op(
        "GET",
        "/api/v1/account/wallets/earnings/stats",
        &["before", "after", "limit"],
        &[],
        &[],
    ),
    op("GET", "/api/v1/vault/albumsnew", &[], &[], &[]),
    op(
        "POST",
        "/api/v1/vault/albums/media",
        &[],
        &[],
        &["albumId", "mediaIds"],
    ),
    op(
        "POST",
        "/api/v1/vault/albums/order",
        &[],
        &[],
        &["oldPos", "newPos"],
    ),
];

/// The headers the client puts on a signed request (names, lower case);
/// `fansly-session-id` and `authorization` only once it has a session.
pub const SIGNED_HEADERS: &[&str] = &[
    "user-agent",
    "accept",
    "accept-language",
    "referer",
    "origin",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "fansly-client-id",
    "fansly-client-ts",
    "fansly-client-check",
];

/// Headers a browser adds that say nothing about the protocol.
const BROWSER_NOISE: &[&str] = &[
    "accept-encoding",
    "connection",
    "host",
    "content-length",
    "content-type",
    "cookie",
    "dnt",
    "sec-gpc",
    "priority",
    "te",
    "pragma",
    "cache-control",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "fansly-session-id",
    "authorization",
];

/// One route's findings over all its exchanges in the recording.
#[derive(Debug, Default)]
pub struct RouteReport {
    pub exchanges: usize,
    /// Whether the client has this call at all.
    pub known: bool,
    pub inferred: bool,
    /// Each difference once, in words.
    pub differences: BTreeSet<String>,
}

/// The per-route report of a HAR (`log.entries[]`), keyed by `METHOD route`.
pub fn compare_har(har: &Value) -> Result<BTreeMap<String, RouteReport>, String> {
    let entries = har
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or("not a HAR file: no log.entries")?;
    let mut out: BTreeMap<String, RouteReport> = BTreeMap::new();
    for e in entries {
        let Some(req) = e.get("request") else {
            continue;
        };
        let method = req["method"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let Some(url) = req["url"].as_str().and_then(|u| url::Url::parse(u).ok()) else {
            continue;
        };
        if !url.path().starts_with("/api/v1/") || method == "OPTIONS" {
            continue;
        }
        let route = RouteTemplate(url.path()).to_string();
        let report = out.entry(format!("{method} {route}")).or_default();
        report.exchanges += 1;
        let Some(op) = OPERATIONS
            .iter()
            .find(|o| o.method == method && o.route == route)
        else {
            continue;
        };
        report.known = true;
        report.inferred = op.inferred;
        let d = &mut report.differences;
        compare_query(op, &url, d);
        compare_body(op, req, d);
        compare_headers(req, d);
        compare_answer(&method, &route, e, d);
    }
    Ok(out)
}

fn compare_query(op: &Operation, url: &url::Url, d: &mut BTreeSet<String>) {
    let keys: BTreeSet<String> = url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .filter(|k| k != "ngsw-bypass")
        .collect();
    let sent: Vec<&str> = keys.iter().map(String::as_str).collect();
    compare_keys("query", "never", &sent, op.query, op.optional_query, d);
}

fn compare_body(op: &Operation, req: &Value, d: &mut BTreeSet<String>) {
    let text = req.pointer("/postData/text").and_then(Value::as_str);
    let Some(Value::Object(body)) = text.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        if !op.body.is_empty() {
            d.insert("body: the web app sent no JSON object".into());
        }
        return;
    };
    let sent: Vec<&str> = body.keys().map(String::as_str).collect();
    compare_keys("body", "not", &sent, op.body, &[], d);
}

/// The `what` ("query", "body") keys one side sends and the other does
/// not: those the web app `sent` that the gateway sends neither always
/// (`ours`) nor sometimes (`optional`) ("…, `web_only` by the gateway"),
/// and those of `ours` it did not send.
fn compare_keys(
    what: &str,
    web_only: &str,
    sent: &[&str],
    ours: &[&str],
    optional: &[&str],
    d: &mut BTreeSet<String>,
) {
    for k in sent {
        if !ours.contains(k) && !optional.contains(k) {
            d.insert(format!(
                "{what} key {k:?}: sent by the web app, {web_only} by the gateway"
            ));
        }
    }
    for k in ours {
        if !sent.contains(k) {
            d.insert(format!(
                "{what} key {k:?}: sent by the gateway, not by the web app"
            ));
        }
    }
}

fn compare_headers(req: &Value, d: &mut BTreeSet<String>) {
    let names: BTreeSet<String> = req["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["name"].as_str())
        .map(str::to_ascii_lowercase)
        .filter(|n| !n.starts_with(':'))
        .collect();
    if names.is_empty() {
        return; // a HAR exported without headers says nothing about them
    }
    for n in &names {
        if !SIGNED_HEADERS.contains(&n.as_str()) && !BROWSER_NOISE.contains(&n.as_str()) {
            d.insert(format!(
                "header {n:?}: sent by the web app, not by the gateway"
            ));
        }
    }
    for n in SIGNED_HEADERS {
        if !names.contains(*n) {
            d.insert(format!(
                "header {n:?}: sent by the gateway, not by the web app"
            ));
        }
    }
}

fn compare_answer(method: &str, route: &str, e: &Value, d: &mut BTreeSet<String>) {
    let status = e.pointer("/response/status").and_then(Value::as_u64);
    let text = e.pointer("/response/content/text").and_then(Value::as_str);
    let Some(text) = text else { return };
    let Ok(answer) = serde_json::from_str::<Value>(text) else {
        if status == Some(404) {
            d.insert("answer: plain-text 404, the route is gone".into());
        }
        return;
    };
    if answer.get("success") != Some(&Value::Bool(true)) {
        return; // an error answer has no payload to compare
    }
    let payload = answer.get("response").cloned().unwrap_or(Value::Null);
    for (field, kind) in drift::check(method, route, &payload) {
        d.insert(format!("answer field {field:?}: {kind}"));
    }
}

/// The report as text, one block per route.
pub fn render(report: &BTreeMap<String, RouteReport>) -> String {
    let mut out = String::new();
    for (route, r) in report {
        let verdict = match (r.known, r.differences.is_empty()) {
            (false, _) => "NOT IN the gateway's call table",
            (true, true) => "MATCHES",
            (true, false) => "DIFFERS",
        };
        let inferred = if r.inferred { " (INFERRED route)" } else { "" };
        out.push_str(&format!(
            "{route}: {verdict}{inferred} ({} exchange{})\n",
            r.exchanges,
            if r.exchanges == 1 { "" } else { "s" }
        ));
        for diff in &r.differences {
            out.push_str(&format!("  - {diff}\n"));
        }
    }
    let used: BTreeSet<String> = report.keys().cloned().collect();
    let unseen: Vec<String> = OPERATIONS
        .iter()
        .map(|o| format!("{} {}", o.method, o.route))
        .filter(|k| !used.contains(k))
        .collect();
    if !unseen.is_empty() {
        out.push_str("Not in this recording (unconfirmed by it):\n");
        for k in unseen {
            out.push_str(&format!("  {k}\n"));
        }
    }
    out
}

/// Whether any route the gateway uses differs.
pub fn differs(report: &BTreeMap<String, RouteReport>) -> bool {
    report
        .values()
        .any(|r| r.known && !r.differences.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(method: &str, url: &str, body: Option<&str>, answer: &str) -> Value {
        let headers: Vec<Value> = SIGNED_HEADERS
            .iter()
            .map(|h| json!({"name": h, "value": "x"}))
            .collect();
        json!({
            "request": {"method": method, "url": url, "headers": headers,
                        "postData": body.map(|t| json!({"mimeType": "application/json", "text": t}))},
            "response": {"status": 200, "content": {"mimeType": "application/json", "text": answer}}
        })
    }

    #[test]
    fn a_matching_exchange_and_each_kind_of_difference() {
        let har = json!({"log": {"entries": [
            entry("GET", "https://apiv3.fansly.com/api/v1/message?groupId=1&limit=25&ngsw-bypass=true", None,
                  r#"{"success":true,"response":{"messages":[{"id":"1","senderId":"2","createdAt":1776225990}]}}"#),
            entry("GET", "https://apiv3.fansly.com/api/v1/account?ids=1&extra=2&ngsw-bypass=true", None,
                  r#"{"success":true,"response":[{"id":"1"}]}"#),
            entry("POST", "https://apiv3.fansly.com/api/v1/vault/albums/order?ngsw-bypass=true",
                  Some(r#"{"albumId":"1","pos":2}"#), r#"{"success":true,"response":[]}"#),
            entry("GET", "https://apiv3.fansly.com/api/v1/timelinenew/12?before=0", None, r#"{"success":true,"response":{}}"#),
        ]}});
        let report = compare_har(&har).unwrap();
        assert!(report["GET /api/v1/message"].differences.is_empty());
        let account = &report["GET /api/v1/account"].differences;
        assert!(
            account.iter().any(|d| d.contains("\"extra\"")),
            "{account:?}"
        );
        assert!(
            account.iter().any(|d| d.contains("[].username")),
            "{account:?}"
        );
        let order = &report["POST /api/v1/vault/albums/order"].differences;
        assert!(
            order
                .iter()
                .any(|d| d.contains("\"oldPos\": sent by the gateway")),
            "{order:?}"
        );
        assert!(
            order
                .iter()
                .any(|d| d.contains("\"albumId\": sent by the web app")),
            "{order:?}"
        );
        assert!(!report["GET /api/v1/timelinenew/{id}"].known);
        assert!(differs(&report));
        let text = render(&report);
        assert!(text.contains("GET /api/v1/message: MATCHES"), "{text}");
        assert!(text.contains("NOT IN the gateway's call table"), "{text}");
    }
}
