//! `/api/fansly/{fanslyAccount}/chats`

use axum::extract::Query;
use fansly_upstream::ids::is_snowflake;
use fansly_upstream::Page;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::fansly::chats::{self, ChatOrder};
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::{AccountScope, Rows};
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_chat, list_chats))
        .routes(routes!(show_chat))
        .routes(routes!(mark_all_as_read))
        .routes(routes!(typing))
        .routes(routes!(disable_read_receipts))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateChatBody {
    /// Fansly account id of the user to chat with (a string of digits).
    #[schema(example = "800000000000000002")]
    user_id: String,
}

endpoint! {
    /// Create Chat: opens (or returns the existing) DM with a Fansly user.
    post "/api/fansly/{fanslyAccount}/chats" "createChat",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID", example = "fansly_acct_XXXXXXXXXXXXXXX")),
    request_body = CreateChatBody,
    responses(
        (status = 200, description = "`data` is the Fansly group (chat); the same `id` when the chat already existed", body = Object),
        (status = 404, description = "Unknown account or user"),
        (status = 422, description = "Missing or ill-typed `user_id`"),
    ),
    fn create_chat(scope: AccountScope, ApiJson(body): ApiJson<CreateChatBody>) {
        if !is_snowflake(&body.user_id) {
            return Err(ApiError::Unprocessable(
                "user_id must be a Fansly account id: a string of digits".into(),
            ));
        }
        scope
            .call(prices::CHATS_CREATE, |f, a| async move {
                chats::create_chat(&f, &a, &body.user_id).await
            })
            .await
    }
}

#[derive(Deserialize, IntoParams)]
struct ListChatsQuery {
    /// Number of chats to return (1 - 100). Default = 20
    limit: Option<String>,
    /// Number of chats to skip. Default = 0
    offset: Option<String>,
    /// Filter chats by partner username or display name
    search: Option<String>,
    /// newest | oldest | unread. Default = newest
    order: Option<String>,
}

/// List Chats: the DM conversations with partner accounts aggregated alongside.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/chats",
    operation_id = "listChats",
    params(ListChatsQuery),
    responses(
        (status = 200, description = "`data` is Fansly's `{data, aggregationData}` plus `hasMore`; top-level `_pagination.next_page`", body = Object),
        (status = 422, description = "`limit`, `offset` or `order` out of range"),
    ),
)]
async fn list_chats(
    scope: AccountScope,
    next: NextPage,
    Query(q): Query<ListChatsQuery>,
) -> Result<Metered, ApiError> {
    let page = Page {
        limit: params::limit(q.limit.as_deref(), 20, 100)?,
        offset: params::offset(q.offset.as_deref())?,
    };
    let order = match q.order.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        None => ChatOrder::Newest,
        Some(o) => ChatOrder::parse(o).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "order must be one of newest, oldest, unread; got {o:?}"
            ))
        })?,
    };
    let search = q.search.unwrap_or_default();
    let rows = Rows::of(Some("data"), Some("/aggregationData/total"));
    let mut metered = scope
        .call_paged(prices::CHATS_LIST, next, page, rows, move |f, a, p| {
            let search = search.clone();
            async move { chats::list_chats(&f, &a, &p, search, order).await }
        })
        .await?;
    // The vendor's `hasMore` says what `_pagination.next_page` says.
    let more = matches!(metered.next_page, Some(Some(_)));
    if let Value::Object(map) = &mut metered.data {
        map.insert("hasMore".into(), Value::Bool(more));
    }
    Ok(metered)
}

endpoint! {
    /// Show Chat: one conversation's members, permission flags and latest message.
    get "/api/fansly/{fanslyAccount}/chats/{chat_id}" "showChat",
    responses((status = 200, description = "`data` is the Fansly group", body = Object), (status = 404, description = "Unknown account or chat"), (status = 422, description = "`chat_id` is not a Fansly id")),
    fn show_chat(chat_id: "chat_id") => prices::CHATS_SHOW, chats::show_chat
}

endpoint! {
    /// Mark All Chats as Read.
    post "/api/fansly/{fanslyAccount}/chats/mark-all-as-read" "markAllChatsAsRead",
    responses((status = 200, description = "`data` is Fansly's answer (`null`)", body = Object)),
    fn mark_all_as_read => prices::CHATS_MARK_ALL_READ, crate::fansly::messages::mark_all_read
}

endpoint! {
    /// Start Typing Indicator (no credits).
    post "/api/fansly/{fanslyAccount}/chats/{chat_id}/typing" "startTypingIndicator",
    responses((status = 200, description = "`data` is `{\"success\": true}`", body = Object), (status = 404, description = "Unknown account or chat")),
    fn typing(chat_id: "chat_id") => prices::CHATS_TYPING, crate::fansly::messages::typing
}

endpoint! {
    /// Disable Chat Read Receipts for one conversation.
    post "/api/fansly/{fanslyAccount}/chats/{chat_id}/read-receipts/disable" "disableChatReadReceipts",
    responses((status = 200, description = "`data` is Fansly's answer: the account's settings for the chat", body = Object), (status = 404, description = "Unknown account or chat")),
    fn disable_read_receipts(chat_id: "chat_id") => prices::CHATS_READ_RECEIPTS_DISABLE, crate::fansly::messages::disable_read_receipts
}
