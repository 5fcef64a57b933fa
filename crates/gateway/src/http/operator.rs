//! The operator token (`operator_token` in the config): a bearer token that
//! sees every team. On team routes it acts for the team named in the
//! `X-Team-Id` header; `/api/console/teams` lists the teams to choose from.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::core::error::ApiError;
use crate::http::state::AppState;
use crate::tenancy::{self, Caller};

/// The `key_id` an operator's requests carry.
pub const OPERATOR_KEY_ID: &str = "operator";
pub const TEAM_HEADER: &str = "x-team-id";

/// The configured operator token's digest, computed once at startup; `None`
/// without a token, or with one under 32 characters (ignored, with a warning).
pub fn token_digest(token: Option<&str>) -> Option<[u8; 32]> {
    match token.map(str::trim) {
        Some(token) if token.len() >= 32 => Some(Sha256::digest(token.as_bytes()).into()),
        Some(_) => {
            tracing::warn!("operator_token is shorter than 32 characters and is ignored (`fansly-gateway operator-token` mints one)");
            None
        }
        None => None,
    }
}

/// Whether `presented` is the operator token (compared by digest, so the
/// comparison time says nothing about the token).
pub fn is_operator(state: &AppState, presented: &str) -> bool {
    state
        .operator
        .is_some_and(|digest| digest == <[u8; 32]>::from(Sha256::digest(presented.as_bytes())))
}

/// The caller behind `presented`: a team key, or the operator acting for the
/// team in `X-Team-Id`. `None` when neither.
pub async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    presented: &str,
) -> Result<Option<Caller>, ApiError> {
    if !is_operator(state, presented) {
        return Ok(state.callers.authenticate(&state.db, presented).await?);
    }
    let team_id = headers
        .get(TEAM_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the operator token acts for one team: name it in the X-Team-Id header".into(),
            )
        })?;
    let team = tenancy::get_team(&state.db, team_id)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no team {team_id}")))?;
    Ok(Some(Caller {
        team_id: team.id,
        key_id: OPERATOR_KEY_ID.into(),
        rate_limit_per_minute: team.rate_limit_per_minute,
        mcp_read_only: false,
    }))
}
