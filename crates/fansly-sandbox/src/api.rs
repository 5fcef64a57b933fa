//! Fansly's `/api/v1` routes as the sandbox serves them, with Fansly's own
//! envelope, error answers and header checks.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fansly_upstream::check::client_check;
use fansly_upstream::ids::is_snowflake;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::world::SessionRow;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/device/id", get(device_id))
        .route("/api/v1/account/me", get(account_me))
        .route("/api/v1/account", get(accounts_lookup))
        .route("/api/v1/group", post(create_group))
        // The web app calls both `/group/{id}` and `/group/{id}/`.
        .route("/api/v1/group/{id}", get(group_detail))
        .route("/api/v1/group/{id}/", get(group_detail))
        .route("/api/v1/messaging/groups", get(messaging_groups))
        .route("/api/v1/session/close", post(close_session))
}

/// `{"success": true, "response": ...}`
pub fn ok(response: Value) -> Response {
    Json(json!({"success": true, "response": response})).into_response()
}

/// `{"success": false, "error": {"code", "details"}}` with an HTTP status.
pub fn fail(status: StatusCode, code: i64, details: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "error": {"code": code, "details": details}})),
    )
        .into_response()
}

pub fn bad_param(details: &str) -> Response {
    fail(StatusCode::BAD_REQUEST, 99, details)
}

/// The caller's session, checked as Fansly checks it: token present (400 code
/// 99 otherwise), token known (401), session id header consistent (401) and,
/// in strict mode, a correct `fansly-client-check` for this path and device.
pub struct Caller(pub SessionRow);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(token) = header("authorization") else {
            return Err(bad_param("missing parameter \"sessionToken\""));
        };
        let session = state.world().session(token).cloned();
        let Some(session) = session else {
            return Err(fail(StatusCode::UNAUTHORIZED, 401, "invalid session"));
        };
        if let Some(sid) = header("fansly-session-id") {
            if sid != session.id.to_string() {
                return Err(fail(StatusCode::UNAUTHORIZED, 401, "session mismatch"));
            }
        }
        if let Some(rejection) = signature_rejection(state, &parts.headers, parts.uri.path()) {
            return Err(rejection);
        }
        Ok(Caller(session))
    }
}

/// In strict mode, the `fansly-client-check` digest must match this path and
/// the `fansly-client-id`, and `fansly-client-ts` must be a number.
/// Returns the rejection, if any.
pub fn signature_rejection(state: &AppState, headers: &HeaderMap, path: &str) -> Option<Response> {
    if !state.config.strict_client_check {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let device = header("fansly-client-id").unwrap_or_default();
    let want = client_check(&state.config.check_key, path, device);
    if device.is_empty() || header("fansly-client-check") != Some(want.as_str()) {
        return Some(bad_param("invalid fansly-client-check"));
    }
    if header("fansly-client-ts")
        .and_then(|v| v.parse::<i64>().ok())
        .is_none()
    {
        return Some(bad_param("missing parameter \"fansly-client-ts\""));
    }
    None
}

async fn device_id(State(state): State<AppState>) -> Response {
    let id = state.world().mint_id();
    ok(json!(id.to_string()))
}

async fn account_me(State(state): State<AppState>, Caller(me): Caller) -> Response {
    let world = state.world();
    match world.account(me.account_id) {
        Some(a) => ok(world.me_json(a)),
        None => fail(StatusCode::UNAUTHORIZED, 401, "invalid session"),
    }
}

#[derive(Deserialize)]
struct LookupQuery {
    usernames: Option<String>,
    ids: Option<String>,
}

/// `?usernames=` or `?ids=`: an array of the accounts found, unknown ones left out.
async fn accounts_lookup(
    State(state): State<AppState>,
    Caller(_): Caller,
    Query(q): Query<LookupQuery>,
) -> Response {
    let world = state.world();
    let found: Vec<Value> = match (q.usernames, q.ids) {
        (Some(names), _) => names
            .split(',')
            .filter_map(|n| world.account_by_username(n.trim()))
            .map(|a| world.account_json(a))
            .collect(),
        (None, Some(ids)) => {
            let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
            if ids.len() > 100 || ids.iter().any(|id| !is_snowflake(id)) {
                return bad_param("invalid parameter \"ids\"");
            }
            ids.iter()
                .filter_map(|id| world.account(id.parse().ok()?))
                .map(|a| world.account_json(a))
                .collect()
        }
        (None, None) => return bad_param("missing parameter \"usernames\""),
    };
    ok(Value::Array(found))
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
async fn create_group(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Json<CreateGroup>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    if body.kind != 1 || body.users.len() != 2 {
        return bad_param("invalid parameter \"users\"");
    }
    let ids: Option<Vec<u64>> = body.users.iter().map(|u| u.user_id.parse().ok()).collect();
    let Some(ids) = ids else {
        return bad_param("invalid parameter \"userId\"");
    };
    let Some(partner) = ids.iter().copied().find(|id| *id != me.account_id) else {
        return bad_param("invalid parameter \"users\"");
    };
    if !ids.contains(&me.account_id) {
        return fail(StatusCode::FORBIDDEN, 403, "not allowed");
    }
    let mut world = state.world();
    if world.account(partner).is_none() {
        return bad_param("invalid user");
    }
    let group = world.open_group(me.account_id, partner).clone();
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
        .and_then(|id| world.group(id))
        .filter(|g| g.created_by == me.account_id || g.partner == me.account_id);
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
        Some(g) => ok(world.group_json(g)),
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
    let activity = |g: &crate::world::Group| msgs.last_message(g.id).map_or(g.id, |m| m.id);
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

#[derive(Deserialize)]
struct CloseSession {
    id: String,
}

async fn close_session(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Json<CloseSession>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(b)) if b.id == me.id.to_string() => {
            let dead = state.world().close_session(me.id);
            state.hub.refuse_tokens(&dead);
            ok(json!(true))
        }
        _ => bad_param("invalid parameter \"id\""),
    }
}

/// Fansly answers unknown `/api/v1` routes with a plain-text 404.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The browser's CORS preflight precedes every call; Fansly answers 200.
pub fn preflight(headers: &HeaderMap) -> Response {
    let allow = headers
        .get("access-control-request-headers")
        .cloned()
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("*"));
    (
        StatusCode::OK,
        [
            (
                "access-control-allow-origin",
                axum::http::HeaderValue::from_static("https://fansly.com"),
            ),
            ("access-control-allow-headers", allow),
            (
                "access-control-allow-credentials",
                axum::http::HeaderValue::from_static("true"),
            ),
        ],
    )
        .into_response()
}
