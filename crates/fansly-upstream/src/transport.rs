//! How a signed API request travels to Fansly and its answer comes back,
//! before the envelope is read (`envelope.rs`).
//!
//! Accounts without a proxy (nearly every call) go straight through hyper's
//! pooled client: reqwest's service stack costs measurable CPU on every
//! call that the gateway does not need (it re-parses a `Url` out of every
//! answer for its redirect layer, which no setting removes, boxes each
//! request future, and decompresses through a streaming adapter; see
//! BENCHMARKS.md, issue 12). Here the answer is collected and then
//! decompressed in one piece. Accounts behind a proxy keep reqwest, whose
//! HTTP, HTTPS and SOCKS proxy support this would otherwise re-implement.
//! Either way the request asks for the encodings Firefox asks for
//! ([`ENCODINGS`]), and the answer is decoded here.

use std::cell::RefCell;
use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};
use hyper::{Method, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

/// What every API call asks for: Firefox's `Accept-Encoding` (the web app's
/// headers are a Firefox HAR's, spec §2.1). [`decode`] undoes each.
pub(crate) const ENCODINGS: &str = "gzip, deflate, br, zstd";

/// One attempt of a request, built afresh per attempt (its signature and
/// timestamp change), with every header it carries (`headers.rs`, and
/// `Content-Type` with a body).
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// A JSON body, already serialised.
    pub json: Option<Bytes>,
}

/// Fansly's answer with its body decoded.
pub(crate) struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why no answer came back.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No whole answer within the configured time.
    Timeout,
    /// The connection or the answer's transfer failed, with its causes.
    Transport(String),
    /// The answer's body could not be decompressed.
    Encoding(String),
    /// An HTTP/2 request the server refused before processing it (a graceful
    /// GOAWAY, REFUSED_STREAM): it never reached Fansly, so even a write may
    /// be sent again (reqwest's rule; `FanslyClient::send_once` does, once).
    Refused(String),
}

/// hyper's pooled client over plain TCP or rustls (web roots, HTTP/1.1 and
/// HTTP/2 by ALPN), with the socket settings of the reqwest client it
/// replaces: idle connections kept 90 s, `TCP_NODELAY`, a connect timeout,
/// TCP keepalive (15 s, 15 s, 3 probes) and a 30 s `TCP_USER_TIMEOUT`, so
/// a connection a NAT dropped while idle fails fast instead of stalling.
/// Redirects are not followed (Fansly's API answers none; reqwest followed
/// up to ten).
#[derive(Clone)]
pub(crate) struct Direct {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Direct {
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Direct {
        Direct::build(timeout, connect_timeout, false)
    }

    /// HTTP/2 without TLS (prior knowledge), for the tests of HTTP/2
    /// refusals: Fansly negotiates HTTP/2 by ALPN over TLS, which a test
    /// server on 127.0.0.1 has no certificate for.
    #[cfg(test)]
    pub fn h2_prior_knowledge(timeout: Duration, connect_timeout: Duration) -> Direct {
        Direct::build(timeout, connect_timeout, true)
    }

    fn build(timeout: Duration, connect_timeout: Duration, http2_only: bool) -> Direct {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
        tcp.set_keepalive_retries(Some(3));
        tcp.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .http2_only(http2_only)
            .build(tls);
        Direct { client, timeout }
    }

    /// Sends one attempt and reads the whole answer, within the timeout.
    pub async fn send(&self, out: Outgoing) -> Result<Answered, Failure> {
        let request = to_hyper(out)?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if refused_unprocessed(&e) {
                    Failure::Refused(error_chain(&e))
                } else {
                    failure(e)
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(failure)?.to_bytes();
            Ok((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout)??;
        let body = decode_answer(parts.status, parts.headers.get(CONTENT_ENCODING), body)?;
        Ok(Answered {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// A failed exchange: a timeout anywhere in its causes (connecting, say:
/// reqwest reported those as timeouts too) or a transport failure.
fn failure(e: impl std::error::Error + 'static) -> Failure {
    let timed_out = causes(&e).any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    if timed_out {
        return Failure::Timeout;
    }
    Failure::Transport(error_chain(&e))
}

/// An error and its causes, outermost first.
fn causes<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| c.source())
}

/// An HTTP/2 refusal of a request the server did not process: a graceful
/// GOAWAY from the server, or its REFUSED_STREAM (reqwest's rule).
fn refused_unprocessed(e: &hyper_util::client::legacy::Error) -> bool {
    causes(e)
        .find_map(|c| c.downcast_ref::<h2::Error>())
        .is_some_and(|h2| {
            h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)))
        })
}

fn to_hyper(out: Outgoing) -> Result<hyper::Request<Full<Bytes>>, Failure> {
    let uri: hyper::Uri = out.url.as_str().parse().map_err(|e| {
        Failure::Transport(format!("the URL {} is not a request URI: {e}", out.url))
    })?;
    let mut request = hyper::Request::new(Full::new(out.json.unwrap_or_default()));
    *request.method_mut() = out.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = out.headers;
    Ok(request)
}

/// The same attempt through a reqwest client: an account's proxy (built
/// without reqwest's own decompression), or the environment's proxy (the
/// client's shared one, which undoes gzip and br itself and drops their
/// `Content-Encoding`). Whatever is still encoded is decoded as above.
pub(crate) async fn send_reqwest(
    client: &reqwest::Client,
    out: Outgoing,
) -> Result<Result<Answered, Failure>, reqwest::Error> {
    let mut request = client.request(out.method, out.url).headers(out.headers);
    if let Some(json) = out.json {
        request = request.body(json);
    }
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(
        decode_answer(status, headers.get(CONTENT_ENCODING), body).map(|body| Answered {
            status,
            headers,
            body,
        }),
    )
}

/// An answer's body decoded. An error answer whose body does not decode
/// keeps it as it came: its status and `Retry-After` still say what
/// happened (a body-less 429 or 5xx sent with a `Content-Encoding`, say),
/// which a decoding failure must not hide.
fn decode_answer(
    status: StatusCode,
    encoding: Option<&HeaderValue>,
    body: Bytes,
) -> Result<Bytes, Failure> {
    match decode(encoding, body.clone()) {
        Err(_) if !status.is_success() => Ok(body),
        decoded => decoded,
    }
}

/// Undoes the answer's `Content-Encoding` (one of those asked for). An
/// empty body is empty whatever its encoding says.
fn decode(encoding: Option<&HeaderValue>, body: Bytes) -> Result<Bytes, Failure> {
    let Some(encoding) = encoding.filter(|_| !body.is_empty()) else {
        return Ok(body);
    };
    let encoding = encoding.to_str().unwrap_or("").trim();
    let is = |name: &str| encoding.eq_ignore_ascii_case(name);
    if is("identity") || encoding.is_empty() {
        return Ok(body);
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4));
    let read = if is("zstd") {
        unzstd(&body, &mut out).map(|()| out.len())
    } else if is("br") {
        brotli_decompressor::Decompressor::new(&body[..], 4096).read_to_end(&mut out)
    } else if is("gzip") {
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out)
    } else if is("deflate") {
        // HTTP's deflate is zlib-wrapped (RFC 9110); some servers send the
        // raw stream, which browsers accept too.
        flate2::read::ZlibDecoder::new(&body[..])
            .read_to_end(&mut out)
            .or_else(|_| {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..]).read_to_end(&mut out)
            })
    } else {
        return Err(Failure::Encoding(format!(
            "Fansly answered in the encoding {encoding:?}, which was not asked for"
        )));
    };
    read.map_err(|e| {
        Failure::Encoding(format!("Fansly's {encoding} answer does not decode: {e}"))
    })?;
    Ok(out.into())
}

/// Decodes a zstd answer (one frame or several) with this thread's decoding
/// context. A context is ~160 KB; made afresh per answer, its fresh memory
/// was 14 % of the gateway's CPU under load (page faults, perf), more than
/// the decoding itself, so each thread keeps one and resets it per answer.
fn unzstd(body: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    use zstd::zstd_safe::{get_error_name, DCtx, InBuffer, OutBuffer, ResetDirective};
    thread_local! {
        static CONTEXT: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
    }
    let failed = |code| std::io::Error::other(get_error_name(code));
    CONTEXT.with_borrow_mut(|context| {
        // A previous answer that failed midway leaves nothing behind.
        context.reset(ResetDirective::SessionOnly).map_err(failed)?;
        let mut input = InBuffer::around(body);
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = (input.pos(), out.len());
            let at = out.len();
            let left = context
                .decompress_stream(&mut OutBuffer::around_pos(out, at), &mut input)
                .map_err(failed)?;
            if left == 0 && input.pos() == body.len() {
                return Ok(());
            }
            if (input.pos(), out.len()) == before {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the zstd stream ends early",
                ));
            }
        }
    })
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    causes(e)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = br#"{"success":true,"response":{"id":"1"}}"#;

    fn header(v: &'static str) -> HeaderValue {
        HeaderValue::from_static(v)
    }

    #[test]
    fn every_encoding_firefox_asks_for_decodes_to_the_same_text() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(TEXT).unwrap();
        let gz = gz.finish().unwrap();
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(TEXT)
            .unwrap();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(TEXT).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(TEXT).unwrap();
        let raw = raw.finish().unwrap();
        let zstd = zstd::encode_all(TEXT, 3).unwrap();
        assert_eq!(decode(Some(&header("gzip")), gz.into()).unwrap(), TEXT);
        assert_eq!(decode(Some(&header("deflate")), zlib.into()).unwrap(), TEXT);
        assert_eq!(decode(Some(&header("deflate")), raw.into()).unwrap(), TEXT);
        assert_eq!(decode(Some(&header("zstd")), zstd.into()).unwrap(), TEXT);
        assert_eq!(decode(Some(&header("BR")), br.into()).unwrap(), TEXT);
        assert_eq!(decode(None, Bytes::from_static(TEXT)).unwrap(), TEXT);
        assert_eq!(
            decode(Some(&header("identity")), Bytes::from_static(TEXT)).unwrap(),
            TEXT
        );
    }

    /// The thread's zstd context serves answer after answer, across a failed
    /// one, and an answer far larger than its first buffer.
    #[test]
    fn zstd_answers_decode_one_after_another_on_one_thread() {
        let large: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = zstd::encode_all(&large[..], 3).unwrap();
        for _ in 0..3 {
            let text = zstd::encode_all(TEXT, 1).unwrap();
            assert_eq!(decode(Some(&header("zstd")), text.into()).unwrap(), TEXT);
            let cut = Bytes::copy_from_slice(&packed[..packed.len() / 2]);
            let early = decode(Some(&header("zstd")), cut);
            assert!(
                matches!(&early, Err(Failure::Encoding(m)) if m.contains("zstd answer does not decode")),
                "{early:?}"
            );
            let whole = decode(Some(&header("zstd")), packed.clone().into()).unwrap();
            assert_eq!(whole.len(), large.len());
            assert!(whole == large[..]);
        }
        // Two frames back to back are one answer.
        let mut two = zstd::encode_all(&b"[1,"[..], 1).unwrap();
        two.extend(zstd::encode_all(&b"2]"[..], 1).unwrap());
        assert_eq!(
            decode(Some(&header("zstd")), two.into()).unwrap(),
            &b"[1,2]"[..]
        );
    }

    #[test]
    fn an_empty_body_or_an_error_answer_that_does_not_decode_is_kept() {
        for encoding in ["gzip", "deflate", "br", "zstd"] {
            assert_eq!(decode(Some(&header(encoding)), Bytes::new()).unwrap(), "");
        }
        let page = Bytes::from_static(b"<html>Bad gateway</html>");
        let kept = decode_answer(StatusCode::BAD_GATEWAY, Some(&header("br")), page.clone());
        assert_eq!(kept.unwrap(), page);
        let refused = decode_answer(StatusCode::OK, Some(&header("br")), page);
        assert!(matches!(refused, Err(Failure::Encoding(_))));
    }

    #[test]
    fn a_connect_timeout_anywhere_in_the_causes_is_a_timeout() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let timed_out = Wrapper(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"));
        assert!(matches!(failure(timed_out), Failure::Timeout));
        let refused = Wrapper(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "no",
        ));
        assert!(
            matches!(failure(refused), Failure::Transport(m) if m == "client error (Connect): no")
        );
    }

    #[test]
    fn a_corrupt_or_unasked_encoding_is_an_encoding_failure() {
        let corrupt = decode(
            Some(&header("br")),
            Bytes::from_static(b"\xff\xff not brotli"),
        );
        assert!(
            matches!(&corrupt, Err(Failure::Encoding(m)) if m.contains("br answer does not decode")),
            "{corrupt:?}"
        );
        let unasked = decode(Some(&header("compress")), Bytes::from_static(TEXT));
        assert!(
            matches!(&unasked, Err(Failure::Encoding(m)) if m.contains("\"compress\"")),
            "{unasked:?}"
        );
    }
}
