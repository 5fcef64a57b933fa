//! [`AccountScope`]: the caller behind the API key (rate limit applied) and
//! the path's `{fanslyAccount}` resolved within the caller's team, the way
//! every `/api/fansly/{fanslyAccount}/…` handler reaches its account;
//! [`AccountRecord`], the same for routes that work on a disconnected account;
//! and [`TeamScope`], the caller alone, for the team-level routes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fansly_upstream::{FanslyClient, Page};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::accounts::sessions::ConnectedAccount;
use crate::accounts::store::{self, AccountRow};
use crate::core::error::ApiError;
use crate::http::envelope::{rate_headers, Metered};
use crate::http::extract::Authed;
use crate::http::paging::{count, next_offset, truncate, Lookahead, NextPage, FANSLY_MAX_PAGE};
use crate::http::state::AppState;
use crate::metering::meta::Endpoint;

/// The path parameter naming the account on every account route.
const ACCOUNT_PARAM: &str = "fanslyAccount";

/// Where an offset-paged answer keeps its rows (`at`; `None`: the answer
/// itself is the array), where it counts them all when it does (`total`, a
/// JSON pointer such as `/total`), and the largest page its source serves.
#[derive(Clone, Copy)]
pub struct Rows {
    pub at: Option<&'static str>,
    pub total: Option<&'static str>,
    pub cap: Option<u32>,
}

impl Rows {
    /// Rows of one Fansly page (`limit` capped at [`FANSLY_MAX_PAGE`]).
    pub const fn of(at: Option<&'static str>, total: Option<&'static str>) -> Rows {
        Rows {
            at,
            total,
            cap: Some(FANSLY_MAX_PAGE),
        }
    }

    /// Rows the gateway cuts out of a longer list itself: no cap.
    pub const fn cut(at: Option<&'static str>) -> Rows {
        Rows {
            at,
            total: None,
            cap: None,
        }
    }
}

/// An authenticated, rate-limited caller and the team's account named by the
/// path: 401/429 as [`Authed`], then 404 for an account that is unknown or
/// another team's.
pub struct AccountScope {
    pub authed: Authed,
    pub account: ConnectedAccount,
    pub state: AppState,
}

impl FromRequestParts<AppState> for AccountScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        let account_id = account_param(parts, state).await?;
        let account = state
            .sessions
            .connected(&authed.caller.team_id, &account_id)
            .await?;
        Ok(AccountScope {
            authed,
            account,
            state: state.clone(),
        })
    }
}

/// The path's `{fanslyAccount}`.
async fn account_param(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::BadRequest(format!("invalid path: {e}")))?;
    params
        .iter()
        .find(|(name, _)| *name == ACCOUNT_PARAM)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route without {{{ACCOUNT_PARAM}}}")))
}

impl AccountScope {
    /// The team the caller belongs to.
    pub fn team(&self) -> &str {
        &self.authed.caller.team_id
    }

    /// Runs `work` with the Fansly client and the account as one metered
    /// call: `endpoint`'s credits are reserved first (402 when the team
    /// cannot pay) and given back if `work` fails.
    pub async fn call<F, Fut, D>(self, endpoint: Endpoint, work: F) -> Result<Metered<D>, ApiError>
    where
        F: FnOnce(FanslyClient, ConnectedAccount) -> Fut,
        Fut: Future<Output = Result<D, ApiError>> + Send + 'static,
        D: Send + 'static,
    {
        let AccountScope {
            authed,
            account,
            state,
        } = self;
        // The call's span follows the work into the billing task, under the
        // request span (request id) and over the Fansly requests it makes.
        let span = tracing::info_span!(
            "call",
            op = endpoint.name,
            team = %authed.caller.team_id,
            account = %account.id,
        );
        // Boxed: the call's future (the Fansly request inside) is large, and
        // unboxed it was copied at each of the hops into the billing task.
        let work = Box::pin(work(state.fansly.clone(), account).instrument(span));
        authed.bill(&state, endpoint, work).await
    }
}

impl AccountScope {
    /// [`Self::call`] for an offset-paged list: `work` gets the page to
    /// fetch, and `_pagination.next_page` points at the following one unless
    /// this page was the last. Without a total from Fansly, one row more than
    /// asked is fetched (or, at Fansly's cap, a small probe past the page)
    /// so an exactly full last page does not advertise an empty next one.
    pub async fn call_paged<F, Fut>(
        self,
        endpoint: Endpoint,
        next: NextPage,
        page: Page,
        rows: Rows,
        work: F,
    ) -> Result<Metered, ApiError>
    where
        F: Fn(FanslyClient, ConnectedAccount, Page) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        // With a total the page itself is enough; the lookahead is the
        // fallback for an answer that lacks it.
        let cap = if rows.total.is_some() {
            Some(page.limit)
        } else {
            rows.cap
        };
        let look = Lookahead::new(&page, cap);
        let more = Arc::new(AtomicBool::new(false));
        let found = more.clone();
        let metered = self
            .call(endpoint, move |f, a| async move {
                let mut data = work(f.clone(), a.clone(), look.fetch.clone()).await?;
                let got = count(&data, rows.at);
                let total = rows
                    .total
                    .and_then(|k| data.pointer(k))
                    .and_then(Value::as_u64);
                let has_more = match total {
                    Some(total) => next_offset(&look.asked, got, Some(total)).is_some(),
                    None if look.needs_probe(got) => {
                        // A probe that fails leaves the answer as it was and
                        // says "maybe more", as a full page did before.
                        let probed = work(f, a, look.probe())
                            .await
                            .map_or(1, |p| count(&p, rows.at));
                        look.more(got, Some(probed))
                    }
                    None => look.more(got, None),
                };
                truncate(&mut data, rows.at, look.asked.limit);
                found.store(has_more, Ordering::Relaxed);
                Ok(data)
            })
            .await?;
        let returned = count(&metered.data, rows.at);
        let next_page = next.after(&page, returned, more.load(Ordering::Relaxed));
        Ok(metered.with_next_page(next_page))
    }
}

/// The caller and the path's `{fanslyAccount}` as the team's account record,
/// connected or not: for the routes that read what the gateway keeps about an
/// account (mass messaging history), which stay usable while it is
/// disconnected. 401/429 as [`Authed`], then 404 for an unknown or foreign
/// account; [`AccountRecord::connected`] resolves the live session on demand.
pub struct AccountRecord {
    pub authed: Authed,
    pub account: AccountRow,
    pub state: AppState,
}

impl FromRequestParts<AppState> for AccountRecord {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        let account_id = account_param(parts, state).await?;
        let account = store::get(&state.db, &authed.caller.team_id, &account_id).await?;
        Ok(AccountRecord {
            authed,
            account,
            state: state.clone(),
        })
    }
}

impl AccountRecord {
    pub fn team(&self) -> &str {
        &self.authed.caller.team_id
    }

    /// Runs `work` as one metered call (see [`Authed::bill`]).
    pub async fn bill<F>(self, endpoint: Endpoint, work: F) -> Result<Metered, ApiError>
    where
        F: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        let span = tracing::info_span!(
            "call",
            op = endpoint.name,
            team = %self.authed.caller.team_id,
            account = %self.account.id,
        );
        self.authed
            .bill(&self.state, endpoint, work.instrument(span))
            .await
    }

    /// The account's live session (404 as [`AccountScope`] when it has none).
    pub async fn connected(&self) -> Result<ConnectedAccount, ApiError> {
        self.state
            .sessions
            .connected(self.team(), &self.account.id)
            .await
    }
}

/// The caller behind the API key (rate limit applied) with the state, for
/// the team-level routes (webhooks, data exports, the console's own), which
/// name no account: 401/429 as [`Authed`]. Those handlers took the state and
/// the caller as two extractors and passed the state back to every answer.
pub struct TeamScope {
    pub authed: Authed,
    pub state: AppState,
}

impl TeamScope {
    /// The team the caller belongs to.
    pub fn team(&self) -> &str {
        &self.authed.caller.team_id
    }

    /// Answers `data` for a free `endpoint` (see [`Authed::free`]).
    pub async fn free(&self, endpoint: Endpoint, data: Value) -> Result<Metered, ApiError> {
        self.authed.free(&self.state, endpoint, data).await
    }

    /// [`Self::free`] for a page of a list, with `_pagination.next_page`.
    pub async fn free_page(
        &self,
        endpoint: Endpoint,
        data: Value,
        next_page: Option<String>,
    ) -> Result<Metered, ApiError> {
        Ok(self.free(endpoint, data).await?.with_next_page(next_page))
    }

    /// Answers `body` as it is, without `data`/`_meta` but with the rate
    /// limit headers, as the vendor's account and connect routes answer.
    pub fn bare(&self, body: impl Serialize) -> Response {
        (rate_headers(&self.authed.rate), Json(body)).into_response()
    }
}

impl FromRequestParts<AppState> for TeamScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        let state = state.clone();
        Ok(TeamScope { authed, state })
    }
}
