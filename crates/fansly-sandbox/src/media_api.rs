//! The media host (`/api/v1/media/upload/…`), the presigned part storage it
//! hands out, accountMedia grants and a CDN serving the processed files.
//!
//! Uploads follow spec §8.4: create → PUT each part to its presigned URL
//! (stored on disk, ETag = digest of the bytes) → complete with the ETags →
//! poll until `status` 6 with a `mediaId`, which takes `processing_delay`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use futures::StreamExt;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::caller::{world_post, Caller};
use crate::envelope::{bad_param, ok};
use crate::fan_view::add_preview;
use crate::messaging::{Bundle, Grant, Media, Upload, PART_SIZE};
use crate::params::{csv_ids, parse_id, JsonBody};
use crate::state::{AppState, UploadDone};
use crate::world::{now_ms, World};

/// Largest file the sandbox accepts in one upload session.
const MAX_FILE: u64 = 4 * 1024 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/media/upload/create", post(create))
        .route("/api/v1/media/upload/complete", post(complete))
        .route("/api/v1/media/upload/{id}", get(status))
        .route("/api/v1/account/media", world_post(grant).get(grants))
        .route(
            "/api/v1/account/media/bundle",
            world_post(create_bundle).get(bundles),
        )
        .route("/fansly-upload/{id}/{index}", put(put_part))
        .route("/cdn/{account}/{file}", get(cdn))
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    file_size: u64,
    mime_type: String,
    file_name: String,
}

async fn create(
    State(state): State<AppState>,
    Caller(me): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Response {
    if body.file_size == 0 || body.file_size > MAX_FILE {
        return bad_param("invalid parameter \"fileSize\"");
    }
    let kind = body.mime_type.split('/').next().unwrap_or_default();
    if !matches!(kind, "image" | "video" | "audio") {
        return bad_param("invalid parameter \"mimeType\"");
    }
    let parts = body.file_size.div_ceil(PART_SIZE) as usize;
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let mut world = state.world();
    let id = world.mint_id();
    world.messaging.uploads.insert(
        id,
        Upload {
            id,
            account: me.account_id,
            size: body.file_size,
            mime: body.mime_type,
            file_name: body.file_name,
            secret: secret.clone(),
            parts: vec![None; parts],
            completed: None,
        },
    );
    let base = base_url(&headers);
    let urls: Vec<Value> = (0..parts)
        .map(|i| {
            json!({
                "index": i,
                "uploadUrl": format!("{base}/fansly-upload/{id}/{i}?X-Amz-Signature={secret}")
            })
        })
        .collect();
    ok(json!({"id": id.to_string(), "partSize": PART_SIZE, "parts": urls}))
}

#[derive(Deserialize)]
struct Signed {
    #[serde(rename = "X-Amz-Signature")]
    signature: Option<String>,
}

/// The presigned PUT: no Fansly headers, the signature in the query. The
/// body is streamed to disk; the ETag is a quoted digest of the bytes.
async fn put_part(
    State(state): State<AppState>,
    Path((id, index)): Path<(u64, usize)>,
    Query(q): Query<Signed>,
    body: Body,
) -> Response {
    let authorised = state
        .world()
        .messaging
        .accepts_part(id, q.signature.as_ref(), index);
    if !authorised {
        return (StatusCode::FORBIDDEN, "SignatureDoesNotMatch").into_response();
    }
    let dir = state.config.data_dir.join("uploads");
    let path = dir.join(format!("{id}.{index}"));
    let etag = match store(&dir, &path, body).await {
        Ok(digest) => format!("\"{}\"", &digest[..32]),
        Err(e) => {
            tracing::warn!(error = %e, "sandbox could not store an upload part");
            return (StatusCode::INTERNAL_SERVER_ERROR, "InternalError").into_response();
        }
    };
    let mut world = state.world();
    match world.messaging.uploads.get_mut(&id) {
        Some(u) if u.completed.is_none() => {
            u.parts[index] = Some((path, etag.clone()));
            (StatusCode::OK, [(header::ETAG, etag)]).into_response()
        }
        _ => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch").into_response(),
    }
}

async fn store(
    dir: &std::path::Path,
    path: &std::path::Path,
    body: Body,
) -> std::io::Result<String> {
    tokio::fs::create_dir_all(dir).await?;
    let mut file = tokio::fs::File::create(path).await?;
    let mut digest = Sha256::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        digest.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(hex::encode(digest.finalize()))
}

#[derive(Deserialize)]
struct CompleteBody {
    id: String,
    parts: Vec<CompletedPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompletedPart {
    index: usize,
    e_tag: String,
}

async fn complete(
    State(state): State<AppState>,
    Caller(me): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CompleteBody>,
) -> Response {
    // Check under the lock, assemble the file without it.
    let upload = {
        let world = state.world();
        let Some(u) = parse_id(&body.id)
            .and_then(|id| world.messaging.uploads.get(&id))
            .filter(|u| u.account == me.account_id && u.completed.is_none())
        else {
            return bad_param("invalid parameter \"id\"");
        };
        let named: HashSet<(usize, &str)> = body
            .parts
            .iter()
            .map(|p| (p.index, p.e_tag.as_str()))
            .collect();
        let all_match = body.parts.len() == u.parts.len()
            && u.parts.iter().enumerate().all(|(i, p)| {
                p.as_ref()
                    .is_some_and(|(_, etag)| named.contains(&(i, etag.as_str())))
            });
        if !all_match {
            return bad_param("invalid parameter \"parts\"");
        }
        u.clone()
    };
    let ext = extension(&upload.mime, &upload.file_name);
    let media_dir = state
        .config
        .data_dir
        .join("media")
        .join(upload.account.to_string());
    let part_paths: Vec<PathBuf> = upload
        .parts
        .iter()
        .flatten()
        .map(|(p, _)| p.clone())
        .collect();
    let media_id = state.world().mint_id();
    let target = media_dir.join(format!("{media_id}.{ext}"));
    let size = match assemble(&media_dir, &target, &part_paths).await {
        Ok(size) => size,
        Err(e) => {
            tracing::warn!(error = %e, "sandbox could not assemble an upload");
            return bad_param("upload incomplete");
        }
    };
    if size != upload.size {
        let _ = tokio::fs::remove_file(&target).await;
        return bad_param("invalid parameter \"fileSize\"");
    }
    let mut world = state.world();
    world.messaging.media.insert(
        media_id,
        Media {
            id: media_id,
            account: upload.account,
            mime: upload.mime.clone(),
            file_name: upload.file_name.clone(),
            ext,
            path: target,
            created_ms: now_ms(),
            cdn_base: base_url(&headers),
        },
    );
    let Some(u) = world.messaging.uploads.get_mut(&upload.id) else {
        return bad_param("invalid parameter \"id\"");
    };
    u.completed = Some((media_id, Instant::now()));
    let u = u.clone();
    ok(upload_json(
        &world,
        &u,
        state.config.processing_delay,
        state.upload_done(),
    ))
}

async fn assemble(
    dir: &std::path::Path,
    target: &std::path::Path,
    parts: &[PathBuf],
) -> std::io::Result<u64> {
    tokio::fs::create_dir_all(dir).await?;
    let mut out = tokio::fs::File::create(target).await?;
    let mut size = 0;
    for part in parts {
        let mut input = tokio::fs::File::open(part).await?;
        size += tokio::io::copy(&mut input, &mut out).await?;
    }
    out.flush().await?;
    for part in parts {
        let _ = tokio::fs::remove_file(part).await;
    }
    Ok(size)
}

/// Fansly transcodes images to JPEG (spec §8.4); other types keep their extension.
fn extension(mime: &str, file_name: &str) -> String {
    if mime.starts_with("image/") {
        return "jpeg".into();
    }
    std::path::Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("bin")
        .to_ascii_lowercase()
}

/// Upload statuses (HUB-SPEC §3.4: 0 unknown, 1 created, 2 uploading,
/// 3 uploaded, 4 completing, 5 processing, 6 completed): 1 until completed,
/// 5 while processing, then 6 with `mediaId` and the `media` object, or only
/// one of them as `/_sandbox/upload-answer` says.
fn upload_json(world: &World, u: &Upload, delay: std::time::Duration, done: UploadDone) -> Value {
    let (status, media) = match u.completed {
        None => (1, None),
        Some((_, at)) if at.elapsed() < delay => (5, None),
        Some((media, _)) => (6, Some(media)),
    };
    let media_id = media
        .filter(|_| done != UploadDone::MediaOnly)
        .map(|m| m.to_string());
    let media_obj = media
        .filter(|_| done != UploadDone::MediaIdOnly)
        .and_then(|m| world.messaging.media.get(&m))
        .map(|m| world.messaging.media_json(m));
    json!({
        "id": u.id.to_string(),
        "accountId": u.account.to_string(),
        "status": status,
        "mediaId": media_id,
        "media": media_obj,
        "bucketKey": format!("{}/{}", u.account, u.id),
        "mimeType": u.mime,
        "fileName": u.file_name,
        "fileSize": u.size,
        "partSize": PART_SIZE
    })
}

async fn status(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Response {
    let world = state.world();
    match parse_id(&id)
        .and_then(|id| world.messaging.uploads.get(&id))
        .filter(|u| u.account == me.account_id)
    {
        Some(u) => ok(upload_json(
            &world,
            u,
            state.config.processing_delay,
            state.upload_done(),
        )),
        None => bad_param("invalid parameter \"id\""),
    }
}

#[derive(Deserialize)]
struct IdsQuery {
    ids: Option<String>,
}

/// `?ids=` (1 to 100 snowflakes) → an array of what `visible` finds among
/// them for the caller; unknown and hidden ids are left out.
fn by_ids(
    state: &AppState,
    q: &IdsQuery,
    visible: impl Fn(&World, u64) -> Option<Value>,
) -> Response {
    let Some(ids) = csv_ids(q.ids.as_deref().unwrap_or("")) else {
        return bad_param("invalid parameter \"ids\"");
    };
    let world = state.world();
    ok(ids.iter().filter_map(|id| visible(&world, *id)).collect())
}

/// `?ids=` (≤100): the grants the caller may see, unknown ones left out.
async fn grants(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<IdsQuery>,
) -> Response {
    by_ids(&state, &q, |world, id| {
        let g = world.messaging.visible_grant(id, me.account_id)?;
        let mut v = world.messaging.grant_json(g);
        add_preview(world, g.id, &mut v);
        Some(v)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGrant {
    media_id: String,
    /// A free preview: another of the caller's media.
    #[serde(default)]
    preview_id: Option<String>,
    #[serde(default)]
    whitelist: Vec<WhitelistEntry>,
    #[serde(default)]
    permission_flags: i64,
    #[serde(default)]
    permissions: Permissions,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Permissions {
    #[serde(default)]
    permission_flags: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WhitelistEntry {
    account_id: String,
}

/// An array of grants in, the created accountMedia out, in order. Only the
/// caller's own processed media can be granted.
fn grant(world: &mut World, me: u64, body: Vec<NewGrant>) -> Response {
    if body.is_empty() {
        return bad_param("invalid body");
    }
    let mut checked = Vec::new();
    for g in &body {
        match check_grant(world, me, g) {
            Ok(c) => checked.push((c, g.permissions.permission_flags.clone())),
            Err(resp) => return *resp,
        }
    }
    let out: Vec<Value> = checked
        .into_iter()
        .map(|(c, gates)| mint_grant(world, me, c, gates))
        .collect();
    ok(Value::Array(out))
}

/// A grant entry checked against the world: the caller's own media, an
/// optional preview among the caller's media, and a whitelist of ids.
struct Checked {
    media: u64,
    preview: Option<u64>,
    whitelist: HashSet<u64>,
    permission_flags: i64,
}

fn check_grant(world: &World, me: u64, g: &NewGrant) -> Result<Checked, Box<Response>> {
    let own = |raw: &str| {
        parse_id(raw).filter(|id| {
            world
                .messaging
                .media
                .get(id)
                .is_some_and(|m| m.account == me)
        })
    };
    let preview = match g.preview_id.as_deref() {
        None => None,
        Some(raw) => match own(raw) {
            Some(p) => Some(p),
            None => return Err(Box::new(bad_param("invalid parameter \"previewId\""))),
        },
    };
    let whitelist: Option<HashSet<u64>> = g
        .whitelist
        .iter()
        .map(|w| parse_id(&w.account_id))
        .collect();
    match (own(&g.media_id), whitelist) {
        (Some(media), Some(whitelist)) => Ok(Checked {
            media,
            preview,
            whitelist,
            permission_flags: g.permission_flags,
        }),
        _ => Err(Box::new(bad_param("invalid parameter \"mediaId\""))),
    }
}

/// Stores a checked grant with `gates`; answers it as `/account/media` does.
fn mint_grant(world: &mut World, me: u64, c: Checked, gates: Vec<Value>) -> Value {
    let id = world.mint_id();
    let g = Grant {
        id,
        account: me,
        media: c.media,
        whitelist: c.whitelist,
        created_ms: now_ms(),
        permission_flags: c.permission_flags,
        gates,
    };
    if let Some(p) = c.preview {
        world.content.previews.insert(id, p);
    }
    let mut v = world.messaging.grant_json(&g);
    add_preview(world, id, &mut v);
    world.messaging.grants.insert(id, g);
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewBundle {
    account_media_models: Vec<NewGrant>,
    #[serde(default)]
    whitelist: Vec<WhitelistEntry>,
    #[serde(default)]
    permission_flags: i64,
    #[serde(default)]
    permissions: Permissions,
}

/// `POST /account/media/bundle {accountMediaModels[{mediaId, previewId,
/// permissionFlags, price, whitelist}], previewId, permissionFlags, price,
/// whitelist, permissions, tags}` (§8.3): one grant per model, in order,
/// each keeping its preview, then the bundle holding them with the gates of
/// its `permissions`. Answers `{accountMedia, accountMediaBundles: [bundle]}`
/// (the answer's other keys are INFERRED; the web app reads
/// `accountMediaBundles[0].id`). A bundle needs at least one model.
fn create_bundle(world: &mut World, me: u64, body: NewBundle) -> Response {
    if body.account_media_models.is_empty() {
        return bad_param("invalid parameter \"accountMediaModels\"");
    }
    let Some(whitelist) = body
        .whitelist
        .iter()
        .map(|w| parse_id(&w.account_id))
        .collect::<Option<HashSet<u64>>>()
    else {
        return bad_param("invalid parameter \"whitelist\"");
    };
    let mut checked = Vec::new();
    for g in &body.account_media_models {
        match check_grant(world, me, g) {
            Ok(c) => checked.push(c),
            Err(resp) => return *resp,
        }
    }
    // The items carry no gates of their own: the bundle's gate them
    // (`World::may_open`).
    let media: Vec<Value> = checked
        .into_iter()
        .map(|c| mint_grant(world, me, c, Vec::new()))
        .collect();
    let items: Vec<u64> = media
        .iter()
        .filter_map(|v| v["id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    let bundle = Bundle {
        id: world.mint_id(),
        account: me,
        items,
        whitelist,
        created_ms: now_ms(),
        permission_flags: body.permission_flags,
        gates: body.permissions.permission_flags,
    };
    for item in &bundle.items {
        world.messaging.bundle_of.insert(*item, bundle.id);
    }
    let v = world.messaging.bundle_json(&bundle);
    world.messaging.bundles.insert(bundle.id, bundle);
    ok(json!({"accountMedia": media, "accountMediaBundles": [v]}))
}

/// `GET /account/media/bundle?ids=` (≤100, §8.2): the bundles the caller
/// may see, unknown ones left out.
async fn bundles(
    State(state): State<AppState>,
    Caller(me): Caller,
    Query(q): Query<IdsQuery>,
) -> Response {
    by_ids(&state, &q, |world, id| {
        let msgs = &world.messaging;
        msgs.visible_bundle(id, me.account_id)
            .map(|b| msgs.bundle_json(b))
    })
}

/// The CDN: processed files by `/<accountId>/<mediaId>.<ext>`, streamed from disk.
async fn cdn(
    State(state): State<AppState>,
    Path((account, file)): Path<(String, String)>,
) -> Response {
    let found = {
        let world = state.world();
        file.split_once('.')
            .and_then(|(id, _)| parse_id(id))
            .and_then(|id| world.messaging.media.get(&id))
            .filter(|m| m.account.to_string() == account)
            .map(|m| (m.path.clone(), m.mime.clone()))
    };
    let Some((path, mime)) = found else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = if mime.starts_with("image/") {
        "image/jpeg".to_owned()
    } else {
        mime
    };
    match tokio::fs::File::open(&path).await {
        Ok(f) => (
            [(header::CONTENT_TYPE, mime)],
            Body::from_stream(tokio_util::io::ReaderStream::new(f)),
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
