//! Content routes: walls and posts (spec §9), vault albums (§8.2, §8.4).

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{bad_param, fail, ok, Caller};
use crate::content::{wall_json, Album, Attachment, Post, Wall};
use crate::world::now_ms;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/walls", post(create_wall))
        .route("/api/v1/post", post(create_post))
        .route("/api/v1/timelinenew/{account}", get(timeline))
        .route("/api/v1/vault/albumsnew", get(albums))
        .route("/api/v1/mediastory", post(create_story))
        .route("/api/v1/vault/albums", post(create_album))
}

type Body = Result<Json<Value>, JsonRejection>;

fn parse_id(s: &str) -> Option<u64> {
    fansly_upstream::ids::is_snowflake(s)
        .then(|| s.parse().ok())
        .flatten()
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or("")
}

/// `POST /account/walls {name, description, private, copyFrom}` → the new
/// wall (route and body INFERRED: the app's wall editor; listing is
/// `account/me`'s `walls[]`).
async fn create_wall(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let name = str_field(&body, "name").trim();
    if name.is_empty() {
        return bad_param("invalid parameter \"name\"");
    }
    let private = match body.get("private") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => v.as_i64().is_some_and(|n| n != 0),
    };
    let mut world = state.world();
    let copy_from = match str_field(&body, "copyFrom") {
        "" => None,
        raw => match parse_id(raw) {
            Some(id) if world.content.has_wall(me.account_id, id) => Some(raw.to_owned()),
            _ => return fail(StatusCode::NOT_FOUND, 404, "wall not found"),
        },
    };
    let wall = Wall {
        id: world.mint_id(),
        name: name.to_owned(),
        description: str_field(&body, "description").to_owned(),
        private,
    };
    let mut v = wall_json(me.account_id, &wall, None);
    v["copyFrom"] = json!(copy_from);
    world.content.add_wall(me.account_id, wall);
    ok(v)
}

/// Ids in a JSON array of id strings; `None` if any is not one.
fn id_list(v: Option<&Value>) -> Option<Vec<u64>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_str().and_then(parse_id))
        .collect()
}

/// `POST /post {content, attachments[{contentId, contentType, pos}],
/// scheduledFor (ms|0), expiresAt (ms|0), wallIds, ...}`. Attachments must
/// be the caller's own accountMedia grants; `wallIds` is required. A
/// scheduled post answers `postId` where a published one answers `id`.
async fn create_post(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let now = now_ms();
    let int = |name: &str| body.get(name).map_or(Some(0), Value::as_i64);
    let (Some(scheduled_for_ms), Some(expires_at_ms)) = (int("scheduledFor"), int("expiresAt"))
    else {
        return bad_param("invalid parameter \"scheduledFor\"");
    };
    if scheduled_for_ms != 0 && scheduled_for_ms <= now {
        return bad_param("invalid parameter \"scheduledFor\"");
    }
    if expires_at_ms != 0 && expires_at_ms <= scheduled_for_ms.max(now) {
        return bad_param("invalid parameter \"expiresAt\"");
    }
    let mut world = state.world();
    let wall_ids = match id_list(body.get("wallIds")) {
        Some(ids)
            if !ids.is_empty()
                && ids
                    .iter()
                    .all(|w| world.content.has_wall(me.account_id, *w)) =>
        {
            ids
        }
        _ => return bad_param("invalid parameter \"wallIds\""),
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
        let own = id.filter(|id| {
            world
                .messaging
                .grants
                .get(id)
                .is_some_and(|g| g.account == me.account_id)
        });
        match (own, a.get("contentType").and_then(Value::as_i64)) {
            (Some(content_id), Some(1)) => attachments.push(Attachment {
                content_type: 1,
                content_id,
            }),
            _ => return bad_param("invalid parameter \"attachments\""),
        }
    }
    let content = str_field(&body, "content").to_owned();
    if content.trim().is_empty() && attachments.is_empty() {
        return bad_param("invalid parameter \"content\"");
    }
    let post = Post {
        id: world.mint_id(),
        account: me.account_id,
        content,
        attachments,
        wall_ids,
        created_ms: now,
        scheduled_for_ms,
        expires_at_ms,
    };
    let mut v = post.json();
    if scheduled_for_ms != 0 {
        if let Value::Object(m) = &mut v {
            if let Some(id) = m.remove("id") {
                m.insert("postId".into(), id);
            }
            m.insert("scheduledFor".into(), json!(scheduled_for_ms));
        }
    }
    world.content.add_post(post);
    ok(v)
}

/// `GET /timelinenew/{accountId}?before=<postId|0>&after=0&wallId=&contentSearch=`
/// → 15 live posts, newest first, with the accountMedia they attach.
async fn timeline(
    State(state): State<AppState>,
    Caller(_me): Caller,
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
    let msgs = &world.messaging;
    let media: Vec<Value> = posts
        .iter()
        .flat_map(|p| &p.attachments)
        .filter_map(|a| msgs.grants.get(&a.content_id))
        .map(|g| msgs.grant_json(g))
        .collect();
    let accounts: Vec<Value> = world
        .account(account)
        .filter(|_| !posts.is_empty())
        .map(|a| world.account_json(a))
        .into_iter()
        .collect();
    ok(json!({
        "posts": posts.iter().map(|p| p.json()).collect::<Vec<_>>(),
        "aggregatedPosts": [],
        "accountMediaBundles": [],
        "accountMedia": media,
        "accounts": accounts,
        "tips": [],
        "tipGoals": [],
        "stories": []
    }))
}

/// `GET /vault/albumsnew` → the caller's albums (an array; shape INFERRED).
async fn albums(State(state): State<AppState>, Caller(me): Caller) -> Response {
    ok(Value::Array(
        state.world().content.albums_json(me.account_id),
    ))
}

/// `POST /vault/albums {id: null, title, description, accountId: null, type: 0}`
/// → the new album.
async fn create_album(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    if !body.get("id").is_none_or(Value::is_null) {
        return bad_param("invalid parameter \"id\"");
    }
    let mut world = state.world();
    let album = Album {
        id: world.mint_id(),
        title: str_field(&body, "title").to_owned(),
        description: str_field(&body, "description").to_owned(),
        created_ms: now_ms(),
    };
    ok(world.content.add_album(me.account_id, album))
}

/// Stories last a day (INFERRED from the app; not enforced by the sandbox).
const STORY_MS: i64 = 24 * 3_600_000;

/// `POST /mediastory {accountMediaId}` → the story (route, body and answer
/// INFERRED). The accountMedia must be the caller's own grant. Stories are
/// not kept: nothing lists them yet.
async fn create_story(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let mut world = state.world();
    let grant = parse_id(str_field(&body, "accountMediaId")).filter(|id| {
        world
            .messaging
            .grants
            .get(id)
            .is_some_and(|g| g.account == me.account_id)
    });
    let Some(grant) = grant else {
        return bad_param("invalid parameter \"accountMediaId\"");
    };
    let id = world.mint_id();
    let now = now_ms();
    let media = world
        .messaging
        .grants
        .get(&grant)
        .map(|g| world.messaging.grant_json(g));
    ok(json!({
        "id": id.to_string(),
        "accountId": me.account_id.to_string(),
        "contentType": 1,
        "contentId": grant.to_string(),
        "createdAt": now / 1000,
        "expiresAt": (now + STORY_MS) / 1000,
        "accountMedia": media
    }))
}
