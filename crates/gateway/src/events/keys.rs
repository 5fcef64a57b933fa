//! The dedup keys of upstream occurrences, built in one place: the websocket
//! relay and the gap fill (which finds the same occurrences through Fansly's
//! REST API after a break) must produce the same key for the same thing, or
//! an event seen both ways would be delivered twice. The prefix is the
//! websocket `serviceId.type` the occurrence arrives as.

/// A new message (5.1), sent or received.
pub fn message(id: &str) -> String {
    format!("5.1:{id}")
}

/// A deleted message (5.10).
pub fn message_deleted(id: &str) -> String {
    format!("5.10:{id}")
}

/// A follow (3.2) or unfollow (3.3) of the account; both carry the follow's id.
pub fn follow(kind: i64, id: &str) -> String {
    format!("3.{kind}:{id}")
}

/// A confirmed subscription (new or renewed) at `version`.
pub fn subscription_confirmed(id: &str, version: i64) -> String {
    format!("15.5:{id}:{version}:3")
}

/// The end of a subscription at `version`.
pub fn subscription_ended(id: &str, version: i64) -> String {
    format!("15.5:{id}:{version}:ended")
}

/// A tip received (7.1).
pub fn tip(id: &str) -> String {
    format!("7.1:{id}")
}

/// A wallet transaction (6.3).
pub fn transaction(id: &str) -> String {
    format!("6.3:{id}")
}

/// One item of a media purchase (2.7).
pub fn media_order(order: &str, item: &str) -> String {
    format!("2.7:{order}:{item}")
}

/// A payout request created (16.20) or updated (16.21) at `version`.
pub fn payout(kind: i64, id: &str, version: i64) -> String {
    format!("16.{kind}:{id}:{version}")
}

/// A post created (1.1) or deleted (1.5).
pub fn post(kind: i64, id: &str) -> String {
    format!("1.{kind}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_websocket_code_as_prefix() {
        assert_eq!(message("10"), "5.1:10");
        assert_eq!(follow(3, "7"), "3.3:7");
        assert_eq!(subscription_confirmed("1", 2), "15.5:1:2:3");
        assert_eq!(payout(21, "9", 2), "16.21:9:2");
    }
}
