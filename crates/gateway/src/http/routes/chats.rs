//! `/api/fansly/{fanslyAccount}/chats`

use axum::extract::{Path, Query, State};
use fansly_upstream::ids::is_snowflake;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::fansly::chats::ChatOrder;
use crate::http::calls::{call, endpoint};
use crate::http::envelope::{page_url, Metered};
use crate::http::extract::{ApiJson, Authed};
use crate::http::params;
use crate::http::state::AppState;
use crate::metering::meta::Endpoint;

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

/// Create Chat: opens (or returns the existing) DM with a Fansly user.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats",
    tag = "Chats",
    operation_id = "createChat",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID", example = "fansly_acct_XXXXXXXXXXXXXXX")),
    request_body = CreateChatBody,
    responses(
        (status = 200, description = "`data` is the Fansly group (chat); the same `id` when the chat already existed", body = Object),
        (status = 401, description = "Missing, invalid or revoked API key"),
        (status = 402, description = "Out of credits"),
        (status = 404, description = "Unknown account or user"),
        (status = 422, description = "Missing or ill-typed `user_id`"),
        (status = 429, description = "Rate limited (team or Fansly)"),
    ),
    security(("default" = []))
)]
async fn create_chat(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateChatBody>,
) -> Result<Metered, ApiError> {
    if !is_snowflake(&body.user_id) {
        return Err(ApiError::Unprocessable(
            "user_id must be a Fansly account id: a string of digits".into(),
        ));
    }
    call(
        &state,
        authed,
        &account,
        endpoint("chats.create"),
        |f, a| async move { crate::fansly::chats::create_chat(&f, &a, &body.user_id).await },
    )
    .await
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
    tag = "Chats",
    operation_id = "listChats",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID"), ListChatsQuery),
    responses(
        (status = 200, description = "`data` is Fansly's `{data, aggregationData}` plus `hasMore`; top-level `_pagination.next_page`", body = Object),
        (status = 404, description = "Unknown account"),
        (status = 422, description = "`limit`, `offset` or `order` out of range"),
    ),
    security(("default" = []))
)]
async fn list_chats(
    State(state): State<AppState>,
    authed: Authed,
    Path(account_id): Path<String>,
    Query(q): Query<ListChatsQuery>,
) -> Result<Metered, ApiError> {
    let limit = params::limit(q.limit.as_deref(), 20, 100)?;
    let offset = params::offset(q.offset.as_deref())?;
    let order_raw = q.order.as_deref().map(str::trim).filter(|o| !o.is_empty());
    let order = match order_raw {
        None => ChatOrder::Newest,
        Some(o) => ChatOrder::parse(o).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "order must be one of newest, oldest, unread; got {o:?}"
            ))
        })?,
    };
    let search = q.search.unwrap_or_default();
    let search_for_work = search.clone();
    let metered = call(
        &state,
        authed,
        &account_id,
        endpoint("chats.list"),
        |f, a| async move {
            crate::fansly::chats::list_chats(&f, &a, limit, offset, search_for_work, order).await
        },
    )
    .await?;
    let next_page = crate::fansly::chats::next_offset(&metered.data, offset).map(|next| {
        let mut query = vec![("limit", limit.to_string()), ("offset", next.to_string())];
        if !search.is_empty() {
            query.push(("search", search.clone()));
        }
        if let Some(o) = order_raw {
            query.push(("order", o.to_owned()));
        }
        page_url(&state, &format!("/api/fansly/{account_id}/chats"), &query)
    });
    Ok(metered.with_next_page(next_page))
}

/// Show Chat: one conversation's members, permission flags and latest message.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}",
    tag = "Chats",
    operation_id = "showChat",
    params(
        ("fanslyAccount" = String, Path, description = "The Fansly Account ID"),
        ("chat_id" = String, Path, description = "The Fansly chat (group) ID"),
    ),
    responses(
        (status = 200, description = "`data` is the Fansly group", body = Object),
        (status = 404, description = "Unknown account or chat"),
        (status = 422, description = "`chat_id` is not a Fansly id"),
    ),
    security(("default" = []))
)]
async fn show_chat(
    State(state): State<AppState>,
    authed: Authed,
    Path((account, chat_id)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    params::fansly_id("chat_id", &chat_id)?;
    call(
        &state,
        authed,
        &account,
        endpoint("chats.show"),
        |f, a| async move { crate::fansly::chats::show_chat(&f, &a, &chat_id).await },
    )
    .await
}

/// Mark All Chats as Read.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats/mark-all-as-read",
    tag = "Chats",
    operation_id = "markAllChatsAsRead",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID")),
    responses(
        (status = 200, description = "`data` is Fansly's answer (`null`)", body = Object),
        (status = 404, description = "Unknown account"),
    ),
    security(("default" = []))
)]
async fn mark_all_as_read(
    State(state): State<AppState>,
    authed: Authed,
    Path(account): Path<String>,
) -> Result<Metered, ApiError> {
    call(
        &state,
        authed,
        &account,
        endpoint("chats.mark_all_read"),
        |f, a| async move { crate::fansly::messages::mark_all_read(&f, &a).await },
    )
    .await
}

/// Start Typing Indicator (no credits).
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}/typing",
    tag = "Chats",
    operation_id = "startTypingIndicator",
    params(
        ("fanslyAccount" = String, Path, description = "The Fansly Account ID"),
        ("chat_id" = String, Path, description = "The Fansly chat (group) ID"),
    ),
    responses(
        (status = 200, description = "`data` is `{\"success\": true}`", body = Object),
        (status = 404, description = "Unknown account or chat"),
    ),
    security(("default" = []))
)]
async fn typing(
    State(state): State<AppState>,
    authed: Authed,
    Path((account, chat_id)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    params::fansly_id("chat_id", &chat_id)?;
    call(
        &state,
        authed,
        &account,
        Endpoint::uncached("chats.typing", 0),
        |f, a| async move { crate::fansly::messages::typing(&f, &a, &chat_id).await },
    )
    .await
}

/// Disable Chat Read Receipts for one conversation.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/chats/{chat_id}/read-receipts/disable",
    tag = "Chats",
    operation_id = "disableChatReadReceipts",
    params(
        ("fanslyAccount" = String, Path, description = "The Fansly Account ID"),
        ("chat_id" = String, Path, description = "The Fansly chat (group) ID"),
    ),
    responses(
        (status = 200, description = "`data` is Fansly's answer: the account's settings for the chat", body = Object),
        (status = 404, description = "Unknown account or chat"),
    ),
    security(("default" = []))
)]
async fn disable_read_receipts(
    State(state): State<AppState>,
    authed: Authed,
    Path((account, chat_id)): Path<(String, String)>,
) -> Result<Metered, ApiError> {
    params::fansly_id("chat_id", &chat_id)?;
    call(
        &state,
        authed,
        &account,
        endpoint("chats.read_receipts.disable"),
        |f, a| async move { crate::fansly::messages::disable_read_receipts(&f, &a, &chat_id).await },
    )
    .await
}
