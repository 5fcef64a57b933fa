//! The vault (spec §8.2, §8.4): albums (list, create or edit, order), their
//! media (add, remove) and the vault's media by cursor. Uploading to the
//! vault is the media host's pipeline (`media_api.rs`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Router;
use serde_json::{json, Value};

use crate::caller::{world_post, Caller};
use crate::content::{Album, AlbumEntry, VAULT_PAGE};
use crate::envelope::{bad_param, fail, ok};
use crate::params::{parse_id, str_field};
use crate::state::AppState;
use crate::world::{now_ms, World};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/vault/albumsnew", get(albums))
        .route("/api/v1/vault/albums", world_post(create_album))
        .route("/api/v1/vault/albums/order", world_post(move_album))
        .route(
            "/api/v1/vault/albums/media",
            album_media_route(add_album_media),
        )
        .route(
            "/api/v1/vault/albums/media/delete",
            album_media_route(remove_album_media),
        )
        .route("/api/v1/media/vaultnew", get(vault_media))
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
fn create_album(world: &mut World, me: u64, body: Value) -> Response {
    let title = str_field(&body, "title").to_owned();
    let description = str_field(&body, "description").to_owned();
    match body.get("id") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let Some(id) = v.as_str().and_then(parse_id) else {
                return bad_param("invalid parameter \"id\"");
            };
            let Some(album) = world.content.album_mut(me, id) else {
                return fail(StatusCode::NOT_FOUND, 404, "album not found");
            };
            album.title = title;
            album.description = description;
            return ok(world.content.album_json(me, id).unwrap_or(Value::Null));
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
    ok(world.content.add_album(me, album))
}

/// `POST /vault/albums/order {oldPos, newPos}` (the web app's payload:
/// openFansly's bundle list, HUB-SPEC §2.6): moves the album at index
/// `oldPos` of `/vault/albumsnew`'s order to `newPos`. The answer (the
/// albums in their new order) is INFERRED.
fn move_album(world: &mut World, me: u64, body: Value) -> Response {
    let count = world.content.albums_json(me).len();
    let pos = |name: &str| {
        body.get(name)
            .and_then(Value::as_u64)
            .and_then(|p| usize::try_from(p).ok())
            .filter(|p| *p < count)
    };
    let Some(old) = pos("oldPos") else {
        return bad_param("invalid parameter \"oldPos\"");
    };
    let Some(new) = pos("newPos") else {
        return bad_param("invalid parameter \"newPos\"");
    };
    world.content.move_album_at(me, old, new);
    ok(Value::Array(world.content.albums_json(me)))
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

/// What changes an album's media: the world, the caller, the album and the
/// media ids, all checked by [`album_media_body`]; `Err` is the refusal.
type AlbumEdit = fn(&mut World, u64, u64, Vec<u64>) -> Result<(), Box<Response>>;

/// A `POST {albumId, mediaIds}` route: the body checked, `edit` made, and
/// the album as it now is.
fn album_media_route(edit: AlbumEdit) -> MethodRouter<AppState> {
    world_post(move |world: &mut World, me: u64, body: Value| {
        let (album_id, media) = match album_media_body(world, me, &body) {
            Ok(x) => x,
            Err(resp) => return *resp,
        };
        if let Err(refusal) = edit(world, me, album_id, media) {
            return *refusal;
        }
        ok(world
            .content
            .album_json(me, album_id)
            .unwrap_or(Value::Null))
    })
}

/// `POST /vault/albums/media {albumId, mediaIds}` → the album. Media
/// already in the album stay where they are.
fn add_album_media(
    world: &mut World,
    me: u64,
    album_id: u64,
    media: Vec<u64>,
) -> Result<(), Box<Response>> {
    let now = now_ms();
    for m in media {
        let entry_id = world.mint_id();
        let Some(album) = world.content.album_mut(me, album_id) else {
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
    Ok(())
}

/// `POST /vault/albums/media/delete {albumId, mediaIds}` → the album. A
/// media not in the album is a 404; the media stay in the vault.
fn remove_album_media(
    world: &mut World,
    me: u64,
    album_id: u64,
    media: Vec<u64>,
) -> Result<(), Box<Response>> {
    let Some(album) = world.content.album_mut(me, album_id) else {
        return Err(Box::new(fail(
            StatusCode::NOT_FOUND,
            404,
            "album not found",
        )));
    };
    if let Some(missing) = media
        .iter()
        .find(|m| album.entries.iter().all(|e| e.media != **m))
    {
        return Err(Box::new(fail(
            StatusCode::NOT_FOUND,
            404,
            &format!("media {missing} not in album"),
        )));
    }
    album.entries.retain(|e| !media.contains(&e.media));
    Ok(())
}

/// `GET /media/vaultnew?albumId=&mediaType=&search=&before=&after=0` →
/// `{albumMedia[], media[]}`, newest first, `VAULT_PAGE` per page, entries
/// with ids below `before`. `before` must be "0" at the head; an empty one
/// answers an empty page (§8.2). An empty `albumId` pages the whole vault
/// (the media of the "All" album), one entry per media (entry id = media
/// id; INFERRED).
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
        // The whole vault is the "All" album: an upload never added to it
        // is not listed, as on Fansly.
        "" => {
            let mut all: Vec<_> = world
                .content
                .all_album(me.account_id)
                .into_iter()
                .flat_map(|a| &a.entries)
                .filter_map(|e| world.messaging.media.get(&e.media))
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
