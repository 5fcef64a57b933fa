//! The request spans as a subscriber sees them: method and route without
//! ids, the account's ids, and never the token. Built at INFO (the gateway's
//! default), so the log lines written during a Fansly call name its route;
//! nothing is built at WARN.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fansly_upstream::{FanslyClient, FanslyConfig, Session};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::Level;
use tracing_subscriber::fmt::format::FmtSpan;

const TOKEN: &str = "c2VjcmV0LXRva2VuLXZhbHVl";
const GROUP: &str = "720167541418237953";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A one-request HTTP server answering Fansly's success envelope.
async fn fansly_once() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let body = r#"{"success":true,"response":{"id":"1"}}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(answer.as_bytes()).await.unwrap();
    });
    (base, task)
}

async fn one_group_request(level: Level) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (base, server) = fansly_once().await;
    let client = FanslyClient::new(FanslyConfig {
        api_base: base.parse().unwrap(),
        ..FanslyConfig::default()
    })
    .unwrap();
    let session = Session::new(SecretString::from(TOKEN), "device-1".into())
        .with_account("fansly_acct_1")
        .with_fansly_id("4242");
    client.group(&session, GROUP).await.unwrap();
    server.await.unwrap();
    captured.text()
}

#[tokio::test]
async fn a_request_span_names_the_route_and_account_but_no_secret() {
    let out = one_group_request(Level::INFO).await;
    assert!(out.contains("fansly.request"), "{out}");
    assert!(out.contains("method=GET"), "{out}");
    assert!(out.contains("route=/api/v1/group/{id}"), "{out}");
    assert!(out.contains("fansly_acct_1"), "{out}");
    assert!(out.contains("4242"), "{out}");
    assert!(!out.contains(TOKEN), "the token leaked: {out}");
    assert!(!out.contains(GROUP), "the id leaked: {out}");
    assert!(!out.contains("ngsw-bypass"), "the query leaked: {out}");
}

#[tokio::test]
async fn at_warn_no_request_span_is_built() {
    let out = one_group_request(Level::WARN).await;
    assert!(!out.contains("fansly.request"), "{out}");
}
