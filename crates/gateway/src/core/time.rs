//! Time as the gateway stores it: Unix milliseconds, and the one RFC 3339
//! rendering the API answers with.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix ms as RFC 3339 (UTC) with exactly three fractional digits, so the
/// strings have one length and sort as the instants do (`Rfc3339` drops
/// trailing zeros: `…48.65Z` would sort after `…48.651Z`).
pub fn iso(ms: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_one_length_and_sort_as_instants() {
        assert_eq!(iso(1_764_000_048_650), "2025-11-24T16:00:48.650Z");
        assert_eq!(iso(1_764_000_048_000), "2025-11-24T16:00:48.000Z");
        assert!(iso(1_764_000_048_650) < iso(1_764_000_048_651));
    }
}
