//! `/stories`: add one media item to the creator's story.

use fansly_upstream::ids::is_snowflake;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::fansly::content;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::params;
use crate::http::routes::posts::gates;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_to_story))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoryBody {
    /// Exactly one: a `fansly_media_` id or a Fansly vault media id.
    media_files: Vec<String>,
    #[serde(default)]
    require_purchase: bool,
    /// Unlock price in thousandths of a dollar (with requirePurchase).
    price: Option<i64>,
    #[serde(default)]
    require_subscription: bool,
    #[serde(default)]
    require_follow: bool,
}

/// Add to Story: one media item, optionally gated.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/stories",
    operation_id = "addToStory",
    request_body = StoryBody,
    responses(
        (status = 200, description = "`data` is the story Fansly created", body = Object),
        (status = 404, description = "Unknown account or media handle"),
        (status = 409, description = "The media handle is not processed yet"),
        (status = 422, description = "Not exactly one media file, or a bad price"),
    ),
)]
async fn add_to_story(
    scope: AccountScope,
    ApiJson(body): ApiJson<StoryBody>,
) -> Result<Metered, ApiError> {
    let [file] = body.media_files.as_slice() else {
        return Err(ApiError::Unprocessable(
            "mediaFiles must hold exactly one media file".into(),
        ));
    };
    let gates = gates(
        body.require_purchase,
        body.price,
        body.require_subscription,
        body.require_follow,
    )?;
    // A vault media id is Fansly's own; a handle is resolved for this team.
    let native = is_snowflake(file);
    if !native {
        params::media_files(std::slice::from_ref(file), 1)?;
    }
    let media_id = if native {
        file.clone()
    } else {
        crate::media::vault_ids(
            &scope.state.db,
            scope.team(),
            &scope.account.id,
            std::slice::from_ref(file),
        )
        .await?
        .remove(0)
    };
    scope
        .call(prices::STORIES_ADD, |fansly, account| async move {
            content::publish_story(&fansly, &account, &media_id, &gates).await
        })
        .await
}
