//! Small rules shared by the business modules for reading Fansly's answers
//! and mapping its failures, and [`Answer`], what those modules return.

use std::future::Future;

use fansly_upstream::UpstreamError;
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;

/// What a business rule answers: the JSON for the client, or the error.
pub type Answer = Result<Value, ApiError>;

pub fn upstream(account: &ConnectedAccount) -> impl Fn(UpstreamError) -> ApiError + '_ {
    |e| ApiError::upstream(&account.id, e)
}

/// Awaits one Fansly call made for `account`, its failure mapped as
/// [`upstream`] maps it: what most business rules do with a call's answer.
pub async fn ask(
    account: &ConnectedAccount,
    call: impl Future<Output = Result<Value, UpstreamError>>,
) -> Answer {
    call.await.map_err(upstream(account))
}

/// Fansly's 404 for something named in the request becomes our 404 naming it;
/// anything else maps as usual.
pub fn missing_on_404<'a>(
    account: &'a ConnectedAccount,
    what: String,
) -> impl FnOnce(UpstreamError) -> ApiError + 'a {
    move |e| match e {
        UpstreamError::Api { status: 404, .. } => ApiError::NotFound(format!("{what} not found")),
        e => ApiError::upstream(&account.id, e),
    }
}

/// The array at `key` of a Fansly answer (or the answer itself for `None`);
/// anything else means Fansly changed its shape.
pub fn rows<'a>(value: &'a Value, key: Option<&str>, what: &str) -> Result<&'a [Value], ApiError> {
    key.map_or(Some(value), |k| value.get(k))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| ApiError::BadGateway(format!("Fansly answered {what} without a list")))
}

/// The array at `key` of a Fansly answer, empty when it has none: for the
/// background readers (gap fill, exports, the audience walk), for which a
/// missing list is an empty one.
pub fn array_at(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
