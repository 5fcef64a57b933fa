//! Chats (Fansly DM groups): the rules between the HTTP layer and Fansly.

use fansly_upstream::{FanslyClient, GroupsQuery, Page, UpstreamError};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::Answer;

/// Opens the DM with `user_id`, or returns the one that exists.
///
/// The user is looked up first so an unknown id is a clear 404 instead of
/// whatever Fansly answers. Fansly is taken to keep one DM group per pair and
/// to answer `POST /group` for an existing pair with that group (INFERRED,
/// spec §6.3; the sandbox does exactly this).
#[tracing::instrument(skip_all, fields(op = "chats.create_chat", account = %account.id))]
pub async fn create_chat(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    user_id: &str,
) -> Answer {
    if user_id == account.fansly_id {
        return Err(ApiError::Unprocessable(
            "user_id is the connected account itself; a chat needs another user".into(),
        ));
    }
    let up = |e| ApiError::upstream(&account.id, e);
    let found: Value = fansly
        .accounts_by_ids(&account.session, &[user_id.to_owned()])
        .await
        .map_err(up)?;
    let exists = found.as_array().is_some_and(|a| {
        a.iter()
            .any(|u| u.get("id").and_then(Value::as_str) == Some(user_id))
    });
    if !exists {
        return Err(ApiError::NotFound(format!(
            "Fansly user {user_id} not found"
        )));
    }
    let group = fansly
        .create_group(&account.session, &account.fansly_id, user_id)
        .await
        .map_err(up)?;
    if group.get("id").and_then(Value::as_str).is_none() {
        return Err(ApiError::BadGateway(
            "Fansly answered the chat creation without a chat id".into(),
        ));
    }
    Ok(group)
}

/// Maps a Fansly failure on one chat: Fansly answers an unknown (or foreign)
/// group with HTTP 500 "error getting group" / "error getting group messages"
/// (spec §3.2), which is the client's 404, not a gateway failure.
pub fn chat_error(account: &str, chat_id: &str, err: UpstreamError) -> ApiError {
    match &err {
        UpstreamError::Api {
            status: 500,
            details,
            ..
        } if details.starts_with("error getting group") => {
            ApiError::NotFound(format!("chat {chat_id} not found"))
        }
        _ => ApiError::upstream(account, err),
    }
}

/// How List Chats orders conversations, mapped to `/messaging/groups`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatOrder {
    Newest,
    Oldest,
    Unread,
}

impl ChatOrder {
    pub fn parse(raw: &str) -> Option<ChatOrder> {
        match raw {
            "newest" => Some(ChatOrder::Newest),
            "oldest" => Some(ChatOrder::Oldest),
            "unread" => Some(ChatOrder::Unread),
            _ => None,
        }
    }
}

/// One page of conversations: Fansly's `{data, aggregationData}` (the
/// route's paging adds `hasMore` from `aggregationData.total`, or a look past
/// the page when Fansly leaves the total out).
///
/// INFERRED (spec §6.1): `sortOrder` 1 is newest activity first and 2 oldest
/// first; "unread" is `flags=2` (unread only) in newest order.
#[tracing::instrument(skip_all, fields(op = "chats.list_chats", account = %account.id))]
pub async fn list_chats(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    page: &Page,
    search: String,
    order: ChatOrder,
) -> Answer {
    let query = GroupsQuery {
        limit: page.limit,
        offset: page.offset,
        sort_order: if order == ChatOrder::Oldest { 2 } else { 1 },
        flags: if order == ChatOrder::Unread { 2 } else { 0 },
        search,
    };
    let page = fansly
        .messaging_groups(&account.session, &query)
        .await
        .map_err(|e| ApiError::upstream(&account.id, e))?;
    if page.get("data").and_then(Value::as_array).is_none() {
        return Err(ApiError::BadGateway(
            "Fansly's chat list has no data array".into(),
        ));
    }
    Ok(page)
}

/// Show Chat: the group with its members and latest message.
#[tracing::instrument(skip_all, fields(op = "chats.show_chat", account = %account.id))]
pub async fn show_chat(fansly: &FanslyClient, account: &ConnectedAccount, chat_id: &str) -> Answer {
    fansly
        .group(&account.session, chat_id)
        .await
        .map_err(|e| chat_error(&account.id, chat_id, e))
}

/// The other member of a DM, from the group's `users`.
#[tracing::instrument(skip_all, fields(op = "chats.partner_of", account = %account.id))]
pub async fn partner_of(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
) -> Result<String, ApiError> {
    let group = show_chat(fansly, account, chat_id).await?;
    group
        .get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.get("userId").and_then(Value::as_str))
        .find(|id| *id != account.fansly_id)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadGateway(format!("Fansly's chat {chat_id} has no partner")))
}
