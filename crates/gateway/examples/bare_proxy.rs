//! The floor of the gateway's own stack, for `MODE=side bench/run.sh` (a
//! measurement, not a test): a reverse proxy with nothing but what every
//! gateway call goes through below its own logic. axum's server (hyper,
//! HTTP/1 and HTTP/2 by detection), the same tokio runtime and allocator,
//! and hyper's pooled client with `TCP_NODELAY`, as the gateway's direct
//! Fansly transport uses (`fansly-upstream/src/transport.rs`). Each request
//! is sent on as it came (path, query, headers) and the answer streamed
//! back untouched: no key, no rate limit, no credits, no decoding, no
//! envelope. What the gateway costs above this is its own work; what this
//! costs above nginx is the stack's.
//!
//!   BARE_LISTEN=127.0.0.1:18160 BARE_UPSTREAM=127.0.0.1:18190 \
//!     target/release/examples/bare_proxy

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Upstream {
    client: Client<HttpConnector, Body>,
    authority: String,
}

async fn forward(State(up): State<Upstream>, mut request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let uri = match Uri::builder()
        .scheme("http")
        .authority(up.authority.as_str())
        .path_and_query(path)
        .build()
    {
        Ok(uri) => uri,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    *request.uri_mut() = uri;
    request.headers_mut().remove(axum::http::header::HOST);
    match up.client.request(request).await {
        Ok(answer) => answer.map(Body::new),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18160".into());
    let authority = std::env::var("BARE_UPSTREAM").unwrap_or_else(|_| "127.0.0.1:18190".into());
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_timer(TokioTimer::new())
        .build(tcp);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Upstream { client, authority });
    // TCP_NODELAY on both sides, as nginx (`tcp_nodelay on`) and the gateway
    // set it: a streamed answer is written in pieces, and without it the
    // second piece waits for the client's delayed ACK (40 ms).
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
