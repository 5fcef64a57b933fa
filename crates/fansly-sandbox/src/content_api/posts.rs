//! Posts (spec §9): publishing, editing, fetching by id and the creator's
//! timeline, with the accountMedia they attach as the caller may see them
//! (the fan view, `fan_view.rs`). Statistics are in `post_stats.rs`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::caller::{world_post, Caller};
use crate::content::{Attachment, Post};
use crate::envelope::{bad_param, fail, ok};
use crate::fan_view::{post_bundles, post_media};
use crate::params::{csv_ids, id_list, parse_id, str_field};
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/post", world_post(create_post).get(posts_by_id))
        .route("/api/v1/post/edit", world_post(edit_post))
        .route("/api/v1/timelinenew/{account}", get(timeline))
}

/// What `POST /post` and `POST /post/edit` share, checked against the
/// caller's walls and grants.
struct PostFields {
    content: String,
    attachments: Vec<Attachment>,
    wall_ids: Vec<u64>,
    pin_wall_ids: Vec<u64>,
    scheduled_for_ms: i64,
    expires_at_ms: i64,
}

fn post_fields(
    world: &World,
    me: u64,
    body: &Value,
    now: i64,
) -> Result<PostFields, Box<Response>> {
    let int = |name: &str| body.get(name).map_or(Some(0), Value::as_i64);
    let (Some(scheduled_for_ms), Some(expires_at_ms)) = (int("scheduledFor"), int("expiresAt"))
    else {
        return Err(Box::new(bad_param("invalid parameter \"scheduledFor\"")));
    };
    if scheduled_for_ms != 0 && scheduled_for_ms <= now {
        return Err(Box::new(bad_param("invalid parameter \"scheduledFor\"")));
    }
    if expires_at_ms != 0 && expires_at_ms <= scheduled_for_ms.max(now) {
        return Err(Box::new(bad_param("invalid parameter \"expiresAt\"")));
    }
    let wall_ids = match id_list(body.get("wallIds")) {
        Some(ids) if !ids.is_empty() && ids.iter().all(|w| world.content.has_wall(me, *w)) => ids,
        _ => return Err(Box::new(bad_param("invalid parameter \"wallIds\""))),
    };
    let pin_wall_ids = match body.get("pinWallIds") {
        None | Some(Value::Null) => Vec::new(),
        v => match id_list(v) {
            Some(ids) if ids.iter().all(|w| wall_ids.contains(w)) => ids,
            _ => return Err(Box::new(bad_param("invalid parameter \"pinWallIds\""))),
        },
    };
    let mut attachments = Vec::new();
    for a in body
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = a
            .get("contentId")
            .and_then(Value::as_str)
            .and_then(parse_id);
        // The caller's own accountMedia (contentType 1) or bundle (2).
        let content_type = a.get("contentType").and_then(Value::as_i64);
        let own = id.filter(|id| world.messaging.owns_attachment(me, content_type, *id));
        match (own, content_type) {
            (Some(content_id), Some(content_type)) => attachments.push(Attachment {
                content_type,
                content_id,
            }),
            _ => return Err(Box::new(bad_param("invalid parameter \"attachments\""))),
        }
    }
    let content = str_field(body, "content").to_owned();
    if content.trim().is_empty() && attachments.is_empty() {
        return Err(Box::new(bad_param("invalid parameter \"content\"")));
    }
    Ok(PostFields {
        content,
        attachments,
        wall_ids,
        pin_wall_ids,
        scheduled_for_ms,
        expires_at_ms,
    })
}

/// `POST /post {content, attachments[{contentId, contentType, pos}],
/// scheduledFor (ms|0), expiresAt (ms|0), wallIds, pinWallIds, ...}`.
/// Attachments must be the caller's own accountMedia grants; `wallIds` is
/// required. A scheduled post answers `postId` where a published one answers `id`.
fn create_post(world: &mut World, me: u64, body: Value) -> Response {
    let now = now_ms();
    let f = match post_fields(world, me, &body, now) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let post = Post {
        id: world.mint_id(),
        account: me,
        content: f.content,
        attachments: f.attachments,
        wall_ids: f.wall_ids,
        created_ms: now,
        scheduled_for_ms: f.scheduled_for_ms,
        expires_at_ms: f.expires_at_ms,
        pin_wall_ids: f.pin_wall_ids,
    };
    let mut v = post.json();
    if f.scheduled_for_ms != 0 {
        if let Value::Object(m) = &mut v {
            if let Some(id) = m.remove("id") {
                m.insert("postId".into(), id);
            }
            m.insert("scheduledFor".into(), json!(f.scheduled_for_ms));
        }
    }
    world.content.add_post(post);
    ok(v)
}

/// `POST /post/edit {id, ...the POST /post body}` → the post as it now is
/// (route, body and answer INFERRED). Only the author's post can be edited;
/// the edit replaces text, attachments, walls, pins and expiry, and keeps
/// the post's id, creation time and schedule.
fn edit_post(world: &mut World, me: u64, body: Value) -> Response {
    let Some(id) = parse_id(str_field(&body, "id"))
        .filter(|id| world.content.post(*id).is_some_and(|p| p.account == me))
    else {
        return fail(StatusCode::NOT_FOUND, 404, "post not found");
    };
    let f = match post_fields(world, me, &body, now_ms()) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let Some(post) = world.content.post_mut(id) else {
        return fail(StatusCode::NOT_FOUND, 404, "post not found");
    };
    post.content = f.content;
    post.attachments = f.attachments;
    post.wall_ids = f.wall_ids;
    post.pin_wall_ids = f.pin_wall_ids;
    post.expires_at_ms = f.expires_at_ms;
    ok(post.json())
}

/// `GET /post?ids=<csv>` → `{posts, accountMedia, accounts, ...}`: the
/// caller's own posts, and others' live ones; unknown ids are left out.
async fn posts_by_id(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(ids) = csv_ids(q.get("ids").map(String::as_str).unwrap_or("")) else {
        return bad_param("invalid parameter \"ids\"");
    };
    let world = state.world();
    let now = now_ms();
    let posts: Vec<&Post> = ids
        .iter()
        .filter_map(|id| world.content.post(*id))
        .filter(|p| p.account == me.account_id || p.live(now))
        .collect();
    let mut accounts: Vec<u64> = posts.iter().map(|p| p.account).collect();
    accounts.sort_unstable();
    accounts.dedup();
    ok(json!({
        "posts": posts.iter().map(|p| p.json()).collect::<Vec<_>>(),
        "aggregatedPosts": [],
        "accountMediaBundles": post_bundles(&world, me.account_id, &posts),
        "accountMedia": post_media(&world, me.account_id, &posts),
        "accounts": accounts
            .iter()
            .filter_map(|a| world.account(*a))
            .map(|a| world.account_json(a))
            .collect::<Vec<_>>(),
        "tips": [],
        "tipGoals": []
    }))
}

/// `GET /timelinenew/{accountId}?before=<postId|0>&after=0&wallId=&contentSearch=`
/// → 15 live posts, newest first, with the accountMedia they attach as the
/// caller may see them: the creator sees everything, a fan who does not
/// meet a media's gates sees it without locations and `access: false`.
async fn timeline(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| q.get(name).map(|v| v.trim()).unwrap_or("");
    let Some(account) = parse_id(&account) else {
        return bad_param("invalid parameter \"accountId\"");
    };
    let before = match param("before") {
        "" | "0" => 0,
        raw => match parse_id(raw) {
            Some(id) => id,
            None => return bad_param("invalid parameter \"before\""),
        },
    };
    let wall = match param("wallId") {
        "" => None,
        raw => match parse_id(raw) {
            Some(id) => Some(id),
            None => return bad_param("invalid parameter \"wallId\""),
        },
    };
    let world = state.world();
    let posts = world
        .content
        .timeline(account, before, wall, param("contentSearch"), now_ms());
    // A fan gets locked tiles for the media they may not open (the fan view).
    let media = post_media(&world, me.account_id, &posts);
    let accounts: Vec<Value> = world
        .account(account)
        .filter(|_| !posts.is_empty())
        .map(|a| world.account_json(a))
        .into_iter()
        .collect();
    ok(json!({
        "posts": posts.iter().map(|p| p.json()).collect::<Vec<_>>(),
        "aggregatedPosts": [],
        "accountMediaBundles": post_bundles(&world, me.account_id, &posts),
        "accountMedia": media,
        "accounts": accounts,
        "tips": [],
        "tipGoals": [],
        "stories": []
    }))
}
