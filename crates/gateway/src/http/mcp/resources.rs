//! MCP resources a client can attach to a prompt: a creator's profile and a
//! conversation, by URI template, each read through the same REST call a
//! tool would make (metered alike).
//!
//! - `fansly://accounts/{account}/profile` — the connected account as List
//!   Accounts shows it (free).
//! - `fansly://accounts/{account}/chats/{chat_id}` — the latest 50 messages
//!   of a conversation (List Chat Messages, 1 credit).

use axum::http::Method;
use serde_json::Value;

use crate::http::mcp::rest::{fill, RestCall};

pub const PROFILE_TEMPLATE: &str = "fansly://accounts/{account}/profile";
pub const CHAT_TEMPLATE: &str = "fansly://accounts/{account}/chats/{chat_id}";

/// What a resource URI names.
pub enum Target {
    Profile { account: String },
    Chat { account: String, chat_id: String },
}

pub fn parse(uri: &str) -> Option<Target> {
    let rest = uri.strip_prefix("fansly://accounts/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    };
    match parts.as_slice() {
        [account, "profile"] if ok(account) => Some(Target::Profile {
            account: (*account).to_owned(),
        }),
        [account, "chats", chat]
            if ok(account) && chat.bytes().all(|b| b.is_ascii_digit()) && !chat.is_empty() =>
        {
            Some(Target::Chat {
                account: (*account).to_owned(),
                chat_id: (*chat).to_owned(),
            })
        }
        _ => None,
    }
}

pub fn profile_uri(account: &str) -> String {
    format!("fansly://accounts/{account}/profile")
}

/// The REST call reading `target`.
pub fn call(target: &Target) -> RestCall {
    match target {
        Target::Profile { .. } => RestCall::new(Method::GET, "/api/fansly/accounts".into()),
        Target::Chat { account, chat_id } => RestCall::new(
            Method::GET,
            fill(
                "/api/fansly/{fanslyAccount}/chats/{chat_id}/messages",
                &[("fanslyAccount", account), ("chat_id", chat_id)],
            ),
        )
        .query("limit", Some("50".into())),
    }
}

/// The resource's content from the REST answer: the one account's entry
/// for a profile (None when the team has no such account), the page for a chat.
pub fn content(target: &Target, body: Value) -> Option<Value> {
    match target {
        Target::Profile { account } => body
            .as_array()?
            .iter()
            .find(|a| a["id"].as_str() == Some(account))
            .cloned(),
        Target::Chat { .. } => Some(body),
    }
}
