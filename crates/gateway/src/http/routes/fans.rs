//! `/followers`, `/following`, `/subscribers`, `/subscription-tiers` and
//! `/users/{account_id}/mute`.

use fansly_upstream::SubscriberStatus;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::fansly::fans::{self, SubscriberQuery};
use crate::http::envelope::Metered;
use crate::http::paging::NextPage;
use crate::http::params::Params;
use crate::http::routes::declare::endpoint;
use crate::http::scope::{AccountScope, Rows};
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_followers))
        .routes(routes!(list_following))
        .routes(routes!(list_subscribers))
        .routes(routes!(list_subscription_tiers))
        .routes(routes!(mute_user, unmute_user))
}

/// List Followers: newest first, Fansly's `{followers, aggregationData}`.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/followers",
    tag = "Followers",
    operation_id = "listFollowers",
    params(
        ("limit" = Option<String>, Query, description = "1 - 100, default 20"),
        ("offset" = Option<String>, Query, description = "Default 0"),
        ("search" = Option<String>, Query, description = "Search by username/display name"),
        ("last_seen_after" = Option<String>, Query, description = "ISO 8601; only followers last seen after this (filtered by the gateway per page)"),
    ),
    responses((status = 200, description = "`data` is Fansly's follower page", body = Object)),
)]
async fn list_followers(
    scope: AccountScope,
    next: NextPage,
    params: Params,
) -> Result<Metered, ApiError> {
    let page = params.page(20, 100)?;
    let search = params.get("search").unwrap_or_default().to_owned();
    let seen_after = params.instant_ms("last_seen_after")?;
    // The next page follows Fansly's page, however many the filter keeps.
    let mut m = scope
        .call_paged(
            prices::FOLLOWERS_LIST,
            next,
            page,
            Rows::of(Some("followers"), None),
            move |f, a, p| {
                let search = search.clone();
                async move { fans::followers(&f, &a, &p, &search).await }
            },
        )
        .await?;
    // The row fetched past the page goes with its account.
    fans::keep_listed_accounts(&mut m.data);
    if let Some(t) = seen_after {
        fans::keep_seen_after(&mut m.data, t);
    }
    Ok(m)
}

endpoint! {
    /// List Following: `[{accountId}]` of the accounts the creator follows.
    get "/api/fansly/{fanslyAccount}/following" "listFollowing",
    tag = "Following",
    responses((status = 200, description = "`data` is Fansly's array of `{accountId}`; resolve them with `/users/?ids=`", body = Object)),
    fn list_following(page(20, 100), Rows::of(None, None)) => prices::FOLLOWING_LIST, fans::following
}

/// List Subscribers: `{stats, subscriptions}`; `stats` counts every subscription.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/subscribers",
    operation_id = "listSubscribers",
    params(
        ("limit" = Option<String>, Query, description = "1 - 100, default 20"),
        ("offset" = Option<String>, Query, description = "Default 0"),
        ("search" = Option<String>, Query, description = "Search by username/display name"),
        ("subscription_tier_id" = Option<String>, Query, description = "Only this tier"),
        ("status" = Option<String>, Query, description = "active | expired | all; default active"),
    ),
    responses((status = 200, description = "`data` is Fansly's subscriber page", body = Object)),
)]
async fn list_subscribers(
    scope: AccountScope,
    next: NextPage,
    params: Params,
) -> Result<Metered, ApiError> {
    let status = match params.choice("status", &["active", "expired", "all"], "active")? {
        "active" => SubscriberStatus::Active,
        "expired" => SubscriberStatus::Expired,
        _ => SubscriberStatus::All,
    };
    let query = SubscriberQuery {
        status,
        tier_id: params.snowflake("subscription_tier_id")?.map(String::from),
        search: params.get("search").unwrap_or_default().to_owned(),
        page: params.page(20, 100)?,
    };
    let rows = Rows::of(Some("subscriptions"), query.total_at());
    let page = query.page.clone();
    scope
        .call_paged(
            prices::SUBSCRIBERS_LIST,
            next,
            page,
            rows,
            move |f, a, p| {
                let q = SubscriberQuery {
                    page: p,
                    ..query.clone()
                };
                async move { fans::subscribers(&f, &a, &q).await }
            },
        )
        .await
}

endpoint! {
    /// List Subscription Tiers: the tiers with their plans, as Fansly has them.
    get "/api/fansly/{fanslyAccount}/subscription-tiers" "listSubscriptionTiers",
    responses((status = 200, description = "`data` is Fansly's array of tiers", body = Object)),
    fn list_subscription_tiers => prices::SUBSCRIPTION_TIERS_LIST, fans::tiers
}

endpoint! {
    /// Mute User (INFERRED counterpart of Unmute User).
    post "/api/fansly/{fanslyAccount}/users/{account_id}/mute" "muteUser",
    tag = "Users",
    params(("account_id" = String, Path, description = "Fansly account ID of the user")),
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown user")),
    fn mute_user(user: "account_id") => prices::USERS_MUTE, fans::set_mute, true
}

endpoint! {
    /// Unmute User: lifts a mute the creator placed on a user.
    delete "/api/fansly/{fanslyAccount}/users/{account_id}/mute" "unmuteUser",
    tag = "Users",
    params(("account_id" = String, Path, description = "Fansly account ID of the user")),
    responses((status = 200, description = "`data` is Fansly's answer", body = Object), (status = 404, description = "Unknown user")),
    fn unmute_user(user: "account_id") => prices::USERS_UNMUTE, fans::set_mute, false
}
