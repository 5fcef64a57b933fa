//! Fansly snowflake ids: `(ms since Fansly's epoch) << 22 | low bits`, always carried as strings.

/// 2019-06-25T20:25:59.539Z, the constant in Fansly's web bundle.
pub const FANSLY_EPOCH_MS: i64 = 1_561_494_359_539;

/// Milliseconds since the Unix epoch at which a snowflake was minted.
pub fn snowflake_time_ms(id: u64) -> i64 {
    (id >> 22) as i64 + FANSLY_EPOCH_MS
}

/// A snowflake for `unix_ms` with the given low 22 bits.
pub fn snowflake_at(unix_ms: i64, low_bits: u64) -> u64 {
    (((unix_ms - FANSLY_EPOCH_MS).max(0) as u64) << 22) | (low_bits & 0x3f_ffff)
}

/// True when `s` looks like a Fansly id: 1 to 20 ASCII digits that fit a u64.
pub fn is_snowflake(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_captured_message_id() {
        // A real chat message id with createdAt 1665586119377 ms (spec §11).
        assert_eq!(
            snowflake_time_ms(436_592_484_655_575_040),
            1_665_586_119_377
        );
    }

    #[test]
    fn round_trips() {
        let id = snowflake_at(1_700_000_000_000, 7);
        assert_eq!(snowflake_time_ms(id), 1_700_000_000_000);
        assert_eq!(id & 0x3f_ffff, 7);
    }

    #[test]
    fn validates_ids() {
        assert!(is_snowflake("918197836133183488"));
        assert!(!is_snowflake(""));
        assert!(!is_snowflake("12a"));
        assert!(!is_snowflake("99999999999999999999"));
        assert!(!is_snowflake("-1"));
    }
}
