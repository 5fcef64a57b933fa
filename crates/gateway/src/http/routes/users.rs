//! `/api/fansly/{fanslyAccount}/users/…`: profile lookups, one credit per call
//! however many users it names.

use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::core::error::ApiError;
use crate::fansly::users::{self, Lookup};
use crate::http::envelope::Metered;
use crate::http::routes::declare::endpoint;
use crate::http::scope::AccountScope;
use crate::http::state::AppState;
use crate::metering::prices;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(by_usernames))
        .routes(routes!(by_ids))
        .routes(routes!(by_ids_no_slash))
}

endpoint! {
    /// Get User Details: one or more comma-separated usernames.
    get "/api/fansly/{fanslyAccount}/users/{usernames}" "getUserDetails",
    params(
        ("usernames" = String, Path, description = "A Fansly username, or a comma-separated list of usernames", example = "fan1,fan2"),
    ),
    responses(
        (status = 200, description = "`data` is the list of Fansly accounts found, as Fansly renders them", body = Object),
        (status = 404, description = "Unknown account, or none of the users exists"),
        (status = 422, description = "Malformed usernames"),
    ),
    fn by_usernames(scope: AccountScope, Path((_account, usernames)): Path<(String, String)>) -> Result<Raw, ApiError> {
        let names = users::parse_usernames(&usernames)?;
        run(scope, Lookup::Usernames(names)).await
    }
}

#[derive(Deserialize, IntoParams)]
struct IdsQuery {
    /// Comma-separated Fansly account ids (at most 100).
    ids: Option<String>,
}

/// Get User Details by ids (`?ids=1,2`), the form List Following refers to.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/users/",
    params(IdsQuery),
    responses(
        (status = 200, description = "`data` is the list of Fansly accounts found", body = Object),
        (status = 404, description = "Unknown account, or none of the ids exists"),
        (status = 422, description = "Missing or malformed ids"),
    ),
)]
async fn by_ids(scope: AccountScope, Query(q): Query<IdsQuery>) -> Result<Raw, ApiError> {
    let ids = users::parse_ids(q.ids.as_deref())?;
    run(scope, Lookup::Ids(ids)).await
}

/// The same as `/users/?ids=`, without the trailing slash.
#[utoipa::path(
    get,
    path = "/api/fansly/{fanslyAccount}/users",
    params(IdsQuery),
    responses((status = 200, description = "As `/users/?ids=`", body = Object)),
)]
async fn by_ids_no_slash(scope: AccountScope, q: Query<IdsQuery>) -> Result<Raw, ApiError> {
    by_ids(scope, q).await
}

/// Fansly's list, passed on as it came.
type Raw = Metered<Box<RawValue>>;

async fn run(scope: AccountScope, what: Lookup) -> Result<Raw, ApiError> {
    scope
        .call(prices::USERS_LOOKUP, |f, a| async move {
            users::lookup(&f, &a, what).await
        })
        .await
}
