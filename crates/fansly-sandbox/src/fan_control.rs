//! Sandbox-only routes that act as a fan: a session for a fan (to look at a
//! creator as that fan), a fan buying accountMedia (to unlock a purchase
//! gate), and a fan writing to a creator, which the creator's open sockets
//! hear as on Fansly. Real Fansly has none of these.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use fansly_upstream::ids::snowflake_at;

use crate::messaging::Message;
use crate::params::{parse_id, str_field};
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/fans/{username}/session", post(fan_session))
        .route("/_sandbox/fans/{username}/purchases", post(fan_purchase))
        .route("/_sandbox/fans/{username}/messages", post(fan_sends))
}

type Body<T = Value> = Result<Json<T>, JsonRejection>;

/// Sandbox-only: a session for fan `username`, as a login would issue it,
/// with who the fan follows and is subscribed to (creator ids), so a test
/// can look at a creator's timeline as that fan.
async fn fan_session(State(state): State<AppState>, Path(username): Path<String>) -> Response {
    let mut world = state.world();
    let Some(fan) = world
        .account_by_username(&username)
        .filter(|a| !a.creator)
        .map(|a| a.id)
    else {
        return (StatusCode::NOT_FOUND, "unknown fan").into_response();
    };
    let creators: Vec<u64> = world
        .creators()
        .iter()
        .filter_map(|c| c.account_id.parse().ok())
        .collect();
    let follows: Vec<String> = creators
        .iter()
        .filter(|c| world.business(**c).follows.iter().any(|f| f.fan == fan))
        .map(u64::to_string)
        .collect();
    let subscribed: Vec<String> = creators
        .iter()
        .filter(|c| {
            world
                .business(**c)
                .subscriptions
                .iter()
                .any(|s| s.fan == fan && s.active)
        })
        .map(u64::to_string)
        .collect();
    let session = world.open_session(fan);
    Json(json!({
        "accountId": fan.to_string(),
        "sessionId": session.id.to_string(),
        "token": session.token,
        "follows": follows,
        "subscribedTo": subscribed
    }))
    .into_response()
}

/// Sandbox-only: fan `username` buys accountMedia or bundle
/// `{accountMediaId}` (no money moves; it only unlocks a purchase gate in
/// the fan view; a bought bundle opens its items).
async fn fan_purchase(
    State(state): State<AppState>,
    Path(username): Path<String>,
    body: Body,
) -> Response {
    let Ok(Json(body)) = body else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "body: {accountMediaId}").into_response();
    };
    let mut world = state.world();
    let fan = world.account_by_username(&username).map(|a| a.id);
    let grant = parse_id(str_field(&body, "accountMediaId")).filter(|id| {
        world.messaging.grants.contains_key(id) || world.messaging.bundles.contains_key(id)
    });
    let (Some(fan), Some(grant)) = (fan, grant) else {
        return (StatusCode::NOT_FOUND, "unknown fan or accountMedia").into_response();
    };
    world.content.purchases.insert((fan, grant));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct FanMessage {
    /// The creator written to; the first seeded creator by default.
    #[serde(default = "first_creator")]
    to: String,
    text: String,
    /// Sends `text 1` … `text N` when above 1.
    #[serde(default = "one")]
    count: u32,
    /// Backdates the messages: written `ago_ms` before now (a week-long
    /// outage's messages), one millisecond apart, oldest first. Backdated
    /// messages are not pushed to the sockets (they happened while nobody
    /// listened).
    #[serde(default)]
    ago_ms: i64,
}

fn first_creator() -> String {
    "sandbox_creator".into()
}

fn one() -> u32 {
    1
}

/// Sandbox-only: fan `username` writes to a creator (opening the DM if
/// needed), as a real fan would from the web app. Answers the group and the
/// new message ids, oldest first.
async fn fan_sends(
    State(state): State<AppState>,
    Path(username): Path<String>,
    body: Body<FanMessage>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "body: {to?, text, count?}",
        )
            .into_response();
    };
    let mut world = state.world();
    let (Some(fan), Some(creator)) = (
        world.account_by_username(&username).map(|a| a.id),
        world.account_by_username(&body.to).map(|a| a.id),
    ) else {
        return (StatusCode::NOT_FOUND, "unknown fan or creator").into_response();
    };
    if body.count == 0 || body.count > 10_000 || body.text.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "text must be set and count 1-10000",
        )
            .into_response();
    }
    if body.ago_ms < 0 {
        return (StatusCode::UNPROCESSABLE_ENTITY, "ago_ms must be >= 0").into_response();
    }
    let group = world.open_group(creator, fan).id;
    let sent: Vec<Message> = (1..=body.count)
        .map(|n| {
            let text = if body.count == 1 {
                body.text.clone()
            } else {
                format!("{} {n}", body.text)
            };
            let m = world.post_message(group, fan, text, Vec::new(), None);
            if body.ago_ms > 0 {
                backdate(&mut world, m, now_ms() - body.ago_ms + i64::from(n))
            } else {
                m
            }
        })
        .collect();
    drop(world);
    if body.ago_ms > 0 {
        let ids: Vec<String> = sent.iter().map(|m| m.id.to_string()).collect();
        return Json(json!({"groupId": group.to_string(), "messages": ids})).into_response();
    }
    // The creator's open websockets hear each message (5.1), as on Fansly.
    for m in &sent {
        state.hub.publish_message(creator, m);
    }
    let ids: Vec<String> = sent.iter().map(|m| m.id.to_string()).collect();
    Json(json!({"groupId": group.to_string(), "messages": ids})).into_response()
}

/// Re-dates message `m` (just posted) to `at_ms`: a new snowflake id for
/// that time, kept in the group's id order.
fn backdate(world: &mut World, m: Message, at_ms: i64) -> Message {
    let msgs = &mut world.messaging;
    msgs.messages.remove(&m.id);
    let ids = msgs.by_group.entry(m.group_id).or_default();
    ids.retain(|id| *id != m.id);
    // The low bits keep ids minted in the same millisecond apart; two
    // messages minted in different milliseconds may share them, so a
    // backdated id already taken moves on to the next free one (ids are
    // unique at Fansly: two fans' messages once came out as one).
    let mut id = snowflake_at(at_ms, m.id & 0x3f_ffff);
    while msgs.messages.contains_key(&id) {
        id += 1;
    }
    let at = ids.partition_point(|x| *x < id);
    ids.insert(at, id);
    let m = Message {
        id,
        created_ms: at_ms,
        ..m
    };
    msgs.messages.insert(id, m.clone());
    m
}
