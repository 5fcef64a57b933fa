//! The vendor's answer format: `{"data": …, "_meta": {…}}` plus the metering
//! headers, and the billing around each metered call.

use std::future::Future;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::core::error::ApiError;
use crate::http::extract::Authed;
use crate::http::state::AppState;
use crate::metering::credits::ReserveError;
use crate::metering::group_commit::{Committer, Pace};
use crate::metering::meta::{
    Endpoint, Meta, CREDITS_BALANCE, CREDITS_USED, IS_CACHED, LIMIT_MINUTE, REMAINING_MINUTE,
};
use crate::metering::rate_limit::RateStatus;

/// A metered answer. `data` is a parsed [`Value`] for answers the gateway
/// reads or builds, or Fansly's `response` as raw JSON text
/// (`Box<RawValue>`) for answers passed on unchanged: those are written out
/// as they came, never parsed into a tree and serialised again.
pub struct Metered<D = Value> {
    pub data: D,
    pub meta: Meta,
    /// `Some` on paginated endpoints: top-level `_pagination.next_page`, a
    /// full URL or `null` on the last page.
    pub next_page: Option<Option<String>>,
}

impl<D> Metered<D> {
    pub fn with_next_page(mut self, next_page: Option<String>) -> Self {
        self.next_page = Some(next_page);
        self
    }
}

/// The answer's body, serialised straight from borrowed parts (no second
/// JSON tree around `data`), in the vendor's key order.
#[derive(serde::Serialize)]
struct Envelope<'a, D> {
    data: &'a D,
    #[serde(rename = "_pagination", skip_serializing_if = "Option::is_none")]
    pagination: Option<Pagination<'a>>,
    #[serde(rename = "_meta")]
    meta: &'a Meta,
}

#[derive(serde::Serialize)]
struct Pagination<'a> {
    next_page: &'a Option<String>,
}

impl<D: serde::Serialize> IntoResponse for Metered<D> {
    fn into_response(self) -> Response {
        let mut headers = self.headers();
        let body = Envelope {
            data: &self.data,
            pagination: self
                .next_page
                .as_ref()
                .map(|next_page| Pagination { next_page }),
            meta: &self.meta,
        };
        // One buffer sized for a typical answer, instead of growing from
        // 128 bytes by copies (axum's `Json`).
        let mut buf = Vec::with_capacity(4096);
        if let Err(e) = serde_json::to_writer(&mut buf, &body) {
            // Cannot happen for a `Value` with string keys or for raw JSON
            // text; answer as axum's Json would.
            return ApiError::Internal(anyhow::anyhow!("serialising the answer: {e}"))
                .into_response();
        }
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut response = Response::new(axum::body::Body::from(buf));
        *response.headers_mut() = headers;
        response
    }
}

/// `x-rate-limit-*` headers; the daily ones are omitted since the limit is gone.
pub fn rate_headers(rate: &RateStatus) -> HeaderMap {
    number_headers([
        (&LIMIT_MINUTE, rate.limit),
        (&REMAINING_MINUTE, rate.remaining),
    ])
}

/// Headers of numbers, their values written into one buffer and handed out
/// as slices of it. `HeaderValue::from(i64)` allocates twice per value (its
/// buffer, then the shared handle its freezing makes of a buffer with room
/// to spare), and a metered answer carries four.
fn number_headers<const N: usize>(numbers: [(&HeaderName, i64); N]) -> HeaderMap {
    use std::io::Write as _;
    let mut text = Vec::with_capacity(N * 20);
    let ends = numbers.map(|(_, n)| {
        let _ = write!(text, "{n}"); // into a Vec: cannot fail
        text.len()
    });
    let text = bytes::Bytes::from(text);
    let mut headers = HeaderMap::with_capacity(8);
    let mut start = 0;
    for ((name, _), end) in numbers.into_iter().zip(ends) {
        // Digits and a minus sign are legal in any header value.
        if let Ok(value) = HeaderValue::from_maybe_shared(text.slice(start..end)) {
            headers.insert(name.clone(), value);
        }
        start = end;
    }
    headers
}

impl<D: serde::Serialize> Metered<D> {
    /// `data` alone, without the `{data, _meta}` wrapper (Upload Media and
    /// Get Account Media answer bare objects); the metering headers are kept.
    pub fn bare(self) -> Response {
        (self.headers(), Json(self.data)).into_response()
    }

    fn headers(&self) -> HeaderMap {
        let meta = &self.meta;
        let mut headers = number_headers([
            (&LIMIT_MINUTE, meta.rate.limit),
            (&REMAINING_MINUTE, meta.rate.remaining),
            (&CREDITS_USED, meta.credits_used),
            (&CREDITS_BALANCE, meta.balance),
        ]);
        headers.insert(IS_CACHED.clone(), HeaderValue::from_static("false"));
        headers
    }
}

/// Credits taken for one call: kept when the call succeeds, given back when
/// it fails. Dropping a reservation keeps the credits.
pub struct Reservation {
    committer: Committer,
    /// The unsettled debit (`None` for free calls and once settled).
    debit: Option<i64>,
    endpoint: Endpoint,
    cost: i64,
    balance: i64,
    rate: RateStatus,
}

impl Reservation {
    /// The successful answer, reporting this reservation in `_meta`.
    /// (`self` is dropped here, which keeps the charge.)
    pub fn metered<D>(self, data: D) -> Metered<D> {
        Metered {
            data,
            meta: Meta {
                credits_used: self.cost,
                balance: self.balance,
                cache: self.endpoint.cache,
                rate: self.rate,
                upstream_window: None,
            },
            next_page: None,
        }
    }

    pub async fn refund(mut self) {
        let Some(debit) = self.debit.take() else {
            return;
        };
        if let Err(e) = Box::pin(self.committer.refund(debit)).await {
            // The committer tries again with its next heartbeat.
            tracing::error!(error = %e, debit, cost = self.cost, "refund failed");
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(debit) = self.debit.take() {
            self.committer.keep(debit);
        }
    }
}

impl Authed {
    /// Answers `data` for a free `endpoint`, reporting `_meta` (used 0, the
    /// balance, the rate limit) as every metered answer does.
    pub async fn free(
        &self,
        state: &AppState,
        endpoint: Endpoint,
        data: Value,
    ) -> Result<Metered, ApiError> {
        Ok(self.reserve(state, endpoint, 0).await?.metered(data))
    }

    /// Takes `cost` credits for `endpoint` (402 when the team cannot pay).
    pub async fn reserve(
        &self,
        state: &AppState,
        endpoint: Endpoint,
        cost: i64,
    ) -> Result<Reservation, ApiError> {
        self.reserve_paced(state, endpoint, cost, Pace::Now).await
    }

    /// [`Self::reserve`] at `pace` ([`Pace::Beside`]: the call runs
    /// meanwhile, so the committer may hold the debit a moment for company).
    async fn reserve_paced(
        &self,
        state: &AppState,
        endpoint: Endpoint,
        cost: i64,
        pace: Pace,
    ) -> Result<Reservation, ApiError> {
        let team = self.caller.team_id.as_str();
        let request_id = self.request_id.as_deref();
        let (balance, debit) = if cost > 0 {
            match state
                .credits
                .reserve_paced(team, cost, endpoint.name, request_id, pace)
                .await
            {
                Ok(reserved) => (reserved.balance, Some(reserved.debit)),
                Err(ReserveError::Insufficient { balance }) => {
                    return Err(ApiError::PaymentRequired { cost, balance })
                }
                Err(ReserveError::UnknownTeam) => {
                    return Err(ApiError::Unauthorized(
                        "Unauthorized: the team no longer exists".into(),
                    ))
                }
                Err(ReserveError::Db(e)) => return Err(e.into()),
                Err(e @ ReserveError::Batch(_)) => {
                    return Err(ApiError::Internal(anyhow::Error::new(e)))
                }
            }
        } else {
            // The balance this instance last committed, when within a second
            // (as an error's `_meta` reports it), else read: a free call does
            // not wait on the database. Boxed, as every rare await of a
            // metered call: a sqlx future is large, and inline it would
            // enlarge every call's billing task, which is copied whole as it
            // is spawned and as it finishes.
            let balance = Box::pin(state.credits.balance(team)).await?;
            (balance.unwrap_or(0), None)
        };
        Ok(Reservation {
            committer: state.credits.clone(),
            debit,
            endpoint,
            cost,
            balance,
            rate: self.rate,
        })
    }

    /// Runs `work` as one metered call: reserves the endpoint's credits first
    /// (402 when the team cannot pay), and gives them back if `work` fails.
    pub async fn bill<F, D>(
        self,
        state: &AppState,
        endpoint: Endpoint,
        work: F,
    ) -> Result<Metered<D>, ApiError>
    where
        F: Future<Output = Result<D, ApiError>> + Send + 'static,
        D: Send + 'static,
    {
        self.bill_cost(state, endpoint, endpoint.cost, work).await
    }

    /// As [`Self::bill`] with a cost decided per call (uploads: per megabyte).
    /// It runs as its own task so a client hanging up mid-call cannot leave a
    /// reservation unsettled.
    ///
    /// A call that only reads ([`Endpoint::read`]) runs beside its
    /// reservation when the team's last known balance covers it: the wait
    /// for the credit commit overlaps the wait for Fansly instead of adding
    /// to it (BENCHMARKS.md, eleventh round: PostgreSQL's ratio to nginx
    /// ~0.51 → ~0.56, SQLite's added p99 ~0.7 ms lower at the median).
    /// Nothing is handed out before the debit is committed: a refused debit
    /// answers 402 at once and drops the Fansly call (or its answer), and a
    /// failed call is refunded as ever. Writes always wait for their debit
    /// before they reach Fansly.
    pub async fn bill_cost<F, D>(
        self,
        state: &AppState,
        endpoint: Endpoint,
        cost: i64,
        work: F,
    ) -> Result<Metered<D>, ApiError>
    where
        F: Future<Output = Result<D, ApiError>> + Send + 'static,
        D: Send + 'static,
    {
        let state = state.clone();
        let task = tokio::spawn(crate::http::request_log::carry(async move {
            let overlap = endpoint.read
                && cost > 0
                && state.credits.likely_covers(&self.caller.team_id, cost);
            let pace = if overlap { Pace::Beside } else { Pace::Now };
            let mut reserve = std::pin::pin!(self.reserve_paced(&state, endpoint, cost, pace));
            let (reservation, outcome) = if overlap {
                let mut work = std::pin::pin!(work);
                // A refused debit answers at once; Fansly's read is dropped.
                // Fansly answering first: the debit the committer may be
                // holding for company is all the call waits for now.
                // (`biased`: the reservation is asked for before the work
                // is first polled, so a hurry never comes before its debit.)
                tokio::select! {
                    biased;
                    reserved = &mut reserve => (reserved?, work.await),
                    outcome = &mut work => {
                        state.credits.hurry();
                        (reserve.await?, outcome)
                    }
                }
            } else {
                (reserve.await?, work.await)
            };
            match outcome {
                Ok(data) => Ok(reservation.metered(data)),
                Err(e) => {
                    reservation.refund().await;
                    Err(e)
                }
            }
        }));
        task.await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("metered call aborted: {e}")))?
    }
}
