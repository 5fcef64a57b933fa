//! The vendor's answer format: `{"data": …, "_meta": {…}}` plus the metering
//! headers, and the billing around each metered call.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::Authed;
use crate::metering::credits::{self, ReserveError};
use crate::metering::{Endpoint, Meta, RateStatus};

pub struct Metered {
    pub data: Value,
    pub meta: Meta,
    /// `Some` on paginated endpoints: top-level `_pagination.next_page`, a
    /// full URL or `null` on the last page.
    pub next_page: Option<Option<String>>,
}

impl Metered {
    pub fn with_next_page(mut self, next_page: Option<String>) -> Self {
        self.next_page = Some(next_page);
        self
    }
}

/// An absolute URL to `path` on this gateway with `query` (for `next_page`).
pub fn page_url(state: &AppState, path: &str, query: &[(&str, String)]) -> String {
    let mut url = format!("{}{path}", state.public_url);
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(k);
        url.push('=');
        url.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
    }
    url
}

impl IntoResponse for Metered {
    fn into_response(self) -> Response {
        let mut headers = rate_headers(&self.meta.rate);
        headers.insert(
            "x-ofapi-credits-used",
            HeaderValue::from(self.meta.credits_used),
        );
        headers.insert(
            "x-ofapi-credits-balance",
            HeaderValue::from(self.meta.balance),
        );
        headers.insert("x-ofapi-is-cached", HeaderValue::from_static("false"));
        let mut body = json!({"data": self.data});
        if let Some(next_page) = self.next_page {
            body["_pagination"] = json!({ "next_page": next_page });
        }
        body["_meta"] = self.meta.to_json();
        (headers, Json(body)).into_response()
    }
}

/// `x-rate-limit-*` headers; the daily ones are omitted since the limit is gone.
pub fn rate_headers(rate: &RateStatus) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-rate-limit-limit-minute", HeaderValue::from(rate.limit));
    h.insert(
        "x-rate-limit-remaining-minute",
        HeaderValue::from(rate.remaining),
    );
    h
}

impl Authed {
    /// Runs `work` as one metered call: reserves the endpoint's credits first
    /// (402 when the team cannot pay), and gives them back if `work` fails.
    /// It runs as its own task so a client hanging up mid-call cannot leave a
    /// reservation unsettled.
    pub async fn bill<F>(
        self,
        state: &AppState,
        endpoint: Endpoint,
        work: F,
    ) -> Result<Metered, ApiError>
    where
        F: Future<Output = Result<Value, ApiError>> + Send + 'static,
    {
        let db = state.db.clone();
        let task = tokio::spawn(async move {
            let team = self.caller.team_id.as_str();
            let request_id = self.request_id.as_deref();
            let cost = endpoint.cost;
            let balance = if cost > 0 {
                match credits::reserve(&db, team, cost, endpoint.name, request_id).await {
                    Ok(balance) => balance,
                    Err(ReserveError::Insufficient { balance }) => {
                        return Err(ApiError::PaymentRequired { cost, balance })
                    }
                    Err(ReserveError::UnknownTeam) => {
                        return Err(ApiError::Unauthorized(
                            "Unauthorized: the team no longer exists".into(),
                        ))
                    }
                    Err(ReserveError::Db(e)) => return Err(e.into()),
                }
            } else {
                credits::balance(&db, team).await?.unwrap_or(0)
            };
            match work.await {
                Ok(data) => Ok(Metered {
                    data,
                    meta: Meta {
                        credits_used: cost,
                        balance,
                        cache: endpoint.cache,
                        rate: self.rate,
                    },
                    next_page: None,
                }),
                Err(e) => {
                    if cost > 0 {
                        if let Err(refund_err) =
                            credits::refund(&db, team, cost, endpoint.name, request_id).await
                        {
                            tracing::error!(error = %refund_err, team, cost, "refund failed");
                        }
                    }
                    Err(e)
                }
            }
        });
        task.await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("metered call aborted: {e}")))?
    }
}
