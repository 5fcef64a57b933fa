//! One socket's protocol (spec §10.2): `GET /?v=3` upgrades; the client
//! sends `{"t":1,"d":"{\"token\":…}"}`; a live token gets the `t:1` session
//! answer, anything else `t:0 {code:401}` and a close. A bare `p` is
//! answered `t:2 {lastPing}` (unless the hub was told to stay silent). The
//! socket then relays what the [`Hub`](crate::ws::hub::Hub) pushes: frames,
//! refusals (`t:0 {code}` and a close) and drops (a close without a frame).

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fansly_upstream::ws::{decode, Frame};
use serde_json::{json, Value};

use crate::state::AppState;
use crate::world::now_ms;
use crate::ws::frames::frame;
use crate::ws::hub::Push;

/// A client that says nothing this long after the upgrade is dropped.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    // Not an upgrade: the web app's start page, as `https://fansly.com/`
    // serves it (the drift guard reads the check key out of its bundle).
    let Ok(ws) = ws else {
        return axum::response::Html(crate::drift::web_app_html(&state.check_key()))
            .into_response();
    };
    state.hub.record_upgrade(&headers);
    ws.on_upgrade(move |socket| serve_socket(state, socket))
}

async fn serve_socket(state: AppState, mut socket: WebSocket) {
    let Some((account, token)) = handshake(&state, &mut socket).await else {
        return;
    };
    let (id, mut rx) = state.hub.subscribe(account, &token);
    // The session may have ended between the handshake and the subscription,
    // when no refusal could reach this socket yet.
    if state.world().session(&token).is_none() {
        send_refusal(&mut socket, 401).await;
        state.hub.unsubscribe(account, id);
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(t))) if t.as_str() == "p" => {
                    if !state.hub.answers_pings(account) {
                        continue;
                    }
                    let pong = frame(2, &json!({"lastPing": now_ms()}));
                    if socket.send(WsMessage::text(pong)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                // Other client frames (chat room joins, re-handshakes) are ignored.
                Some(Ok(_)) => {}
            },
            push = rx.recv() => match push {
                Some(Push::Text(text)) => {
                    if socket.send(WsMessage::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Push::Refuse(code)) => {
                    send_refusal(&mut socket, code).await;
                    break;
                }
                Some(Push::Drop) | None => break,
            },
        }
    }
    state.hub.unsubscribe(account, id);
}

/// `t:0 {code}` then a close frame (§10.2: "Bad/expired token … then close").
async fn send_refusal(socket: &mut WebSocket, code: i64) {
    let _ = socket
        .send(WsMessage::text(frame(0, &json!({"code": code}))))
        .await;
    let _ = socket.send(WsMessage::Close(None)).await;
}

/// The first client frame must be `t:1` with a live token. Returns the
/// account and the token.
async fn handshake(state: &AppState, socket: &mut WebSocket) -> Option<(u64, String)> {
    let first = tokio::time::timeout(HANDSHAKE_WAIT, socket.recv()).await;
    let token = match first {
        Ok(Some(Ok(WsMessage::Text(t)))) => match decode(t.as_str()).ok()?.into_iter().next() {
            Some(Frame::Session(d)) => d.get("token").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        _ => return None,
    };
    let session = token.and_then(|t| state.world().session(&t).cloned());
    let Some(session) = session else {
        send_refusal(socket, 401).await;
        return None;
    };
    let ws_session = state.world().mint_id();
    let now = now_ms();
    // Fansly answers a refreshed token; the sandbox answers the same one
    // (INFERRED: the gateway does not rely on the refresh).
    let answer = json!({"session": {
        "id": session.id.to_string(),
        "token": session.token,
        "accountId": session.account_id.to_string(),
        "deviceId": null,
        "status": 2,
        "ip": null,
        "lastUsed": now,
        "twofa_at": null,
        "metadata": null,
        "createdAt": now,
        "checkToken": null,
        "websocketSessionId": ws_session.to_string()
    }});
    socket.send(WsMessage::text(frame(1, &answer))).await.ok()?;
    Some((session.account_id, session.token))
}
