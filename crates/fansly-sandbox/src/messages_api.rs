//! `/api/v1/message…` and the per-group user settings: reading, sending,
//! acknowledging, deleting, typing and liking, with Fansly's quirks (newest
//! first, `before` cursor, `limit=1` answering nothing, unknown group → 500).
//! A fan writing to a creator (sandbox-only) is in `fan_control.rs`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::caller::{world_post, Caller};
use crate::envelope::{bad_param, fail, ok};
use crate::messaging::{like_json, Like, Message};
use crate::params::parse_id;
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/message", world_post(send).get(list))
        .route("/api/v1/message/ack", world_post(ack))
        .route("/api/v1/message/ack/all", post(ack_all))
        .route("/api/v1/message/delete", world_post(delete))
        .route("/api/v1/message/typing", world_post(typing))
        .route("/api/v1/message/like", world_post(like))
        .route("/api/v1/message/like/delete", world_post(unlike))
        .route("/api/v1/groups/users/settings", world_post(user_settings))
}

fn no_group() -> Response {
    fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        500,
        "error getting group",
    )
}

/// The group a body's `groupId` names, if it is one of the caller's.
fn my_group(world: &World, raw: &str, me: u64) -> Option<u64> {
    parse_id(raw).filter(|g| world.group_of(*g, me).is_some())
}

/// `{"success": true}` with no `response`, as `/message/ack` answers.
fn done() -> Response {
    Json(json!({"success": true})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    group_id: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<ListParams>,
) -> Response {
    let Some(group) = q.group_id.as_deref().and_then(parse_id) else {
        return bad_param("invalid parameter \"groupId\"");
    };
    let limit = match q.limit.as_deref().map(str::trim) {
        None | Some("") => 25,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => n.min(100),
            Err(_) => return bad_param("invalid parameter \"limit\""),
        },
    };
    let before = match q.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => match parse_id(s) {
            Some(id) => Some(id),
            None => return bad_param("invalid parameter \"before\""),
        },
    };
    let world = state.world();
    if world.group_of(group, me.account_id).is_none() {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            "error getting group messages",
        );
    }
    let msgs = &world.messaging;
    // Fansly answers `limit=1` with an empty list (spec §6.4, verified live).
    let take = if limit <= 1 { 0 } else { limit };
    let page: Vec<&Message> = msgs
        .newest_first(group)
        .filter(|m| before.is_none_or(|b| m.id < b))
        .take(take)
        .collect();
    let attached: Vec<u64> = page
        .iter()
        .flat_map(|m| m.attachments.iter().copied())
        .collect();
    let bundles: Vec<_> = attached
        .iter()
        .filter_map(|id| msgs.visible_bundle(*id, me.account_id))
        .collect();
    // The accountMedia of a page: those attached directly and, in bundle
    // order, those the page's bundles hold.
    let media: Vec<Value> = attached
        .iter()
        .flat_map(|id| match msgs.bundles.get(id) {
            Some(b) => b.items.clone(),
            None => vec![*id],
        })
        .filter_map(|g| msgs.visible_grant(g, me.account_id))
        .map(|g| msgs.grant_json(g))
        .collect();
    ok(json!({
        "messages": page.iter().map(|m| msgs.message_json(m)).collect::<Vec<_>>(),
        "accountMedia": media,
        "accountMediaBundles": bundles.iter().map(|b| msgs.bundle_json(b)).collect::<Vec<_>>(),
        "tips": [],
        "tipGoals": [],
        "accountMediaOrders": [],
        "stories": [],
        "storyOrders": []
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendBody {
    group_id: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    in_reply_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    content_id: String,
    content_type: i64,
}

fn send(world: &mut World, me: u64, body: SendBody) -> Response {
    let Some(group) = my_group(world, &body.group_id, me) else {
        return no_group();
    };
    // The caller's own accountMedia (contentType 1) or bundles (2).
    let mut grants = Vec::new();
    for a in &body.attachments {
        let owned = parse_id(&a.content_id).filter(|id| {
            world
                .messaging
                .owns_attachment(me, Some(a.content_type), *id)
        });
        match owned {
            Some(id) => grants.push(id),
            None => return bad_param("invalid parameter \"attachments\""),
        }
    }
    if body.content.trim().is_empty() && grants.is_empty() {
        return bad_param("invalid parameter \"content\"");
    }
    let in_reply_to = match body.in_reply_to.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match parse_id(r).filter(|id| {
            world
                .messaging
                .messages
                .get(id)
                .is_some_and(|m| m.group_id == group)
        }) {
            Some(id) => Some(id),
            None => return bad_param("invalid parameter \"inReplyTo\""),
        },
    };
    let m = world.post_message(group, me, body.content, grants, in_reply_to);
    ok(world.messaging.sent_json(&m))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckBody {
    message_ids: Vec<String>,
    #[serde(rename = "type")]
    kind: i64,
}

fn ack(world: &mut World, me: u64, body: AckBody) -> Response {
    if !(1..=4).contains(&body.kind) || body.message_ids.is_empty() {
        return bad_param("invalid parameter \"type\"");
    }
    let mut ids = Vec::new();
    for raw in &body.message_ids {
        let visible =
            parse_id(raw).filter(|id| {
                world.messaging.messages.get(id).is_some_and(|m| {
                    m.deleted_ms.is_none() && world.group_of(m.group_id, me).is_some()
                })
            });
        // An unknown or stale id fails the whole call (spec §3.2).
        let Some(id) = visible else {
            return bad_param("invalid parameter \"messageIds\"");
        };
        ids.push(id);
    }
    let now = now_ms();
    for id in ids {
        if let Some(m) = world.messaging.messages.get_mut(&id) {
            acknowledge(m, me, body.kind, now);
        }
    }
    done()
}

/// 1 delivered, 2 read, 3 both; 4 ("unread") changes nothing server-side (spec §6.6).
fn acknowledge(m: &mut Message, member: u64, kind: i64, now: i64) {
    if let Some((read, delivered)) = m.interactions.get_mut(&member) {
        if matches!(kind, 1..=3) && *delivered == 0 {
            *delivered = now;
        }
        if matches!(kind, 2 | 3) && *read == 0 {
            *read = now;
        }
    }
}

#[derive(Deserialize)]
struct AckAllBody {
    #[serde(rename = "type")]
    kind: i64,
}

async fn ack_all(
    State(state): State<AppState>,
    Caller(me): Caller,
    // A body Fansly cannot read is refused as a bad `type`, not a bad body.
    body: Result<Json<AckAllBody>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body.map_err(|_| ()).and_then(|b| {
        if (1..=4).contains(&b.kind) {
            Ok(b)
        } else {
            Err(())
        }
    }) else {
        return bad_param("invalid parameter \"type\"");
    };
    let mut world = state.world();
    let groups: Vec<u64> = world
        .groups_of(me.account_id)
        .iter()
        .map(|g| g.id)
        .collect();
    let now = now_ms();
    for g in groups {
        let ids = world
            .messaging
            .by_group
            .get(&g)
            .cloned()
            .unwrap_or_default();
        for id in ids {
            if let Some(m) = world.messaging.messages.get_mut(&id) {
                acknowledge(m, me.account_id, body.kind, now);
            }
        }
    }
    done()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    message_id: String,
}

/// Only the sender deletes; the message stays listed with `deletedAt`.
fn delete(world: &mut World, me: u64, body: DeleteBody) -> Response {
    let found = parse_id(&body.message_id)
        .and_then(|id| world.messaging.messages.get_mut(&id))
        .filter(|m| m.sender == me && m.deleted_ms.is_none());
    match found {
        Some(m) => {
            m.deleted_ms = Some(now_ms());
            done()
        }
        None => bad_param("invalid parameter \"messageId\""),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypingBody {
    group_id: String,
}

fn typing(world: &mut World, me: u64, body: TypingBody) -> Response {
    match my_group(world, &body.group_id, me) {
        Some(_) => done(),
        None => no_group(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LikeBody {
    message_id: String,
    #[serde(rename = "type")]
    kind: i64,
}

/// Reactions 1–7 on the other party's messages only (spec §6.6); liking
/// again with the same type answers the existing like.
fn like(world: &mut World, me: u64, body: LikeBody) -> Response {
    if !(1..=7).contains(&body.kind) {
        return bad_param("invalid parameter \"type\"");
    }
    let like_id = world.mint_id();
    let found = parse_id(&body.message_id).and_then(|id| world.live_message_of(id, me));
    let Some(m) = found else {
        return bad_param("invalid parameter \"messageId\"");
    };
    if m.sender == me {
        return bad_param("invalid parameter \"messageId\"");
    }
    let existing = m
        .likes
        .iter()
        .position(|l| l.account == me && l.kind == body.kind);
    let index = existing.unwrap_or_else(|| {
        m.likes.push(Like {
            id: like_id,
            account: me,
            kind: body.kind,
        });
        m.likes.len() - 1
    });
    ok(like_json(&m.likes[index], m, false))
}

fn unlike(world: &mut World, me: u64, body: LikeBody) -> Response {
    let found = parse_id(&body.message_id).and_then(|id| world.live_message_of(id, me));
    let Some(m) = found else {
        return bad_param("invalid parameter \"messageId\"");
    };
    let Some(index) = m
        .likes
        .iter()
        .position(|l| l.account == me && l.kind == body.kind)
    else {
        return bad_param("invalid parameter \"type\"");
    };
    let removed = m.likes.remove(index);
    ok(like_json(&removed, m, true))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsBody {
    group_id: String,
    user_settings: Map<String, Value>,
}

/// Merges the caller's settings for one group and answers them.
fn user_settings(world: &mut World, me: u64, body: SettingsBody) -> Response {
    let Some(group) = my_group(world, &body.group_id, me) else {
        return no_group();
    };
    let settings = world.messaging.settings.entry((group, me)).or_default();
    settings.extend(body.user_settings);
    let settings = Value::Object(settings.clone());
    ok(json!({
        "groupId": group.to_string(),
        "userId": me.to_string(),
        "userSettings": settings
    }))
}
