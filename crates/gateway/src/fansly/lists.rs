//! The creator's custom fan lists and their members. Members are Fansly
//! account ids (Fansly's list item id is the member's account id, spec §5.7).

use fansly_upstream::{list_items_cursor, FanslyClient, Page};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::{ask, missing_on_404, rows, Answer};
use crate::fansly::fans::require_users;

fn list_missing<'a>(
    account: &'a ConnectedAccount,
    list_id: &str,
) -> impl FnOnce(fansly_upstream::UpstreamError) -> ApiError + 'a {
    missing_on_404(account, format!("list {list_id}"))
}

#[tracing::instrument(skip_all, fields(op = "lists.lists", account = %account.id))]
pub async fn lists(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    ask(account, fansly.lists(&account.session)).await
}

#[tracing::instrument(skip_all, fields(op = "lists.create", account = %account.id))]
pub async fn create(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    label: &str,
    description: &str,
) -> Answer {
    ask(
        account,
        fansly.create_list(&account.session, label, description),
    )
    .await
}

#[tracing::instrument(skip_all, fields(op = "lists.update", account = %account.id))]
pub async fn update(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    list_id: &str,
    label: Option<&str>,
    description: Option<&str>,
) -> Answer {
    fansly
        .update_list(&account.session, list_id, label, description)
        .await
        .map_err(list_missing(account, list_id))
}

#[tracing::instrument(skip_all, fields(op = "lists.delete", account = %account.id))]
pub async fn delete(fansly: &FanslyClient, account: &ConnectedAccount, list_id: &str) -> Answer {
    fansly
        .delete_list(&account.session, list_id)
        .await
        .map_err(list_missing(account, list_id))
}

/// Moves the list at position `from` to `to` (0-based, dashboard order);
/// positions are checked against the current lists for a clear 422.
#[tracing::instrument(skip_all, fields(op = "lists.reorder", account = %account.id))]
pub async fn reorder(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    from: u32,
    to: u32,
) -> Answer {
    let current = lists(fansly, account).await?;
    let count = rows(&current, None, "the lists")?.len() as u32;
    if let Some((name, pos)) = [("from", from), ("to", to)]
        .into_iter()
        .find(|(_, p)| *p >= count)
    {
        return Err(ApiError::Unprocessable(format!(
            "{name} must be a list position between 0 and {}, got {pos}",
            count.saturating_sub(1)
        )));
    }
    ask(account, fansly.reorder_lists(&account.session, from, to)).await?;
    lists(fansly, account).await
}

/// List Items in List keeps the vendor's `limit`/`offset`, but Fansly's
/// `/lists/itemsnew` pages only by cursor (`after` = the last row's
/// `sortId`): walk its pages from the start until the asked window is
/// covered or the list ends, then cut the window out.
#[tracing::instrument(skip_all, fields(op = "lists.items", account = %account.id))]
pub async fn items(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    list_id: &str,
    page: &Page,
) -> Answer {
    let want = page.offset as usize + page.limit as usize;
    let mut all: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    while all.len() < want {
        let v = fansly
            .list_items(&account.session, list_id, after.as_deref())
            .await
            .map_err(list_missing(account, list_id))?;
        rows(&v, None, "the list items")?;
        let next = list_items_cursor(&v);
        all.extend(v.as_array().cloned().unwrap_or_default());
        match next {
            // A cursor that does not move would repeat the page forever.
            Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
            _ => break,
        }
    }
    Ok(Value::Array(
        all.into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect(),
    ))
}

/// Adds users (checked to exist first: 404 names the unknown ones).
#[tracing::instrument(skip_all, fields(op = "lists.add", account = %account.id))]
pub async fn add(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    list_id: &str,
    user_ids: &[String],
) -> Answer {
    require_users(fansly, account, user_ids).await?;
    fansly
        .add_to_list(&account.session, list_id, user_ids)
        .await
        .map_err(list_missing(account, list_id))
}

#[tracing::instrument(skip_all, fields(op = "lists.remove", account = %account.id))]
pub async fn remove(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    list_id: &str,
    user_ids: &[String],
) -> Answer {
    fansly
        .remove_from_list(&account.session, list_id, user_ids)
        .await
        .map_err(list_missing(account, list_id))
}
