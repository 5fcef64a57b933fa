//! [`AccountScope`]: the caller behind the API key (rate limit applied) and
//! the path's `{fanslyAccount}` resolved within the caller's team, the way
//! every `/api/fansly/{fanslyAccount}/…` handler reaches its account.

use std::future::Future;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use fansly_upstream::FanslyClient;
use serde_json::Value;
use tracing::Instrument;

use crate::accounts::sessions::ConnectedAccount;
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
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("invalid path: {e}")))?;
        let account_id = params
            .iter()
            .find(|(name, _)| *name == ACCOUNT_PARAM)
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("route without {{{ACCOUNT_PARAM}}}"))
            })?;
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
