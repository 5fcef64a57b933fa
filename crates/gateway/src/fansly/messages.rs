//! Chat messages: the rules between the HTTP layer and Fansly's `/message` calls.

use std::collections::HashSet;

use fansly_upstream::{Audience, FanslyClient, GatedMedia, NewMessage, UpstreamError};
use serde_json::{json, Value};

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::fansly::answers::Answer;
use crate::fansly::chats::{chat_error, partner_of};

/// Largest page Fansly serves from `/message`.
const FANSLY_MAX_PAGE: u32 = 100;

/// Aggregates that are keyed by the messages' attachments (`contentId`).
const ATTACHMENT_AGGREGATES: [&str; 2] = ["accountMedia", "accountMediaBundles"];

/// One page of a conversation, newest first, with `hasMore` added.
///
/// One message more than asked is fetched so `hasMore` is exact (Fansly has
/// none) and so `limit=1` works: Fansly answers `limit=1` with nothing
/// (spec §6.4). At the 100 cap, a full page asks Fansly whether anything is
/// older.
#[tracing::instrument(skip_all, fields(op = "messages.list", account = %account.id))]
pub async fn list(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    before: Option<&str>,
    limit: u32,
) -> Answer {
    let ask = (limit + 1).min(FANSLY_MAX_PAGE);
    let mut page = fansly
        .messages(&account.session, chat_id, before, ask)
        .await
        .map_err(|e| chat_error(&account.id, chat_id, e))?;
    let Some(Value::Array(messages)) = page.get_mut("messages") else {
        return Err(ApiError::BadGateway(
            "Fansly's message page has no messages array".into(),
        ));
    };
    let mut has_more = messages.len() > limit as usize;
    let trimmed = messages.len() > limit as usize;
    let oldest = messages
        .get((limit as usize).saturating_sub(1))
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if ask == limit && messages.len() == limit as usize {
        // At Fansly's cap the extra message cannot be asked for; a full page
        // is "more" only if an older message exists (a second, small read),
        // so an exactly full last page does not advertise an empty next one.
        has_more = match oldest {
            Some(oldest) => !fansly
                .messages(&account.session, chat_id, Some(&oldest), 2)
                .await
                .map_err(|e| chat_error(&account.id, chat_id, e))?
                .get("messages")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty),
            None => false,
        };
    }
    if let Some(Value::Array(messages)) = page.get_mut("messages") {
        messages.truncate(limit as usize);
    }
    if trimmed {
        drop_unreferenced_aggregates(&mut page);
    }
    if let Value::Object(map) = &mut page {
        map.insert("hasMore".into(), Value::Bool(has_more));
    }
    Ok(page)
}

/// The `before` cursor of the page after `page` (a [`list`] answer): the
/// oldest message id in it, when Fansly has more.
pub fn next_before(page: &Value) -> Option<String> {
    if page.get("hasMore").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    page.get("messages")?
        .as_array()?
        .last()?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

/// After trimming the extra message, media only it referenced is dropped so
/// the page stays self-consistent. A kept bundle keeps the accountMedia it
/// lists (`accountMediaIds`, or `bundleContent[].accountMediaId`, §8.2).
fn drop_unreferenced_aggregates(page: &mut Value) {
    let mut referenced: HashSet<String> = page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("attachments").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| a.get("contentId").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let bundle_items: Vec<String> = page["accountMediaBundles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| {
            b.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| referenced.contains(id))
        })
        .flat_map(|b| {
            let listed = b.get("accountMediaIds").and_then(Value::as_array);
            let content = b.get("bundleContent").and_then(Value::as_array);
            listed
                .into_iter()
                .flatten()
                .chain(
                    content
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.get("accountMediaId")),
                )
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    referenced.extend(bundle_items);
    for key in ATTACHMENT_AGGREGATES {
        if let Some(Value::Array(items)) = page.get_mut(key) {
            items.retain(|item| {
                item.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| referenced.contains(id))
            });
        }
    }
}

/// Sends text and/or vault media. Media needs Fansly's grant step first,
/// free and whitelisting both members (spec §8.3): one file is one
/// accountMedia attachment, several are one bundle in the given order
/// (the vendor's "several = bundle"; `fansly-upstream/src/attach.rs`).
#[tracing::instrument(skip_all, fields(op = "messages.send", account = %account.id))]
pub async fn send(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    text: String,
    vault_media: Vec<String>,
    reply_to: Option<String>,
) -> Answer {
    let up = |e| chat_error(&account.id, chat_id, e);
    let mut attachments = Vec::new();
    if !vault_media.is_empty() {
        let partner = partner_of(fansly, account, chat_id).await?;
        let media: Vec<GatedMedia> = vault_media
            .into_iter()
            .map(|media_id| GatedMedia {
                media_id,
                preview_id: None,
            })
            .collect();
        let audience = Audience::Dm {
            me: &account.fansly_id,
            fan: &partner,
        };
        attachments.extend(
            fansly
                .attach_media(&account.session, &media, audience, &[])
                .await
                .map_err(up)?,
        );
    }
    let msg = NewMessage {
        group_id: chat_id.to_owned(),
        content: text,
        attachments,
        in_reply_to: reply_to,
    };
    fansly
        .send_message(&account.session, &msg)
        .await
        .map_err(|e| match e {
            // A reply to a message Fansly does not know, for one.
            UpstreamError::Api {
                status: 400,
                details,
                ..
            } => ApiError::Unprocessable(format!("Fansly refused the message: {details}")),
            e => chat_error(&account.id, chat_id, e),
        })
}

/// Fansly answers a message id it will not act on (unknown, deleted, not
/// the caller's to delete, the caller's own to react to) with 400 code 99
/// (spec §3.2); that is the client's 404.
fn message_error(
    account: &str,
    chat_id: &str,
    verb: &str,
    ids: &str,
    err: UpstreamError,
) -> ApiError {
    match &err {
        UpstreamError::Api {
            status: 400,
            code: Some(99),
            details,
        } => ApiError::NotFound(format!(
            "message {ids} not found in chat {chat_id}, or not one this account may {verb} (Fansly: {details})"
        )),
        _ => chat_error(account, chat_id, err),
    }
}

/// 404 naming `message_id` unless it is a message of `chat_id`. Fansly acts
/// on a message id whatever the group, so the path's chat is checked first:
/// the page just older than `message_id + 1` starts with it when it is this
/// chat's (Fansly answers `limit=1` with nothing, so 2 are asked for).
pub async fn ensure_in_chat(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    message_id: &str,
) -> Result<(), ApiError> {
    let not_here = || {
        ApiError::NotFound(format!(
            "message_id {message_id} is not a message of chat {chat_id}"
        ))
    };
    let next = message_id
        .parse::<u128>()
        .map_err(|_| not_here())?
        .saturating_add(1)
        .to_string();
    let page = fansly
        .messages(&account.session, chat_id, Some(&next), 2)
        .await
        .map_err(|e| chat_error(&account.id, chat_id, e))?;
    let found = page
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| m.get("id").and_then(Value::as_str) == Some(message_id));
    if found {
        Ok(())
    } else {
        Err(not_here())
    }
}

/// 1 delivered, 2 read, 3 read and delivered, 4 unread. Answers `null`.
#[tracing::instrument(skip_all, fields(op = "messages.ack", account = %account.id))]
pub async fn ack(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    message_ids: &[String],
    kind: u8,
) -> Answer {
    ensure_all_in_chat(fansly, account, chat_id, message_ids).await?;
    fansly
        .ack_messages(&account.session, message_ids, kind)
        .await
        .map_err(|e| {
            message_error(
                &account.id,
                chat_id,
                "acknowledge",
                &message_ids.join(","),
                e,
            )
        })?;
    Ok(Value::Null)
}

/// Pages of the chat read to find a batch of ids before each id left over is
/// looked up alone: acks name recent messages, so the walk from the newest
/// id down usually finds them all in one page.
const ACK_WALK_PAGES: usize = 3;

/// [`ensure_in_chat`] for several ids: one walk down the conversation from
/// the newest of them (pages of [`FANSLY_MAX_PAGE`], at most
/// [`ACK_WALK_PAGES`], stopping at the oldest), then a single lookup for each
/// id below what the walk covered.
async fn ensure_all_in_chat(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    message_ids: &[String],
) -> Result<(), ApiError> {
    let mut wanted: Vec<u128> = Vec::with_capacity(message_ids.len());
    for id in message_ids {
        wanted.push(id.parse().map_err(|_| {
            ApiError::NotFound(format!(
                "message_id {id} is not a message of chat {chat_id}"
            ))
        })?);
    }
    let (Some(&newest), Some(&oldest)) = (wanted.iter().max(), wanted.iter().min()) else {
        return Ok(());
    };
    // A page holds every message of the chat with an id in [its lowest id,
    // `before`): an asked id in that range that is not on it is not a
    // message of this chat.
    let mut before = newest.saturating_add(1);
    let mut floor = before;
    for _ in 0..ACK_WALK_PAGES {
        let page = fansly
            .messages(
                &account.session,
                chat_id,
                Some(&before.to_string()),
                FANSLY_MAX_PAGE,
            )
            .await
            .map_err(|e| chat_error(&account.id, chat_id, e))?;
        let seen: Vec<u128> = page
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str)?.parse().ok())
            .collect();
        let Some(&lowest) = seen.iter().min() else {
            break;
        };
        floor = lowest;
        wanted.retain(|id| !seen.contains(id));
        if wanted.is_empty() || lowest <= oldest {
            break;
        }
        before = lowest;
    }
    if let Some(absent) = wanted.iter().find(|&&id| id > floor) {
        return Err(ApiError::NotFound(format!(
            "message_id {absent} is not a message of chat {chat_id}"
        )));
    }
    // Ids below what the walk covered are looked up one by one.
    for id in wanted {
        ensure_in_chat(fansly, account, chat_id, &id.to_string()).await?;
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(op = "messages.delete", account = %account.id))]
pub async fn delete(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    message_id: &str,
) -> Answer {
    ensure_in_chat(fansly, account, chat_id, message_id).await?;
    fansly
        .delete_message(&account.session, message_id)
        .await
        .map_err(|e| message_error(&account.id, chat_id, "delete", message_id, e))
}

/// Adds (`add`) or removes a reaction; answers Fansly's like object.
#[tracing::instrument(skip_all, fields(op = "messages.react", account = %account.id))]
pub async fn react(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
    message_id: &str,
    kind: u8,
    add: bool,
) -> Answer {
    ensure_in_chat(fansly, account, chat_id, message_id).await?;
    let result = if add {
        fansly
            .like_message(&account.session, message_id, kind)
            .await
    } else {
        fansly
            .unlike_message(&account.session, message_id, kind)
            .await
    };
    result.map_err(|e| {
        let verb = if add {
            "react to"
        } else {
            "remove that reaction from"
        };
        message_error(&account.id, chat_id, verb, message_id, e)
    })
}

/// Start Typing Indicator. Fansly's answer is not known for this route; the
/// vendor's OnlyFans twin answers `{"success": true}`, so that is `data`
/// (INFERRED).
#[tracing::instrument(skip_all, fields(op = "messages.typing", account = %account.id))]
pub async fn typing(fansly: &FanslyClient, account: &ConnectedAccount, chat_id: &str) -> Answer {
    fansly
        .typing(&account.session, chat_id)
        .await
        .map_err(|e| chat_error(&account.id, chat_id, e))?;
    Ok(json!({"success": true}))
}

/// Disable Chat Read Receipts: the account's own setting for this chat
/// (INFERRED: `/groups/users/settings` with `readReceiptsEnabled: false`,
/// the flag name Fansly's websocket ack events carry).
#[tracing::instrument(skip_all, fields(op = "messages.disable_read_receipts", account = %account.id))]
pub async fn disable_read_receipts(
    fansly: &FanslyClient,
    account: &ConnectedAccount,
    chat_id: &str,
) -> Answer {
    fansly
        .group_user_settings(
            &account.session,
            chat_id,
            &json!({"readReceiptsEnabled": false}),
        )
        .await
        .map_err(|e| chat_error(&account.id, chat_id, e))
}

/// Mark All Chats as Read: `/message/ack/all` with type 2 (INFERRED route).
#[tracing::instrument(skip_all, fields(op = "messages.mark_all_read", account = %account.id))]
pub async fn mark_all_read(fansly: &FanslyClient, account: &ConnectedAccount) -> Answer {
    fansly
        .ack_all(&account.session, 2)
        .await
        .map_err(|e| ApiError::upstream(&account.id, e))
}
