//! Requests hyper refuses before any of the gateway's layers sees them (a
//! malformed request line or header, a URI or headers over its limits) are
//! answered as the vendor's `{"error": "..."}` too, checked over a raw TCP
//! socket since no HTTP client sends such requests.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, TestApp};

/// Sends `raw` on a fresh connection and reads until the gateway closes it.
async fn exchange(app: &TestApp, raw: &[u8]) -> String {
    let addr = app.address.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // A refusal may close the connection before all of a large request is
    // read; what matters is the answer.
    let _ = tcp.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The last answer in `out`: its status and JSON body.
fn last_answer(out: &str) -> (u16, Value) {
    let start = out
        .rfind("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("no answer: {out:?}"));
    let answer = &out[start..];
    let status = answer[9..12].parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    (status, json)
}

fn assert_refused(out: &str, status: u16, needle: &str) {
    let (got, body) = last_answer(out);
    assert_eq!(got, status, "{out}");
    let msg = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(msg.to_lowercase().contains(needle), "{msg}");
}

#[tokio::test]
async fn hypers_own_refusals_are_json() {
    let app = spawn_app().await;
    // A request line hyper cannot parse.
    let out = exchange(&app, b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_refused(&out, 400, "malformed");
    let out = exchange(&app, b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_refused(&out, 400, "malformed");
    // A header line without a colon.
    let out = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n",
    )
    .await;
    assert_refused(&out, 400, "malformed");
    // A URI over hyper's limit (65,534 bytes).
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let out = exchange(&app, long.as_bytes()).await;
    assert_refused(&out, 414, "uri");
    // More headers than hyper keeps (100).
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let out = exchange(&app, many.as_bytes()).await;
    assert_refused(&out, 431, "headers");
}

#[tokio::test]
async fn a_refusal_after_a_good_request_on_one_connection_is_json() {
    let app = spawn_app().await;
    let out = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /x y z HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 2, "{out}");
    assert_refused(&out, 400, "malformed");
    // The gateway's own errors are untouched (and were JSON already).
    let out = exchange(
        &app,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (status, body) = last_answer(&out);
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");
}
