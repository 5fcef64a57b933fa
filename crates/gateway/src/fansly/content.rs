//! Creator content: walls (the profile's feeds), posts, stories and vault albums.

use fansly_upstream::{FanslyClient, Gate, NewPost, NewWall, UpstreamError};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{ask, rows, Answer};

/// The creator's walls in profile order, the main one flagged.
#[tracing::instrument(skip_all, fields(op = "content.walls", account = %account.id))]
pub async fn walls(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    let walls = ask(account, fansly.walls(&account.session)).await?;
    rows(&walls, None, "the walls")?;
    Ok(walls)
}

/// Fails with a 404 naming `field` unless every id is one of the creator's
/// walls; checked before anything is sent that depends on them.
#[tracing::instrument(skip_all, fields(op = "content.require_walls", account = %account.id))]
pub async fn require_walls(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    field: &str,
    ids: &[String],
) -> Result<(), ApiError> {
    let walls = walls(fansly, account).await?;
    let known: Vec<&str> = rows(&walls, None, "the walls")?
        .iter()
        .filter_map(|w| w.get("id").and_then(Value::as_str))
        .collect();
    match ids.iter().find(|id| !known.contains(&id.as_str())) {
        Some(id) => Err(ApiError::NotFound(format!("{field}: wall {id} not found"))),
        None => Ok(()),
    }
}

#[tracing::instrument(skip_all, fields(op = "content.create_wall", account = %account.id))]
pub async fn create_wall(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    wall: NewWall,
) -> Answer {
    if let Some(from) = &wall.copy_from {
        require_walls(fansly, account, "copyFrom", std::slice::from_ref(from)).await?;
    }
    ask(account, fansly.create_wall(&account.session, &wall)).await
}

/// Posts per Fansly timeline page (§9): a fuller page means there may be more.
pub const POSTS_PAGE: usize = 15;

/// One timeline page of the creator's posts, newest first, with the
/// accountMedia they attach. An unknown `wall_id` is a 404 naming it.
#[tracing::instrument(skip_all, fields(op = "content.posts", account = %account.id))]
pub async fn posts(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    before: Option<&str>,
    wall_id: Option<&str>,
    search: Option<&str>,
) -> Answer {
    if let Some(wall) = wall_id {
        require_walls(fansly, account, "wall_id", &[wall.to_owned()]).await?;
    }
    let page = ask(
        account,
        fansly.timeline(
            &account.session,
            &account.fansly_id,
            before,
            wall_id,
            search,
        ),
    )
    .await?;
    rows(&page, Some("posts"), "the posts")?;
    Ok(page)
}

/// The cursor of the page after `page`: its oldest post, when the page was
/// full (a shorter page is the last).
pub fn next_before(page: &Value) -> Option<String> {
    let posts = page.get("posts")?.as_array()?;
    if posts.len() < POSTS_PAGE {
        return None;
    }
    posts.last()?.get("id")?.as_str().map(str::to_owned)
}

/// Publishes `post`. No wall named means the main wall; named walls must all
/// be the creator's (404 naming `wallIds`), checked before any media grant.
#[tracing::instrument(skip_all, fields(op = "content.publish", account = %account.id))]
pub async fn publish(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    mut post: NewPost,
) -> Answer {
    target_walls(fansly, account, &mut post).await?;
    ask(account, fansly.create_post(&account.session, &post)).await
}

/// The creator's vault albums, as Fansly lists them.
#[tracing::instrument(skip_all, fields(op = "content.albums", account = %account.id))]
pub async fn albums(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    ask(account, fansly.vault_albums(&account.session)).await
}

#[tracing::instrument(skip_all, fields(op = "content.create_album", account = %account.id))]
pub async fn create_album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    title: &str,
    description: &str,
) -> Answer {
    ask(
        account,
        fansly.create_vault_album(&account.session, title, description),
    )
    .await
}

/// Adds one vault media to the creator's story, gated by `gates`.
#[tracing::instrument(skip_all, fields(op = "content.publish_story", account = %account.id))]
pub async fn publish_story(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    media_id: &str,
    gates: &[Gate],
) -> Answer {
    ask(
        account,
        fansly.create_story(&account.session, media_id, gates),
    )
    .await
}

/// Post `post_id` as Fansly's `GET /post?ids=` answers it; a post that is
/// unknown or another creator's is a 404 naming it.
#[tracing::instrument(skip_all, fields(op = "content.own_post", account = %account.id))]
pub async fn own_post(fansly: &FanslyClient, account: &ConnectedAccount, post_id: &str) -> Answer {
    let found = ask(
        account,
        fansly.posts_by_id(&account.session, &[post_id.to_owned()]),
    )
    .await?;
    rows(&found, Some("posts"), "the posts")?
        .iter()
        .find(|p| {
            p.get("id").and_then(Value::as_str) == Some(post_id)
                && p.get("accountId").and_then(Value::as_str) == Some(account.fansly_id.as_str())
        })
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("post_id: post {post_id} not found")))
}

/// The walls a post goes to: the named ones (all the creator's, 404 naming
/// `wallIds` otherwise) or, when none is named, the main wall; its pins
/// must be among them.
async fn target_walls(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    post: &mut NewPost,
) -> Result<(), ApiError> {
    if post.wall_ids.is_empty() {
        let walls = walls(fansly, account).await?;
        let main = rows(&walls, None, "the walls")?
            .iter()
            .find(|w| w.get("mainWall").and_then(Value::as_bool) == Some(true))
            .and_then(|w| w.get("id").and_then(Value::as_str))
            .ok_or_else(|| {
                ApiError::Unprocessable("wallIds: the account has no main wall".into())
            })?;
        post.wall_ids.push(main.to_owned());
    } else {
        require_walls(fansly, account, "wallIds", &post.wall_ids).await?;
    }
    match post
        .pin_wall_ids
        .iter()
        .find(|p| !post.wall_ids.contains(p))
    {
        Some(pin) => Err(ApiError::Unprocessable(format!(
            "pinWallIds: wall {pin} is not one of the post's walls ({})",
            post.wall_ids.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Replaces post `post_id` with `post`. The post, its walls and pins are
/// checked before any media is granted, so bad input changes nothing.
#[tracing::instrument(skip_all, fields(op = "content.update_post", account = %account.id))]
pub async fn update_post(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    post_id: &str,
    mut post: NewPost,
) -> Answer {
    own_post(fansly, account, post_id).await?;
    target_walls(fansly, account, &mut post).await?;
    ask(account, fansly.edit_post(&account.session, post_id, &post)).await
}

/// Engagement and per-media statistics of the creator's post `post_id`.
#[tracing::instrument(skip_all, fields(op = "content.post_stats", account = %account.id))]
pub async fn post_stats(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    post_id: &str,
    sources: &[u8],
) -> Answer {
    own_post(fansly, account, post_id).await?;
    fansly
        .post_stats(&account.session, post_id, sources)
        .await
        .map_err(crate::fansly::answers::missing_on_404(
            account,
            format!("post_id: post {post_id}"),
        ))
}

/// Fansly's 404 for an album request names what it did not find; ours
/// names the request field too.
fn vault_404<'a>(
    account: &'a ConnectedAccount,
    field: &'static str,
) -> impl FnOnce(UpstreamError) -> ApiError + 'a {
    move |e| match e {
        UpstreamError::Api {
            status: 404,
            details,
            ..
        } => ApiError::NotFound(format!("{field}: {details}")),
        e => ApiError::upstream(&account.id, e),
    }
}

/// The creator's albums in order (a 502 if Fansly's answer has no list).
async fn album_rows(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
) -> Result<Vec<Value>, ApiError> {
    let albums = albums(fansly, account).await?;
    Ok(rows(&albums, None, "the vault albums")?.to_vec())
}

/// Fails with a 404 naming `field` unless `album_id` is one of the
/// creator's albums; answers the album and its position.
#[tracing::instrument(skip_all, fields(op = "content.require_album", account = %account.id))]
pub async fn require_album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    field: &str,
    album_id: &str,
) -> Result<(usize, usize), ApiError> {
    let albums = album_rows(fansly, account).await?;
    albums
        .iter()
        .position(|a| a.get("id").and_then(Value::as_str) == Some(album_id))
        .map(|pos| (pos, albums.len()))
        .ok_or_else(|| ApiError::NotFound(format!("{field}: album {album_id} not found")))
}

/// Album `album_id` as Fansly lists it (404 naming `field` if not the creator's).
#[tracing::instrument(skip_all, fields(op = "content.album", account = %account.id))]
pub async fn album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    field: &str,
    album_id: &str,
) -> Answer {
    album_rows(fansly, account)
        .await?
        .into_iter()
        .find(|a| a.get("id").and_then(Value::as_str) == Some(album_id))
        .ok_or_else(|| ApiError::NotFound(format!("{field}: album {album_id} not found")))
}

/// Where an upload goes in the vault, checked before anything is charged or
/// pushed: the "All" album (type 38000) always, since Fansly lists only what
/// is in it (issue 13 row 3), and `album_id` too when the caller names one
/// (404 naming `album_id` when it is not the creator's). One album read.
#[tracing::instrument(skip_all, fields(op = "content.upload_albums", account = %account.id))]
pub async fn upload_albums(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    album_id: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let albums = albums(fansly, account).await?;
    let all = fansly_upstream::all_album_id(&albums)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::BadGateway(
                "Fansly listed no \"All\" vault album (type 38000) for the account".into(),
            )
        })?;
    let Some(named) = album_id else {
        return Ok((all, None));
    };
    let known = rows(&albums, None, "the vault albums")?
        .iter()
        .any(|a| a.get("id").and_then(Value::as_str) == Some(named));
    if !known {
        return Err(ApiError::NotFound(format!(
            "album_id: album {named} not found"
        )));
    }
    Ok((all, Some(named.to_owned())))
}

#[tracing::instrument(skip_all, fields(op = "content.update_album", account = %account.id))]
pub async fn update_album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    album_id: &str,
    title: &str,
    description: &str,
) -> Answer {
    require_album(fansly, account, "album_id", album_id).await?;
    fansly
        .update_vault_album(&account.session, album_id, title, description)
        .await
        .map_err(vault_404(account, "album_id"))
}

/// Moves an album to `position` (0 = first, below the album count). Fansly
/// moves by index (`{oldPos, newPos}`), so the album's current index is read
/// from the album list first; the vendor body names the album instead.
#[tracing::instrument(skip_all, fields(op = "content.move_album", account = %account.id))]
pub async fn move_album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    album_id: &str,
    position: usize,
) -> Answer {
    let (current, count) = require_album(fansly, account, "album_id", album_id).await?;
    if position >= count {
        return Err(ApiError::Unprocessable(format!(
            "position must be between 0 and {} (the account has {count} albums), got {position}",
            count - 1
        )));
    }
    fansly
        .move_vault_album(&account.session, current, position)
        .await
        .map_err(vault_404(account, "album_id"))
}

/// Adds (or, with `remove`, detaches) vault media to an album.
#[tracing::instrument(skip_all, fields(op = "content.album_media", account = %account.id))]
pub async fn album_media(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    album_id: &str,
    media_ids: &[String],
    remove: bool,
) -> Answer {
    require_album(fansly, account, "album_id", album_id).await?;
    fansly
        .album_media(&account.session, album_id, media_ids, remove)
        .await
        .map_err(vault_404(account, "media_ids"))
}

/// Entries per `/media/vaultnew` page (INFERRED: not captured; the sandbox
/// pages the same way). A fuller page means there may be more.
pub const VAULT_PAGE: usize = 20;

/// One page of an album's media (the whole vault without an album).
#[tracing::instrument(skip_all, fields(op = "content.vault_media", account = %account.id))]
pub async fn vault_media(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    album_id: Option<&str>,
    before: Option<&str>,
) -> Answer {
    if let Some(album) = album_id {
        require_album(fansly, account, "album_id", album).await?;
    }
    let page = ask(
        account,
        fansly.vault_media(&account.session, album_id, before),
    )
    .await?;
    rows(&page, Some("albumMedia"), "the vault media")?;
    Ok(page)
}

/// The cursor of the vault page after `page`: its last albumMedia entry,
/// when the page was full.
pub fn next_vault_before(page: &Value) -> Option<String> {
    let entries = page.get("albumMedia")?.as_array()?;
    if entries.len() < VAULT_PAGE {
        return None;
    }
    entries.last()?.get("id")?.as_str().map(str::to_owned)
}
