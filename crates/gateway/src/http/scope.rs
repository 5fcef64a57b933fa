//! [`AccountScope`]: the caller behind the API key (rate limit applied) and
//! the path's `{fanslyAccount}` resolved within the caller's team, the way
//! every `/api/fansly/{fanslyAccount}/…` handler reaches its account; and
//! [`AccountRecord`], the same for routes that work on a disconnected account.

use std::future::Future;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use fansly_upstream::FanslyClient;
use serde_json::Value;
use tracing::Instrument;

use crate::accounts::sessions::ConnectedAccount;
use crate::accounts::store::{self, AccountRow};
use crate::core::error::ApiError;
use crate::http::envelope::Metered;
use crate::http::extract::Authed;
use crate::http::state::AppState;
use crate::metering::meta::Endpoint;

/// The path parameter naming the account on every account route.
const ACCOUNT_PARAM: &str = "fanslyAccount";

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
    pub async fn call<F, Fut>(self, endpoint: Endpoint, work: F) -> Result<Metered, ApiError>
    where
        F: FnOnce(FanslyClient, ConnectedAccount) -> Fut,
        Fut: Future<Output = Result<Value, ApiError>> + Send + 'static,
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
        let work = work(state.fansly.clone(), account).instrument(span);
        authed.bill(&state, endpoint, work).await
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
