//! Fansly's DM group routes as the sandbox serves them: creating (one group
//! per pair), a group's detail (DM groups and broadcast audience groups),
//! and the caller's memberships by latest activity.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::{world_post, Caller};
use crate::envelope::{bad_param, fail, ok};
use crate::state::AppState;
use crate::world::{Group, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/group", world_post(create_group))
        // The web app calls both `/group/{id}` and `/group/{id}/`.
        .route("/api/v1/group/{id}", get(group_detail))
        .route("/api/v1/group/{id}/", get(group_detail))
        .route("/api/v1/messaging/groups", get(messaging_groups))
}

#[derive(Deserialize)]
struct CreateGroup {
    users: Vec<GroupUser>,
    #[serde(rename = "type")]
    kind: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupUser {
    user_id: String,
}

/// One DM group per pair: asking again answers the existing group.
fn create_group(world: &mut World, me: u64, body: CreateGroup) -> Response {
    if body.kind != 1 || body.users.len() != 2 {
        return bad_param("invalid parameter \"users\"");
    }
    let ids: Option<Vec<u64>> = body.users.iter().map(|u| u.user_id.parse().ok()).collect();
    let Some(ids) = ids else {
        return bad_param("invalid parameter \"userId\"");
    };
    let Some(partner) = ids.iter().copied().find(|id| *id != me) else {
        return bad_param("invalid parameter \"users\"");
    };
    if !ids.contains(&me) {
        return fail(StatusCode::FORBIDDEN, 403, "not allowed");
    }
    if world.account(partner).is_none() {
        return bad_param("invalid user");
    }
    let group = world.open_group(me, partner).clone();
    ok(world.group_json(&group))
}

async fn group_detail(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Response {
    let world = state.world();
    let group = id
        .parse::<u64>()
        .ok()
        .and_then(|id| world.group_of(id, me.account_id));
    // Broadcast audience groups (type 3) are their owner's alone.
    let audience = id
        .parse::<u64>()
        .ok()
        .and_then(|id| world.broadcast_groups.get(&id))
        .filter(|g| g.owner == me.account_id);
    if let Some(g) = audience {
        return ok(g.json());
    }
    match group {
        Some(g) => ok(world.group_detail_json(g)),
        None => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            "error getting group",
        ),
    }
}

#[derive(Deserialize)]
struct GroupsParams {
    limit: Option<String>,
    offset: Option<String>,
    flags: Option<String>,
    search: Option<String>,
    #[serde(rename = "sortOrder")]
    sort_order: Option<String>,
}

/// Memberships by latest activity, `limit`/`offset` paged, no `hasMore`.
/// `sortOrder` 1 = most recent first, 2 = oldest first and `flags` 2 = unread
/// only (both INFERRED meanings, spec §6.1).
async fn messaging_groups(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<GroupsParams>,
) -> Response {
    let num = |v: &Option<String>, default: usize| -> Option<usize> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Some(default),
            Some(s) => s.parse().ok(),
        }
    };
    let (Some(limit), Some(offset), Some(flags), Some(sort)) = (
        num(&q.limit, 25),
        num(&q.offset, 0),
        num(&q.flags, 0),
        num(&q.sort_order, 1),
    ) else {
        return bad_param("invalid parameter");
    };
    let limit = limit.min(100);
    let search = q.search.unwrap_or_default().to_lowercase();
    let world = state.world();
    let msgs = &world.messaging;
    let me_id = me.account_id;
    let mut matching: Vec<_> = world
        .groups_of(me_id)
        .into_iter()
        .filter_map(|g| Some((g, world.partner_of(g, me_id)?)))
        .filter(|(_, p)| {
            search.is_empty()
                || p.username.to_lowercase().contains(&search)
                || p.display_name
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(&search))
        })
        .filter(|(g, _)| flags & 2 == 0 || !msgs.unread(g.id, me_id).is_empty())
        .collect();
    // Latest activity: the newest message, else the group's creation.
    let activity = |g: &Group| msgs.last_message(g.id).map_or(g.id, |m| m.id);
    matching.sort_by_key(|(g, _)| std::cmp::Reverse(activity(g)));
    if sort == 2 {
        matching.reverse();
    }
    let total = matching.len();
    let page: Vec<_> = matching.into_iter().skip(offset).take(limit).collect();
    let data: Vec<Value> = page
        .iter()
        .map(|(g, p)| {
            let unread = msgs.unread(g.id, me_id);
            json!({
                "account_id": me_id.to_string(),
                "groupId": g.id.to_string(),
                "partnerAccountId": p.id.to_string(),
                "partnerUsername": p.username,
                "flags": 0,
                "unreadCount": unread.len(),
                "subscriptionTierId": null,
                "lastMessageId": msgs.last_message(g.id).map(|m| m.id.to_string()),
                "lastUnreadMessageId": unread.first().map(|m| m.id.to_string())
            })
        })
        .collect();
    let accounts: Vec<Value> = page.iter().map(|(_, p)| world.account_json(p)).collect();
    let groups: Vec<Value> = page.iter().map(|(g, _)| world.group_json(g)).collect();
    ok(json!({
        "data": data,
        "aggregationData": {"accounts": accounts, "groups": groups, "total": total}
    }))
}
