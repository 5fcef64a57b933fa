//! The retry of a request refused unprocessed over HTTP/2
//! (`FanslyClient::send_once`), against a real HTTP/2 server on 127.0.0.1
//! that resets streams as told. Cleartext HTTP/2 (prior knowledge): the
//! sandbox speaks HTTP/1.1, and Fansly's HTTP/2 comes by ALPN over TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{FanslyClient, FanslyConfig};
use crate::error::UpstreamError;
use crate::route::Route;
use crate::transport::Direct;

/// An HTTP/2 server on 127.0.0.1 that resets each stream in `resets`
/// (in arrival order) with its reason, if any, and answers the others
/// with a device id; the number of streams it saw.
async fn h2_server(resets: Vec<Option<h2::Reason>>) -> (url::Url, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::handshake(tcp).await.unwrap();
        while let Some(Ok((_request, mut respond))) = conn.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            match resets.get(n).copied().flatten() {
                Some(reason) => respond.send_reset(reason),
                None => {
                    let head = hyper::http::Response::builder()
                        .status(200)
                        .body(())
                        .unwrap();
                    let mut body = respond.send_response(head, false).unwrap();
                    let text = br#"{"success":true,"response":"device-1"}"#;
                    body.send_data(bytes::Bytes::from_static(text), true)
                        .unwrap();
                }
            }
        }
    });
    (base, seen)
}

fn h2_client(api_base: url::Url) -> FanslyClient {
    let mut client = FanslyClient::new(FanslyConfig {
        api_base,
        ..FanslyConfig::default()
    })
    .unwrap();
    client.direct = Some(Direct::h2_prior_knowledge(
        Duration::from_secs(5),
        Duration::from_secs(5),
    ));
    client
}

const NO_PROXY: Route = Route {
    proxy: None,
    throttle: None,
};

/// A stream the server refused unprocessed (REFUSED_STREAM) never
/// reached Fansly: it is built again and sent once more, and the call
/// succeeds without the caller seeing the refusal.
#[tokio::test]
async fn a_request_refused_unprocessed_over_http2_is_sent_once_more() {
    let (base, seen) = h2_server(vec![Some(h2::Reason::REFUSED_STREAM)]).await;
    let id = h2_client(base).device_id(&NO_PROXY).await.unwrap();
    assert_eq!(id, "device-1");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// Any other reset may come after the server acted on the request: the
/// call fails and nothing is sent again, and two refusals in a row are
/// not retried a second time.
#[tokio::test]
async fn other_resets_and_a_second_refusal_are_not_sent_again() {
    let (base, seen) = h2_server(vec![Some(h2::Reason::INTERNAL_ERROR)]).await;
    let failed = h2_client(base).device_id(&NO_PROXY).await;
    assert!(
        matches!(&failed, Err(UpstreamError::Unreachable(m)) if m.contains("internal error")),
        "{failed:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let refusals = vec![Some(h2::Reason::REFUSED_STREAM); 2];
    let (base, seen) = h2_server(refusals).await;
    let failed = h2_client(base).device_id(&NO_PROXY).await;
    assert!(
        matches!(&failed, Err(UpstreamError::Unreachable(_))),
        "{failed:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
