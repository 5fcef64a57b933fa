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

/// One item a fan bought (2.7): the buyer and the item, not the order, so
/// the ledger row the gap fill finds (which names the item and the buyer
/// but no order) is the same occurrence; a fan buys an item once.
pub fn media_order(buyer: &str, item: &str) -> String {
    format!("2.7:{buyer}:{item}")
}

/// A payout request created (16.20): once per request, whatever version
/// the frame or the payout history shows it at.
pub fn payout_created(id: &str) -> String {
    format!("16.20:{id}")
}

/// A payout request updated (16.21) to `version`.
pub fn payout_updated(id: &str, version: i64) -> String {
    format!("16.21:{id}:{version}")
}

/// A post created (1.1) or deleted (1.5).
pub fn post(kind: i64, id: &str) -> String {
    format!("1.{kind}:{id}")
}

/// A billing debit (a 6.3 transaction of type 58000) as `payouts.debited`.
pub fn payout_debited(id: &str) -> String {
    format!("6.3:58000:{id}")
}

/// An account alert (a 9.1 notification of the 24xxx family).
pub fn alert(id: &str) -> String {
    format!("9.1:alert:{id}")
}

/// A reply to one of the account's posts (9.1 notification type 1004).
pub fn post_comment(id: &str) -> String {
    format!("9.1:1004:{id}")
}

/// A like of one of the account's posts (1.2).
pub fn post_like(id: &str) -> String {
    format!("1.2:{id}")
}

/// A post's content (1.8) or counters (1.4) as they now are: `state` is a
/// digest of what changed, so the copy per wall collapses; `at` (the
/// upstream time of the change, else the second it arrived) tells a return
/// to an earlier state (A→B→A) from a copy of it.
pub fn post_update(kind: i64, id: &str, state: &str, at: &str) -> String {
    format!("1.{kind}:{id}:{state}:{at}")
}

/// A post pinned (10.x) at `at`.
pub fn post_pin(post: &str, at: &str) -> String {
    format!("10.pin:{post}:{at}")
}

/// A post found expired by the sweep.
pub fn post_expired(id: &str) -> String {
    format!("post.expired:{id}")
}

/// A story a fan bought (32.7): buyer and story, as [`media_order`].
pub fn story_order(buyer: &str, story: &str) -> String {
    format!("32.7:{buyer}:{story}")
}

/// A mute/block change (11.1) of `target` to `flags` at `at`.
pub fn ignore(target: &str, flags: i64, at: &str) -> String {
    format!("11.1:{target}:{flags}:{at}")
}

/// A stream's state (45.10) or permission (45.11) change, at `at` (as
/// [`post_update`]).
pub fn stream(kind: i64, id: &str, state: &str, at: &str) -> String {
    format!("45.{kind}:{id}:{state}:{at}")
}

/// The account's public profile as the sweep found it changed: `state` is
/// the new profile's digest, `since` when the profile it replaced was first
/// seen, so A→B→A→B is three events while a sweep repeated before its
/// snapshot is stored is one.
pub fn profile(id: &str, state: &str, since: i64) -> String {
    format!("profile:{id}:{state}:{since}")
}

/// A short digest of a JSON value, for keys of "the state is now X" events.
pub fn digest(v: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(v.to_string().as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_websocket_code_as_prefix() {
        assert_eq!(message("10"), "5.1:10");
        assert_eq!(follow(3, "7"), "3.3:7");
        assert_eq!(subscription_confirmed("1", 2), "15.5:1:2:3");
        assert_eq!(payout_updated("9", 2), "16.21:9:2");
    }
}
