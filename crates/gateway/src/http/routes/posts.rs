//! `/posts`: the creator's wall posts — list (cursor `before`) and publish.

use std::collections::BTreeMap;

use axum::extract::Path;
use fansly_upstream::{Gate, NewPost};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::core::ids::FanslyId;
use crate::core::time::now_ms;
use crate::fansly::content;
use crate::http::envelope::Metered;
use crate::http::extract::ApiJson;
use crate::http::paging::NextPage;
use crate::http::params::{self, Params};
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_posts, send_post))
        .routes(routes!(update_post))
        .routes(routes!(post_stats))
}

/// Most media files one post may carry (INFERRED, as for messages).
const MAX_MEDIA_FILES: usize = 50;
/// Fansly's post length limit is not documented; this bounds the body.
const MAX_TEXT_CHARS: usize = 10_000;
/// Purchase price bounds in mills (INFERRED: $1.00 to $500.00).
const MIN_PRICE: i64 = 1_000;
const MAX_PRICE: i64 = 500_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    operation_id = "listPosts",
    params(ListQuery),
    responses(
        (status = 200, description = "`data` is Fansly's timeline page (`posts`, `accountMedia`, `accountMediaBundles`, `accounts` …)", body = Object),
        (status = 404, description = "Unknown account or wall_id"),
        (status = 422, description = "A malformed id"),
    ),
)]
async fn list_posts(
    scope: AccountScope,
    params: Params,
    next: NextPage,
) -> Result<Metered, ApiError> {
    let before = params.snowflake("before")?.filter(|b| b != "0");
    let wall_id = params.snowflake("wall_id")?;
    let search = params.get("search").map(str::to_owned);
    if params.get("after").is_some() {
        return Err(ApiError::Unprocessable(
            "after is not supported; page with before".into(),
        ));
    }
    let (wall, text) = (wall_id.clone(), search.clone());
    let metered = scope
        .call(prices::POSTS_LIST, |fansly, account| async move {
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
    let next_page = content::next_before(&metered.data).map(|before| {
        next.only(&[
            ("before", Some(before)),
            ("wall_id", wall_id.map(String::from)),
            ("search", search),
        ])
        .url()
    });
    Ok(metered.with_next_page(next_page))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendPostBody {
    /// Post text. Required unless mediaFiles is given.
    #[schema(example = "New set is up!")]
    text: Option<String>,
    /// `fansly_media_` ids from Upload Media: one is one attachment, several
    /// are one bundle in the given order.
    #[serde(default)]
    media_files: Vec<String>,
    /// Walls to publish to (List Walls); default: the main wall.
    #[serde(default)]
    wall_ids: Vec<String>,
    /// Walls (a subset of wallIds) to pin the post on.
    #[serde(default)]
    pin_wall_ids: Vec<String>,
    /// Free previews: a mediaFiles handle → the `fansly_media_` handle of its preview.
    #[serde(default)]
    previews: BTreeMap<String, String>,
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
    #[allow(clippy::type_complexity)]
    fn validate(
        &self,
        now_ms: i64,
    ) -> Result<(String, Vec<Gate>, Vec<String>, Vec<String>), ApiError> {
        let (text, gates) = content_and_gates(
            self.text.as_deref(),
            &self.media_files,
            (
                self.require_purchase,
                self.price,
                self.require_subscription,
                self.require_follow,
            ),
        )?;
        let publish_at = match self.scheduled_for {
            Some(t) if t <= now_ms => {
                return Err(ApiError::Unprocessable(format!(
                    "scheduledFor must be a future Unix time in ms, got {t}"
                )))
            }
            Some(t) => t,
            None => now_ms,
        };
        if let Some(t) = self.expires_at.filter(|t| *t <= publish_at) {
            return Err(ApiError::Unprocessable(format!(
                "expiresAt must be a Unix time in ms after the post goes live, got {t}"
            )));
        }
        let (walls, pins) = walls_and_pins(&self.wall_ids, &self.pin_wall_ids)?;
        Ok((text, gates, walls, pins))
    }
}

/// `wallIds` and `pinWallIds`; pins must be among the walls when walls are
/// named (with none named they are checked against the main wall later).
fn walls_and_pins(
    walls: &[String],
    pins: &[String],
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let walls = wall_list("wallIds", walls)?;
    let pins = wall_list("pinWallIds", pins)?;
    if !walls.is_empty() {
        if let Some(pin) = pins.iter().find(|p| !walls.contains(p)) {
            return Err(ApiError::Unprocessable(format!(
                "pinWallIds: wall {pin} is not one of wallIds"
            )));
        }
    }
    Ok((walls, pins))
}

/// Per media file (in order), its preview handle: every key of `previews`
/// must be one of `media_files`, every value a `fansly_media_` id.
fn preview_handles(
    media_files: &[String],
    previews: &BTreeMap<String, String>,
) -> Result<Vec<Option<String>>, ApiError> {
    if let Some(k) = previews.keys().find(|k| !media_files.contains(k)) {
        return Err(ApiError::Unprocessable(format!(
            "previews: {k:?} is not one of mediaFiles"
        )));
    }
    if let Some(v) = previews
        .values()
        .find(|v| !crate::core::ids::is_media_id(v))
    {
        return Err(ApiError::Unprocessable(format!(
            "previews: {v:?} is not a fansly_media_ id"
        )));
    }
    Ok(media_files
        .iter()
        .map(|m| previews.get(m).cloned())
        .collect())
}

/// The vault ids of a post's media and of their previews, in the given
/// order (404 / 409 naming `mediaFiles` or `previews` for a handle that is
/// not the account's or not processed yet).
async fn media_and_previews(
    state: &AppState,
    team: &str,
    account: &str,
    media_files: &[String],
    previews: Vec<Option<String>>,
) -> Result<(Vec<String>, Vec<Option<String>>), ApiError> {
    let media = crate::media::vault_ids(&state.db, team, account, media_files).await?;
    let mut preview_ids = Vec::with_capacity(previews.len());
    for handle in previews {
        preview_ids.push(match handle {
            Some(h) => crate::media::vault_ids_for(&state.db, team, account, "previews", &[h])
                .await?
                .pop(),
            None => None,
        });
    }
    Ok((media, preview_ids))
}

/// Text, media count and gates, as publishing and replacing a post check them.
fn content_and_gates(
    text: Option<&str>,
    media_files: &[String],
    (require_purchase, price, require_subscription, require_follow): (
        bool,
        Option<i64>,
        bool,
        bool,
    ),
) -> Result<(String, Vec<Gate>), ApiError> {
    let bad = |msg: String| Err(ApiError::Unprocessable(msg));
    let text = text.unwrap_or_default().to_owned();
    if text.trim().is_empty() && media_files.is_empty() {
        return bad("text is required unless mediaFiles is given".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return bad(format!("text is longer than {MAX_TEXT_CHARS} characters"));
    }
    params::media_files(media_files, MAX_MEDIA_FILES)?;
    let gates = gates(
        require_purchase,
        price,
        require_subscription,
        require_follow,
    )?;
    if !gates.is_empty() && media_files.is_empty() {
        return bad("requirePurchase, requireSubscription and requireFollow gate media: mediaFiles is required".into());
    }
    Ok((text, gates))
}

/// Distinct wall ids, each a Fansly id (422 naming `field` otherwise).
fn wall_list(field: &str, raw: &[String]) -> Result<Vec<String>, ApiError> {
    let mut walls: Vec<String> = Vec::new();
    for raw in raw {
        let id = FanslyId::parse(field, raw)?.into_string();
        if !walls.contains(&id) {
            walls.push(id);
        }
    }
    Ok(walls)
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
    operation_id = "sendPost",
    request_body = SendPostBody,
    responses(
        (status = 200, description = "`data` is the post Fansly created (`postId` instead of `id` when scheduled)", body = Object),
        (status = 404, description = "Unknown account, wall or media handle"),
        (status = 409, description = "A media handle is not processed yet"),
        (status = 422, description = "Bad text, price, schedule, expiry or id"),
    ),
)]
async fn send_post(
    scope: AccountScope,
    ApiJson(body): ApiJson<SendPostBody>,
) -> Result<Metered, ApiError> {
    let (content, gates, wall_ids, pin_wall_ids) = body.validate(now_ms())?;
    let previews = preview_handles(&body.media_files, &body.previews)?;
    let (media, previews) = media_and_previews(
        &scope.state,
        scope.team(),
        &scope.account.id,
        &body.media_files,
        previews,
    )
    .await?;
    let post = NewPost {
        content,
        media,
        gates,
        wall_ids,
        scheduled_for_ms: body.scheduled_for.unwrap_or(0),
        expires_at_ms: body.expires_at.unwrap_or(0),
        pin_wall_ids,
        previews,
    };
    scope
        .call(prices::POSTS_SEND, |fansly, account| async move {
            content::publish(&fansly, &account, post).await
        })
        .await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePostBody {
    /// The post's new text. Required unless mediaFiles is given.
    #[schema(example = "Updated caption")]
    text: Option<String>,
    /// `fansly_media_` ids (several = one bundle in the given order); they
    /// replace the post's current attachments
    /// (none given = no media).
    #[serde(default)]
    media_files: Vec<String>,
    /// Walls the post is on; default: the main wall.
    #[serde(default)]
    wall_ids: Vec<String>,
    /// Walls (a subset of wallIds) to pin the post on.
    #[serde(default)]
    pin_wall_ids: Vec<String>,
    /// Free previews: a mediaFiles handle → the `fansly_media_` handle of its preview.
    #[serde(default)]
    previews: BTreeMap<String, String>,
    /// Remove the post at this Unix ms; omit for no expiry.
    expires_at: Option<i64>,
    #[serde(default)]
    require_purchase: bool,
    #[serde(default)]
    require_subscription: bool,
    #[serde(default)]
    require_follow: bool,
    /// Unlock price in thousandths of a dollar (with requirePurchase).
    price: Option<i64>,
}

/// Update Post: overwrites the post with a complete new state (text, media,
/// walls, pins, expiry, gating). Fields left out take their defaults, as
/// for a new post.
#[utoipa::path(
    put,
    path = "/api/fansly/{fanslyAccount}/posts/{post_id}",
    operation_id = "updatePost",
    request_body = UpdatePostBody,
    responses(
        (status = 200, description = "`data` is the post as Fansly answers the edit", body = Object),
        (status = 404, description = "Unknown account, post, wall or media handle"),
        (status = 409, description = "A media handle is not processed yet"),
        (status = 422, description = "Bad text, price, expiry, pin or id"),
    ),
)]
async fn update_post(
    scope: AccountScope,
    Path((_account, post_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdatePostBody>,
) -> Result<Metered, ApiError> {
    let post_id = FanslyId::parse("post_id", &post_id)?;
    let (content, gates) = content_and_gates(
        body.text.as_deref(),
        &body.media_files,
        (
            body.require_purchase,
            body.price,
            body.require_subscription,
            body.require_follow,
        ),
    )?;
    if let Some(t) = body.expires_at.filter(|t| *t <= now_ms()) {
        return Err(ApiError::Unprocessable(format!(
            "expiresAt must be a future Unix time in ms, got {t}"
        )));
    }
    let (wall_ids, pin_wall_ids) = walls_and_pins(&body.wall_ids, &body.pin_wall_ids)?;
    let previews = preview_handles(&body.media_files, &body.previews)?;
    let (media, previews) = media_and_previews(
        &scope.state,
        scope.team(),
        &scope.account.id,
        &body.media_files,
        previews,
    )
    .await?;
    let post = NewPost {
        content,
        media,
        gates,
        wall_ids,
        scheduled_for_ms: 0,
        expires_at_ms: body.expires_at.unwrap_or(0),
        pin_wall_ids,
        previews,
    };
    scope
        .call(prices::POSTS_UPDATE, |fansly, account| async move {
            content::update_post(&fansly, &account, &post_id, post).await
        })
        .await
}

/// Traffic sources (INFERRED codes): 0 For You, 1 timeline, 2 suggestions,
/// 3 search, 4 other.
const SOURCE_NAMES: [&str; 5] = ["foryou", "timeline", "suggestions", "search", "other"];

/// `sources` as codes: a comma-separated list, repeated `sources` or
/// `sources[]`, of numbers 0-4 or their names; default [0, 1].
fn sources(params: &Params) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    for raw in params
        .all("sources")
        .into_iter()
        .chain(params.all("sources[]"))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        let code = raw
            .parse::<u8>()
            .ok()
            .filter(|c| usize::from(*c) < SOURCE_NAMES.len())
            .or_else(|| {
                SOURCE_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(raw))
                    .map(|p| p as u8)
            })
            .ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "sources must be codes 0-4 or names ({}), got {raw:?}",
                    SOURCE_NAMES.join(", ")
                ))
            })?;
        if !out.contains(&code) {
            out.push(code);
        }
    }
    if out.is_empty() {
        out = vec![0, 1];
    }
    out.sort_unstable();
    Ok(out)
}

endpoint! {
    /// Get Post Stats: engagement (likes, unlikes, comments) and, per attached
    /// media offer and traffic source, views and watch figures with a daily
    /// series (path INFERRED).
    get "/api/fansly/{fanslyAccount}/posts/{post_id}/stats" "getPostStats",
    params(
        ("sources" = Option<String>, Query, description = "Traffic sources: codes 0 (For You), 1 (timeline), 2 (suggestions), 3 (search), 4 (other), comma-separated or repeated; default 0,1"),
    ),
    responses(
        (status = 200, description = "`data`: `{engagement{likes,unlikes,comments}, offers[]{mediaOfferId, previewId, attribution, sources[]{source, media[]{mediaId, totals, averageWatchMs, averageWatchPercent, daily}}}, otherAttachments}`", body = Object),
        (status = 404, description = "Unknown account or post"),
        (status = 422, description = "A malformed post id or source"),
    ),
    fn post_stats(
        scope: AccountScope,
        Path((_account, post_id)): Path<(String, String)>,
        params: Params,
    ) {
        let post_id = FanslyId::parse("post_id", &post_id)?;
        let sources = sources(&params)?;
        scope
            .call(prices::POSTS_STATS, |fansly, account| async move {
                content::post_stats(&fansly, &account, &post_id, &sources).await
            })
            .await
    }
}
