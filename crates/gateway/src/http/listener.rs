//! [`JsonRefusals`]: the listener the API is served from. hyper refuses a
//! request it cannot parse (400 for a malformed request line or header, 414
//! for a URI over its limit, 431 for too many or too large headers) before
//! any of our layers sees it, with an empty body. Each accepted connection
//! is wrapped so such an automatic answer goes out as the vendor's
//! `{"error": "..."}` instead: every answer, from any layer, is JSON.
//!
//! How it recognises hyper's answer: it is the only 4xx the gateway writes
//! with `content-length: 0` (every answer from the router passes through
//! `hardening::json_errors`, which gives 4xx/5xx a JSON body), and hyper
//! writes it as a head alone, then closes the connection.
//!
//! Accepted connections also get `TCP_NODELAY` (nginx's `tcp_nodelay on`):
//! an answer written in more than one piece (an export download, a stored
//! replay longer than one read of its file, MCP's event stream) otherwise
//! has each piece after the first wait for the client's delayed ACK, up to
//! 40 ms on Linux. Measured with the same server stack
//! (`examples/bare_proxy.rs`) relaying a chunked answer: 729 req/s and a
//! 48 ms p99 without, 9,100 req/s and 7.9 ms with.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A [`TcpListener`] whose connections answer hyper's refusals in JSON.
pub struct JsonRefusals(pub TcpListener);

impl Listener for JsonRefusals {
    type Io = Refusing<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = Listener::accept(&mut self.0).await;
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
        (Refusing::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A connection whose writes are passed through, except hyper's automatic
/// refusal, which is replaced by a JSON answer (see the module doc).
pub struct Refusing<T> {
    inner: T,
    /// Bytes of a replacement answer not yet written.
    pending: Vec<u8>,
}

impl<T> Refusing<T> {
    pub fn new(inner: T) -> Self {
        Refusing {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<T: AsyncWrite + Unpin> Refusing<T> {
    /// Writes what is pending; ready once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Refusing<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Refusing<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        match json_refusal(buf) {
            Some(answer) => {
                self.pending = answer;
                // The refusal counts as written; the replacement goes out
                // now or on the flush hyper does next.
                let _ = self.drain(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    // Vectored like the socket, so hyper keeps sending bodies without copying
    // them; its refusal is a head alone, one buffer of the write.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        let mut written = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (written.next(), written.next()) {
            if let Some(answer) = json_refusal(only) {
                self.pending = answer;
                let _ = self.drain(cx)?;
                return Poll::Ready(Ok(only.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The JSON answer to send instead of `written`, when `written` is hyper's
/// automatic refusal: a 4xx head with `content-length: 0` and nothing after.
fn json_refusal(written: &[u8]) -> Option<Vec<u8>> {
    let rest = written
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| written.strip_prefix(b"HTTP/1.0 "))?;
    let code = std::str::from_utf8(rest.get(..3)?).ok()?;
    let message = match code {
        "400" => "Bad request: the request line or a header is malformed",
        "414" => "URI too long: the request's URI is longer than the gateway accepts",
        "431" => "Request headers too large: too many headers, or too long ones",
        _ if code.starts_with('4') => "The request could not be read",
        _ => return None,
    };
    let head = std::str::from_utf8(written).ok()?;
    let end = head.find("\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let mut lines = head[..end].split("\r\n");
    let status_line = lines.next()?;
    let mut empty = false;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "date" => date = Some(value.trim()),
            _ => {}
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({ "error": message }).to_string();
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(&format!("date: {date}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagles_algorithm_off() {
        let mut listener = JsonRefusals(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.inner.nodelay().unwrap());
        // Nagle's algorithm is on by default: the option is the listener's doing.
        assert!(!client.nodelay().unwrap());
    }

    #[test]
    fn only_a_bodiless_4xx_head_is_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 00:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_refusal(hyper).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(answer.contains("content-type: application/json\r\n"));
        assert!(answer.contains("date: Sun, 29 Nov 2026 00:00:00 GMT\r\n"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("headers"));
        // The router's own answers have bodies, or are not errors.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n";
        assert!(json_refusal(ours).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}";
        assert!(json_refusal(with_body).is_none());
        assert!(json_refusal(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(json_refusal(b"{\"data\":1}").is_none());
    }
}
