//! The catalogue of `fansly.*` event names (essentials.md §10), the one list
//! webhook validation, the examples and the outbox all read.

/// One event type: its vendor name, the console description, and whether it
/// is ephemeral (high-volume presence: no idempotency key, no dedup).
#[derive(Clone, Copy, Debug)]
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
    pub ephemeral: bool,
}

const fn kept(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        ephemeral: false,
    }
}

/// Every `fansly.*` event (essentials.md §10: 38 names). Descriptions are the
/// vendor console's where known; the others are ours.
pub const CATALOG: &[EventType] = &[
    kept("fansly.messages.received", "Fansly message received"),
    kept("fansly.messages.sent", "Fansly message sent"),
    kept("fansly.messages.deleted", "Fansly message deleted"),
    kept("fansly.messages.read", "Fansly messages read"),
    kept(
        "fansly.messages.reaction_added",
        "Fansly message reaction added",
    ),
    kept(
        "fansly.messages.reaction_removed",
        "Fansly message reaction removed",
    ),
    EventType {
        name: "fansly.users.typing",
        description: "Fansly user typing",
        ephemeral: true,
    },
    EventType {
        name: "fansly.chats.visibility_updated",
        description: "Fansly chat visibility updated",
        ephemeral: true,
    },
    kept("fansly.posts.created", "Fansly post created"),
    kept("fansly.posts.updated", "Fansly post updated"),
    kept("fansly.posts.deleted", "Fansly post deleted"),
    kept("fansly.posts.pinned", "Fansly post pinned"),
    kept("fansly.posts.expired", "Fansly post expired"),
    kept("fansly.posts.commented", "Fansly post commented"),
    kept("fansly.posts.liked", "Fansly post liked"),
    kept("fansly.media.liked", "Fansly media liked"),
    kept("fansly.media.purchased", "Fansly media purchased"),
    kept("fansly.stories.purchased", "Fansly story purchased"),
    kept("fansly.subscriptions.new", "Fansly new subscription"),
    kept(
        "fansly.subscriptions.renewed",
        "Fansly subscription renewed",
    ),
    kept(
        "fansly.subscriptions.expired",
        "Fansly subscription expired",
    ),
    kept("fansly.followers.new", "Fansly new follower"),
    kept("fansly.followers.removed", "Fansly follower removed"),
    kept(
        "fansly.fans.ignore_updated",
        "Fansly fan block/mute updated",
    ),
    kept("fansly.wallets.updated", "Fansly wallet updated"),
    kept("fansly.transactions.new", "Fansly new transaction"),
    kept("fansly.tips.received", "Fansly tip received"),
    kept("fansly.payouts.created", "Fansly payout request created"),
    kept("fansly.payouts.updated", "Fansly payout request updated"),
    kept("fansly.payouts.debited", "Fansly payout debited"),
    kept("fansly.profiles.updated", "Fansly profile updated"),
    kept("fansly.streams.updated", "Fansly stream updated"),
    kept("fansly.accounts.updated", "Fansly account updated"),
    kept("fansly.accounts.alert", "Fansly account alert"),
    kept("fansly.accounts.connected", "Fansly account connected"),
    kept(
        "fansly.accounts.disconnected",
        "Fansly account disconnected",
    ),
    kept(
        "fansly.accounts.authentication_failed",
        "Fansly account authentication failed",
    ),
    kept(
        "fansly.accounts.otp_code_required",
        "Fansly account needs a 2FA code",
    ),
];

pub fn event_type(name: &str) -> Option<&'static EventType> {
    CATALOG.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_the_38_vendor_names_once_each() {
        let mut names: Vec<_> = CATALOG.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 38);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 38);
        assert!(names.iter().all(|n| n.starts_with("fansly.")));
    }
}
