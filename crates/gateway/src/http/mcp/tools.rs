//! The MCP tools: one table, each row naming the REST operation it stands
//! for (the `operation_id` in `/openapi.json`, method and route template),
//! with a hand-written description and JSON Schema for a model, and the
//! step that turns checked arguments into that REST call. Write tools are
//! refused for a read-only key and carry an idempotency key.

use axum::http::Method;
use serde_json::{json, Value};

use crate::http::mcp::args::{ArgError, Args};
use crate::http::mcp::rest::{fill, RestCall};

pub struct ToolDef {
    pub name: &'static str,
    /// The REST operation (`operationId` in `/openapi.json`).
    pub operation_id: &'static str,
    pub method: Method,
    /// The route template as in `/openapi.json`.
    pub path: &'static str,
    /// Changes something (refused for read-only keys; idempotency key; dry run).
    pub writes: bool,
    pub description: &'static str,
    pub schema: fn() -> Value,
    /// Turns checked arguments into the REST call (most start from `call`).
    pub plan: fn(&ToolDef, &Args) -> Result<RestCall, ArgError>,
}

impl ToolDef {
    /// The tool's REST call with its route's parameters filled in from the
    /// arguments: `{fanslyAccount}` from `account`, `{webhook_id}` as given,
    /// any other `{…}` checked as a Fansly id; `given` supplies those the
    /// plan worked out itself.
    pub fn call(&self, a: &Args, given: &[(&str, &str)]) -> Result<RestCall, ArgError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        for name in self
            .path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
        {
            let value = match given.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => (*v).to_owned(),
                None if name == "fanslyAccount" => a.required("account")?,
                None if name == "webhook_id" => a.required(name)?,
                None => a.required_id(name)?,
            };
            params.push((name, value));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Ok(RestCall::new(self.method.clone(), fill(self.path, &params)))
    }
}

const ACCOUNT: &str = "The connected creator account to act for: the `id` from list_accounts (a UUID-like gateway id, not the Fansly username).";
const MONEY: &str = "Money in answers is in thousandths of a US dollar (mills): 4990 means $4.99.";

fn account() -> Value {
    json!({"type": "string", "description": ACCOUNT})
}
fn id(what: &str) -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$", "description": what})
}
fn int(what: &str, min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "description": what})
}
fn text(what: &str) -> Value {
    json!({"type": "string", "description": what})
}
fn instant(what: &str) -> Value {
    json!({"type": "string", "format": "date-time", "description": format!("{what} ISO 8601 with a zone, e.g. 2026-12-01T18:00:00Z.")})
}
fn list(what: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": what})
}
fn idem_key() -> Value {
    text("Optional, 1–255 printable characters. Calls with the same key within 24 h are done once: a retry returns the first answer instead of acting again. If omitted, one is derived from the tool name and all arguments, so an identical retry is still done once (to deliberately repeat an identical action, pass a new key).")
}
fn dry_run() -> Value {
    json!({"type": "boolean", "description": "If true, nothing is sent or charged: the answer shows the exact REST request that would be made."})
}
fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}
fn page(call: RestCall, a: &Args, max: i64) -> Result<RestCall, ArgError> {
    Ok(call
        .query("limit", a.int("limit", 1, max)?.map(|n| n.to_string()))
        .query(
            "offset",
            a.int("offset", 0, 1_000_000)?.map(|n| n.to_string()),
        ))
}
fn window(call: RestCall, a: &Args) -> Result<RestCall, ArgError> {
    Ok(call
        .query("after", a.instant("after")?)
        .query("before", a.instant("before")?))
}
/// `text` and `media_files`, of which a send needs at least one.
fn content(a: &Args) -> Result<(Option<String>, Vec<String>), ArgError> {
    let text = a.text("text")?;
    let media = media(a)?;
    if text.as_deref().is_none_or(|t| t.trim().is_empty()) && media.is_empty() {
        return Err(ArgError::new(
            "text",
            "is required unless media_files is given",
        ));
    }
    Ok((text, media))
}
/// `price_usd` (making it pay-to-view) and `scheduled_for` into a send's body.
fn priced_and_scheduled(body: &mut Value, a: &Args) -> Result<(), ArgError> {
    if let Some(p) = a.dollars_as_mills("price_usd")? {
        body["requirePurchase"] = json!(true);
        body["price"] = json!(p);
    }
    if let Some(t) = a.instant_ms("scheduled_for")? {
        body["scheduledFor"] = json!(t);
    }
    Ok(())
}
fn media(a: &Args) -> Result<Vec<String>, ArgError> {
    let files = a.list("media_files")?;
    if let Some(bad) = files.iter().find(|f| !f.starts_with("fansly_media_")) {
        return Err(ArgError::new(
            "media_files",
            format!("each item must be a fansly_media_… handle from an upload, got {bad:?}"),
        ));
    }
    Ok(files)
}

pub static TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "list_accounts",
        operation_id: "listAccounts",
        method: Method::GET,
        path: "/api/fansly/accounts",
        writes: false,
        description: "List the Fansly creator accounts connected to this API key's team, with their gateway `id` (needed by every other tool as `account`), Fansly username and whether they are authenticated. Free of credits. Call this first.",
        schema: || object(json!({}), &[]),
        plan: |t, a| t.call(a, &[]),
    },
    ToolDef {
        name: "find_fan",
        operation_id: "getUserDetails",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/users/{usernames}",
        writes: false,
        description: "Look a fan up by Fansly username or Fansly account id: their profile as Fansly renders it (display name, subscription to this creator and its tier where Fansly shows it, last seen time where available), plus what they spent with this creator in a period (from the top-supporters breakdown: total gross and net, per transaction type; null when they spent nothing). Money is in thousandths of a dollar (4990 = $4.99). Costs 1 credit, plus 1 for the spend.",
        schema: || object(json!({
            "account": account(),
            "username": text("The fan's Fansly username (without @). Give this or user_id."),
            "user_id": id("The fan's Fansly account id (digits). Give this or username."),
            "after": instant("Start of the spend period; default 30 days before `before`."),
            "before": instant("End of the spend period; default now."),
        }), &["account"]),
        plan: |t, a| {
            match (a.string("username")?, a.id("user_id")?) {
                (Some(name), None) => t.call(a, &[("usernames", name.trim_start_matches('@'))]),
                // By id it is the same operation's sibling route, `/users?ids=`.
                (None, Some(uid)) => {
                    let acc = a.required("account")?;
                    let path = fill("/api/fansly/{fanslyAccount}/users", &[("fanslyAccount", &acc)]);
                    Ok(RestCall::new(Method::GET, path).query("ids", Some(uid)))
                }
                _ => Err(ArgError::new("username", "give exactly one of username or user_id")),
            }
        },
    },
    ToolDef {
        name: "list_chats",
        operation_id: "listChats",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/chats",
        writes: false,
        description: "List the creator's direct-message conversations, unread first by default, each with the partner fan and the last message. Use a chat's `id` with read_conversation and send_message. Paged with limit/offset. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "order": {"type": "string", "enum": ["unread", "newest", "oldest"], "description": "unread (default): unread conversations first; newest/oldest: by last activity."},
            "search": text("Only conversations whose partner's username or display name contains this."),
            "limit": int("How many conversations (default 20).", 1, 100),
            "offset": int("How many to skip, for the next page (default 0).", 0, 1_000_000),
        }), &["account"]),
        plan: |t, a| {
            let call = t.call(a, &[])?
                .query("order", Some(a.string("order")?.unwrap_or_else(|| "unread".into())))
                .query("search", a.string("search")?);
            page(call, a, 100)
        },
    },
    ToolDef {
        name: "read_conversation",
        operation_id: "listChatMessages",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
        writes: false,
        description: "Read the messages of one conversation, newest first, with attached media, tips and purchases. For older messages pass `before` = the id of the oldest message you have (or use `_pagination.next_page`). Times are Unix seconds as Fansly gives them. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "chat_id": id("The conversation id (from list_chats)."),
            "limit": int("How many messages (default 25).", 1, 100),
            "before": id("Only messages older than this message id (paging backwards)."),
        }), &["account", "chat_id"]),
        plan: |t, a| {
            Ok(t.call(a, &[])?
                .query("limit", a.int("limit", 1, 100)?.map(|n| n.to_string()))
                .query("before", a.id("before")?))
        },
    },
    ToolDef {
        name: "send_message",
        operation_id: "sendChatMessage",
        method: Method::POST,
        path: "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
        writes: true,
        description: "Send a direct message in a conversation as the creator: text and/or media (fansly_media_… handles from an upload or the vault), optionally as a reply. A fan receives it at once; it cannot be unsent by this tool. Safe to retry: an identical call (same arguments or same idempotency_key) within 24 h is sent once and returns the first answer. Set dry_run to see the request without sending. This route has no price: for a paid (PPV) message to one fan use schedule_mass_message with user_ids and price_usd. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "chat_id": id("The conversation id (from list_chats)."),
            "text": text("The message text (up to 10,000 characters). Required unless media_files is given."),
            "media_files": list("fansly_media_… handles (from an upload or the vault) to attach, in order; several make one bundle."),
            "reply_to_message_id": id("A message of this conversation to reply to."),
            "idempotency_key": idem_key(),
            "dry_run": dry_run(),
        }), &["account", "chat_id"]),
        plan: |t, a| {
            let (text, media) = content(a)?;
            let mut body = json!({"text": text, "mediaFiles": media});
            if let Some(r) = a.id("reply_to_message_id")? {
                body["replyToMessageId"] = json!(r);
            }
            Ok(t.call(a, &[])?.body(body))
        },
    },
    ToolDef {
        name: "react",
        operation_id: "addReactionToChatMessage",
        method: Method::POST,
        path: "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages/{message_id}/reactions",
        writes: true,
        description: "React to a message in a conversation as the creator (the fan sees the reaction). 1 credit.",
        schema: || object(json!({
            "account": account(),
            "chat_id": id("The conversation id."),
            "message_id": id("The message to react to (from read_conversation)."),
            "reaction": {"type": "string", "enum": ["heart", "laughing", "wow", "cry", "fire", "thumbs_up", "thumbs_down"], "description": "Which reaction."},
            "idempotency_key": idem_key(),
        }), &["account", "chat_id", "message_id", "reaction"]),
        plan: |t, a| {
            let names = ["heart", "laughing", "wow", "cry", "fire", "thumbs_up", "thumbs_down"];
            let r = a.required("reaction")?;
            let kind = names.iter().position(|n| *n == r).ok_or_else(|| ArgError::new("reaction", format!("must be one of {}", names.join(", "))))? + 1;
            Ok(t.call(a, &[])?.body(json!({"type": kind})))
        },
    },
    ToolDef {
        name: "list_followers",
        operation_id: "listFollowers",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/followers",
        writes: false,
        description: "List accounts following the creator, newest first. Paged with limit/offset. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "search": text("Only followers whose username or display name contains this."),
            "limit": int("How many (default 20).", 1, 100),
            "offset": int("How many to skip (default 0).", 0, 1_000_000),
        }), &["account"]),
        plan: |t, a| {
            page(t.call(a, &[])?.query("search", a.string("search")?), a, 100)
        },
    },
    ToolDef {
        name: "list_subscribers",
        operation_id: "listSubscribers",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/subscribers",
        writes: false,
        description: "List the creator's subscribers with their subscription tier, price (thousandths of a dollar) and dates, plus counts in `stats`. Paged with limit/offset. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "status": {"type": "string", "enum": ["active", "expired", "all"], "description": "Which subscriptions (default active)."},
            "search": text("Only subscribers whose username or display name contains this."),
            "limit": int("How many (default 20).", 1, 100),
            "offset": int("How many to skip (default 0).", 0, 1_000_000),
        }), &["account"]),
        plan: |t, a| {
            let call = t.call(a, &[])?
                .query("status", a.string("status")?)
                .query("search", a.string("search")?);
            page(call, a, 100)
        },
    },
    ToolDef {
        name: "earnings_summary",
        operation_id: "getEarningsStats",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/earnings/stats",
        writes: false,
        description: "Summarise the creator's earnings over a period: totals per transaction type (subscriptions, tips, messages, posts …), gross and net. Money is in thousandths of a dollar (4990 = $4.99). Default period: the last 30 days. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "after": instant("Start of the period;"),
            "before": instant("End of the period (default now);"),
        }), &["account"]),
        plan: |t, a| {
            window(t.call(a, &[])?, a)
        },
    },
    ToolDef {
        name: "top_supporters",
        operation_id: "listTopSupporters",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/top-supporters",
        writes: false,
        description: "Rank fans by what they spent with the creator in a period (default the last 30 days): rank, Fansly account id, username, totalGross and totalNet in thousandths of a dollar (4990 = $4.99). 1 credit.",
        schema: || object(json!({
            "account": account(),
            "after": instant("Start of the period;"),
            "before": instant("End of the period (default now);"),
            "limit": int("How many fans (default 20).", 1, 100),
            "offset": int("How many to skip (default 0).", 0, 1_000_000),
        }), &["account"]),
        plan: |t, a| {
            let call = window(t.call(a, &[])?, a)?;
            page(call, a, 100)
        },
    },
    ToolDef {
        name: "list_posts",
        operation_id: "listPosts",
        method: Method::GET,
        path: "/api/fansly/{fanslyAccount}/posts",
        writes: false,
        description: "List the creator's live wall posts, newest first, 15 per page; for the next page pass `before` = the id of the last post you have. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "before": id("Only posts older than this post id (paging)."),
            "wall_id": id("Only posts on this wall."),
            "search": text("Only posts whose text contains this."),
        }), &["account"]),
        plan: |t, a| {
            Ok(t.call(a, &[])?
                .query("before", a.id("before")?)
                .query("wall_id", a.id("wall_id")?)
                .query("search", a.string("search")?))
        },
    },
    ToolDef {
        name: "create_post",
        operation_id: "sendPost",
        method: Method::POST,
        path: "/api/fansly/{fanslyAccount}/posts",
        writes: true,
        description: "Publish a wall post as the creator (now, or at scheduled_for): text and/or media handles, optionally locked behind a price. Everyone who can see the wall sees it. Safe to retry (idempotency_key, derived if omitted). Set dry_run to see the request without posting. 1 credit.",
        schema: || object(json!({
            "account": account(),
            "text": text("The post text (up to 10,000 characters). Required unless media_files is given."),
            "media_files": list("fansly_media_… handles to attach, in order."),
            "wall_ids": list("Walls to publish to (default: the main wall)."),
            "price_usd": {"type": "number", "minimum": 1, "maximum": 500, "description": "Lock the media behind a purchase at this price in US dollars (e.g. 4.99; sent to the API as 4990 thousandths). Omit for a free post."},
            "scheduled_for": instant("Publish later at this time;"),
            "expires_at": instant("Remove the post at this time;"),
            "idempotency_key": idem_key(),
            "dry_run": dry_run(),
        }), &["account"]),
        plan: |t, a| {
            let (text, media) = content(a)?;
            let mut body = json!({"text": text, "mediaFiles": media, "wallIds": a.list("wall_ids")?});
            priced_and_scheduled(&mut body, a)?;
            if let Some(t) = a.instant_ms("expires_at")? { body["expiresAt"] = json!(t); }
            Ok(t.call(a, &[])?.body(body))
        },
    },
    ToolDef {
        name: "schedule_mass_message",
        operation_id: "sendMassMessage",
        method: Method::POST,
        path: "/api/fansly/{fanslyAccount}/mass-messaging",
        writes: true,
        description: "Send a message to many fans at once (a mass message), now or at scheduled_for: to the members of lists, the subscribers of tiers and/or individual fans (Fansly account ids), minus excluded lists. Media may be locked behind a price (pay-per-view). Fans receive it in their DMs. Safe to retry (idempotency_key, derived if omitted). Use dry_run first to check the audience and content. 1 credit, plus Fansly's own delivery.",
        schema: || object(json!({
            "account": account(),
            "text": text("The message text. Required unless media_files is given."),
            "media_files": list("fansly_media_… handles to attach, in order."),
            "price_usd": {"type": "number", "minimum": 1, "maximum": 500, "description": "Lock the media behind a purchase at this price in US dollars (e.g. 9.99; sent as 9990 thousandths). Needs media_files."},
            "list_ids": list("Fansly list ids whose members receive it."),
            "exclude_list_ids": list("Fansly list ids whose members never receive it."),
            "tier_ids": list("Subscription tier ids whose active subscribers receive it."),
            "user_ids": list("Fansly account ids of individual fans who receive it."),
            "scheduled_for": instant("Send later at this time (omit to send now);"),
            "idempotency_key": idem_key(),
            "dry_run": dry_run(),
        }), &["account"]),
        plan: |t, a| {
            let (text, media) = content(a)?;
            let mut body = json!({
                "text": text, "mediaFiles": media,
                "listIds": a.list("list_ids")?, "excludeListIds": a.list("exclude_list_ids")?,
                "tierIds": a.list("tier_ids")?, "userIds": a.list("user_ids")?,
            });
            priced_and_scheduled(&mut body, a)?;
            Ok(t.call(a, &[])?.body(body))
        },
    },
    ToolDef {
        name: "list_webhooks",
        operation_id: "listWebhooks",
        method: Method::GET,
        path: "/api/webhooks",
        writes: false,
        description: "List the team's webhook endpoints (id, URL, subscribed events, enabled). Use an id with list_webhook_deliveries.",
        schema: || object(json!({}), &[]),
        plan: |t, a| t.call(a, &[]),
    },
    ToolDef {
        name: "list_webhook_deliveries",
        operation_id: "listWebhookDeliveries",
        method: Method::GET,
        path: "/api/webhooks/{webhook_id}/deliveries",
        writes: false,
        description: "List recent deliveries of one webhook endpoint, newest first, each with its event, status (pending, delivered, failed) and every attempt (HTTP status, latency, error). Use it to check whether an integration received an event.",
        schema: || object(json!({
            "webhook_id": text("The webhook id (wh_…, from list_webhooks)."),
            "limit": int("How many (default 20).", 1, 100),
            "offset": int("How many to skip (default 0).", 0, 1_000_000),
        }), &["webhook_id"]),
        plan: |t, a| {
            page(t.call(a, &[])?, a, 100)
        },
    },
];

pub fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Said once in the server's instructions.
pub const UNITS: &str = MONEY;
