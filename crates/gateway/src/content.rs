//! Creator content: walls (the profile's feeds), posts, stories and vault albums.

use fansly_upstream::{FanslyClient, Gate, NewPost, NewWall};
use serde_json::Value;

use crate::accounts::ConnectedAccount;
use crate::error::ApiError;
use crate::fansly_answers::{rows, upstream};

/// The creator's walls in profile order, the main one flagged.
pub async fn walls(fansly: &FanslyClient, account: &ConnectedAccount) -> Result<Value, ApiError> {
    let walls = fansly
        .walls(&account.session)
        .await
        .map_err(upstream(account))?;
    rows(&walls, None, "the walls")?;
    Ok(walls)
}

/// Fails with a 404 naming `field` unless every id is one of the creator's
/// walls; checked before anything is sent that depends on them.
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

pub async fn create_wall(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    wall: NewWall,
) -> Result<Value, ApiError> {
    if let Some(from) = &wall.copy_from {
        require_walls(fansly, account, "copyFrom", std::slice::from_ref(from)).await?;
    }
    fansly
        .create_wall(&account.session, &wall)
        .await
        .map_err(upstream(account))
}

/// Posts per Fansly timeline page (§9): a fuller page means there may be more.
pub const POSTS_PAGE: usize = 15;

/// One timeline page of the creator's posts, newest first, with the
/// accountMedia they attach. An unknown `wall_id` is a 404 naming it.
pub async fn posts(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    before: Option<&str>,
    wall_id: Option<&str>,
    search: Option<&str>,
) -> Result<Value, ApiError> {
    if let Some(wall) = wall_id {
        require_walls(fansly, account, "wall_id", &[wall.to_owned()]).await?;
    }
    let page = fansly
        .timeline(
            &account.session,
            &account.fansly_id,
            before,
            wall_id,
            search,
        )
        .await
        .map_err(upstream(account))?;
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
pub async fn publish(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    mut post: NewPost,
) -> Result<Value, ApiError> {
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
    fansly
        .create_post(&account.session, &post)
        .await
        .map_err(upstream(account))
}

/// The creator's vault albums, as Fansly lists them.
pub async fn albums(fansly: &FanslyClient, account: &ConnectedAccount) -> Result<Value, ApiError> {
    fansly
        .vault_albums(&account.session)
        .await
        .map_err(upstream(account))
}

pub async fn create_album(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    title: &str,
    description: &str,
) -> Result<Value, ApiError> {
    fansly
        .create_vault_album(&account.session, title, description)
        .await
        .map_err(upstream(account))
}

/// Adds one vault media to the creator's story, gated by `gates`.
pub async fn publish_story(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    media_id: &str,
    gates: &[Gate],
) -> Result<Value, ApiError> {
    fansly
        .create_story(&account.session, media_id, gates)
        .await
        .map_err(upstream(account))
}
