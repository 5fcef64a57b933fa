//! The price table: one [`Endpoint`] (ledger name, credits, cache policy) per
//! operation of the API, and [`BY_OPERATION`] mapping each OpenAPI
//! `operationId` to its price. No endpoint name or price is written anywhere
//! else; a route missing from [`BY_OPERATION`] fails the API suite.

use crate::metering::meta::Endpoint;

/// One credit, never cached: the policy of every Fansly account endpoint.
const fn one(name: &'static str) -> Endpoint {
    Endpoint::uncached(name, 1)
}

/// One credit for a call that only reads (Fansly GETs): it runs beside its
/// reservation. Only GET operations may use one (the router's test).
const fn read(name: &'static str) -> Endpoint {
    one(name).reading()
}

/// No credits: reported in `_meta` but never charged.
const fn free(name: &'static str) -> Endpoint {
    Endpoint::uncached(name, 0)
}

// Chats
pub const CHATS_CREATE: Endpoint = one("chats.create");
pub const CHATS_LIST: Endpoint = read("chats.list");
pub const CHATS_SHOW: Endpoint = read("chats.show");
pub const CHATS_MARK_ALL_READ: Endpoint = one("chats.mark_all_read");
pub const CHATS_TYPING: Endpoint = free("chats.typing");
pub const CHATS_READ_RECEIPTS_DISABLE: Endpoint = one("chats.read_receipts.disable");

// Chat messages
pub const MESSAGES_LIST: Endpoint = read("messages.list");
pub const MESSAGES_SEND: Endpoint = one("messages.send");
pub const MESSAGES_ACK: Endpoint = one("messages.ack");
pub const MESSAGES_DELETE: Endpoint = one("messages.delete");
pub const MESSAGES_REACT: Endpoint = one("messages.react");
pub const MESSAGES_UNREACT: Endpoint = one("messages.unreact");

// Media. Uploads cost is per megabyte (`media::upload_cost`); the ledger
// name is this one's, and so is the refund of a failed upload.
pub const MEDIA_UPLOAD: Endpoint = one("media.upload");
pub const MEDIA_UPLOAD_STATUS: Endpoint = free("media.upload_status");
pub const MEDIA_ACCOUNT_MEDIA: Endpoint = read("media.account_media");
pub const MEDIA_DOWNLOAD: Endpoint = read("media.download");

// Users, followers, subscribers
pub const USERS_LOOKUP: Endpoint = read("users.lookup");
pub const USERS_MUTE: Endpoint = one("users.mute");
pub const USERS_UNMUTE: Endpoint = one("users.unmute");
pub const FOLLOWERS_LIST: Endpoint = read("followers.list");
pub const FOLLOWING_LIST: Endpoint = read("following.list");
pub const SUBSCRIBERS_LIST: Endpoint = read("subscribers.list");
pub const SUBSCRIPTION_TIERS_LIST: Endpoint = read("subscription_tiers.list");

// Lists
pub const LISTS_LIST: Endpoint = read("lists.list");
pub const LISTS_CREATE: Endpoint = one("lists.create");
pub const LISTS_REORDER: Endpoint = one("lists.reorder");
pub const LISTS_UPDATE: Endpoint = one("lists.update");
pub const LISTS_DELETE: Endpoint = one("lists.delete");
pub const LISTS_ITEMS: Endpoint = read("lists.items");
pub const LISTS_ITEMS_ADD: Endpoint = one("lists.items.add");
pub const LISTS_ITEMS_REMOVE: Endpoint = one("lists.items.remove");
pub const LISTS_ITEMS_REMOVE_ONE: Endpoint = one("lists.items.remove_one");

// Earnings and top supporters
pub const EARNINGS_WALLETS: Endpoint = read("earnings.wallets");
pub const EARNINGS_TRANSACTIONS: Endpoint = read("earnings.transactions");
pub const EARNINGS_PENDING: Endpoint = read("earnings.pending");
pub const EARNINGS_PAYOUTS: Endpoint = read("earnings.payouts");
pub const EARNINGS_STATS: Endpoint = read("earnings.stats");
pub const EARNINGS_MONTHLY: Endpoint = read("earnings.monthly");
pub const TOP_SUPPORTERS_LIST: Endpoint = read("top_supporters.list");
pub const TOP_SUPPORTERS_BREAKDOWN: Endpoint = read("top_supporters.breakdown");
pub const TOP_SUPPORTERS_MONTHLY: Endpoint = read("top_supporters.monthly");

// Tracking links, statistics
pub const TRACKING_LINKS_LIST: Endpoint = read("tracking_links.list");
pub const TRACKING_LINKS_STATS: Endpoint = read("tracking_links.stats");
pub const TRACKING_LINKS_UPDATE: Endpoint = one("tracking_links.update");
pub const INSIGHTS_GET: Endpoint = read("insights.get");
pub const ANALYTICS_SUMMARY: Endpoint = read("analytics.summary");

// Walls, posts, vault, stories
pub const WALLS_LIST: Endpoint = read("walls.list");
pub const WALLS_CREATE: Endpoint = one("walls.create");
pub const POSTS_LIST: Endpoint = read("posts.list");
pub const POSTS_SEND: Endpoint = one("posts.send");
pub const POSTS_UPDATE: Endpoint = one("posts.update");
pub const POSTS_STATS: Endpoint = read("posts.stats");
pub const VAULT_ALBUMS_LIST: Endpoint = read("vault.albums.list");
pub const VAULT_ALBUMS_CREATE: Endpoint = one("vault.albums.create");
pub const VAULT_ALBUMS_UPDATE: Endpoint = one("vault.albums.update");
pub const VAULT_ALBUMS_REORDER: Endpoint = one("vault.albums.reorder");
pub const VAULT_ALBUMS_MEDIA_ADD: Endpoint = one("vault.albums.media.add");
pub const VAULT_ALBUMS_MEDIA_REMOVE: Endpoint = one("vault.albums.media.remove");
pub const VAULT_MEDIA_LIST: Endpoint = read("vault.media.list");
pub const STORIES_ADD: Endpoint = one("stories.add");

// Mass messaging
pub const MASS_MESSAGING_LIST: Endpoint = read("mass_messaging.list");
pub const MASS_MESSAGING_SEND: Endpoint = one("mass_messaging.send");
pub const MASS_MESSAGING_GET: Endpoint = read("mass_messaging.get");
pub const MASS_MESSAGING_UPDATE: Endpoint = one("mass_messaging.update");
pub const MASS_MESSAGING_CANCEL: Endpoint = one("mass_messaging.cancel");

// Webhooks: the management API is free.
pub const WEBHOOKS_LIST: Endpoint = free("webhooks.list");
pub const WEBHOOKS_CREATE: Endpoint = free("webhooks.create");
pub const WEBHOOKS_EVENTS: Endpoint = free("webhooks.events");
pub const WEBHOOKS_GET: Endpoint = free("webhooks.get");
pub const WEBHOOKS_UPDATE: Endpoint = free("webhooks.update");
pub const WEBHOOKS_DELETE: Endpoint = free("webhooks.delete");
pub const WEBHOOKS_DELIVERIES: Endpoint = free("webhooks.deliveries");
pub const WEBHOOKS_DELIVERY: Endpoint = free("webhooks.delivery");
pub const WEBHOOKS_REDELIVER: Endpoint = free("webhooks.redeliver");
pub const WEBHOOKS_EXAMPLE: Endpoint = free("webhooks.example");

pub const WEBHOOKS_TEST: Endpoint = free("webhooks.test");

// Data exports: the calls are free; the run is charged per started 1,000
// messages under DATA_EXPORTS_MESSAGES, whose cost is per started 1,000
// messages (the catalogue gives no price).
pub const DATA_EXPORTS_CREATE: Endpoint = free("data_exports.create");
pub const DATA_EXPORTS_LIST: Endpoint = free("data_exports.list");
pub const DATA_EXPORTS_GET: Endpoint = free("data_exports.get");
pub const DATA_EXPORTS_DELETE: Endpoint = free("data_exports.delete");
pub const DATA_EXPORTS_START: Endpoint = free("data_exports.start");
pub const DATA_EXPORTS_RETRY: Endpoint = free("data_exports.retry");
pub const DATA_EXPORTS_DOWNLOAD: Endpoint = free("data_exports.download");
pub const DATA_EXPORTS_MESSAGES: Endpoint = Endpoint::uncached("data_exports.messages", 1);

// The console's own API (free).
pub const CONSOLE_ME: Endpoint = free("console.me");
pub const CONSOLE_KEYS: Endpoint = free("console.keys");
pub const CONSOLE_KEYS_CREATE: Endpoint = free("console.keys.create");
pub const CONSOLE_KEYS_REVOKE: Endpoint = free("console.keys.revoke");
pub const CONSOLE_KEYS_MCP: Endpoint = free("console.keys.mcp");
pub const CONSOLE_MCP: Endpoint = free("console.mcp");
pub const CONSOLE_LEDGER: Endpoint = free("console.ledger");
pub const CONSOLE_USAGE: Endpoint = free("console.usage");
pub const CONSOLE_REQUESTS: Endpoint = free("console.requests");

/// The ledger name of a block of webhook deliveries debited by the delivery
/// worker (its cost is configured: `webhook block cost`, not this constant's).
pub const WEBHOOK_DELIVERY_BLOCK: Endpoint = free("webhooks.delivery");

/// What an OpenAPI operation costs.
#[derive(Clone, Copy, Debug)]
pub enum Price {
    /// Billed (or reported free in `_meta`) under this endpoint.
    Metered(Endpoint),
    /// Outside metering: no `_meta`, no ledger (health, accounts, connecting).
    Unmetered,
}

use Price::{Metered as M, Unmetered as U};

/// Every OpenAPI `operationId` and its price.
pub const BY_OPERATION: &[(&str, Price)] = &[
    ("healthz", U),
    ("readyz", U),
    ("listAccounts", U),
    ("disconnectAccount", U),
    ("startAuthentication", U),
    ("pollAuthenticationStatus", U),
    ("submit2FA", U),
    ("reAuthenticateAccount", U),
    ("createChat", M(CHATS_CREATE)),
    ("listChats", M(CHATS_LIST)),
    ("showChat", M(CHATS_SHOW)),
    ("markAllChatsAsRead", M(CHATS_MARK_ALL_READ)),
    ("startTypingIndicator", M(CHATS_TYPING)),
    ("disableChatReadReceipts", M(CHATS_READ_RECEIPTS_DISABLE)),
    ("listChatMessages", M(MESSAGES_LIST)),
    ("sendChatMessage", M(MESSAGES_SEND)),
    ("acknowledgeChatMessages", M(MESSAGES_ACK)),
    ("deleteChatMessage", M(MESSAGES_DELETE)),
    ("addReactionToChatMessage", M(MESSAGES_REACT)),
    ("removeReactionFromChatMessage", M(MESSAGES_UNREACT)),
    ("uploadMedia", M(MEDIA_UPLOAD)),
    ("uploadMediaToVault", M(MEDIA_UPLOAD)),
    ("getUploadStatus", M(MEDIA_UPLOAD_STATUS)),
    ("getAccountMedia", M(MEDIA_ACCOUNT_MEDIA)),
    ("downloadMediaFromTheFanslyCDN", M(MEDIA_DOWNLOAD)),
    ("getUserDetails", M(USERS_LOOKUP)),
    ("by_ids", M(USERS_LOOKUP)),
    ("by_ids_no_slash", M(USERS_LOOKUP)),
    ("muteUser", M(USERS_MUTE)),
    ("unmuteUser", M(USERS_UNMUTE)),
    ("listFollowers", M(FOLLOWERS_LIST)),
    ("listFollowing", M(FOLLOWING_LIST)),
    ("listSubscribers", M(SUBSCRIBERS_LIST)),
    ("listSubscriptionTiers", M(SUBSCRIPTION_TIERS_LIST)),
    ("listLists", M(LISTS_LIST)),
    ("createList", M(LISTS_CREATE)),
    ("reorderLists", M(LISTS_REORDER)),
    ("updateList", M(LISTS_UPDATE)),
    ("deleteList", M(LISTS_DELETE)),
    ("listItemsInList", M(LISTS_ITEMS)),
    ("addUsersToList", M(LISTS_ITEMS_ADD)),
    ("removeUsersFromList", M(LISTS_ITEMS_REMOVE)),
    ("removeUserFromList", M(LISTS_ITEMS_REMOVE_ONE)),
    ("listWallets", M(EARNINGS_WALLETS)),
    ("listWalletTransactions", M(EARNINGS_TRANSACTIONS)),
    ("getPendingEarnings", M(EARNINGS_PENDING)),
    ("listPayoutRequests", M(EARNINGS_PAYOUTS)),
    ("getEarningsStats", M(EARNINGS_STATS)),
    ("listMonthlyEarnings", M(EARNINGS_MONTHLY)),
    ("listTopSupporters", M(TOP_SUPPORTERS_LIST)),
    ("getTopSupporterBreakdown", M(TOP_SUPPORTERS_BREAKDOWN)),
    ("getTopSupporterMonthlyEarnings", M(TOP_SUPPORTERS_MONTHLY)),
    ("listTrackingLinks", M(TRACKING_LINKS_LIST)),
    ("getTrackingLinkStats", M(TRACKING_LINKS_STATS)),
    ("updateTrackingLink", M(TRACKING_LINKS_UPDATE)),
    ("getInsights", M(INSIGHTS_GET)),
    ("getAnalyticsSummary", M(ANALYTICS_SUMMARY)),
    ("listWalls", M(WALLS_LIST)),
    ("createWall", M(WALLS_CREATE)),
    ("listPosts", M(POSTS_LIST)),
    ("sendPost", M(POSTS_SEND)),
    ("updatePost", M(POSTS_UPDATE)),
    ("getPostStats", M(POSTS_STATS)),
    ("listVaultAlbums", M(VAULT_ALBUMS_LIST)),
    ("createVaultAlbum", M(VAULT_ALBUMS_CREATE)),
    ("updateVaultAlbum", M(VAULT_ALBUMS_UPDATE)),
    ("reorderVaultAlbums", M(VAULT_ALBUMS_REORDER)),
    ("addMediaToAlbum", M(VAULT_ALBUMS_MEDIA_ADD)),
    ("removeMediaFromAlbum", M(VAULT_ALBUMS_MEDIA_REMOVE)),
    ("listVaultMedia", M(VAULT_MEDIA_LIST)),
    ("addToStory", M(STORIES_ADD)),
    ("listScheduledMassMessages", M(MASS_MESSAGING_LIST)),
    ("sendMassMessage", M(MASS_MESSAGING_SEND)),
    ("getMassMessage", M(MASS_MESSAGING_GET)),
    ("updateScheduledMassMessage", M(MASS_MESSAGING_UPDATE)),
    ("cancelScheduledMassMessage", M(MASS_MESSAGING_CANCEL)),
    ("listWebhooks", M(WEBHOOKS_LIST)),
    ("testWebhook", M(WEBHOOKS_TEST)),
    ("consoleMe", M(CONSOLE_ME)),
    ("consoleListKeys", M(CONSOLE_KEYS)),
    ("consoleCreateKey", M(CONSOLE_KEYS_CREATE)),
    ("consoleRevokeKey", M(CONSOLE_KEYS_REVOKE)),
    ("consoleSetKeyMcp", M(CONSOLE_KEYS_MCP)),
    ("consoleMcpSetup", M(CONSOLE_MCP)),
    ("consoleLedger", M(CONSOLE_LEDGER)),
    ("consoleUsage", M(CONSOLE_USAGE)),
    ("consoleRequests", M(CONSOLE_REQUESTS)),
    // Operator and sandbox-steering routes: outside metering (no team's
    // credits are involved).
    ("consoleListTeams", U),
    ("consoleSandboxEvent", U),
    ("consoleSandboxEmails", U),
    ("createWebhook", M(WEBHOOKS_CREATE)),
    ("listWebhookEvents", M(WEBHOOKS_EVENTS)),
    ("getWebhook", M(WEBHOOKS_GET)),
    ("updateWebhook", M(WEBHOOKS_UPDATE)),
    ("deleteWebhook", M(WEBHOOKS_DELETE)),
    ("listWebhookDeliveries", M(WEBHOOKS_DELIVERIES)),
    ("getWebhookDelivery", M(WEBHOOKS_DELIVERY)),
    ("redeliverWebhookDelivery", M(WEBHOOKS_REDELIVER)),
    ("getWebhookExamplePayload", M(WEBHOOKS_EXAMPLE)),
    ("createDataExport", M(DATA_EXPORTS_CREATE)),
    ("listDataExports", M(DATA_EXPORTS_LIST)),
    ("retrieveDataExport", M(DATA_EXPORTS_GET)),
    ("deleteDataExport", M(DATA_EXPORTS_DELETE)),
    ("startDataExport", M(DATA_EXPORTS_START)),
    ("retryDataExport", M(DATA_EXPORTS_RETRY)),
    ("downloadDataExport", M(DATA_EXPORTS_DOWNLOAD)),
];

/// The price of an OpenAPI operation, `None` for one missing from the table.
pub fn by_operation(operation_id: &str) -> Option<Price> {
    BY_OPERATION
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, p)| *p)
}
