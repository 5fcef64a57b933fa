//! `/posts`: the creator's wall posts — list (cursor `before`) and publish.

use axum::extract::{Path, State};
use fansly_upstream::{Gate, NewPost};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::content;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::http::calls::endpoint;
use crate::http::envelope::{page_url, Metered};
use crate::http::extract::{ApiJson, Authed};
use crate::http::params::{self, fansly_id, Params};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_posts, send_post))
}

/// Most media files one post may carry (INFERRED, as for messages).
const MAX_MEDIA_FILES: usize = 50;
/// Fansly's post length limit is not documented; this bounds the body.
const MAX_TEXT_CHARS: usize = 10_000;
/// Purchase price bounds in mills (INFERRED: $1.00 to $500.00).
const MIN_PRICE: i64 = 1_000;
const MAX_PRICE: i64 = 500_000;

#[derive(Deserialize, IntoParams)]
#[allow(dead_code)] // documents the query for OpenAPI; read through `Params`
struct ListQuery {
    /// Id of the last post of the previous page; omit or 0 for the first page.
    before: Option<String>,
    /// Only posts on this wall (from List Walls).
    wall_id: Option<String>,
    /// Only posts whose text contains this.
    search: Option<String>,
}

/// List Posts: the creator's live posts, newest first, 15 per page.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/posts",
    tag = "Posts",
    operation_id = "listPosts",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID"), ListQuery),
    responses(
        (status = 200, description = "`data` is Fansly's timeline page (`posts`, `accountMedia`, `accountMediaBundles`, `accounts` …)", body = Object),
        (status = 404, description = "Unknown account or wall_id"),
        (status = 422, description = "A malformed id"),
    ),
    security(("default" = []))
)]
async fn list_posts(
    State(state): State<AppState>,
    authed: Authed,
    Path(account_id): Path<String>,
    params: Params,
) -> Result<Metered, ApiError> {
    let before = params.snowflake("before")?.filter(|b| b != "0");
    let wall_id = params.snowflake("wall_id")?;
    let search = params.get("search").map(str::to_owned);
    if params.get("after").is_some() {
        return Err(ApiError::Unprocessable(
            "after is not supported; page with before".into(),
        ));
    }
    let account = state
        .sessions
        .connected(&authed.caller.team_id, &account_id)
        .await?;
    let fansly = state.fansly.clone();
    let (wall, text) = (wall_id.clone(), search.clone());
    let metered = authed
        .bill(&state, endpoint("posts.list"), async move {
            content::posts(
                &fansly,
                &account,
                before.as_deref(),
                wall.as_deref(),
                text.as_deref(),
            )
            .await
        })
        .await?;
    // The next page keeps the filters and moves the cursor.
    let next = content::next_before(&metered.data).map(|before| {
        let mut query = vec![("before", before)];
        query.extend(wall_id.map(|w| ("wall_id", w)));
        query.extend(search.map(|s| ("search", s)));
        page_url(&state, &format!("/api/fansly/{account_id}/posts"), &query)
    });
    Ok(metered.with_next_page(next))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendPostBody {
    /// Post text. Required unless mediaFiles is given.
    #[schema(example = "New set is up!")]
    text: Option<String>,
    /// `fansly_media_` ids from Upload Media, attached in order.
    #[serde(default)]
    media_files: Vec<String>,
    /// Walls to publish to (List Walls); default: the main wall.
    #[serde(default)]
    wall_ids: Vec<String>,
    /// Gate the media behind a purchase of `price`.
    #[serde(default)]
    require_purchase: bool,
    /// Gate the media behind a subscription.
    #[serde(default)]
    require_subscription: bool,
    /// Gate the media behind a follow.
    #[serde(default)]
    require_follow: bool,
    /// Unlock price in thousandths of a dollar (with requirePurchase).
    price: Option<i64>,
    /// Publish later: Unix ms in the future.
    scheduled_for: Option<i64>,
    /// Remove the post at this Unix ms.
    expires_at: Option<i64>,
}

impl SendPostBody {
    /// Everything that can be checked without Fansly; media handles are
    /// left for `media::vault_ids`.
    fn validate(&self, now_ms: i64) -> Result<(String, Vec<Gate>, Vec<String>), ApiError> {
        let bad = |msg: String| Err(ApiError::Unprocessable(msg));
        let text = self.text.clone().unwrap_or_default();
        if text.trim().is_empty() && self.media_files.is_empty() {
            return bad("text is required unless mediaFiles is given".into());
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return bad(format!("text is longer than {MAX_TEXT_CHARS} characters"));
        }
        params::media_files(&self.media_files, MAX_MEDIA_FILES)?;
        let gates = gates(
            self.require_purchase,
            self.price,
            self.require_subscription,
            self.require_follow,
        )?;
        if !gates.is_empty() && self.media_files.is_empty() {
            return bad("requirePurchase, requireSubscription and requireFollow gate media: mediaFiles is required".into());
        }
        let publish_at = match self.scheduled_for {
            Some(t) if t <= now_ms => {
                return bad(format!(
                    "scheduledFor must be a future Unix time in ms, got {t}"
                ))
            }
            Some(t) => t,
            None => now_ms,
        };
        if let Some(t) = self.expires_at.filter(|t| *t <= publish_at) {
            return bad(format!(
                "expiresAt must be a Unix time in ms after the post goes live, got {t}"
            ));
        }
        let mut walls: Vec<String> = Vec::new();
        for raw in &self.wall_ids {
            let id = fansly_id("wallIds", raw)?;
            if !walls.contains(&id) {
                walls.push(id);
            }
        }
        Ok((text, gates, walls))
    }
}

/// The gates of a post's or story's media from the vendor's flags; `price`
/// (mills) goes with `requirePurchase` and only with it.
pub(crate) fn gates(
    require_purchase: bool,
    price: Option<i64>,
    require_subscription: bool,
    require_follow: bool,
) -> Result<Vec<Gate>, ApiError> {
    let bad = |msg: String| Err(ApiError::Unprocessable(msg));
    let mut gates = Vec::new();
    match (require_purchase, price) {
        (true, None) => return bad("price is required with requirePurchase".into()),
        (false, Some(_)) => return bad("price needs requirePurchase".into()),
        (true, Some(p)) if !(MIN_PRICE..=MAX_PRICE).contains(&p) => {
            return bad(format!(
            "price must be between {MIN_PRICE} and {MAX_PRICE} (thousandths of a dollar), got {p}"
        ))
        }
        (true, Some(p)) => gates.push(Gate::Purchase(p)),
        (false, None) => {}
    }
    if require_subscription {
        gates.push(Gate::Subscribers);
    }
    if require_follow {
        gates.push(Gate::Followers);
    }
    Ok(gates)
}

/// Send Post: text and/or media to walls, optionally gated, scheduled or expiring.
#[utoipa::path(
    post,
    path = "/api/fansly/{fanslyAccount}/posts",
    tag = "Posts",
    operation_id = "sendPost",
    params(("fanslyAccount" = String, Path, description = "The Fansly Account ID")),
    request_body = SendPostBody,
    responses(
        (status = 200, description = "`data` is the post Fansly created (`postId` instead of `id` when scheduled)", body = Object),
        (status = 404, description = "Unknown account, wall or media handle"),
        (status = 409, description = "A media handle is not processed yet"),
        (status = 422, description = "Bad text, price, schedule, expiry or id"),
    ),
    security(("default" = []))
)]
async fn send_post(
    State(state): State<AppState>,
    authed: Authed,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<SendPostBody>,
) -> Result<Metered, ApiError> {
    let (content, gates, wall_ids) = body.validate(now_ms())?;
    let account = state
        .sessions
        .connected(&authed.caller.team_id, &account_id)
        .await?;
    let media = crate::media::vault_ids(
        &state.db,
        &authed.caller.team_id,
        &account.id,
        &body.media_files,
    )
    .await?;
    let post = NewPost {
        content,
        media,
        gates,
        wall_ids,
        scheduled_for_ms: body.scheduled_for.unwrap_or(0),
        expires_at_ms: body.expires_at.unwrap_or(0),
    };
    let fansly = state.fansly.clone();
    authed
        .bill(&state, endpoint("posts.send"), async move {
            content::publish(&fansly, &account, post).await
        })
        .await
}
