//! Checks of path and query parameters shared by the resource modules; each
//! failure is a 422 naming the parameter.

use fansly_upstream::ids::is_snowflake;

use crate::error::ApiError;

/// A Fansly id (chat, message, user): a string of digits.
pub fn fansly_id(value: &str, name: &str) -> Result<(), ApiError> {
    if is_snowflake(value) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "{name} must be a Fansly id (a string of digits), got {value:?}"
        )))
    }
}

/// `limit` from 1 to `max`; absent or empty means `default`.
pub fn limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "limit must be an integer from 1 to {max}, got {s:?}"
                ))
            }),
    }
}

/// `offset` of 0 or more; absent or empty means 0.
pub fn offset(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(0),
        Some(s) => s.parse::<u32>().map_err(|_| {
            ApiError::Unprocessable(format!("offset must be a whole number, got {s:?}"))
        }),
    }
}
