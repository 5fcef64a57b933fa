//! Small rules shared by the business modules for reading Fansly's answers
//! and mapping its failures.

use fansly_upstream::UpstreamError;
use serde_json::Value;

use crate::accounts::sessions::ConnectedAccount;
use crate::core::error::ApiError;

pub fn upstream(account: &ConnectedAccount) -> impl Fn(UpstreamError) -> ApiError + '_ {
    |e| ApiError::upstream(&account.id, e)
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
