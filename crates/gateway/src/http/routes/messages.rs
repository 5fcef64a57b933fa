//! `/api/fansly/{fanslyAccount}/chats/{chat_id}/messages…`

use axum::extract::{Path, Query};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, send_message))
        .routes(routes!(ack_messages))
        .routes(routes!(delete_message))
        .routes(routes!(add_reaction, remove_reaction))
}

/// Most messages one ack may name (vendor limit).
const MAX_ACK: usize = 25;
/// Most media files one message may carry.
const MAX_MEDIA_FILES: usize = 50;
/// Fansly's message length limit is not documented; this bounds the body.
const MAX_TEXT_CHARS: usize = 10_000;

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// Number of messages to return (1 - 100). Default = 25
    limit: Option<String>,
    /// Cursor: id of the oldest message of the previous page; empty = most recent
    before: Option<String>,
}

/// List Chat Messages: newest first, with referenced media, tips and orders.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
    operation_id = "listChatMessages",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "`data` is Fansly's page (`messages`, `accountMedia`, `accountMediaBundles`, `tips` …) plus `hasMore`", body = Object),
        (status = 404, description = "Unknown account or chat"),
        (status = 422, description = "`limit` out of 1–100, or a malformed id"),
    ),
)]
async fn list_messages(
    scope: AccountScope,
    Path((_account, chat_id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    next: NextPage,
) -> Result<Metered, ApiError> {
    let limit = params::limit(q.limit.as_deref(), 25, 100)?;
    let before = q.before.filter(|b| !b.trim().is_empty());
    if let Some(b) = &before {
        FanslyId::parse("before", b)?;
    }
    let chat_id = FanslyId::parse("chat_id", &chat_id)?;
    let chat_for_work = chat_id.clone();
    let metered = scope
        .call(prices::MESSAGES_LIST, |fansly, account| async move {
            crate::fansly::messages::list(
                &fansly,
                &account,
                &chat_for_work,
                before.as_deref(),
                limit,
            )
            .await
        })
        .await?;
    let next_page = next.only(&[("limit", Some(limit))]).cursor(
        "before",
        crate::fansly::messages::next_before(&metered.data),
    );
    Ok(metered.with_next_page(next_page))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageBody {
    /// Message text. Required unless mediaFiles is given.
    #[schema(example = "Hey there!")]
    text: Option<String>,
    /// `fansly_media_` ids from Upload Media: one is one attachment, several
    /// are one bundle in the given order.
    #[serde(default)]
    media_files: Vec<String>,
    /// A message of this chat to reply to.
    reply_to_message_id: Option<String>,
}

/// Send Chat Message: text and/or media.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
    operation_id = "sendChatMessage",
    request_body = SendMessageBody,
    responses(
        (status = 200, description = "`data` is the message Fansly created", body = Object),
        (status = 404, description = "Unknown account, chat or media handle"),
        (status = 409, description = "A media handle is not processed yet"),
        (status = 422, description = "Neither text nor mediaFiles, or a malformed id"),
    ),
)]
async fn send_message(
    scope: AccountScope,
    Path((_account, chat_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SendMessageBody>,
) -> Result<Metered, ApiError> {
    let text = body.text.unwrap_or_default();
    if text.trim().is_empty() && body.media_files.is_empty() {
        return Err(ApiError::Unprocessable(
            "text is required unless mediaFiles is given".into(),
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    params::media_files(&body.media_files, MAX_MEDIA_FILES)?;
    let reply_to = body.reply_to_message_id.filter(|r| !r.is_empty());
    if let Some(r) = &reply_to {
        FanslyId::parse("replyToMessageId", r)?;
    }
    let chat_id = FanslyId::parse("chat_id", &chat_id)?;
    let vault = crate::media::vault_ids(
        &scope.state.db,
        scope.team(),
        &scope.account.id,
        &body.media_files,
    )
    .await?;
    scope
        .call(prices::MESSAGES_SEND, |fansly, account| async move {
            crate::fansly::messages::send(&fansly, &account, &chat_id, text, vault, reply_to).await
        })
        .await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AckBody {
    /// Fansly message ids (at most 25).
    message_ids: Vec<String>,
    /// 1 delivered, 2 read, 3 read and delivered, 4 unread.
    #[serde(rename = "type")]
    #[schema(example = 2)]
    kind: u8,
}

/// Acknowledge Chat Messages: delivered, read or unread.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages/ack",
    operation_id = "acknowledgeChatMessages",
    request_body = AckBody,
    responses(
        (status = 200, description = "`data` is `null`", body = Object),
        (status = 404, description = "Unknown account, chat or message"),
        (status = 422, description = "No ids, more than 25, a malformed id, or `type` outside 1–4"),
    ),
)]
async fn ack_messages(
    scope: AccountScope,
    Path((_account, chat_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AckBody>,
) -> Result<Metered, ApiError> {
    if body.message_ids.is_empty() || body.message_ids.len() > MAX_ACK {
        return Err(ApiError::Unprocessable(format!(
            "messageIds must hold 1 to {MAX_ACK} ids, got {}",
            body.message_ids.len()
        )));
    }
    for id in &body.message_ids {
        FanslyId::parse("messageIds", id)?;
    }
    if !(1..=4).contains(&body.kind) {
        return Err(ApiError::Unprocessable(format!(
            "type must be 1 (delivered), 2 (read), 3 (read and delivered) or 4 (unread), got {}",
            body.kind
        )));
    }
    let chat_id = FanslyId::parse("chat_id", &chat_id)?;
    scope
        .call(prices::MESSAGES_ACK, |fansly, account| async move {
            crate::fansly::messages::ack(&fansly, &account, &chat_id, &body.message_ids, body.kind)
                .await
        })
        .await
}

endpoint! {
    /// Delete Chat Message: one the account sent.
    delete "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages/{message_id}" "deleteChatMessage",
    responses(
        (status = 200, description = "`data` is Fansly's answer (`null`)", body = Object),
        (status = 404, description = "Unknown account, chat or message, or a message the account did not send"),
        (status = 422, description = "A malformed id"),
    ),
    fn delete_message(
        scope: AccountScope,
        Path((_account, chat_id, message_id)): Path<(String, String, String)>,
    ) {
        let message_id = FanslyId::parse("message_id", &message_id)?;
        let chat_id = FanslyId::parse("chat_id", &chat_id)?;
        scope
            .call(prices::MESSAGES_DELETE, |fansly, account| async move {
                crate::fansly::messages::delete(&fansly, &account, &chat_id, &message_id).await
            })
            .await
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ReactionBody {
    /// 1 heart, 2 laughing, 3 wow, 4 cry, 5 fire, 6 thumbs up, 7 thumbs down.
    #[serde(rename = "type")]
    #[schema(example = 1)]
    kind: u8,
}

async fn react(
    scope: AccountScope,
    (_account, chat_id, message_id): (String, String, String),
    kind: u8,
    add: bool,
) -> Result<Metered, ApiError> {
    let message_id = FanslyId::parse("message_id", &message_id)?;
    if !(1..=7).contains(&kind) {
        return Err(ApiError::Unprocessable(format!(
            "type must be a reaction from 1 to 7, got {kind}"
        )));
    }
    let chat_id = FanslyId::parse("chat_id", &chat_id)?;
    let price = if add {
        prices::MESSAGES_REACT
    } else {
        prices::MESSAGES_UNREACT
    };
    scope
        .call(price, |fansly, account| async move {
            crate::fansly::messages::react(&fansly, &account, &chat_id, &message_id, kind, add)
                .await
        })
        .await
}

endpoint! {
    /// Add Reaction to Chat Message.
    post "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages/{message_id}/reactions" "addReactionToChatMessage",
    tag = "Chats",
    request_body = ReactionBody,
    responses(
        (status = 200, description = "`data` is Fansly's like `{accountId, messageId, type, groupId, id}`", body = Object),
        (status = 404, description = "Unknown account, chat or message (or the account's own message)"),
        (status = 422, description = "`type` outside 1–7, or a malformed id"),
    ),
    fn add_reaction(
        scope: AccountScope,
        Path(path): Path<(String, String, String)>,
        ApiJson(body): ApiJson<ReactionBody>,
    ) {
        react(scope, path, body.kind, true).await
    }
}

endpoint! {
    /// Remove Reaction from Chat Message.
    delete "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages/{message_id}/reactions" "removeReactionFromChatMessage",
    tag = "Chats",
    request_body = ReactionBody,
    responses(
        (status = 200, description = "`data` is the removed like", body = Object),
        (status = 404, description = "Unknown account, chat, message or reaction"),
        (status = 422, description = "`type` outside 1–7, or a malformed id"),
    ),
    fn remove_reaction(
        scope: AccountScope,
        Path(path): Path<(String, String, String)>,
        ApiJson(body): ApiJson<ReactionBody>,
    ) {
        react(scope, path, body.kind, false).await
    }
}
