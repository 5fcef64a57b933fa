//! Fansly's event websocket (`wsv3`, spec §10): the upgrade as the web app
//! sends it, the `t:1` handshake, the bare-text `p` keep-alive, and the
//! decoding of the double-encoded frames (`t:10000` service events,
//! `t:10001` batches, `t:0` errors).
//!
//! Nothing here reconnects: a [`Connection`] ends with an error that says
//! why (token refused, rate limited, keep-alive unanswered, transport), and
//! the caller decides what comes next.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::session::Session;

pub const DEFAULT_WS_URL: &str = "wss://wsv3.fansly.com/?v=3";

/// Batches nest (a batch may carry batches); deeper than this is treated as
/// malformed rather than followed.
const MAX_BATCH_DEPTH: usize = 8;

#[derive(Clone, Debug)]
pub struct WsConfig {
    pub url: Url,
    pub user_agent: String,
    /// The keep-alive `p` goes out every `ping_min..=ping_max` (the web app
    /// jitters between 20 and 25 s).
    pub ping_min: Duration,
    pub ping_max: Duration,
    /// Bound on the TCP/TLS connect, the upgrade and the `t:1` answer.
    pub connect_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            url: Url::parse(DEFAULT_WS_URL).expect("valid default URL"),
            user_agent: crate::client::DEFAULT_USER_AGENT.into(),
            ping_min: Duration::from_secs(20),
            ping_max: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a websocket session could not start or ended.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// `t:0 {code:401}`: Fansly refused the token. Distinct from transport
    /// errors because the cure is a new session, not a reconnect.
    #[error("Fansly refused the websocket session token")]
    Unauthorized,
    /// `t:0 {code:429}`.
    #[error("Fansly rate limited the websocket")]
    RateLimited,
    /// Any other `t:0` code.
    #[error("Fansly sent websocket error code {0}")]
    Code(i64),
    #[error("no answer to the keep-alive within {0:?}")]
    PingTimeout(Duration),
    #[error("websocket handshake not answered within {0:?}")]
    Timeout(Duration),
    #[error("websocket closed by Fansly{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
    #[error("proxy {proxy} failed: {details}")]
    Proxy { proxy: String, details: String },
    #[error("websocket transport failed: {0}")]
    Transport(String),
}

/// One decoded frame. Batches are flattened by [`decode`].
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `t:0 {code}`.
    Error { code: i64 },
    /// `t:1 {session:{…}}`: the session answer (its `token` is refreshed).
    Session(Value),
    /// `t:2 {lastPing}`: the keep-alive answer.
    Pong { last_ping: Option<i64> },
    /// `t:10000`.
    Service(ServiceEvent),
    /// A frame type this client does not know, kept as it came.
    Unknown { t: i64, d: Value },
}

/// A `t:10000` event: `{"serviceId": n, "event": "<JSON of {type, <key>: …}>"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEvent {
    pub service_id: i64,
    /// The inner `event.type`; -1 when the event carries none.
    pub event_type: i64,
    /// The inner event object, decoded (`{"type": 1, "message": {…}}`).
    pub event: Value,
    /// The inner event exactly as it arrived.
    pub raw: String,
}

impl ServiceEvent {
    /// The inner object under `key` (`message`, `follow`, …).
    pub fn payload(&self, key: &str) -> Option<&Value> {
        self.event.get(key).filter(|v| !v.is_null())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("malformed websocket frame: {0}")]
pub struct DecodeError(pub String);

/// What a binary message decodes to: Fansly sends text frames only.
const BINARY_MESSAGE: &str = "binary message";

impl DecodeError {
    /// A binary message arrived (protocol drift, not a garbled frame).
    pub fn is_binary(&self) -> bool {
        self.0 == BINARY_MESSAGE
    }
}

/// Decodes one text message into its frames, batches flattened in order.
pub fn decode(text: &str) -> Result<Vec<Frame>, DecodeError> {
    let v: Value = serde_json::from_str(text).map_err(|e| DecodeError(e.to_string()))?;
    let mut out = Vec::new();
    decode_value(&v, 0, &mut out)?;
    Ok(out)
}

fn decode_value(frame: &Value, depth: usize, out: &mut Vec<Frame>) -> Result<(), DecodeError> {
    // A frame inside a batch may itself arrive as a JSON string.
    if let Value::String(s) = frame {
        let inner: Value = serde_json::from_str(s).map_err(|e| DecodeError(e.to_string()))?;
        return decode_value(&inner, depth, out);
    }
    let t = frame
        .get("t")
        .and_then(Value::as_i64)
        .ok_or_else(|| DecodeError("no integer `t`".into()))?;
    let d = inner_json(frame.get("d").unwrap_or(&Value::Null))?;
    match t {
        0 => out.push(Frame::Error {
            code: d.get("code").and_then(Value::as_i64).unwrap_or(0),
        }),
        1 => out.push(Frame::Session(d)),
        2 => out.push(Frame::Pong {
            last_ping: d.get("lastPing").and_then(Value::as_i64),
        }),
        10000 => out.push(Frame::Service(service_event(&d)?)),
        10001 => {
            if depth >= MAX_BATCH_DEPTH {
                return Err(DecodeError("batches nested too deep".into()));
            }
            let Value::Array(items) = d else {
                return Err(DecodeError("batch `d` is not an array".into()));
            };
            for item in &items {
                decode_value(item, depth + 1, out)?;
            }
        }
        t => out.push(Frame::Unknown { t, d }),
    }
    Ok(())
}

/// `d` (and `event`) are JSON encoded as strings; an already-decoded value
/// is accepted too (INFERRED tolerance: some captures show batch arrays
/// inline).
fn inner_json(v: &Value) -> Result<Value, DecodeError> {
    match v {
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) => serde_json::from_str(s).map_err(|e| DecodeError(e.to_string())),
        other => Ok(other.clone()),
    }
}

fn service_event(d: &Value) -> Result<ServiceEvent, DecodeError> {
    let service_id = d
        .get("serviceId")
        .and_then(Value::as_i64)
        .ok_or_else(|| DecodeError("service event without `serviceId`".into()))?;
    let (event, raw) = match d.get("event") {
        Some(Value::String(s)) => (
            serde_json::from_str::<Value>(s).map_err(|e| DecodeError(e.to_string()))?,
            s.clone(),
        ),
        Some(v @ Value::Object(_)) => (v.clone(), v.to_string()),
        _ => return Err(DecodeError("service event without `event`".into())),
    };
    let event_type = event.get("type").and_then(Value::as_i64).unwrap_or(-1);
    Ok(ServiceEvent {
        service_id,
        event_type,
        event,
        raw,
    })
}

/// `{"t": t, "d": "<JSON of d>"}`, as both sides encode frames.
pub fn encode(t: i64, d: &Value) -> String {
    json!({"t": t, "d": d.to_string()}).to_string()
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open, authenticated websocket session.
pub struct Connection {
    stream: Stream,
    /// The `t:1` answer's `session` object.
    session: Value,
    ping_min: Duration,
    ping_max: Duration,
    next_ping: Instant,
    /// When the unanswered `p` went out, and how long it may stay unanswered.
    awaiting: Option<(Instant, Duration)>,
    /// Frames that arrived with the handshake answer.
    pending: Vec<Frame>,
    /// A `t:0` that came in one message after events: the events are handed
    /// out first, the refusal on the next call.
    refused: Option<i64>,
}

/// Opens the websocket for `session` (through its route's proxy when it has
/// one) and runs the `t:1` handshake. Traced as a `fansly.ws.connect`
/// span (DEBUG); the token and cookie stay out of it.
#[tracing::instrument(
    name = "fansly.ws.connect",
    level = "debug",
    skip_all,
    fields(
        method = "GET",
        route = %crate::template::RouteTemplate(cfg.url.path()),
        account = session.account(),
        fansly_id = session.fansly_id(),
    )
)]
pub async fn connect(cfg: &WsConfig, session: &Session) -> Result<Connection, WsError> {
    let limit = cfg.connect_timeout;
    tokio::time::timeout(limit, open(cfg, session))
        .await
        .map_err(|_| WsError::Timeout(limit))?
}

async fn open(cfg: &WsConfig, session: &Session) -> Result<Connection, WsError> {
    let mut request = cfg
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| WsError::Transport(e.to_string()))?;
    let headers = request.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("user-agent", &cfg.user_agent);
    put("origin", "https://fansly.com");
    put("sec-fetch-mode", "websocket");
    put("sec-fetch-site", "same-site");
    put("sec-fetch-dest", "empty");
    put("accept-language", "en-US,en;q=0.9");
    put("pragma", "no-cache");
    put("cache-control", "no-cache");
    // The web app's cookie set (JK's WS doc, spec §2.5): the login cookie
    // `f-s-c` when Fansly set one for this session, and the device id `f-d`.
    let cookie = match session.cookie() {
        Some(fsc) => format!("f-s-c={}; f-d={}", fsc.expose_secret(), session.device_id()),
        None => format!("f-d={}", session.device_id()),
    };
    put("cookie", &cookie);

    let host = cfg
        .url
        .host_str()
        .ok_or_else(|| WsError::Transport("websocket URL has no host".into()))?
        .to_owned();
    let port = cfg
        .url
        .port_or_known_default()
        .ok_or_else(|| WsError::Transport("websocket URL has no port".into()))?;
    let tcp = match &session.route().proxy {
        None => TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| WsError::Transport(format!("connecting to {host}:{port}: {e}")))?,
        Some(proxy) => proxy
            .tunnel(&host, port)
            .await
            .map_err(|details| WsError::Proxy {
                proxy: proxy.label().to_owned(),
                details,
            })?,
    };
    let _ = tcp.set_nodelay(true);
    let (mut stream, _response) =
        tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(socket_config()), None)
            .await
            .map_err(|e| WsError::Transport(e.to_string()))?;

    let hello = json!({"token": session.token().expose_secret(), "v": 3});
    stream
        .send(Message::text(encode(1, &hello)))
        .await
        .map_err(|e| WsError::Transport(e.to_string()))?;

    let mut pending = Vec::new();
    loop {
        let frames = match stream.next().await {
            None => return Err(WsError::Closed(None)),
            Some(Err(e)) => return Err(WsError::Transport(e.to_string())),
            Some(Ok(Message::Text(text))) => match decode(text.as_str()) {
                Ok(frames) => frames,
                Err(e) => {
                    tracing::debug!(error = %e, "ignoring a malformed frame during the handshake");
                    continue;
                }
            },
            Some(Ok(Message::Close(close))) => {
                return Err(WsError::Closed(close.map(|c| c.reason.to_string())))
            }
            Some(Ok(_)) => continue,
        };
        let mut answered = None;
        for frame in frames {
            match frame {
                Frame::Error { code } => return Err(refusal(code)),
                Frame::Session(d) if answered.is_none() => {
                    answered = Some(d.get("session").cloned().unwrap_or(d));
                }
                other => pending.push(other),
            }
        }
        if let Some(session) = answered {
            let mut conn = Connection {
                stream,
                session,
                ping_min: cfg.ping_min,
                ping_max: cfg.ping_max.max(cfg.ping_min),
                next_ping: Instant::now(),
                awaiting: None,
                pending,
                refused: None,
            };
            conn.next_ping = Instant::now() + conn.interval();
            return Ok(conn);
        }
    }
}

/// Fansly's frames are small and a gateway holds one socket per account,
/// so buffers are sized for that rather than tungstenite's 128 KiB defaults.
fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(8 << 20))
        .max_frame_size(Some(8 << 20))
}

fn refusal(code: i64) -> WsError {
    match code {
        401 => WsError::Unauthorized,
        429 => WsError::RateLimited,
        other => WsError::Code(other),
    }
}

impl Connection {
    /// The `session` object of the handshake answer.
    pub fn session(&self) -> &Value {
        &self.session
    }

    fn interval(&self) -> Duration {
        if self.ping_max <= self.ping_min {
            return self.ping_min;
        }
        let span = (self.ping_max - self.ping_min).as_millis() as u64;
        self.ping_min + Duration::from_millis(rand::thread_rng().gen_range(0..=span))
    }

    /// The next frames from Fansly; keeps the session alive meanwhile. Ends
    /// with an error when Fansly refuses, closes, or stops answering pings.
    /// A message that does not decode is returned as `Ok(Err(_))`, so the
    /// caller can count it and carry on.
    pub async fn next(&mut self) -> Result<Result<Vec<Frame>, DecodeError>, WsError> {
        if !self.pending.is_empty() {
            return Ok(Ok(std::mem::take(&mut self.pending)));
        }
        if let Some(code) = self.refused.take() {
            return Err(refusal(code));
        }
        loop {
            let deadline = match self.awaiting {
                Some((sent, allowed)) => sent + allowed,
                None => self.next_ping,
            };
            tokio::select! {
                msg = self.stream.next() => {
                    let text = match msg {
                        None => return Err(WsError::Closed(None)),
                        Some(Err(e)) => return Err(WsError::Transport(e.to_string())),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(close))) => {
                            return Err(WsError::Closed(close.map(|c| c.reason.to_string())))
                        }
                        Some(Ok(Message::Binary(_))) => {
                            return Ok(Err(DecodeError(BINARY_MESSAGE.into())))
                        }
                        Some(Ok(_)) => continue,
                    };
                    let frames = match decode(text.as_str()) {
                        Ok(frames) => frames,
                        Err(e) => return Ok(Err(e)),
                    };
                    let mut out = Vec::with_capacity(frames.len());
                    for frame in frames {
                        match frame {
                            Frame::Pong { .. } => {
                                self.awaiting = None;
                                self.next_ping = Instant::now() + self.interval();
                            }
                            Frame::Error { code } if out.is_empty() => return Err(refusal(code)),
                            Frame::Error { code } => {
                                self.refused = Some(code);
                                break;
                            }
                            other => out.push(other),
                        }
                    }
                    if !out.is_empty() {
                        return Ok(Ok(out));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if let Some((_, allowed)) = self.awaiting {
                        return Err(WsError::PingTimeout(allowed));
                    }
                    let interval = self.interval();
                    self.stream
                        .send(Message::text("p"))
                        .await
                        .map_err(|e| WsError::Transport(e.to_string()))?;
                    // Spec §10.3: no answer within 1.2 × the interval → reconnect.
                    self.awaiting = Some((Instant::now(), interval.mul_f64(1.2)));
                }
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The new-DM frame of spec §10.3, byte for byte.
    const NEW_DM: &str = r#"{"t":10000,"d":"{\"serviceId\":5,\"event\":\"{\\\"type\\\":1,\\\"message\\\":{\\\"id\\\":\\\"<id>\\\",\\\"type\\\":1,\\\"content\\\":\\\"hi\\\",\\\"groupId\\\":\\\"<g>\\\",\\\"senderId\\\":\\\"<fan>\\\",\\\"inReplyTo\\\":\\\"\\\",\\\"attachments\\\":[],\\\"interactions\\\":[{\\\"groupId\\\":\\\"<g>\\\",\\\"userId\\\":\\\"<me>\\\",\\\"readAt\\\":0,\\\"deliveredAt\\\":0,\\\"messageId\\\":\\\"<id>\\\"}],\\\"createdAt\\\":1776225990.786,\\\"embeds\\\":[]}}\"}"}"#;

    #[test]
    fn decodes_the_double_encoded_new_message_example() {
        let frames = decode(NEW_DM).unwrap();
        let [Frame::Service(e)] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert_eq!((e.service_id, e.event_type), (5, 1));
        let m = e.payload("message").unwrap();
        assert_eq!(m["content"], "hi");
        assert_eq!(m["senderId"], "<fan>");
        assert_eq!(m["createdAt"], 1776225990.786);
        assert_eq!(m["interactions"][0]["userId"], "<me>");
        // The raw inner event is kept exactly.
        assert!(e.raw.starts_with(r#"{"type":1,"message":{"id":"<id>""#));
    }

    #[test]
    fn decodes_the_handshake_answer_errors_and_pongs() {
        let session = r#"{"t":1,"d":"{\"session\":{\"id\":\"1\",\"token\":\"new\",\"accountId\":\"2\",\"deviceId\":null,\"status\":2,\"websocketSessionId\":\"3\"}}"}"#;
        let frames = decode(session).unwrap();
        let [Frame::Session(d)] = frames.as_slice() else {
            panic!("{frames:?}")
        };
        assert_eq!(d["session"]["token"], "new");
        assert_eq!(
            decode(r#"{"t":0,"d":"{\"code\":401}"}"#).unwrap(),
            vec![Frame::Error { code: 401 }]
        );
        assert_eq!(
            decode(r#"{"t":2,"d":"{\"lastPing\":1776222201000}"}"#).unwrap(),
            vec![Frame::Pong {
                last_ping: Some(1776222201000)
            }]
        );
        assert!(matches!(refusal(401), WsError::Unauthorized));
        assert!(matches!(refusal(429), WsError::RateLimited));
    }

    #[test]
    fn flattens_batches_recursively_in_order() {
        let follow = encode(
            10000,
            &json!({"serviceId": 3, "event": json!({"type": 2, "follow": {"id": "9"}}).to_string()}),
        );
        let tip = encode(
            10000,
            &json!({"serviceId": 7, "event": json!({"type": 1, "tip": {"id": "8"}}).to_string()}),
        );
        let inner: Value = serde_json::from_str(&encode(
            10001,
            &json!([serde_json::from_str::<Value>(&tip).unwrap()]),
        ))
        .unwrap();
        let outer = encode(
            10001,
            &json!([serde_json::from_str::<Value>(&follow).unwrap(), inner, {"t": 777, "d": "{\"x\":1}"}]),
        );
        let frames = decode(&outer).unwrap();
        assert_eq!(frames.len(), 3, "{frames:?}");
        let ids: Vec<(i64, i64)> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Service(e) => Some((e.service_id, e.event_type)),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![(3, 2), (7, 1)]);
        assert_eq!(
            frames[2],
            Frame::Unknown {
                t: 777,
                d: json!({"x": 1})
            }
        );
        // Batch members may also arrive as JSON strings.
        let stringly = json!({"t": 10001, "d": json!([follow]).to_string()}).to_string();
        assert_eq!(decode(&stringly).unwrap().len(), 1);
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for bad in [
            "p",
            "{}",
            r#"{"t":"x"}"#,
            r#"{"t":10000,"d":"{\"event\":\"{}\"}"}"#,
            r#"{"t":10000,"d":"{\"serviceId\":5,\"event\":\"not json\"}"}"#,
            r#"{"t":10001,"d":"{\"not\":\"an array\"}"}"#,
            r#"{"t":1,"d":"{broken"}"#,
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        let mut deep = encode(2, &json!({"lastPing": 1}));
        for _ in 0..=MAX_BATCH_DEPTH {
            deep = json!({"t": 10001, "d": json!([deep]).to_string()}).to_string();
        }
        assert!(decode(&deep).is_err());
    }

    #[test]
    fn events_without_type_are_kept_with_type_minus_one() {
        let frames =
            decode(r#"{"t":10000,"d":"{\"serviceId\":99,\"event\":\"{\\\"x\\\":1}\"}"}"#).unwrap();
        let [Frame::Service(e)] = frames.as_slice() else {
            panic!()
        };
        assert_eq!((e.service_id, e.event_type), (99, -1));
    }
}
