//! Sandbox-only routes for mass messaging: many fans at once, a broadcast
//! audience group as the dashboard would make it (the group itself is in
//! `broadcast.rs`), and every message a creator sent with its recipient, so
//! a test can count deliveries per fan.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::broadcast::BroadcastGroup;
use crate::messaging::Grant;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/fans", post(add_fans))
        .route("/_sandbox/messages", get(sent_messages))
        .route("/_sandbox/broadcast-groups", post(add_broadcast_group))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewBroadcastGroup {
    #[serde(default = "first_creator")]
    creator: String,
    #[serde(default)]
    include_lists: Vec<String>,
    #[serde(default)]
    exclude_lists: Vec<String>,
    #[serde(default)]
    tier_id: Option<String>,
}

fn first_creator() -> String {
    "sandbox_creator".into()
}

/// Sandbox-only stand-in for the dashboard: `POST /_sandbox/broadcast-groups
/// {creator?, includeLists, excludeLists, tierId?}` → `{"id"}`. Lists and the
/// tier must be the creator's.
async fn add_broadcast_group(
    State(state): State<AppState>,
    body: Result<Json<NewBroadcastGroup>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "body: {creator?, includeLists, excludeLists, tierId?}",
        )
            .into_response();
    };
    let mut world = state.world();
    let Some(owner) = world.account_by_username(&body.creator).map(|a| a.id) else {
        return (StatusCode::NOT_FOUND, "unknown creator").into_response();
    };
    let business = world.business(owner);
    let list = |raw: &String| {
        raw.parse::<u64>()
            .ok()
            .filter(|id| business.lists.iter().any(|l| l.id == *id))
    };
    let include: Option<Vec<u64>> = body.include_lists.iter().map(list).collect();
    let exclude: Option<Vec<u64>> = body.exclude_lists.iter().map(list).collect();
    let tier = match &body.tier_id {
        None => Some(None),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|id| business.tiers.iter().any(|t| t.id == *id))
            .map(Some),
    };
    let (Some(include_lists), Some(exclude_lists), Some(tier)) = (include, exclude, tier) else {
        return (StatusCode::NOT_FOUND, "unknown list or tier").into_response();
    };
    let id = world.mint_id();
    world.broadcast_groups.insert(
        id,
        BroadcastGroup {
            id,
            owner,
            include_lists,
            exclude_lists,
            tier,
        },
    );
    Json(json!({"id": id.to_string()})).into_response()
}

#[derive(Deserialize)]
struct NewFans {
    /// Usernames are `<prefix>1` … `<prefix><count>`.
    prefix: String,
    count: u32,
    /// When set, each new fan tips the first seeded creator this much
    /// (mills), fan `n` on day `n % tip_days` before today, an hour before
    /// now: enough paying fans to fill Fansly's 100-row earnings pages.
    #[serde(default)]
    tip_mills: Option<i64>,
    #[serde(default = "one_day")]
    tip_days: u32,
}

fn one_day() -> u32 {
    1
}

/// `POST /_sandbox/fans {prefix, count, tip_mills?, tip_days?}` →
/// `{"ids": [...]}` in order.
async fn add_fans(
    State(state): State<AppState>,
    body: Result<Json<NewFans>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "body: {prefix, count}").into_response();
    };
    let prefix_ok = !body.prefix.is_empty()
        && body.prefix.len() <= 40
        && body
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !prefix_ok || body.count == 0 || body.count > 10_000 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "prefix must be 1-40 letters, digits or _, and count 1-10000",
        )
            .into_response();
    }
    let mut world = state.world();
    let mut ids = Vec::new();
    for n in 1..=body.count {
        match world.add_fan(&format!("{}{n}", body.prefix)) {
            Some(id) => ids.push(id.to_string()),
            None => {
                return (StatusCode::CONFLICT, "a username with this prefix exists").into_response()
            }
        }
    }
    if let Some(amount) = body.tip_mills.filter(|a| *a > 0) {
        let creator = world.account_by_username(&first_creator()).map(|a| a.id);
        let minted: Vec<u64> = ids.iter().map(|_| world.mint_id()).collect();
        if let Some(b) = creator.and_then(|c| world.business_mut(c)) {
            let now = crate::world::now_ms();
            for (n, (fan, id)) in ids.iter().zip(minted).enumerate() {
                let days = (n as u32 % body.tip_days.max(1)) as i64;
                b.add_transaction(crate::business::Transaction {
                    id,
                    kind: crate::business::TYPE_TIP,
                    fan: fan.parse().unwrap_or_default(),
                    correlation_id: id,
                    amount,
                    tax: amount * crate::business::FEE_PERCENT / 100,
                    new_balance: 0,
                    at_ms: now - days * crate::business::DAY_MS - 3_600_000,
                });
            }
        }
    }
    Json(json!({ "ids": ids })).into_response()
}

#[derive(Deserialize)]
struct SentQuery {
    /// The sender's username.
    from: String,
}

/// `GET /_sandbox/messages?from=<username>`: every live message that account
/// sent, oldest first, with its recipient and attachments (an accountMedia:
/// grant, media, preview, whitelist, gates; a bundle: its whitelist, gates
/// and items in order).
async fn sent_messages(State(state): State<AppState>, Query(q): Query<SentQuery>) -> Response {
    let world = state.world();
    let Some(sender) = world.account_by_username(&q.from).map(|a| a.id) else {
        return (StatusCode::NOT_FOUND, "unknown account").into_response();
    };
    let mut sent: Vec<_> = world
        .messaging
        .messages
        .values()
        .filter(|m| m.sender == sender && m.deleted_ms.is_none())
        .collect();
    sent.sort_by_key(|m| m.id);
    let rows: Vec<Value> = sent
        .into_iter()
        .map(|m| {
            let recipient = world
                .group(m.group_id)
                .and_then(|g| world.partner_of(g, sender));
            let msgs = &world.messaging;
            let grant_row = |g: &Grant| {
                json!({
                    "accountMediaId": g.id.to_string(),
                    "mediaId": g.media.to_string(),
                    "previewId": world.content.previews.get(&g.id).map(u64::to_string),
                    "whitelist": g.whitelist.iter().map(u64::to_string).collect::<Vec<_>>(),
                    "gates": g.gates,
                })
            };
            // An accountMedia attachment as its grant; a bundle with its own
            // whitelist and gates and its items in order.
            let attachments: Vec<Value> = m
                .attachments
                .iter()
                .filter_map(|id| match (msgs.grants.get(id), msgs.bundles.get(id)) {
                    (Some(g), _) => {
                        let mut row = grant_row(g);
                        row["contentType"] = json!(1);
                        Some(row)
                    }
                    (None, Some(b)) => Some(json!({
                        "contentType": 2,
                        "accountMediaBundleId": b.id.to_string(),
                        "whitelist": b.whitelist.iter().map(u64::to_string).collect::<Vec<_>>(),
                        "gates": b.gates,
                        "items": b.items.iter().filter_map(|i| msgs.grants.get(i)).map(grant_row).collect::<Vec<_>>(),
                    })),
                    (None, None) => None,
                })
                .collect();
            json!({
                "id": m.id.to_string(),
                "groupId": m.group_id.to_string(),
                "recipientId": recipient.map(|a| a.id.to_string()),
                "recipientUsername": recipient.map(|a| a.username.clone()),
                "content": m.content,
                "createdAtMs": m.created_ms,
                "attachments": attachments,
            })
        })
        .collect();
    Json(Value::Array(rows)).into_response()
}
