//! Content routes: walls and posts (spec §9), vault albums (§8.2, §8.4).

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{bad_param, fail, ok, Caller};
use crate::content::{
    engagement, seeded, wall_json, Album, AlbumEntry, Attachment, Post, Wall, VAULT_PAGE,
};
use crate::messaging::{Bundle, Grant};
use crate::world::{now_ms, World};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/account/walls", post(create_wall))
        .route("/api/v1/post", post(create_post).get(posts_by_id))
        .route("/api/v1/post/edit", post(edit_post))
        .route("/api/v1/post/{id}/stats", get(post_stats))
        .route("/api/v1/timelinenew/{account}", get(timeline))
        .route("/api/v1/vault/albumsnew", get(albums))
        .route("/api/v1/mediastory", post(create_story))
        .route("/api/v1/vault/albums", post(create_album))
        .route("/api/v1/vault/albums/order", post(move_album))
        .route("/api/v1/vault/albums/media", post(add_album_media))
        .route(
            "/api/v1/vault/albums/media/delete",
            post(remove_album_media),
        )
        .route("/api/v1/media/vaultnew", get(vault_media))
        .route("/_sandbox/fans/{username}/session", post(fan_session))
        .route("/_sandbox/fans/{username}/purchases", post(fan_purchase))
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
        let msgs = &world.messaging;
        let content_type = a.get("contentType").and_then(Value::as_i64);
        let own = id.filter(|id| match content_type {
            Some(1) => msgs.grants.get(id).is_some_and(|g| g.account == me),
            Some(2) => msgs.bundles.get(id).is_some_and(|b| b.account == me),
            _ => false,
        });
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
async fn create_post(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let now = now_ms();
    let mut world = state.world();
    let f = match post_fields(&world, me.account_id, &body, now) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let post = Post {
        id: world.mint_id(),
        account: me.account_id,
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
async fn edit_post(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let mut world = state.world();
    let Some(id) = parse_id(str_field(&body, "id")).filter(|id| {
        world
            .content
            .post(*id)
            .is_some_and(|p| p.account == me.account_id)
    }) else {
        return fail(StatusCode::NOT_FOUND, 404, "post not found");
    };
    let f = match post_fields(&world, me.account_id, &body, now_ms()) {
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

/// Whether `viewer` may open grant `g`: the owner and whitelisted accounts
/// always; otherwise an ungated grant, or any one of its gates (§8.3 flags
/// 1 = purchased, 2 = an active subscription to the owner, 4 = following
/// the owner, which subscribers also count as; gates are alternatives,
/// INFERRED). An item of a bundle must also pass the bundle's gates: the
/// bundle gates its content as a whole (INFERRED from the bundle body,
/// whose items carry no `permissions`).
fn may_open(world: &World, viewer: u64, g: &Grant) -> bool {
    let own = passes(world, viewer, g.id, g.account, &g.whitelist, &g.gates);
    own && world
        .messaging
        .bundle_of
        .get(&g.id)
        .and_then(|b| world.messaging.bundles.get(b))
        .is_none_or(|b| may_open_bundle(world, viewer, b))
}

fn may_open_bundle(world: &World, viewer: u64, b: &Bundle) -> bool {
    passes(world, viewer, b.id, b.account, &b.whitelist, &b.gates)
}

/// One gated object (`id`, a grant or a bundle, bought by that id) as
/// `viewer` may open it.
fn passes(
    world: &World,
    viewer: u64,
    id: u64,
    owner: u64,
    whitelist: &std::collections::HashSet<u64>,
    gates: &[Value],
) -> bool {
    if owner == viewer || whitelist.contains(&viewer) || gates.is_empty() {
        return true;
    }
    let business = world.business(owner);
    let subscribed = business
        .subscriptions
        .iter()
        .any(|s| s.fan == viewer && s.active);
    let follows = business.follows.iter().any(|f| f.fan == viewer);
    let bought = world.content.purchases.contains(&(viewer, id));
    gates.iter().any(|gate| {
        let flags = gate.get("flags").and_then(Value::as_i64).unwrap_or(0);
        (flags & 1 != 0 && bought)
            || (flags & 2 != 0 && subscribed)
            || (flags & 4 != 0 && (follows || subscribed))
    })
}

/// Sets an accountMedia's `previewId` and `preview` (the free preview's
/// media, open to everyone) when the grant has one.
pub(crate) fn add_preview(world: &World, grant: u64, v: &mut Value) {
    if let Some(p) = world.content.previews.get(&grant) {
        v["previewId"] = json!(p.to_string());
        v["preview"] = world
            .messaging
            .media
            .get(p)
            .map_or(Value::Null, |m| world.messaging.media_json(m));
    }
}

/// An accountMedia as `viewer` receives it: without access the media comes
/// without any fetchable location (Fansly's locked tile); a preview, if
/// any, stays open.
fn grant_for(world: &World, viewer: u64, g: &Grant) -> Value {
    let mut v = world.messaging.grant_json(g);
    add_preview(world, g.id, &mut v);
    if g.account == viewer {
        return v;
    }
    let access = may_open(world, viewer, g);
    v["access"] = json!(access);
    v["purchased"] = json!(world.content.purchases.contains(&(viewer, g.id)));
    v["whitelisted"] = json!(g.whitelist.contains(&viewer));
    v["accountPermissionFlags"] = json!(0);
    if !access {
        if let Some(m) = v.get_mut("media").filter(|m| m.is_object()) {
            m["locations"] = json!([]);
            m["variants"] = json!([]);
        }
    }
    v
}

/// The accountMedia `posts` attach, as `viewer` sees them: those attached
/// directly and, in bundle order, those their bundles hold.
fn post_media(world: &World, viewer: u64, posts: &[&Post]) -> Vec<Value> {
    posts
        .iter()
        .flat_map(|p| &p.attachments)
        .flat_map(|a| match world.messaging.bundles.get(&a.content_id) {
            Some(b) => b.items.clone(),
            None => vec![a.content_id],
        })
        .filter_map(|id| world.messaging.grants.get(&id))
        .map(|g| grant_for(world, viewer, g))
        .collect()
}

/// The bundles `posts` attach, as `viewer` sees them: a bundle the viewer
/// may not open says `access: false` (its items come locked in
/// `accountMedia`).
fn post_bundles(world: &World, viewer: u64, posts: &[&Post]) -> Vec<Value> {
    posts
        .iter()
        .flat_map(|p| &p.attachments)
        .filter_map(|a| world.messaging.bundles.get(&a.content_id))
        .map(|b| {
            let mut v = world.messaging.bundle_json(b);
            if b.account != viewer {
                v["access"] = json!(may_open_bundle(world, viewer, b));
                v["purchased"] = json!(world.content.purchases.contains(&(viewer, b.id)));
                v["whitelisted"] = json!(b.whitelist.contains(&viewer));
                v["accountPermissionFlags"] = json!(0);
            }
            v
        })
        .collect()
}

/// `GET /post?ids=<csv>` → `{posts, accountMedia, accounts, ...}`: the
/// caller's own posts, and others' live ones; unknown ids are left out.
async fn posts_by_id(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let raw = q.get("ids").map(String::as_str).unwrap_or("");
    let ids: Option<Vec<u64>> = raw.split(',').map(|s| parse_id(s.trim())).collect();
    let Some(ids) = ids.filter(|ids| !ids.is_empty() && ids.len() <= 100) else {
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

/// Traffic sources the stats know: 0 For You, 1 timeline, 2 suggestions,
/// 3 search, 4 other (codes INFERRED, as the vendor lists them).
const SOURCES: u8 = 5;
const DAY_MS: i64 = 86_400_000;

/// `GET /post/{postId}/stats?sources=<csv>` (route INFERRED) → the post's
/// engagement and, per attached accountMedia (an "offer"), per source, the
/// views and watch figures of its media with a daily series. Every number
/// is derived from the post, grant and media ids, so it is stable and the
/// daily series sum to the totals.
async fn post_stats(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let raw = q.get("sources").map(String::as_str).unwrap_or("0,1");
    let sources: Option<Vec<u8>> = raw
        .split(',')
        .map(|s| s.trim().parse::<u8>().ok().filter(|s| *s < SOURCES))
        .collect();
    let Some(mut sources) = sources.filter(|s| !s.is_empty()) else {
        return bad_param("invalid parameter \"sources\"");
    };
    sources.sort_unstable();
    sources.dedup();
    let world = state.world();
    let Some(post) = parse_id(&id)
        .and_then(|id| world.content.post(id))
        .filter(|p| p.account == me.account_id)
    else {
        return fail(StatusCode::NOT_FOUND, 404, "post not found");
    };
    let now = now_ms();
    let first_day = post.created_ms.max(post.scheduled_for_ms) / DAY_MS;
    let days = (now / DAY_MS - first_day + 1).clamp(1, 30);
    // One offer per accountMedia: a bundle's items count one by one.
    let offers: Vec<Value> = post
        .attachments
        .iter()
        .flat_map(|a| match world.messaging.bundles.get(&a.content_id) {
            Some(b) => b.items.clone(),
            None => vec![a.content_id],
        })
        .filter_map(|id| world.messaging.grants.get(&id))
        .map(|g| {
            let video = world
                .messaging
                .media
                .get(&g.media)
                .is_some_and(|m| m.mime.starts_with("video/"));
            let per_source: Vec<Value> = sources
                .iter()
                .map(|&src| {
                    json!({
                        "source": src,
                        "media": [media_stats(g.id, g.media, src, video, first_day, days)]
                    })
                })
                .collect();
            json!({
                "mediaOfferId": g.id.to_string(),
                "previewId": world.content.previews.get(&g.id).map(u64::to_string),
                "attribution": "media_offer",
                "sources": per_source
            })
        })
        .collect();
    let e = engagement(post.id);
    ok(json!({
        "postId": post.id.to_string(),
        "sources": sources,
        "engagement": {"likes": e.likes, "unlikes": e.unlikes, "comments": e.comments},
        "offers": offers,
        "otherAttachments": []
    }))
}

fn media_stats(
    offer: u64,
    media: u64,
    source: u8,
    video: bool,
    first_day: i64,
    days: i64,
) -> Value {
    let salt = offer ^ (u64::from(source) << 56);
    let views = seeded(salt, 10) % 400;
    let impressions = views + seeded(salt, 11) % 800;
    let (video_views, completed, watch_ms, pct_sum, replays) = if video {
        let vv = views;
        let completed = seeded(salt, 12) % (vv + 1);
        let watch_ms = vv * (5_000 + seeded(salt, 13) % 55_000);
        let pct_sum = vv * (20 + seeded(salt, 14) % 80);
        (
            vv,
            completed,
            watch_ms,
            pct_sum,
            seeded(salt, 15) % (vv / 4 + 1),
        )
    } else {
        (0, 0, 0, 0, 0)
    };
    let avg = |sum: u64| sum.checked_div(video_views).unwrap_or(0);
    // Even split, remainder on the newest day, so the series sums to the totals.
    let n = days as u64;
    let daily: Vec<Value> = (0..days)
        .map(|d| {
            let share = |total: u64| total / n + if d == days - 1 { total % n } else { 0 };
            json!({
                "date": (first_day + d) * DAY_MS,
                "views": share(views),
                "impressions": share(impressions),
                "watchMs": share(watch_ms),
                "videoViews": share(video_views)
            })
        })
        .collect();
    json!({
        "mediaId": media.to_string(),
        "totals": {
            "views": views,
            "impressions": impressions,
            "watchMs": watch_ms,
            "videoViews": video_views,
            "completedViews": completed,
            "watchPctSum": pct_sum,
            "replays": replays
        },
        "averageWatchMs": avg(watch_ms),
        "averageWatchPercent": avg(pct_sum),
        "daily": daily
    })
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

/// `GET /vault/albumsnew` → the caller's albums (an array; shape INFERRED).
async fn albums(State(state): State<AppState>, Caller(me): Caller) -> Response {
    ok(Value::Array(
        state.world().content.albums_json(me.account_id),
    ))
}

/// `POST /vault/albums {id: null, title, description, accountId: null, type: 0}`
/// → the new album; with `id` set, edits that album's title and description
/// (INFERRED) and answers it.
async fn create_album(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let title = str_field(&body, "title").to_owned();
    let description = str_field(&body, "description").to_owned();
    let mut world = state.world();
    match body.get("id") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let Some(id) = v.as_str().and_then(parse_id) else {
                return bad_param("invalid parameter \"id\"");
            };
            let Some(album) = world.content.album_mut(me.account_id, id) else {
                return fail(StatusCode::NOT_FOUND, 404, "album not found");
            };
            album.title = title;
            album.description = description;
            return ok(world
                .content
                .album_json(me.account_id, id)
                .unwrap_or(Value::Null));
        }
    }
    let album = Album {
        id: world.mint_id(),
        title,
        description,
        created_ms: now_ms(),
        kind: 0,
        entries: Vec::new(),
    };
    ok(world.content.add_album(me.account_id, album))
}

/// `POST /vault/albums/order {albumId, pos}` → the albums in their new
/// order (route, body and answer INFERRED).
async fn move_album(State(state): State<AppState>, Caller(me): Caller, body: Body) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let Some(pos) = body.get("pos").and_then(Value::as_u64) else {
        return bad_param("invalid parameter \"pos\"");
    };
    let mut world = state.world();
    let moved = parse_id(str_field(&body, "albumId")).is_some_and(|id| {
        world.content.move_album(
            me.account_id,
            id,
            usize::try_from(pos).unwrap_or(usize::MAX),
        )
    });
    if !moved {
        return fail(StatusCode::NOT_FOUND, 404, "album not found");
    }
    ok(Value::Array(world.content.albums_json(me.account_id)))
}

/// The album and media ids of `{albumId, mediaIds}`: the album must be the
/// caller's and every media the caller's own processed media.
fn album_media_body(
    world: &World,
    me: u64,
    body: &Value,
) -> Result<(u64, Vec<u64>), Box<Response>> {
    let Some(album) = parse_id(str_field(body, "albumId")) else {
        return Err(Box::new(bad_param("invalid parameter \"albumId\"")));
    };
    if world.content.album_json(me, album).is_none() {
        return Err(Box::new(fail(
            StatusCode::NOT_FOUND,
            404,
            "album not found",
        )));
    }
    let raw = body.get("mediaIds").and_then(Value::as_array);
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Err(Box::new(bad_param("invalid parameter \"mediaIds\"")));
    };
    let mut ids = Vec::new();
    for v in raw {
        let Some(id) = v.as_str().and_then(parse_id) else {
            return Err(Box::new(bad_param("invalid parameter \"mediaIds\"")));
        };
        if world
            .messaging
            .media
            .get(&id)
            .is_none_or(|m| m.account != me)
        {
            return Err(Box::new(fail(
                StatusCode::NOT_FOUND,
                404,
                &format!("media {id} not found"),
            )));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok((album, ids))
}

/// `POST /vault/albums/media {albumId, mediaIds}` → the album. Media
/// already in the album stay where they are.
async fn add_album_media(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Body,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let mut world = state.world();
    let (album_id, media) = match album_media_body(&world, me.account_id, &body) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let now = now_ms();
    for m in media {
        let entry_id = world.mint_id();
        let Some(album) = world.content.album_mut(me.account_id, album_id) else {
            break;
        };
        if album.entries.iter().all(|e| e.media != m) {
            album.entries.push(AlbumEntry {
                id: entry_id,
                media: m,
                added_ms: now,
            });
        }
    }
    ok(world
        .content
        .album_json(me.account_id, album_id)
        .unwrap_or(Value::Null))
}

/// `POST /vault/albums/media/delete {albumId, mediaIds}` → the album. A
/// media not in the album is a 404; the media stay in the vault.
async fn remove_album_media(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Body,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_param("invalid body");
    };
    let mut world = state.world();
    let (album_id, media) = match album_media_body(&world, me.account_id, &body) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let Some(album) = world.content.album_mut(me.account_id, album_id) else {
        return fail(StatusCode::NOT_FOUND, 404, "album not found");
    };
    if let Some(missing) = media
        .iter()
        .find(|m| album.entries.iter().all(|e| e.media != **m))
    {
        return fail(
            StatusCode::NOT_FOUND,
            404,
            &format!("media {missing} not in album"),
        );
    }
    album.entries.retain(|e| !media.contains(&e.media));
    ok(world
        .content
        .album_json(me.account_id, album_id)
        .unwrap_or(Value::Null))
}

/// `GET /media/vaultnew?albumId=&mediaType=&search=&before=&after=0` →
/// `{albumMedia[], media[]}`, newest first, `VAULT_PAGE` per page, entries
/// with ids below `before`. `before` must be "0" at the head; an empty one
/// answers an empty page (§8.2). An empty `albumId` pages the whole vault,
/// one entry per media (entry id = media id; INFERRED).
async fn vault_media(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| q.get(name).map(|v| v.trim()).unwrap_or("");
    let before = match param("before") {
        "" => None,
        "0" => Some(u64::MAX),
        raw => match parse_id(raw) {
            Some(id) => Some(id),
            None => return bad_param("invalid parameter \"before\""),
        },
    };
    let world = state.world();
    let entries: Vec<(u64, u64, i64, Option<u64>)> = match param("albumId") {
        "" => {
            let mut all: Vec<_> = world
                .messaging
                .media
                .values()
                .filter(|m| m.account == me.account_id)
                .map(|m| (m.id, m.id, m.created_ms, None))
                .collect();
            all.sort_unstable_by_key(|e| e.0);
            all
        }
        raw => {
            let album = parse_id(raw).and_then(|id| {
                world
                    .content
                    .albums_of(me.account_id)
                    .iter()
                    .find(|a| a.id == id)
            });
            let Some(album) = album else {
                return bad_param("invalid parameter \"albumId\"");
            };
            album
                .entries
                .iter()
                .map(|e| (e.id, e.media, e.added_ms, Some(album.id)))
                .collect()
        }
    };
    let page: Vec<_> = match before {
        None => Vec::new(),
        Some(before) => entries
            .iter()
            .rev()
            .filter(|e| e.0 < before)
            .take(VAULT_PAGE)
            .collect(),
    };
    let album_media: Vec<Value> = page
        .iter()
        .map(|(id, media, added, album)| {
            json!({
                "id": id.to_string(),
                "albumId": album.map(|a| a.to_string()),
                "mediaId": media.to_string(),
                "createdAt": added / 1000
            })
        })
        .collect();
    let media: Vec<Value> = page
        .iter()
        .filter_map(|e| world.messaging.media.get(&e.1))
        .map(|m| world.messaging.media_json(m))
        .collect();
    ok(json!({"albumMedia": album_media, "media": media}))
}

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
