//! `/api/fansly/{fanslyAccount}/chats`

use axum::extract::{Path, State};
use fansly_upstream::ids::is_snowflake;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::envelope::Metered;
use crate::http::extract::{ApiJson, Authed};
use crate::metering::{CachePolicy, Endpoint};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_chat))
}

const CREATE_CHAT: Endpoint = Endpoint {
    name: "chats.create",
    cost: 1,
    cache: CachePolicy::Disabled,
};

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
    let account = state
        .sessions
        .connected(&state.db, &authed.caller.team_id, &account)
        .await?;
    let fansly = state.fansly.clone();
    authed
        .bill(&state, CREATE_CHAT, async move {
            crate::chats::create_chat(&fansly, &account, &body.user_id).await
        })
        .await
}
