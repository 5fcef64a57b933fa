//! The steps every account-scoped endpoint shares: resolve the team's
//! account, bill the call around the Fansly work, and (for offset-paged
//! lists) point `_pagination.next_page` at the following page.

use std::future::Future;

use fansly_upstream::{FanslyClient, Page};
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;
use crate::http::envelope::Metered;
use crate::http::extract::Authed;
use crate::http::params::{next_offset, Params};
use crate::http::state::AppState;
use crate::metering::meta::Endpoint;

/// One credit, never cached: the policy of every Fansly account endpoint.
pub const fn endpoint(name: &'static str) -> Endpoint {
    Endpoint::uncached(name, 1)
}

/// Runs `work` for the team's `account` as one metered call.
pub async fn call<F, Fut>(
    state: &AppState,
    authed: Authed,
    account: &str,
    endpoint: Endpoint,
    work: F,
) -> Result<Metered, ApiError>
where
    F: FnOnce(FanslyClient, ConnectedAccount) -> Fut,
    Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
{
    let account = state
        .sessions
        .connected(&authed.caller.team_id, account)
        .await?;
    let fansly = state.fansly.clone();
    authed.bill(state, endpoint, work(fansly, account)).await
}

/// Adds `_pagination.next_page` to an offset-paged answer: `returned` items
/// came back for `page`, out of `total` when Fansly says.
pub fn paged(
    metered: Metered,
    state: &AppState,
    params: &Params,
    path: &str,
    page: &Page,
    returned: usize,
    total: Option<u64>,
) -> Metered {
    let next = next_offset(page, returned, total).map(|o| params.next_page(state, path, o));
    metered.with_next_page(next)
}

/// The length of the list at `key` of `data` (or of `data` itself).
pub fn count(data: &Value, key: Option<&str>) -> usize {
    key.map_or(Some(data), |k| data.get(k))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}
