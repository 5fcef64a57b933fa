//! Fansly's event websocket as the sandbox serves it (spec §10), and the
//! sandbox-only routes that make things happen for a creator.
//!
//! `GET /?v=3` upgrades. The client sends `{"t":1,"d":"{\"token\":…}"}`; a
//! live token gets the `t:1` session answer, anything else `t:0 {code:401}`
//! and a close. A bare `p` is answered `t:2 {lastPing}`. Everything a
//! creator's sessions should hear is published on the [`Hub`], which fans it
//! out to that creator's open sockets and keeps the recent frames so a test
//! can replay them after a reconnect.
//!
//! Each `/_sandbox/events/{kind}` route changes the world as the real action
//! would (the message is in the conversation, the follower in the list) and
//! publishes the frames Fansly sends for it (§10.4, live sequences). Which
//! frames reach the *creator's* socket for money events is not captured
//! anywhere; the sequences here are INFERRED from the fan-side captures.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fansly_upstream::ws::{decode, Frame};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::business::{Follow, Payout, Subscription, Transaction, TYPE_MEDIA, TYPE_TIP};
use crate::content::{main_wall_id, Post};
use crate::messages_api::post_message;
use crate::messaging::{Like, Message};
use crate::world::{now_ms, World};
use crate::AppState;

/// Frames kept per creator for `/_sandbox/ws/replay`.
const HISTORY: usize = 500;
/// Upgrade requests kept for inspection.
const UPGRADES: usize = 50;
/// A client that says nothing this long after the upgrade is dropped.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

enum Push {
    Text(String),
    /// Close without a close frame, as a network failure looks.
    Drop,
    /// `t:0 {code}` then a close frame: Fansly refusing the session (401)
    /// or rate limiting it (429) on an open socket (§10.2, §3.3).
    Refuse(i64),
}

/// One open socket: its id, the session token it authenticated with, its outbox.
struct Subscriber {
    id: u64,
    token: String,
    tx: mpsc::UnboundedSender<Push>,
}

/// Open sockets per account.
type Subscribers = HashMap<u64, Vec<Subscriber>>;

/// The event bus: who is connected as which account, and what was sent.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Subscribers>,
    history: Mutex<HashMap<u64, VecDeque<String>>>,
    upgrades: Mutex<VecDeque<BTreeMap<String, String>>>,
    /// Accounts whose `p` goes unanswered (to exercise the client's timeout).
    silent: Mutex<std::collections::HashSet<u64>>,
    next: AtomicU64,
}

impl Hub {
    fn subscribe(&self, account: u64, token: &str) -> (u64, mpsc::UnboundedReceiver<Push>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.subscribers)
            .entry(account)
            .or_default()
            .push(Subscriber {
                id,
                token: token.to_owned(),
                tx,
            });
        (id, rx)
    }

    /// Refuses (`t:0 {code:401}`, close) every open socket authenticated
    /// with one of `tokens`: a session that ends on Fansly's side ends the
    /// sockets it opened, not only later REST calls. How many were refused.
    pub fn refuse_tokens(&self, tokens: &[String]) -> usize {
        if tokens.is_empty() {
            return 0;
        }
        let subs = lock(&self.subscribers);
        subs.values()
            .flatten()
            .filter(|s| tokens.contains(&s.token))
            .filter(|s| s.tx.send(Push::Refuse(401)).is_ok())
            .count()
    }

    fn unsubscribe(&self, account: u64, id: u64) {
        let mut subs = lock(&self.subscribers);
        if let Some(list) = subs.get_mut(&account) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                subs.remove(&account);
            }
        }
    }

    /// Sends `text` to every open socket of `account` and remembers it.
    pub fn publish(&self, account: u64, text: String) {
        {
            let mut history = lock(&self.history);
            let h = history.entry(account).or_default();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(text.clone());
        }
        self.send(account, || Push::Text(text.clone()));
    }

    fn send(&self, account: u64, push: impl Fn() -> Push) -> usize {
        let subs = lock(&self.subscribers);
        subs.get(&account)
            .map(|list| list.iter().filter(|s| s.tx.send(push()).is_ok()).count())
            .unwrap_or(0)
    }

    /// Sends the last `n` frames of `account` again, in their order.
    fn replay(&self, account: u64, n: usize) -> usize {
        let frames: Vec<String> = {
            let history = lock(&self.history);
            let h = history.get(&account).cloned().unwrap_or_default();
            let skip = h.len().saturating_sub(n);
            h.into_iter().skip(skip).collect()
        };
        for f in &frames {
            self.send(account, || Push::Text(f.clone()));
        }
        frames.len()
    }

    fn connections(&self) -> BTreeMap<String, usize> {
        lock(&self.subscribers)
            .iter()
            .map(|(a, l)| (a.to_string(), l.len()))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(upgrade))
        .route("/_sandbox/ws/connections", get(connections))
        .route("/_sandbox/ws/drop", post(drop_sockets))
        .route("/_sandbox/ws/refuse", post(refuse_sockets))
        .route("/_sandbox/ws/replay", post(replay))
        .route("/_sandbox/ws/frame", post(raw_frame))
        .route("/_sandbox/ws/pongs", post(pongs))
        .route("/_sandbox/events/{kind}", post(event))
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return crate::api::not_found().await;
    };
    {
        let mut upgrades = lock(&state.hub.upgrades);
        if upgrades.len() == UPGRADES {
            upgrades.pop_front();
        }
        upgrades.push_back(
            headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        );
    }
    ws.on_upgrade(move |socket| serve_socket(state, socket))
}

fn frame(t: i64, d: &Value) -> String {
    json!({"t": t, "d": d.to_string()}).to_string()
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
                    if lock(&state.hub.silent).contains(&account) {
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

#[derive(Deserialize)]
struct Target {
    /// Creator username; `sandbox_creator` by default.
    #[serde(default = "first_creator")]
    creator: String,
}

fn first_creator() -> String {
    "sandbox_creator".into()
}

fn unprocessable(why: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned()).into_response()
}

async fn connections(State(state): State<AppState>) -> Json<Value> {
    let upgrades: Vec<_> = lock(&state.hub.upgrades).iter().cloned().collect();
    Json(json!({"accounts": state.hub.connections(), "upgrades": upgrades}))
}

/// Closes the creator's sockets without a close frame (a network cut).
async fn drop_sockets(State(state): State<AppState>, Json(t): Json<Target>) -> Response {
    let Some(account) = account_id(&state.world(), &t.creator) else {
        return unprocessable("unknown creator");
    };
    let dropped = state.hub.send(account, || Push::Drop);
    Json(json!({"dropped": dropped})).into_response()
}

#[derive(Deserialize)]
struct RefuseBody {
    #[serde(default = "first_creator")]
    creator: String,
    /// The `t:0` code: 401 (token refused) or 429 (rate limited).
    code: i64,
}

/// Sends `t:0 {code}` on the creator's open sockets and closes them, without
/// touching the sessions: a 429 leaves the token good, and a 401 here is a
/// refusal the REST side does not share (to test the socket alone). Whether
/// Fansly closes the socket after a 429 is not captured (INFERRED); the
/// gateway's client ends it either way.
async fn refuse_sockets(State(state): State<AppState>, Json(b): Json<RefuseBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let refused = state.hub.send(account, || Push::Refuse(b.code));
    Json(json!({"refused": refused})).into_response()
}

#[derive(Deserialize)]
struct ReplayBody {
    #[serde(default = "first_creator")]
    creator: String,
    /// How many of the most recent frames; all kept ones by default.
    #[serde(default = "all")]
    last: usize,
}

fn all() -> usize {
    HISTORY
}

async fn replay(State(state): State<AppState>, Json(b): Json<ReplayBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let replayed = state.hub.replay(account, b.last);
    Json(json!({"replayed": replayed})).into_response()
}

#[derive(Deserialize)]
struct PongsBody {
    #[serde(default = "first_creator")]
    creator: String,
    answer: bool,
}

/// Stops (or resumes) answering the creator's keep-alive pings.
async fn pongs(State(state): State<AppState>, Json(b): Json<PongsBody>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let mut silent = lock(&state.hub.silent);
    if b.answer {
        silent.remove(&account);
    } else {
        silent.insert(account);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(default = "first_creator")]
    creator: String,
    /// Sent as its JSON text.
    frame: Option<Value>,
    /// Sent verbatim (for malformed frames).
    text: Option<String>,
}

/// Sends any frame, known or not, well-formed or not.
async fn raw_frame(State(state): State<AppState>, Json(b): Json<RawFrame>) -> Response {
    let Some(account) = account_id(&state.world(), &b.creator) else {
        return unprocessable("unknown creator");
    };
    let text = match (b.frame, b.text) {
        (Some(f), None) => f.to_string(),
        (None, Some(t)) => t,
        _ => return unprocessable("give exactly one of frame or text"),
    };
    state.hub.publish(account, text);
    StatusCode::NO_CONTENT.into_response()
}

fn account_id(world: &World, username: &str) -> Option<u64> {
    world.account_by_username(username).map(|a| a.id)
}

/// A `t:10000` frame: `{"serviceId", "event": "<JSON of {type, key: payload}>"}`.
fn service(svc: i64, kind: i64, key: &str, payload: Value) -> Value {
    let mut event = serde_json::Map::new();
    event.insert("type".into(), json!(kind));
    event.insert(key.into(), payload);
    json!({"t": 10000, "d": json!({"serviceId": svc, "event": Value::Object(event).to_string()}).to_string()})
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventBody {
    creator: Option<String>,
    /// Fan username; `fan1` by default.
    fan: Option<String>,
    text: Option<String>,
    message_id: Option<String>,
    post_id: Option<String>,
    payout_id: Option<String>,
    /// Reaction type (1–7).
    reaction: Option<i64>,
    /// Mills.
    amount: Option<i64>,
    /// Items bought in one purchase.
    items: Option<u32>,
    /// Send all frames of the action in one `t:10001` batch.
    batch: bool,
}

/// `POST /_sandbox/events/{kind}`: the action happens, its frames go out.
/// Answers `{"frames": n, ...ids}`.
async fn event(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    body: Option<Json<EventBody>>,
) -> Response {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let creator_name = b.creator.clone().unwrap_or_else(first_creator);
    let fan_name = b.fan.clone().unwrap_or_else(|| "fan1".into());
    let (creator, frames, answer) = {
        let mut world = state.world();
        let (Some(creator), Some(fan)) = (
            account_id(&world, &creator_name),
            account_id(&world, &fan_name),
        ) else {
            return unprocessable("unknown creator or fan");
        };
        match act(&mut world, &kind, creator, fan, &b) {
            Ok((frames, answer)) => (creator, frames, answer),
            Err(refused) => return refused.into_response(),
        }
    };
    let n = frames.len();
    if b.batch {
        state
            .hub
            .publish(creator, frame(10001, &Value::Array(frames)));
    } else {
        for f in frames {
            state.hub.publish(creator, f.to_string());
        }
    }
    let mut answer = answer;
    answer["frames"] = json!(n);
    Json(answer).into_response()
}

/// Why an action cannot happen: a status and a plain-text reason.
type Refused = (StatusCode, String);
type Acted = Result<(Vec<Value>, Value), Refused>;

fn refuse(why: &str) -> Refused {
    (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned())
}

fn act(world: &mut World, kind: &str, creator: u64, fan: u64, b: &EventBody) -> Acted {
    let now = now_ms();
    match kind {
        "message" | "message_sent" => {
            let group = world.open_group(creator, fan).id;
            let sender = if kind == "message" { fan } else { creator };
            let text = b
                .text
                .clone()
                .unwrap_or_else(|| "hello from the sandbox".into());
            let m = post_message(world, group, sender, text, Vec::new(), None);
            let payload = ws_message(&m);
            Ok((
                vec![service(5, 1, "message", payload)],
                json!({"messageId": m.id.to_string(), "groupId": group.to_string()}),
            ))
        }
        "message_deleted" => {
            let m = message_arg(world, b, creator, fan)?;
            let Some(msg) = world.messaging.messages.get_mut(&m) else {
                return Err(refuse("unknown message"));
            };
            let mut payload = ws_message(msg);
            msg.deleted_ms = Some(now);
            payload["deletedAt"] = json!(now / 1000);
            Ok((
                vec![service(5, 10, "message", payload)],
                json!({"messageId": m.to_string()}),
            ))
        }
        "messages_read" => {
            let m = message_arg(world, b, creator, fan)?;
            let Some(msg) = world.messaging.messages.get_mut(&m) else {
                return Err(refuse("unknown message"));
            };
            let reader = if msg.sender == creator { fan } else { creator };
            if let Some((read, delivered)) = msg.interactions.get_mut(&reader) {
                *read = now;
                if *delivered == 0 {
                    *delivered = now;
                }
            }
            let group = msg.group_id.to_string();
            let payload = json!({
                "groupId": group,
                "messageIds": [m.to_string()],
                "userId": reader.to_string(),
                "userReadReceiptsEnabled": true,
                "type": 2,
                "recipients": [{"userId": msg.sender.to_string(), "groupId": group, "readReceiptsEnabled": true}]
            });
            Ok((
                vec![service(4, 2, "ackCommand", payload)],
                json!({"messageId": m.to_string()}),
            ))
        }
        "reaction_added" | "reaction_removed" => {
            let m = message_arg(world, b, creator, fan)?;
            let like_id = world.mint_id();
            let kind_n = b.reaction.unwrap_or(1);
            let Some(msg) = world.messaging.messages.get_mut(&m) else {
                return Err(refuse("unknown message"));
            };
            let liker = if msg.sender == creator { fan } else { creator };
            let like = if kind == "reaction_added" {
                let like = Like {
                    id: like_id,
                    account: liker,
                    kind: kind_n,
                };
                msg.likes.push(like.clone());
                like
            } else {
                let Some(i) = msg.likes.iter().position(|l| l.account == liker) else {
                    return Err(refuse("no reaction to remove"));
                };
                msg.likes.remove(i)
            };
            let payload = json!({
                "id": like.id.to_string(),
                "accountId": liker.to_string(),
                "messageId": m.to_string(),
                "type": like.kind,
                "groupId": msg.group_id.to_string()
            });
            let t = if kind == "reaction_added" { 3 } else { 4 };
            Ok((
                vec![service(5, t, "like", payload)],
                json!({"likeId": like.id.to_string()}),
            ))
        }
        "typing" => {
            let group = world.open_group(creator, fan).id;
            let payload = json!({"accountId": fan.to_string(), "groupId": group.to_string(), "lastAnnounce": now});
            Ok((
                vec![service(5, 22, "typingAnnounceEvent", payload)],
                json!({}),
            ))
        }
        "follow" => {
            let id = world.mint_id();
            let business = business(world, creator)?;
            if business.follows.iter().any(|f| f.fan == fan) {
                return Err(refuse("already following"));
            }
            business.follows.push(Follow {
                id,
                fan,
                at_ms: now,
            });
            let payload = json!({"id": id.to_string(), "followerId": fan.to_string(), "accountId": creator.to_string(), "createdAt": now});
            Ok((
                vec![service(3, 2, "follow", payload)],
                json!({"followId": id.to_string()}),
            ))
        }
        "unfollow" => {
            let business = business(world, creator)?;
            let Some(i) = business.follows.iter().position(|f| f.fan == fan) else {
                return Err(refuse("not following"));
            };
            let f = business.follows.remove(i);
            // The unfollow reuses the follow's id and date (§10.4).
            let payload = json!({"id": f.id.to_string(), "followerId": fan.to_string(), "accountId": creator.to_string(), "createdAt": f.at_ms});
            Ok((
                vec![service(3, 3, "follow", payload)],
                json!({"followId": f.id.to_string()}),
            ))
        }
        "subscription_new" | "subscription_renewed" | "subscription_expired" => {
            subscription(world, kind, creator, fan, now)
        }
        "tip" => {
            let amount = b.amount.unwrap_or(5_000);
            if amount <= 0 {
                return Err(refuse("amount must be positive"));
            }
            let (tip_id, tx_id) = (world.mint_id(), world.mint_id());
            let business = business(world, creator)?;
            let tx = sale(business, tx_id, TYPE_TIP, fan, tip_id, amount, now);
            let tip = json!({
                "id": tip_id.to_string(),
                "senderId": fan.to_string(),
                "receiverId": creator.to_string(),
                "amount": amount,
                "message": b.text.clone().unwrap_or_default(),
                "senderTransactionId": (tx_id + 1).to_string(),
                "receiverTransactionId": tx_id.to_string(),
                "createdAt": now,
                "tipGoalId": null,
                "targetId": null
            });
            let frames = vec![
                service(7, 1, "tip", tip),
                service(6, 3, "transaction", ws_transaction(business, &tx)),
                service(6, 2, "wallet", earnings_wallet(business, now)),
            ];
            Ok((
                frames,
                json!({"tipId": tip_id.to_string(), "transactionId": tx_id.to_string()}),
            ))
        }
        "purchase" => {
            let items = b.items.unwrap_or(1).clamp(1, 20);
            let order = world.mint_id();
            let ids: Vec<(u64, u64)> = (0..items)
                .map(|_| (world.mint_id(), world.mint_id()))
                .collect();
            let price = b.amount.unwrap_or(3_000);
            let business = business(world, creator)?;
            let mut frames = Vec::new();
            let mut last = None;
            for (media, tx_id) in &ids {
                frames.push(service(
                    2,
                    7,
                    "order",
                    json!({
                        "orderId": order.to_string(),
                        "accountMediaId": media.to_string(),
                        "correlationAccountId": creator.to_string(),
                        "accountId": fan.to_string(),
                        "type": 2
                    }),
                ));
                last = Some(sale(business, *tx_id, TYPE_MEDIA, fan, *media, price, now));
            }
            frames.push(service(6, 2, "wallet", earnings_wallet(business, now)));
            if let Some(tx) = last {
                frames.push(service(6, 3, "transaction", ws_transaction(business, &tx)));
            }
            let media: Vec<String> = ids.iter().map(|(m, _)| m.to_string()).collect();
            Ok((
                frames,
                json!({"orderId": order.to_string(), "accountMediaIds": media}),
            ))
        }
        "wallet" => {
            let business = business(world, creator)?;
            Ok((
                vec![service(6, 2, "wallet", earnings_wallet(business, now))],
                json!({}),
            ))
        }
        "payout" => {
            let id = world.mint_id();
            let amount = b.amount.unwrap_or(50_000);
            let business = business(world, creator)?;
            business.payouts.push(Payout {
                id,
                amount,
                at_ms: now,
            });
            let payload = payout_request(business, id, amount, 1, 1, now, now);
            Ok((
                vec![
                    service(16, 20, "payoutRequest", payload),
                    service(6, 2, "wallet", earnings_wallet(business, now)),
                ],
                json!({"payoutId": id.to_string()}),
            ))
        }
        "payout_updated" => {
            let business = business(world, creator)?;
            let wanted = b.payout_id.as_deref().and_then(|p| p.parse::<u64>().ok());
            let Some(p) = business
                .payouts
                .iter()
                .rev()
                .find(|p| wanted.is_none_or(|w| w == p.id))
            else {
                return Err(refuse("no such payout"));
            };
            let (id, amount, at) = (p.id, p.amount, p.at_ms);
            let payload = payout_request(business, id, amount, 2, 2, at, now);
            Ok((
                vec![service(16, 21, "payoutRequest", payload)],
                json!({"payoutId": id.to_string()}),
            ))
        }
        "post" => {
            let id = world.mint_id();
            let post = Post {
                id,
                account: creator,
                content: b.text.clone().unwrap_or_else(|| "a sandbox post".into()),
                attachments: Vec::new(),
                wall_ids: vec![main_wall_id(creator)],
                created_ms: now,
                scheduled_for_ms: 0,
                expires_at_ms: 0,
                pin_wall_ids: Vec::new(),
            };
            let payload = post.json();
            world.content.add_post(post);
            Ok((
                vec![service(1, 1, "post", payload)],
                json!({"postId": id.to_string()}),
            ))
        }
        "post_deleted" => {
            let Some(id) = b.post_id.as_deref().and_then(|p| p.parse::<u64>().ok()) else {
                return Err(refuse("post_id is required"));
            };
            let Some(post) = world.content.remove_post(creator, id) else {
                return Err(refuse("unknown post"));
            };
            let mut payload = post.json();
            payload["deletedAt"] = json!(now / 1000);
            Ok((
                vec![service(1, 5, "post", payload)],
                json!({"postId": id.to_string()}),
            ))
        }
        other => Err((
            StatusCode::NOT_FOUND,
            format!("unknown event kind {other:?}"),
        )),
    }
}

/// Publishes a new message (5.1) to the creator's sockets, for routes
/// outside this module that post messages.
pub(crate) fn publish_message(state: &AppState, creator: u64, m: &Message) {
    let f = service(5, 1, "message", ws_message(m));
    state.hub.publish(creator, f.to_string());
}

/// `message_id` from the body, else the newest live message between the two.
fn message_arg(world: &mut World, b: &EventBody, creator: u64, fan: u64) -> Result<u64, Refused> {
    if let Some(raw) = &b.message_id {
        return raw
            .parse::<u64>()
            .ok()
            .filter(|id| world.messaging.messages.contains_key(id))
            .ok_or_else(|| refuse("unknown message_id"));
    }
    let group = world.open_group(creator, fan).id;
    world
        .messaging
        .last_message(group)
        .map(|m| m.id)
        .ok_or_else(|| refuse("no message between the creator and the fan"))
}

fn business(world: &mut World, creator: u64) -> Result<&mut crate::business::Business, Refused> {
    world
        .business_mut(creator)
        .ok_or_else(|| refuse("this creator has no seeded business"))
}

/// A message as the websocket carries it: `createdAt` in fractional seconds,
/// interactions with `groupId` and `messageId` (§10.3 example).
fn ws_message(m: &Message) -> Value {
    let (id, gid) = (m.id.to_string(), m.group_id.to_string());
    json!({
        "id": id,
        "type": 1,
        "content": m.content,
        "groupId": gid,
        "senderId": m.sender.to_string(),
        "inReplyTo": m.in_reply_to.map(|r| r.to_string()).unwrap_or_default(),
        "attachments": [],
        "interactions": m.interactions.iter().map(|(user, (read, delivered))| json!({
            "groupId": gid, "userId": user.to_string(), "readAt": read, "deliveredAt": delivered, "messageId": id
        })).collect::<Vec<_>>(),
        "createdAt": m.created_ms as f64 / 1000.0,
        "embeds": []
    })
}

fn sale(
    business: &mut crate::business::Business,
    id: u64,
    kind: i64,
    fan: u64,
    correlation: u64,
    amount: i64,
    now: i64,
) -> Transaction {
    let tax = amount / 5;
    let new_balance = business.total_balance() + amount - tax;
    let tx = Transaction {
        id,
        kind,
        fan,
        correlation_id: correlation,
        amount,
        tax,
        new_balance,
        at_ms: now,
    };
    business.transactions.push(tx_clone(&tx));
    tx
}

fn tx_clone(t: &Transaction) -> Transaction {
    Transaction {
        id: t.id,
        kind: t.kind,
        fan: t.fan,
        correlation_id: t.correlation_id,
        amount: t.amount,
        tax: t.tax,
        new_balance: t.new_balance,
        at_ms: t.at_ms,
    }
}

/// §10.4 6.3 `{id, type, originWalletId, destinationWalletId, status, amount,
/// correlationId}`, plus the ledger fields the REST row has.
fn ws_transaction(business: &crate::business::Business, t: &Transaction) -> Value {
    let mut v = business.transaction_json(t, t.at_ms);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(t.id.to_string()));
        m.insert("originWalletId".into(), json!((t.fan + 3).to_string()));
        m.insert(
            "destinationWalletId".into(),
            json!(business.earnings_wallet_id().to_string()),
        );
    }
    v
}

fn earnings_wallet(business: &crate::business::Business, now: i64) -> Value {
    business.wallets_json(now)[1].clone()
}

fn payout_request(
    business: &crate::business::Business,
    id: u64,
    amount: i64,
    status: i64,
    version: i64,
    created: i64,
    updated: i64,
) -> Value {
    json!({
        "id": id.to_string(),
        "accountId": business.creator.to_string(),
        "walletId": business.earnings_wallet_id().to_string(),
        "amount": amount,
        "currencyCode": "USD",
        "status": status,
        "version": version,
        "createdAt": created,
        "updatedAt": updated
    })
}

/// 15.5 frames: pending (status 2) then confirmed (3) for new and renewed
/// subscriptions (live sequence §10.4); status 5 for an expiry (INFERRED).
fn subscription(world: &mut World, kind: &str, creator: u64, fan: u64, now: i64) -> Acted {
    let (id, history) = (world.mint_id(), world.mint_id());
    let business = business(world, creator)?;
    let existing = business
        .subscriptions
        .iter()
        .rposition(|s| s.fan == fan && s.active);
    let pos = match (kind, existing) {
        ("subscription_new", Some(_)) => return Err(refuse("already subscribed")),
        ("subscription_new", None) => {
            let cycle = business.tiers[0].plans[0].billing_cycle;
            business.subscriptions.push(Subscription {
                id,
                history_id: history,
                fan,
                tier: 0,
                plan: 0,
                created_ms: now,
                updated_ms: now,
                ends_ms: now + cycle * crate::business::DAY_MS,
                active: true,
                renewals: 0,
            });
            business.subscriptions.len() - 1
        }
        (_, None) => return Err(refuse("no active subscription")),
        ("subscription_renewed", Some(i)) => {
            let s = &mut business.subscriptions[i];
            let cycle = s.ends_ms - s.updated_ms;
            s.renewals += 1;
            s.updated_ms = now;
            s.ends_ms = now + cycle.max(crate::business::DAY_MS);
            i
        }
        (_, Some(i)) => {
            let s = &mut business.subscriptions[i];
            s.active = false;
            s.updated_ms = now;
            i
        }
    };
    let s = &business.subscriptions[pos];
    let mut payload = business.subscription_json(s);
    let days = (s.updated_ms - s.created_ms) / crate::business::DAY_MS;
    payload["accountId"] = json!(creator.to_string());
    payload["subscriptionStreak"] = json!(s.renewals);
    payload["subscriptionTotalDays"] = json!(days.max(i64::from(s.renewals.min(1)) * 30));
    let answer = json!({"subscriptionId": s.id.to_string(), "version": 1 + s.renewals});
    let mut frames = Vec::new();
    if kind == "subscription_expired" {
        frames.push(service(15, 5, "subscription", payload));
    } else {
        let mut pending = payload.clone();
        pending["status"] = json!(2);
        frames.push(service(15, 5, "subscription", pending));
        frames.push(service(15, 5, "subscription", payload));
        let tx_id = world.mint_id();
        let business = business_of(world, creator);
        let price = business.subscriptions[pos].plan;
        let price = business.tiers[business.subscriptions[pos].tier].plans[price].price;
        let sub_id = business.subscriptions[pos].id;
        let tx = sale(
            business,
            tx_id,
            crate::business::TYPE_SUBSCRIPTION,
            fan,
            sub_id,
            price,
            now,
        );
        frames.push(service(6, 3, "transaction", ws_transaction(business, &tx)));
        frames.push(service(6, 2, "wallet", earnings_wallet(business, now)));
    }
    Ok((frames, answer))
}

fn business_of(world: &mut World, creator: u64) -> &mut crate::business::Business {
    world.business_mut(creator).expect("checked by the caller")
}
